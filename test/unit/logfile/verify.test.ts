import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseLogSync } from '../../../src/logfile/parse.js';
import { type ProblemKind, LogVerifier, verifyLines } from '../../../src/logfile/verify.js';
import { LogWriter } from '../../../src/logfile/write.js';
import { FOREIGN_SECRET, LOGGER_PUBLIC, bytesFor, joinFile, validFile } from '../../helpers/log-gen.js';

function verify(text: string) {
  return verifyLines(parseLogSync(Buffer.from(text, 'latin1')), LOGGER_PUBLIC);
}

function problems(text: string): [ProblemKind, number, number | null][] {
  return verify(text).verdict.problems.map((p) => [p.kind, p.line, p.seq]);
}

describe('valid files', () => {
  it.each([
    ['CRLF', '\r\n'],
    ['LF', '\n'],
    ['CR', '\r'],
  ] as const)('a generated multi-segment file verifies (%s)', (_n, eol) => {
    const { text } = validFile({ segments: 3, perSegment: 7, eol });
    const { verdict, records } = verify(text);
    expect(verdict.valid).toBe(true);
    expect(verdict.lines).toEqual({ total: 21, verified: 21 });
    expect(verdict.segments.map((s) => [s.line, s.seq, s.signature])).toEqual([
      [2, 0, 'valid'],
      [9, 7, 'valid'],
      [16, 14, 'valid'],
    ]);
    expect(new Set(verdict.segments.map((s) => s.keyFingerprint)).size).toBe(3);
    expect(records.every((r) => r.status === 'verified')).toBe(true);
  });

  it('accepts a second KEY_INIT that restarts seq at 0', () => {
    const { verdict } = verify(validFile({ segments: 2, restartSeq: true }).text);
    expect(verdict.valid).toBe(true);
  });

  it('a file with no records is not valid', () => {
    const { verdict } = verify('# Encedo nGINE FW v1.2.2\r\n');
    expect(verdict.valid).toBe(false);
    expect(verdict.lines.total).toBe(0);
  });

  it('rejects a logger key that is not 32 bytes', () => {
    expect(() => new LogVerifier(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe('problem kinds', () => {
  const { records } = validFile({ segments: 2, perSegment: 6 });

  it('tampered record: mac_mismatch on its line, the rest verified', () => {
    const edited = [...records];
    edited[2] = edited[2]!.replace('|7|0|', '|7|1|'); // record seq 2 (line 4): self-test now "failed"
    const { verdict, records: checked } = verify(joinFile(edited));
    expect(verdict.problems.map((p) => [p.kind, p.line, p.seq])).toEqual([['mac_mismatch', 4, 2]]);
    expect(verdict.lines).toEqual({ total: 12, verified: 11 });
    expect(checked[2]).toMatchObject({ status: 'unverified', problems: [{ kind: 'mac_mismatch' }] });
  });

  it('dropped record: seq_gap on the line after the hole', () => {
    const edited = records.filter((_, i) => i !== 4);
    expect(problems(joinFile(edited))).toEqual([['seq_gap', 6, 5]]);
  });

  it('repeated record: seq_repeat', () => {
    const edited = [...records.slice(0, 5), records[4]!, ...records.slice(5)];
    expect(problems(joinFile(edited))).toEqual([['seq_repeat', 7, 4]]);
  });

  it('reordered records: seq_gap then seq_disorder', () => {
    const edited = [...records];
    [edited[2], edited[3]] = [edited[3]!, edited[2]!];
    expect(problems(joinFile(edited))).toEqual([
      ['seq_gap', 4, 3],
      ['seq_disorder', 5, 2],
    ]);
  });

  it('head removed: the first records have no key, then a gap', () => {
    const edited = records.slice(2);
    const p = problems(joinFile(edited));
    expect(p[0]).toEqual(['seq_gap', 2, 2]);
    expect(p.filter(([k]) => k === 'no_key').map(([, line]) => line)).toEqual([2, 3, 4, 5]);
    expect(verify(joinFile(edited)).verdict.lines.verified).toBe(6); // the second segment still verifies
  });

  it('foreign key: signature_invalid on the KEY_INIT, no record of that segment trusted', () => {
    const { text } = validFile({ segments: 2, perSegment: 4, signingKey: FOREIGN_SECRET });
    const { verdict, records: checked } = verify(text);
    expect(verdict.problems.map((p) => [p.kind, p.line])).toEqual([
      ['signature_invalid', 2],
      ['signature_invalid', 6],
    ]);
    expect(verdict.lines.verified).toBe(0);
    expect(
      checked.every((r) => r.status === 'unverified' && r.problems.some((p) => p.kind === 'signature_invalid')),
    ).toBe(true);
  });

  it('a transplanted foreign segment inside a good file is caught on its own lines only', () => {
    const good = validFile({ segments: 1, perSegment: 6 }).records;
    const writer = new LogWriter({ signingKey: FOREIGN_SECRET, lineEnding: '\n' });
    const bad: string[] = [];
    for (let i = 0; i < 6; i++) writer.keyInit(bytesFor('skip'), 1); // advance seq to 6
    bad.push(
      writer.keyInit(bytesFor('foreign'), 0x62310c00).trimEnd(),
      writer.append({ time: 0x62310c01, event: 2, result: 0 }).trimEnd(),
    );
    const { verdict } = verify(joinFile([...good, ...bad]));
    expect(verdict.problems.map((p) => [p.kind, p.line])).toEqual([['signature_invalid', 8]]);
    expect(verdict.lines).toEqual({ total: 8, verified: 6 });
  });

  it('truncated mid-line: the cut line is malformed, the rest verified', () => {
    const text = joinFile(records);
    const cut = text.slice(0, text.length - 10);
    const { verdict } = verify(cut);
    expect(verdict.problems).toMatchObject([{ kind: 'malformed', line: 13, seq: null }]);
    expect(verdict.lines).toEqual({ total: 12, verified: 11 });
  });

  it('garbage lines are malformed with their line numbers, and the file still flows', () => {
    const edited = [...records.slice(0, 3), 'hello world', '', ...records.slice(3)];
    const { verdict } = verify(joinFile(edited));
    expect(verdict.problems.map((p) => [p.kind, p.line])).toEqual([['malformed', 5]]);
    expect(verdict.lines).toEqual({ total: 13, verified: 12 });
  });

  it('counts every problem but keeps only the first ones', () => {
    const verifier = new LogVerifier(LOGGER_PUBLIC, { maxProblems: 3 });
    for (const line of parseLogSync(Buffer.from('x\n'.repeat(10)))) verifier.check(line);
    const v = verifier.verdict();
    expect(v.problems).toHaveLength(3);
    expect(v.problemCounts.malformed).toBe(10);
  });
});

describe('properties', () => {
  const { records } = validFile({ segments: 2, perSegment: 8 });
  const text = joinFile(records);

  it('changing any byte of a record makes that record fail', () => {
    // Every position inside a record line: the MACed text or the tag.
    const positions: { offset: number; index: number }[] = [];
    let offset = text.indexOf('\r\n') + 2;
    records.forEach((r, index) => {
      for (let c = 0; c < r.length; c++) positions.push({ offset: offset + c, index });
      offset += r.length + 2;
    });
    fc.assert(
      fc.property(fc.constantFrom(...positions), fc.integer({ min: 0, max: 255 }), ({ offset: at, index }, byte) => {
        const bytes = Buffer.from(text, 'latin1');
        fc.pre(bytes[at] !== byte);
        bytes[at] = byte;
        const { verdict, records: checked } = verifyLines(parseLogSync(bytes), LOGGER_PUBLIC);
        expect(verdict.valid).toBe(false);
        // Whatever the changed line became (one record, two pieces after a new line terminator, a
        // malformed line), only the untouched records can verify.
        const untouched = new Set(records.filter((_, i) => i !== index));
        const verified = checked.filter((c) => c.status === 'verified');
        for (const c of verified) expect(untouched.has(c.record.text)).toBe(true);
        expect(verified.length).toBeLessThanOrEqual(records.length - 1);
      }),
      { numRuns: 1000 },
    );
  });

  it('a generated valid file of any shape verifies', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom('\r\n', '\n', '\r' as const),
        fc.boolean(),
        (segments, perSegment, eol, restartSeq) => {
          const { verdict } = verify(validFile({ segments, perSegment, eol, restartSeq }).text);
          expect(verdict.valid).toBe(true);
          expect(verdict.lines.verified).toBe(segments * perSegment);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('random bytes never crash the verifier', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const { verdict } = verifyLines(parseLogSync(bytes), LOGGER_PUBLIC);
        expect(verdict.valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
