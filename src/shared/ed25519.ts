import { type KeyObject, createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import * as ed from '@noble/ed25519';

// noble is only the fallback where node:crypto lacks Ed25519; its sync API needs a SHA-512.
ed.hashes.sha512 = (message: Uint8Array) => new Uint8Array(createHash('sha512').update(message).digest());

// DER prefixes that turn 32 raw bytes into an SPKI public key / PKCS#8 private key (OID 1.3.101.112).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const CACHE_LIMIT = 64;

// Building a KeyObject costs more than a verify, and callers reuse a handful of keys (the pinned logger keys).
const publicKeys = new Map<string, KeyObject>();
const privateKeys = new Map<string, KeyObject>();

function cached(cache: Map<string, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  let key = cache.get(id);
  if (key === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear(); // bounded: a stream of fresh keys cannot grow it
    key = make();
    cache.set(id, key);
  }
  return key;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  const der = (): Buffer => Buffer.concat([SPKI_PREFIX, raw]);
  return cached(publicKeys, raw, () => createPublicKey({ key: der(), format: 'der', type: 'spki' }));
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  const der = (): Buffer => Buffer.concat([PKCS8_PREFIX, seed]);
  return cached(privateKeys, seed, () => createPrivateKey({ key: der(), format: 'der', type: 'pkcs8' }));
}

let native: boolean | undefined;

/** Detected once: the RFC 8032 test 1 signature (empty message) must verify natively. */
function hasNative(): boolean {
  if (native === undefined) {
    try {
      const key = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
      const sig = Buffer.from(
        'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555' +
          'fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
        'hex',
      );
      native = verify(null, Buffer.alloc(0), publicKeyObject(key), sig);
    } catch {
      native = false;
    }
  }
  return native;
}

export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    if (hasNative()) return verify(null, message, publicKeyObject(publicKey), signature);
    // RFC 8032 rules, as OpenSSL applies them, so the verdict does not depend on which path ran.
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false; // a malformed key or signature is simply not a valid signature
  }
}

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (hasNative() && secretKey.length === 32) return new Uint8Array(sign(null, message, privateKeyObject(secretKey)));
  return ed.sign(message, secretKey);
}

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (hasNative() && secretKey.length === 32) {
    const spki = createPublicKey(privateKeyObject(secretKey)).export({ format: 'der', type: 'spki' });
    return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  }
  return ed.getPublicKey(secretKey);
}
