import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLogSync } from '../../../src/logfile/parse.js';
import { verifyLines } from '../../../src/logfile/verify.js';
import { decodeBase64 } from '../../../src/shared/base64.js';
import { ed25519Verify } from '../../../src/shared/ed25519.js';

const vectors = new URL('../../vectors/', import.meta.url);
const sharedVectors = new URL('../../../../shared/vectors/', import.meta.url);
const loggerKey = JSON.parse(readFileSync(new URL('docs-logger-key.json', vectors), 'utf8')) as {
  key: string;
  nonce: string;
  nonce_signed: string;
};

describe('vendor vectors', () => {
  it('the bundled copies equal ../shared/vectors when that folder is present', () => {
    if (!existsSync(sharedVectors)) return; // a user's clone without the team's shared folder
    for (const name of ['docs-log-62310ba5.log', 'docs-logger-key.json', 'ejwt-login.json']) {
      expect(readFileSync(new URL(name, vectors)).equals(readFileSync(new URL(name, sharedVectors))), name).toBe(true);
    }
  });

  it('the docs log file verifies: 7 records, 7 verified, one valid segment', () => {
    const bytes = readFileSync(new URL('docs-log-62310ba5.log', vectors));
    const { records, verdict } = verifyLines(parseLogSync(bytes), decodeBase64(loggerKey.key)!);
    expect(verdict.valid).toBe(true);
    expect(verdict.header).toBe('Encedo HEM v0.9.77 (#ff0a263)');
    expect(verdict.lines).toEqual({ total: 7, verified: 7 });
    expect(verdict.segments).toMatchObject([{ line: 2, seq: 0, signature: 'valid' }]);
    expect(records.map((r) => r.status)).toEqual(Array(7).fill('verified'));
    expect(verdict.firstSeq).toBe(0);
    expect(verdict.lastSeq).toBe(6);
  });

  it('the docs logger key signed its nonce', () => {
    const ok = ed25519Verify(
      decodeBase64(loggerKey.nonce_signed)!,
      decodeBase64(loggerKey.nonce)!,
      decodeBase64(loggerKey.key)!,
    );
    expect(ok).toBe(true);
  });

  it('the docs log file does not verify under another key', () => {
    const bytes = readFileSync(new URL('docs-log-62310ba5.log', vectors));
    const other = new Uint8Array(32).fill(7);
    const { verdict } = verifyLines(parseLogSync(bytes), other);
    expect(verdict.valid).toBe(false);
    expect(verdict.lines.verified).toBe(0);
    expect(verdict.problemCounts.signature_invalid).toBe(1);
  });
});
