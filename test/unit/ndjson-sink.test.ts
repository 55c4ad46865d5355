import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RecordMapper } from '../../src/ecs/map.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import { NdjsonSink } from '../../src/sinks/ndjson-sink.js';
import { LOGGER_PUBLIC, validFile } from '../helpers/log-gen.js';

const docs = verifyLines(
  parseLogSync(Buffer.from(validFile({ segments: 3, perSegment: 20 }).text)),
  LOGGER_PUBLIC,
).records.map((r) =>
  new RecordMapper({
    device: { serial: 's' },
    fileId: 'f',
    header: null,
    namespace: 'default',
    created: new Date(),
  }).map(r),
);

describe('NDJSON outputs', () => {
  it('the file output writes every document once, rotates by size, and acknowledges the unit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-out-'));
    const sink = NdjsonSink.toFiles({ dir, maxBytes: 20_000 });
    const unit = sink.open('f');
    for (const d of docs) await unit.write(d);
    expect(await unit.end()).toEqual({ written: 60, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThan(1);
    const lines = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'));
    expect(lines.map((l) => JSON.parse(l)._id)).toEqual(docs.map((d) => d._id));
    for (const f of files.slice(0, -1)) expect(readFileSync(join(dir, f)).length).toBeLessThanOrEqual(20_000);
  });

  it('the stream output writes {_id,_index,_source} lines', async () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const sink = NdjsonSink.toStream(stream);
    const unit = sink.open('f');
    await unit.write(docs[0]!);
    await unit.end();
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({
      _id: docs[0]!._id,
      _index: docs[0]!._index,
      _source: docs[0]!._source,
    });
  });
});
