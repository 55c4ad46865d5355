import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex, storedDocumentHash } from '../../../src/custody/canonical.js';

const wellFormed = (s: string): boolean => s.isWellFormed();

describe('canonical JSON', () => {
  it('equals the canonicalize reference library on well-formed JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        fc.pre(wellFormed(text));
        const parsed = JSON.parse(text) as unknown; // -0 and friends as JSON has them
        expect(canonicalJson(parsed)).toBe(canonicalize(parsed));
      }),
      { numRuns: 500 },
    );
  });

  it('follows the RFC 8785 example ordering (UTF-16 code units) and number forms', () => {
    const value = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew', '1': 'One', '😀': 'Emoji' };
    expect(canonicalJson(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u20ac":"Euro Sign","😀":"Emoji","\ufb33":"Hebrew"}',
    );
    expect(canonicalJson({ n: [1e21, 1e-7, 0.1, -0, 333333333.3333333] })).toBe(
      '{"n":[1e+21,1e-7,0.1,0,333333333.3333333]}',
    );
  });

  it('escapes a lone surrogate instead of failing (a device can send one)', () => {
    expect(canonicalJson({ h: 'a\ud800b' })).toBe('{"h":"a\\ud800b"}');
  });

  it('the stored-document hash ignores event.ingested and nothing else', () => {
    const sent = { event: { created: 'c', original: 'x' }, message: 'm' };
    const stored = { message: 'm', event: { ingested: '2026-01-01T00:00:00Z', original: 'x', created: 'c' } };
    expect(storedDocumentHash(stored)).toBe(sha256Hex(canonicalJson(sent)));
    expect(storedDocumentHash({ ...stored, message: 'M' })).not.toBe(sha256Hex(canonicalJson(sent)));
    expect(stored.event.ingested).toBeDefined(); // not modified
  });
});
