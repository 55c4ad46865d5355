import { createHmac, createPrivateKey, createPublicKey, diffieHellman, pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * The passphrase login's cryptography (spec §3.2), shared by the client and the simulator: PBKDF2 turns
 * the passphrase into an X25519 private key, X25519 with the device's session key gives the HS256 key of
 * the eJWT.
 */

export const PBKDF2_ITERATIONS = 600_000;
const pbkdf2Async = promisify(pbkdf2);

// DER prefixes that wrap a raw 32-byte X25519 key (OID 1.3.101.110) as PKCS#8 / SPKI.
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

/** PBKDF2-HMAC-SHA256(passphrase, salt = the eid base64 *text*, 600,000 rounds, 32 bytes). */
export async function derivePassphraseKey(passphrase: string, eid: string): Promise<Buffer> {
  return pbkdf2Async(Buffer.from(passphrase, 'utf8'), Buffer.from(eid, 'utf8'), PBKDF2_ITERATIONS, 32, 'sha256');
}

export function x25519PublicKey(privateKey: Uint8Array): Buffer {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, privateKey]), format: 'der', type: 'pkcs8' });
  return (createPublicKey(key).export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI_X25519.length);
}

/** X25519(private, peer public); throws on a peer key that is not 32 bytes. */
export function x25519SharedSecret(privateKey: Uint8Array, peerPublicKey: Uint8Array): Buffer {
  if (peerPublicKey.length !== 32) throw new RangeError('X25519 public key must be 32 bytes');
  return diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([PKCS8_X25519, privateKey]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([SPKI_X25519, peerPublicKey]), format: 'der', type: 'spki' }),
  });
}

export interface EjwtClaims {
  readonly jti: string;
  readonly aud: string;
  readonly exp: number;
  readonly iat: number;
  readonly iss: string;
  readonly scope: string;
  readonly ctx?: string;
}

export const EJWT_HEADER = { ecdh: 'x25519', alg: 'HS256', typ: 'JWT' } as const;

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function hs256(signingInput: string, key: Uint8Array): string {
  return createHmac('sha256', key).update(signingInput, 'ascii').digest('base64url');
}

/** A compact HS256 JWS over JSON header and claims (key order as given). */
export function signJwt(header: object, claims: object, key: Uint8Array): string {
  const input = `${segment(header)}.${segment(claims)}`;
  return `${input}.${hs256(input, key)}`;
}

/** Checks an HS256 signature over the *received* `<header>.<claims>` text, in constant time. */
export function jwtSignatureValid(token: string, key: Uint8Array): boolean {
  const dot = token.lastIndexOf('.');
  if (dot < 0) return false;
  const expected = Buffer.from(hs256(token.slice(0, dot), key));
  const given = Buffer.from(token.slice(dot + 1));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Splits a compact JWS and parses its JSON header and claims; null when it is not one. */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims)) return null;
    return { header, claims };
  } catch {
    return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
