import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/custody/canonical.js';
import {
  DIGEST_VERSION,
  type FileDigestBody,
  type RotationDigestBody,
  type SignedDigest,
  checkDigest,
  rotationKey,
  signDigest,
} from '../../../src/custody/digest.js';
import { DocumentDigester } from '../../../src/custody/document-digest.js';
import {
  type CustodyKey,
  custodyKeyFromPem,
  generateCustodyKeyPem,
  signWithCustodyKey,
  verifyCustodySignature,
} from '../../../src/custody/signing.js';

const keyA = custodyKeyFromPem(generateCustodyKeyPem());
const keyB = custodyKeyFromPem(generateCustodyKeyPem());

function trust(...keys: CustodyKey[]): Map<string, Uint8Array> {
  return new Map(keys.map((k) => [k.fingerprint, k.publicKey]));
}

function fileBody(key: CustodyKey, position = 0, previous: string | null = null): FileDigestBody {
  const documents = new DocumentDigester();
  documents.add(2, 'doc-2', 'a'.repeat(64));
  documents.add(3, 'doc-3', 'b'.repeat(64));
  return {
    kind: 'file',
    version: DIGEST_VERSION,
    chain: { device: '2023b758c209269a', output: 'elasticsearch:abc', position, previous },
    device: { serial: '2023b758c209269a', name: 'hem-1' },
    collected_at: '2026-01-02T03:04:05.000Z',
    file: {
      id: '62310ba5',
      sha256: 'c'.repeat(64),
      size: 1234,
      records: 2,
      verified: 2,
      valid: true,
      first_seq: 0,
      last_seq: 1,
      first_time: 1647381413,
      last_time: 1647381413,
      problems: {},
    },
    segments: { count: 1, listed: [{ line: 2, key: 'd'.repeat(64), signature: 'valid' }] },
    logger_keys: [Buffer.alloc(32, 7).toString('base64')],
    documents: documents.commitment(),
    companions: [{ id: 'verdict-1', index: 'logs-encedo_hem.integrity-default', hash: 'e'.repeat(64) }],
    dead_letters: { count: 0, listed: [] },
    forwarder: { key: key.fingerprint, version: '0.1.0' },
  };
}

function rotationBody(key: CustodyKey, next: { publicKey: Buffer; fingerprint: string }): RotationDigestBody {
  return {
    kind: 'rotation',
    version: DIGEST_VERSION,
    chain: { device: '2023b758c209269a', output: 'elasticsearch:abc', position: 4, previous: 'f'.repeat(64) },
    device: { serial: '2023b758c209269a', name: 'hem-1' },
    rotated_at: '2026-02-01T00:00:00.000Z',
    next_key: { public_key: next.publicKey.toString('base64'), fingerprint: next.fingerprint },
    forwarder: { key: key.fingerprint, version: '0.1.0' },
  };
}

/** Signs `body` with `key` whatever key the body names (signDigest refuses that, a forger need not). */
function forge(body: unknown, key: CustodyKey): SignedDigest {
  const bytes = Buffer.from(canonicalJson(body));
  return {
    body: body as SignedDigest['body'],
    hash: createHash('sha256').update(bytes).digest('hex'),
    signature: signWithCustodyKey(key, bytes).toString('base64'),
  };
}

describe('signDigest and checkDigest', () => {
  it('round trip: the hash is the SHA-256 of the canonical body and the signature verifies', () => {
    const body = fileBody(keyA);
    const signed = signDigest(body, keyA);
    const bytes = Buffer.from(canonicalJson(body));
    expect(signed.hash).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(verifyCustodySignature(keyA.publicKey, bytes, Buffer.from(signed.signature, 'base64'))).toBe(true);
    expect(checkDigest(signed, trust(keyA))).toEqual({ ok: true });
    expect(checkDigest(signed, trust(keyB, keyA))).toEqual({ ok: true });
  });

  it('survives the JSON round trip a digest makes through the cluster (key order changed too)', () => {
    const signed = signDigest(fileBody(keyA, 3, 'a'.repeat(64)), keyA);
    const reordered = JSON.parse(JSON.stringify(signed), (_k, v) =>
      v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
    ) as SignedDigest;
    expect(Object.keys(reordered.body)[0]).not.toBe(Object.keys(signed.body)[0]);
    expect(checkDigest(reordered, trust(keyA))).toEqual({ ok: true });
  });

  it('a rotation digest round trips too', () => {
    const signed = signDigest(rotationBody(keyA, keyB), keyA);
    expect(checkDigest(signed, trust(keyA))).toEqual({ ok: true });
  });

  it('refuses to sign a body that names another forwarder key', () => {
    expect(() => signDigest(fileBody(keyB), keyA)).toThrow('another forwarder key');
  });

  it('an altered body is digest_signature, whether or not the hash was recomputed', () => {
    const signed = signDigest(fileBody(keyA), keyA);
    const altered: SignedDigest = {
      ...signed,
      body: { ...fileBody(keyA), file: { ...fileBody(keyA).file, records: 3 } },
    };
    const stale = checkDigest(altered, trust(keyA));
    expect(stale.ok).toBe(false);
    expect(stale.ok === false && stale.kind).toBe('digest_signature');

    const rehashed: SignedDigest = { ...altered, hash: forge(altered.body, keyA).hash };
    const check = checkDigest(rehashed, trust(keyA));
    expect(check.ok === false && check.kind).toBe('digest_signature');
  });

  it('an altered hash or signature is digest_signature', () => {
    const signed = signDigest(fileBody(keyA), keyA);
    const badHash = checkDigest({ ...signed, hash: '0'.repeat(64) }, trust(keyA));
    expect(badHash.ok === false && badHash.kind).toBe('digest_signature');
    const sig = Buffer.from(signed.signature, 'base64');
    sig[10]! ^= 1;
    const badSig = checkDigest({ ...signed, signature: sig.toString('base64') }, trust(keyA));
    expect(badSig.ok === false && badSig.kind).toBe('digest_signature');
    const garbage = checkDigest({ ...signed, signature: 'not a signature' }, trust(keyA));
    expect(garbage.ok === false && garbage.kind).toBe('digest_signature');
  });

  it('a digest by a key that is not trusted is unknown_key', () => {
    const signed = signDigest(fileBody(keyB), keyB);
    const check = checkDigest(signed, trust(keyA));
    expect(check.ok).toBe(false);
    expect(check.ok === false && check.kind).toBe('unknown_key');
    expect(check.ok === false && check.reason).toContain(keyB.fingerprint.slice(0, 16));
    expect(checkDigest(signed, new Map()).ok).toBe(false);
  });

  it('a body naming a trusted key but signed by another is digest_signature', () => {
    const forged = forge(fileBody(keyA), keyB);
    const check = checkDigest(forged, trust(keyA));
    expect(check.ok === false && check.kind).toBe('digest_signature');
    // Even when the real signer is trusted as well: the signature must be the named key's.
    const both = checkDigest(forged, trust(keyA, keyB));
    expect(both.ok === false && both.kind).toBe('digest_signature');
  });

  it('a trusted fingerprint mapped to another public key does not verify', () => {
    const signed = signDigest(fileBody(keyA), keyA);
    const check = checkDigest(signed, new Map([[keyA.fingerprint, keyB.publicKey]]));
    expect(check.ok === false && check.kind).toBe('digest_signature');
  });

  it('a body without a forwarder key is unknown_key, not a crash', () => {
    const { forwarder: _, ...rest } = fileBody(keyA);
    const check = checkDigest(forge(rest, keyA), trust(keyA));
    expect(check.ok === false && check.kind).toBe('unknown_key');
  });
});

describe('rotationKey', () => {
  it('returns the next key when its public key matches its fingerprint', () => {
    const next = rotationKey(rotationBody(keyA, keyB));
    expect(next).not.toBeNull();
    expect(next!.fingerprint).toBe(keyB.fingerprint);
    expect(Buffer.compare(next!.publicKey, keyB.publicKey)).toBe(0);
  });

  it('rejects a public key that does not match the fingerprint', () => {
    const body = rotationBody(keyA, { publicKey: keyB.publicKey, fingerprint: keyA.fingerprint });
    expect(rotationKey(body)).toBeNull();
    const other = custodyKeyFromPem(generateCustodyKeyPem());
    expect(rotationKey(rotationBody(keyA, { publicKey: other.publicKey, fingerprint: keyB.fingerprint }))).toBeNull();
  });

  it('rejects a public key that is not 32 bytes, even with its own fingerprint', () => {
    for (const publicKey of [keyB.publicKey.subarray(0, 31), Buffer.concat([keyB.publicKey, Buffer.of(0)])]) {
      const fingerprint = createHash('sha256').update(publicKey).digest('hex');
      expect(rotationKey(rotationBody(keyA, { publicKey, fingerprint }))).toBeNull();
    }
  });
});
