import { createHash } from 'node:crypto';
import { EcsVersion } from '@elastic/ecs';
import { describe, expect, it } from 'vitest';
import { EVENT_CODES, UNUSED_CODES, eventCode } from '../../../src/ecs/catalogue.js';
import {
  ECS_VERSION,
  type IndexDocument,
  type MapContext,
  documentId,
  fileIdFromName,
  mapRecord,
} from '../../../src/ecs/map.js';
import { parseLogSync } from '../../../src/logfile/parse.js';
import { verifyLines } from '../../../src/logfile/verify.js';
import { LogWriter } from '../../../src/logfile/write.js';
import type { ResultCode } from '../../../src/logfile/types.js';
import { ecsViolations } from '../../helpers/ecs-validate.js';
import { FOREIGN_SECRET, LOGGER_PUBLIC, LOGGER_SECRET, bytesFor, validFile } from '../../helpers/log-gen.js';

const CTX: MapContext = {
  device: { serial: '2023b758c209269a', hostname: 'hem1.example', product: 'HEM PPA' },
  fileId: '62310ba5',
  header: 'Encedo nGINE FW v1.2.2',
  namespace: 'default',
  created: new Date('2026-01-02T03:04:05.000Z'),
};
const KID = Buffer.from(bytesFor('kid').subarray(0, 16));

function dataFor(code: number): string {
  const kind = eventCode(code).data;
  if (kind === 'kid') return KID.toString('base64url');
  if (kind === 'time') return Buffer.from([0x35, 0x0b, 0x31, 0x62]).toString('base64url');
  if (kind === 'log') return Buffer.from('62310ba5').toString('base64url');
  if (kind === 'code') return Buffer.from('E42').toString('base64url');
  if (kind === 'raw') return Buffer.from('logger:get').toString('base64url');
  return '';
}

/** One file holding every code 1..45 with every result, plus a malformed line; mapped. */
function mapAll(signingKey = LOGGER_SECRET): IndexDocument[] {
  const w = new LogWriter({ signingKey, lineEnding: '\n' });
  let text = LogWriter.header(CTX.header!, '\n') + w.keyInit(bytesFor('k'), 0x62310ba5);
  for (let code = 1; code <= 45; code++) {
    for (const result of [0, 1, 2] as ResultCode[]) {
      text += w.append({
        time: code === 2 ? 500 : 0x62310ba5 + code,
        event: code,
        result,
        subject: ['U', 'M', KID.toString('base64url'), ''][code % 4]!,
        data: dataFor(code),
      });
    }
  }
  text += 'this is not a record\n';
  const { records } = verifyLines(parseLogSync(Buffer.from(text)), LOGGER_PUBLIC);
  return records.map((r) => mapRecord(r, CTX));
}

describe('event catalogue', () => {
  it('covers codes 0-42 except the unused ones', () => {
    const expected = Array.from({ length: 43 }, (_, i) => i).filter((c) => !UNUSED_CODES.includes(c));
    expect([...EVENT_CODES.keys()].sort((a, b) => a - b)).toEqual(expected);
  });

  it('has unique kebab-case actions and LOG_TYPE_ names', () => {
    const actions = [...EVENT_CODES.values()].map((e) => e.action);
    expect(new Set(actions).size).toBe(actions.length);
    for (const e of EVENT_CODES.values()) {
      expect(e.action).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(e.name).toMatch(/^LOG_TYPE_[A-Z0-9_]+$/);
    }
  });

  it('maps unknown codes to a generic action that keeps the number', () => {
    expect(eventCode(77)).toMatchObject({ code: 77, action: 'unknown-event', name: 'LOG_TYPE_UNKNOWN_77' });
  });

  it('follows the outcome caveats of spec 1.4', () => {
    const docs = mapAll();
    const outcome = (code: number, result: number) => {
      const d = docs.find(
        (x) =>
          (x._source.event as { code?: string }).code === String(code) &&
          (x._source.encedo_hem as { result: { code: number } }).result?.code === result,
      );
      return (d!._source.event as { outcome: string }).outcome;
    };
    expect(outcome(5, 0)).toBe('failure'); // TRNG failure recorded "OK" is still a failure
    expect(outcome(8, 0)).toBe('failure');
    expect(outcome(12, 1)).toBe('failure');
    expect(outcome(24, 0)).toBe('success'); // key integrity passed
    expect(outcome(24, 1)).toBe('failure');
    expect(outcome(7, 1)).toBe('failure'); // self-test failed
    expect(outcome(20, 2)).toBe('failure');
    expect(outcome(13, 0)).toBe('success');
  });
});

describe('ECS documents', () => {
  it(`the catalogue targets the ECS version of @elastic/ecs (${EcsVersion})`, () => {
    expect(ECS_VERSION).toBe(EcsVersion);
  });

  it('every field of every mapped document is valid ECS, for all codes and results', () => {
    const docs = [...mapAll(), ...mapAll(FOREIGN_SECRET)];
    expect(docs.length).toBe(2 * (1 + 45 * 3 + 1));
    for (const d of docs) expect(ecsViolations(d._source), JSON.stringify(d._source.event)).toEqual([]);
  });

  it('the validator itself catches bad fields', () => {
    expect(
      ecsViolations({ event: { kind: 'nonsense', category: ['host'], type: ['denied'], sequence: 'x' }, foo: 1 }),
    ).toEqual(
      expect.arrayContaining([
        'event.kind: "nonsense" is not an allowed value',
        'event.sequence: "x" is not a valid long',
        'foo: not an ECS field',
        'event.type denied is not expected with event.category host',
      ]),
    );
  });

  it('maps the fields of a verified record', () => {
    const docs = mapAll();
    const keyImport = docs.find((d) => (d._source.event as { code: string }).code === '22')!;
    expect(keyImport._index).toBe('logs-encedo_hem.audit-default');
    expect(keyImport._source).toMatchObject({
      '@timestamp': new Date((0x62310ba5 + 22) * 1000).toISOString(),
      event: {
        kind: 'event',
        action: 'key-import',
        category: ['configuration'],
        type: ['creation'],
        outcome: 'success',
        code: '22',
        created: '2026-01-02T03:04:05.000Z',
      },
      user: { id: KID.toString('hex'), roles: ['external_authenticator'] },
      observer: {
        vendor: 'Encedo',
        product: 'HEM PPA',
        type: 'hsm',
        version: 'Encedo nGINE FW v1.2.2',
        serial_number: '2023b758c209269a',
        hostname: 'hem1.example',
      },
      data_stream: { type: 'logs', dataset: 'encedo_hem.audit', namespace: 'default' },
      encedo_hem: {
        event: { name: 'LOG_TYPE_KEY_IMPORT' },
        result: { name: 'LOG_RESULT_OK' },
        key: { id: KID.toString('hex') },
        log: { file_id: '62310ba5' },
        integrity: { status: 'verified', problems: [] },
      },
    });
    const ev = keyImport._source.event as { original: string; hash: string };
    expect(ev.hash).toBe(createHash('sha256').update(ev.original).digest('hex'));
    expect(ev.original).toMatch(/^[0-9a-f]+\|[0-9a-f]+\|16\|0\|/);
  });

  it('flags pre-RTC times and keeps the raw value', () => {
    const reboot = mapAll().find((d) => (d._source.event as { code: string }).code === '2')!;
    expect(reboot._source['@timestamp']).toBe(CTX.created.toISOString());
    expect(reboot._source.encedo_hem).toMatchObject({ device_time: 500, time_unreliable: true });
  });

  it('decodes scope, time and file id data, and keeps undecodable data raw', () => {
    const docs = mapAll();
    const byCode = (c: number) =>
      docs.find((d) => (d._source.event as { code: string }).code === String(c))!._source.encedo_hem as Record<
        string,
        unknown
      >;
    expect(byCode(13).scope).toBe('logger:get');
    expect(byCode(19).data).toEqual({ raw: 'NQsxYg', time: '2022-03-15T21:55:01.000Z' });
    expect(byCode(11).data).toMatchObject({ log_file_id: '62310ba5' });
    expect(byCode(24).data).toMatchObject({ code: 'E42' });
    expect(byCode(1).data).toBeUndefined();
  });

  it('a malformed line becomes a pipeline_error document carrying the reason', () => {
    const bad = mapAll().at(-1)!;
    expect(bad._source).toMatchObject({
      event: { kind: 'pipeline_error', original: 'this is not a record' },
      error: { message: expect.stringContaining('7') },
      encedo_hem: { integrity: { status: 'malformed' } },
    });
  });

  it('records of an untrusted segment are indexed and flagged', () => {
    const docs = mapAll(FOREIGN_SECRET);
    const statuses = new Set(
      docs.map((d) => (d._source.encedo_hem as { integrity: { status: string } }).integrity.status),
    );
    expect(statuses).toEqual(new Set(['unverified', 'malformed']));
    expect(docs[1]!._source.message).toMatch(/NOT VERIFIED/);
  });
});

describe('document ids', () => {
  it('are stable and differ by serial, file, segment and seq', () => {
    const base = { serial: 's', fileId: 'f', keyFingerprint: 'k', seq: 1 };
    const id = documentId(base);
    expect(documentId({ ...base })).toBe(id);
    for (const change of [{ serial: 't' }, { fileId: 'g' }, { keyFingerprint: 'l' }, { seq: 2 }, { line: 9 }])
      expect(documentId({ ...base, ...change })).not.toBe(id);
    expect(id).toMatch(/^[A-Za-z0-9_-]{27}$/);
  });

  it('the same file maps to the same ids, and every record gets its own', () => {
    const { text } = validFile({ segments: 3, perSegment: 10 });
    const ids = () =>
      verifyLines(parseLogSync(Buffer.from(text)), LOGGER_PUBLIC).records.map((r) => mapRecord(r, CTX)._id);
    const first = ids();
    expect(ids()).toEqual(first);
    expect(new Set(first).size).toBe(30);
  });

  it('a replayed line gets its own id instead of colliding with the original', () => {
    const { records } = validFile({ segments: 1, perSegment: 5 });
    const text = `# h\n${[...records, records[4]].join('\n')}\n`;
    const { records: checked } = verifyLines(parseLogSync(Buffer.from(text)), LOGGER_PUBLIC);
    const ids = checked.map((r) => mapRecord(r, CTX)._id);
    expect(new Set(ids).size).toBe(6);
  });

  it('file ids come from device file names', () => {
    expect(fileIdFromName('/x/62310ba5.log')).toBe('62310ba5');
    expect(fileIdFromName('docs-log-62310ba5.log')).toBe('62310ba5');
    expect(fileIdFromName('export.txt')).toBe('export.txt');
  });
});
