import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors } from '@elastic/elasticsearch';
import { describe, expect, it } from 'vitest';
import { blockReason } from '../../src/sinks/elasticsearch/transport.js';
import { itemResults } from '../../src/sinks/search/transport.js';
import { classifyItem as itemVerdict } from '../../src/sinks/search/classify.js';
import { appendDeadLetterFile } from '../../src/sinks/search/deadletter-file.js';
import { SinkError } from '../../src/sinks/sink.js';

function responseError(statusCode: number, body: unknown): errors.ResponseError {
  return new errors.ResponseError({ body, statusCode, headers: {}, warnings: null, meta: {} as never });
}

describe('bulk item verdicts', () => {
  it('retries cluster blocks whatever their status, fails 401/403, dead-letters content refusals', () => {
    expect(itemVerdict(201)).toBe('written');
    expect(itemVerdict(409, 'version_conflict_engine_exception')).toBe('duplicate');
    expect(itemVerdict(403, 'cluster_block_exception')).toBe('blocked');
    expect(itemVerdict(429, 'cluster_block_exception')).toBe('blocked');
    expect(itemVerdict(429, 'es_rejected_execution_exception')).toBe('retry');
    expect(itemVerdict(503, 'unavailable_shards_exception')).toBe('retry');
    expect(itemVerdict(401, 'security_exception')).toBe('auth');
    expect(itemVerdict(403, 'security_exception')).toBe('auth');
    for (const type of ['mapper_parsing_exception', 'document_parsing_exception', 'illegal_argument_exception']) {
      expect(itemVerdict(400, type)).toBe('reject');
    }
  });

  it('tells a whole-request cluster block from a denial', () => {
    const reason = 'index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark];';
    expect(blockReason(responseError(429, { error: { type: 'cluster_block_exception', reason }, status: 429 }))).toBe(
      reason,
    );
    const rootCause = [{ type: 'cluster_block_exception', reason: 'r' }];
    const nested = { error: { type: 'x', reason: 'y', root_cause: rootCause } };
    expect(blockReason(responseError(403, nested))).toBe('r');
    expect(blockReason(responseError(403, { error: { type: 'security_exception', reason: 'no' } }))).toBeNull();
    expect(blockReason(new Error('x'))).toBeNull();
  });

  it('a response whose items do not match the request is a fault, not a partial answer', () => {
    const ok = { create: { status: 201 } };
    expect(itemResults({ items: [ok, ok] }, 2)).toEqual([
      { status: 201, type: 'unknown', reason: 'HTTP 201' },
      { status: 201, type: 'unknown', reason: 'HTTP 201' },
    ]);
    const short = 'Elasticsearch answered a bulk request of 2 documents with 1 item results';
    expect(itemResults({ items: [ok] }, 2)).toBe(short);
    expect(itemResults({ items: [ok, ok, ok] }, 2)).toMatch(/of 2 documents with 3 item results/);
    expect(itemResults({}, 1)).toMatch(/with 0 item results/);
    expect(itemResults({ items: [{ create: {} }] }, 1)).toMatch(/without a status/);
  });
});

describe('the local dead-letter file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-dlf-'));
  const regular = join(dir, 'regular');
  writeFileSync(regular, 'x');
  mkdirSync(join(dir, 'a-directory'));

  it.each([
    ['/proc/hemfwd-nope/x.ndjson', 'ENOENT'],
    [join(regular, 'x.ndjson'), 'ENOTDIR'],
    [join(dir, 'a-directory'), 'EISDIR'],
  ])('an unwritable %s fails with one SinkError line naming the file and %s', { timeout: 5000 }, async (file, code) => {
    const error = await appendDeadLetterFile(file, '{}\n').then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SinkError);
    expect((error as SinkError).code).toBe('io');
    const line = new RegExp(`^cannot write the dead-letter file ${file}: ${code} \\(.+\\)$`);
    expect((error as SinkError).message).toMatch(line);
    expect((error as SinkError).message).not.toContain('\n');
  });

  it('creates missing directories, appends, and accepts a device that cannot sync', async () => {
    const file = join(dir, 'new', 'deeper', 'dl.ndjson');
    await appendDeadLetterFile(file, '{"a":1}\n');
    await appendDeadLetterFile(file, '{"a":2}\n');
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
    await appendDeadLetterFile('/dev/null', '{}\n');
  });
});
