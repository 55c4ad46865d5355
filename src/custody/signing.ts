import { type KeyObject, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { ed25519Verify } from '../shared/ed25519.js';

/** The forwarder's custody signing key: Ed25519, the private half never leaves the process. */
export interface CustodyKey {
  readonly privateKey: KeyObject;
  /** The raw 32-byte public key, as an auditor pins it (base64). */
  readonly publicKey: Buffer;
  /** SHA-256 of the raw public key, hex: a short name for the key in digests and reports. */
  readonly fingerprint: string;
}

// DER SubjectPublicKeyInfo of an Ed25519 key is this prefix followed by the 32 raw bytes.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function generateCustodyKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The key in a PKCS#8 PEM; anything but an Ed25519 private key is refused with a reason. */
export function custodyKeyFromPem(pem: string): CustodyKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new TypeError('not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`an ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  }
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const publicKey = Buffer.from(spki.subarray(SPKI_PREFIX.length));
  return { privateKey, publicKey, fingerprint: custodyFingerprint(publicKey) };
}

export function custodyFingerprint(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

export function signWithCustodyKey(key: CustodyKey, message: Uint8Array): Buffer {
  return sign(null, message, key.privateKey);
}

/** Whether `signature` is `publicKey`'s signature of `message`; a malformed key or signature is simply false. */
export function verifyCustodySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return ed25519Verify(signature, message, publicKey);
}
