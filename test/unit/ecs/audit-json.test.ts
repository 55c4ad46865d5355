import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditJsonBuilder } from '../../../src/ecs/audit-json.js';
import { type MapContext, auditDocument, auditDocumentId } from '../../../src/ecs/audit-shape.js';
import { EVENT_CODES, UNUSED_CODES } from '../../../src/ecs/catalogue.js';
import { canonicalJson } from '../../../src/custody/canonical.js';
import { RecordMapper, sourceJson } from '../../../src/ecs/map.js';
import type { ParsedRecord, ResultCode } from '../../../src/logfile/types.js';
import { type CheckedRecord, PROBLEM_KINDS, type Problem, type Segment } from '../../../src/logfile/verify.js';

// Strings that need escaping, plus lone surrogates: the parser cannot produce those (it decodes with
// replacement characters) but the builder must not depend on that.
const NASTY = [
  ...['', '"', '\\', '\\"', '\u0000', '\n\r\t\b\f', '\u001f\u007f'],
  ...['é ü 日本', '😀', '\u2028\u2029', '</script>'],
  ...['\ud800', 'a\udfffb', '\udc00\ud800'],
];
const text = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.array(fc.constantFrom(...NASTY, 'x', '|'), { maxLength: 6 }).map((parts) => parts.join('')),
);
const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

// Data as the parser passes it on (base64url or empty), shaped to hit every decode path and its failures.
const data = fc.oneof(
  fc.constant(''),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map(b64), // key id
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map(b64), // time
  fc.uint8Array({ maxLength: 40 }).map(b64), // anything, mostly not printable
  fc.string({ unit: 'binary-ascii', maxLength: 30 }).map((s) => b64(Buffer.from(s, 'latin1'))),
  fc.constantFrom('a"b', 'back\\slash', 'logger:get', '62310ba5', 'E42').map((s) => b64(s)),
);

const subject = fc.oneof(
  fc.constantFrom('', 'U', 'M'),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map(b64),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b64),
  text, // out of spec, but escaped all the same
);

const knownCodes = [...EVENT_CODES.keys()];
const eventNumber = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...knownCodes) },
  fc.constantFrom(...UNUSED_CODES, 43, 44, 255),
  fc.integer({ min: 0, max: 0xffffffff }), // the parser's 8 hex digits
);

const record = fc
  .record({
    line: fc.integer({ min: 1, max: 1_000_000 }),
    text,
    seq: fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: 0xfffffffffffff })), // 13 hex digits
    time: fc.oneof(fc.nat(20000), fc.integer({ min: 0, max: 0xffffffff })), // incl. pre-RTC (< 10000)
    event: eventNumber,
    result: fc.constantFrom<ResultCode>(0, 1, 2),
    subject,
    data,
  })
  .map((r): ParsedRecord => ({ kind: 'record', macLength: 0, tag: Buffer.alloc(16), ...r }));

const problem = (kinds: readonly Problem['kind'][]) =>
  fc.record({ kind: fc.constantFrom(...kinds), line: fc.nat(), seq: fc.option(fc.nat()), message: text });
const SEQ_KINDS = ['seq_gap', 'seq_disorder', 'seq_repeat'] as const;

// A few shared segment objects, as the verifier hands out one object per segment.
const segments = fc.array(
  fc.record({
    line: fc.integer({ min: 1, max: 1_000_000 }),
    seq: fc.nat(),
    keyFingerprint: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), text),
    signature: fc.constantFrom('valid', 'invalid'),
  }),
  { minLength: 1, maxLength: 3 },
);

function checkedRecords(segs: Segment[]): fc.Arbitrary<CheckedRecord> {
  const seg = fc.constantFrom(...segs);
  const valid = segs.filter((s): s is Segment & { signature: 'valid' } => s.signature === 'valid');
  const unverified = fc
    .record({
      status: fc.constant('unverified' as const),
      record,
      segment: fc.option(seg),
      problems: fc.tuple(problem(PROBLEM_KINDS), fc.array(problem(PROBLEM_KINDS), { maxLength: 3 })),
    })
    .map(({ problems: [first, rest], ...r }): CheckedRecord => ({ ...r, problems: [first, ...rest] }));
  const malformed = fc.record({
    status: fc.constant('malformed' as const),
    record: fc.record({
      kind: fc.constant('malformed' as const),
      line: fc.integer({ min: 1, max: 1e6 }),
      reason: text,
      text,
    }),
    segment: fc.option(seg),
    problems: problem(['malformed']).map((p) => [p] as [Problem]),
  });
  const options: fc.Arbitrary<CheckedRecord>[] = [unverified, malformed];
  if (valid.length > 0) {
    options.push(
      fc.record({
        status: fc.constant('verified' as const),
        record,
        segment: fc.constantFrom(...valid),
        problems: fc.array(problem(SEQ_KINDS), { maxLength: 3 }),
      }),
    );
  }
  return fc.oneof(...options);
}

const optionalText = fc.oneof(text, fc.constant(null), fc.constant(undefined));
const context: fc.Arbitrary<MapContext> = fc
  .record({
    device: fc.record(
      {
        serial: fc.option(text),
        hostname: optionalText,
        product: optionalText,
        name: optionalText,
        tags: fc.array(text, { maxLength: 3 }),
      },
      { requiredKeys: ['serial'] },
    ),
    fileId: text,
    header: fc.option(text),
    namespace: text,
    created: fc.date({ min: new Date(0), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
    selfGenerated: fc.constantFrom('none', 'never', 'odd seq', 'always'),
  })
  .map(({ selfGenerated, ...ctx }): MapContext => {
    if (selfGenerated === 'none') return ctx;
    const isSelfGenerated = (r: ParsedRecord): boolean =>
      selfGenerated === 'always' || (selfGenerated === 'odd seq' && r.seq % 2 === 1);
    return { ...ctx, isSelfGenerated };
  });

/** A file's context and records, mapped in order by one builder so its per-file caches are exercised. */
const file = fc
  .tuple(context, segments)
  .chain(([ctx, segs]) => fc.tuple(fc.constant(ctx), fc.array(checkedRecords(segs), { minLength: 1, maxLength: 12 })));

describe('audit JSON builder', () => {
  it('JSON.parse(fast) deep-equals the readable shape, byte for byte as JSON.stringify would write it', () => {
    fc.assert(
      fc.property(file, ([ctx, records]) => {
        const builder = new AuditJsonBuilder(ctx);
        for (const checked of records) {
          const fast = builder.json(checked);
          const readable = auditDocument(checked, ctx);
          expect(JSON.parse(fast)).toStrictEqual(readable);
          // Same key order too: the NDJSON that `parse` prints must not change with the refactor.
          expect(fast).toBe(JSON.stringify(readable));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('RecordMapper serves the fast JSON, and _source is the readable shape', () => {
    fc.assert(
      fc.property(file, ([ctx, records]) => {
        const mapper = new RecordMapper(ctx);
        for (const checked of records) {
          const doc = mapper.map(checked);
          expect(doc._id).toBe(auditDocumentId(checked, ctx));
          expect(doc._source).toStrictEqual(auditDocument(checked, ctx));
          expect(sourceJson(doc)).toBe(JSON.stringify(auditDocument(checked, ctx)));
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('audit JSON is canonical', () => {
  it('the fast JSON is already its own RFC 8785 form, so the custody hash is a hash of the bytes sent', () => {
    fc.assert(
      fc.property(file, ([ctx, records]) => {
        const builder = new AuditJsonBuilder(ctx);
        for (const checked of records) {
          const fast = builder.json(checked);
          expect(fast).toBe(canonicalJson(JSON.parse(fast)));
        }
      }),
      { numRuns: 300 },
    );
  });
});
