import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  custodyKeyFromPem,
  generateCustodyKeyPem,
  signWithCustodyKey,
  verifyCustodySignature,
} from '../../../src/custody/signing.js';

describe('the custody signing key', () => {
  it('signs, and only its own public key verifies the untouched message', () => {
    const key = custodyKeyFromPem(generateCustodyKeyPem());
    const other = custodyKeyFromPem(generateCustodyKeyPem());
    expect(key.publicKey).toHaveLength(32);
    expect(key.fingerprint).toBe(createHash('sha256').update(key.publicKey).digest('hex'));
    const message = Buffer.from('digest 1');
    const signature = signWithCustodyKey(key, message);
    expect(verifyCustodySignature(key.publicKey, message, signature)).toBe(true);
    expect(verifyCustodySignature(other.publicKey, message, signature)).toBe(false);
    expect(verifyCustodySignature(key.publicKey, Buffer.from('digest 2'), signature)).toBe(false);
    expect(verifyCustodySignature(key.publicKey.subarray(1), message, signature)).toBe(false);
    expect(verifyCustodySignature(key.publicKey, message, signature.subarray(1))).toBe(false);
  });

  it('refuses a key that is not an Ed25519 private key, saying what it is', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    expect(() => custodyKeyFromPem(rsa.toString())).toThrow('an rsa key, not Ed25519');
    expect(() => custodyKeyFromPem('hello')).toThrow('not a PEM private key');
  });
});
