import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogParser, parseLog, parseLogSync } from '../../../src/logfile/parse.js';
import type { LogLine } from '../../../src/logfile/types.js';
import { validFile } from '../../helpers/log-gen.js';

const GOOD = '1|62310ba5|1|0|||rfB1gKL0hTi5tGh8PDerAA';

function parse(text: string | Buffer): LogLine[] {
  return parseLogSync(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
}

function parseInChunks(bytes: Buffer, sizes: number[]): LogLine[] {
  const out: LogLine[] = [];
  const parser = new LogParser();
  let at = 0;
  for (const size of sizes) {
    parser.push(bytes.subarray(at, at + size), (l) => out.push(l));
    at += size;
  }
  parser.push(bytes.subarray(at), (l) => out.push(l));
  parser.end((l) => out.push(l));
  return out;
}

describe('line splitting', () => {
  it.each([
    ['CRLF', '\r\n'],
    ['LF', '\n'],
    ['CR', '\r'],
  ])('splits %s lines and counts physical line numbers', (_name, eol) => {
    const lines = parse(`# header${eol}${GOOD}${eol}${eol}${GOOD}${eol}`);
    expect(lines.map((l) => [l.kind, l.line])).toEqual([
      ['header', 1],
      ['record', 2],
      ['record', 4],
    ]);
  });

  it('treats a CRLF split across two chunks as one terminator', () => {
    const bytes = Buffer.from(`${GOOD}\r\n${GOOD}\r\n`);
    const at = GOOD.length + 1; // the chunk ends right after the CR
    const lines = parseInChunks(bytes, [at]);
    expect(lines.map((l) => [l.kind, l.line])).toEqual([
      ['record', 1],
      ['record', 2],
    ]);
  });

  it('gives the same lines whatever the chunk boundaries', () => {
    const file = Buffer.from(validFile({ segments: 3, perSegment: 5 }).text);
    const whole = parse(file);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 60 }), (sizes) => {
        expect(parseInChunks(file, sizes)).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('parses a last line without terminator', () => {
    expect(parse(GOOD).map((l) => l.kind)).toEqual(['record']);
  });

  it('only the first line can be a header: a later # line is malformed (it would hide a record)', () => {
    const lines = parse(`# header\n${GOOD}\n#${GOOD.slice(1)}\n`);
    expect(lines.map((l) => [l.kind, l.line])).toEqual([
      ['header', 1],
      ['record', 2],
      ['malformed', 3],
    ]);
    expect(lines[2]?.kind === 'malformed' && lines[2].reason).toMatch(/only the first line of a file is a header/);
    expect(parse(`# a\n# b\n${GOOD}\n`).map((l) => l.kind)).toEqual(['header', 'malformed', 'record']);
  });

  it('keeps the header text without the # for observer.version', () => {
    expect(parse('# Encedo nGINE FW v1.2.2\r\n')).toEqual([
      { kind: 'header', line: 1, text: 'Encedo nGINE FW v1.2.2' },
    ]);
  });

  it('streams from an async iterable of chunks', async () => {
    async function* chunks() {
      yield Buffer.from('# h\n1|6');
      yield new Uint8Array(Buffer.from('2310ba5|1|0|||rfB1gKL0hTi5tGh8PDerAA\n'));
    }
    const lines: LogLine[] = [];
    for await (const l of parseLog(chunks())) lines.push(l);
    expect(lines.map((l) => l.kind)).toEqual(['header', 'record']);
  });
});

describe('records', () => {
  it('decodes the seven fields', () => {
    const [r] = parse('3|62310ba5|13|0||NQsxYg|bODm1bUzTiX6qS7LheDJFA');
    expect(r).toMatchObject({
      kind: 'record',
      line: 1,
      seq: 3,
      time: 0x62310ba5,
      event: 0x13,
      result: 0,
      subject: '',
      data: 'NQsxYg',
    });
    if (r?.kind !== 'record') throw new Error('not a record');
    expect(r.text.slice(0, r.macLength)).toBe('3|62310ba5|13|0||NQsxYg|');
    expect(r.tag).toHaveLength(16);
  });

  it.each([
    ['too few fields', '1|62310ba5|1|0||rfB1gKL0hTi5tGh8PDerAA', "expected 7 '|'-separated fields, found 6"],
    ['too many fields', `${GOOD}|x`, 'found 8'],
    ['non-hex seq', 'g|62310ba5|1|0|||rfB1gKL0hTi5tGh8PDerAA', 'field 1 (seq) "g" is not lower-case hex'],
    ['empty timestamp', '1||1|0|||rfB1gKL0hTi5tGh8PDerAA', 'field 2 (timestamp) is empty'],
    ['upper-case event', '1|62310ba5|1D|0|||rfB1gKL0hTi5tGh8PDerAA', 'field 3 (event) "1D" is not lower-case hex'],
    ['timestamp too long', '1|162310ba5|1|0|||rfB1gKL0hTi5tGh8PDerAA', 'more than 8 hex digits'],
    ['result out of range', '1|62310ba5|1|3|||rfB1gKL0hTi5tGh8PDerAA', 'field 4 (result) is "3", expected 0, 1 or 2'],
    ['bad subject', '1|62310ba5|1|0|X||rfB1gKL0hTi5tGh8PDerAA', 'field 5 (subject) "X" is neither U, M nor base64url'],
    ['bad data', '1|62310ba5|1|0||a+b/|rfB1gKL0hTi5tGh8PDerAA', 'field 6 (data) "a+b/" is not base64url'],
    [
      'non-canonical tag',
      '1|62310ba5|1|0|||rfB1gKL0hTi5tGh8PDerAB',
      'field 7 (tag) "rfB1gKL0hTi5tGh8PDerAB" is not base64url',
    ],
    ['short tag', '1|62310ba5|1|0|||rfB1gKL0hTi5tGh8PDer', 'field 7 (tag) decodes to 15 bytes, expected 16'],
    ['padded tag', '1|62310ba5|1|0|||rfB1gKL0hTi5tGh8PDerAA==', 'field 7 (tag)'],
  ])('reports %s as malformed with the reason', (_name, line, reason) => {
    const [l] = parse(`# h\n${line}\n`).slice(1);
    expect(l).toMatchObject({ kind: 'malformed', line: 2, text: line });
    expect(l?.kind === 'malformed' && l.reason).toContain(reason);
  });

  it('reports bytes that are not ASCII with their column', () => {
    const bytes = Buffer.concat([
      Buffer.from('1|62310ba5|1|0|'),
      Buffer.from([0xc3, 0xa9]),
      Buffer.from('||rfB1gKL0hTi5tGh8PDerAA\n' + GOOD),
    ]);
    const lines = parse(bytes);
    expect(lines[0]).toMatchObject({
      kind: 'malformed',
      line: 1,
      reason: 'byte 0xc3 at column 16 is not printable ASCII',
    });
    expect(lines[1]).toMatchObject({ kind: 'record', line: 2 });
  });

  it('cuts a line over 64 KiB, reports it, and goes on with the next line', () => {
    const long = 'A'.repeat(200 * 1024);
    const lines = parseInChunks(Buffer.from(`${long}\n${GOOD}\n`), [1000, 70000, 70000]);
    expect(lines[0]).toMatchObject({ kind: 'malformed', line: 1, reason: 'line is longer than 65536 bytes' });
    expect(lines[0]?.kind === 'malformed' && lines[0].text.length).toBe(65536);
    expect(lines[1]).toMatchObject({ kind: 'record', line: 2 });
  });

  it('never throws on random bytes, and line numbers only grow', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 10 }),
        (bytes, sizes) => {
          const lines = parseInChunks(Buffer.from(bytes), sizes);
          for (let i = 1; i < lines.length; i++) expect(lines[i]!.line).toBeGreaterThan(lines[i - 1]!.line);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws on random lines built from the record alphabet', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEFUM|_-+/=#\r\n '.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 300 }), (chars) => {
        for (const l of parse(chars.join(''))) expect(['header', 'record', 'malformed']).toContain(l.kind);
      }),
      { numRuns: 500 },
    );
  });
});
