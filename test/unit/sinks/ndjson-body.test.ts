import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ndjsonBody } from '../../../src/sinks/search/transport.js';

describe('the bulk body as one Buffer', () => {
  it('is each line and its newline in UTF-8, whatever the text (multi-byte, astral, lone surrogates)', () => {
    const lines = ['{"create":{"_id":"a"}}', '{"m":"€ 😀 \\u0000"}', '{"raw":"\ud800 ünï"}', ''];
    expect(ndjsonBody(lines).equals(Buffer.from(`${lines.join('\n')}\n`, 'utf8'))).toBe(true);
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 20 }), (arbitrary) => {
        const body = ndjsonBody(arbitrary);
        expect(body.equals(Buffer.from(arbitrary.map((l) => `${l}\n`).join(''), 'utf8'))).toBe(true);
      }),
    );
  });
});
