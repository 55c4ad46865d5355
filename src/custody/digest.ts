/**
 * Custody digests: what the forwarder signs for every file it ingested, chained per device and output, and
 * how a digest is checked. Pure (node:crypto only).
 *
 * The signed bytes are the RFC 8785 form of `body`; `hash` is their SHA-256 and names the digest (the next
 * digest's `chain.previous`, the document id). A chain is one device's digests for one output, numbered from
 * 0; a key rotation is a digest in every chain, signed by the old key, that names the next key.
 */
import type { DocumentsCommitment } from './document-digest.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { type CustodyKey, custodyFingerprint, signWithCustodyKey, verifyCustodySignature } from './signing.js';

export const DIGEST_VERSION = 1;
/** Dead letters listed one by one in a digest; more are counted (a mapping error can refuse a whole file). */
export const MAX_DEAD_LETTERS_LISTED = 1000;

export interface ChainLink {
  /** Device serial: the chain's device. */
  readonly device: string;
  /** The output the documents went to (`elasticsearch:<cluster uuid>`, `file:<dir>`, `stdout`). */
  readonly output: string;
  readonly position: number;
  /** `hash` of the digest at position - 1; null at 0. */
  readonly previous: string | null;
}

/** A document the output refused, kept elsewhere: `audit` reports it as a known dead letter, not missing. */
export interface DeadLetterEntry {
  readonly id: string;
  readonly line: number | null;
  readonly hash: string;
  /** The record's line as the device wrote it (event.original): `audit` re-verifies the records after it. */
  readonly original: string | null;
  readonly status: number;
  readonly reason: string;
  /** Where it went: the dead-letter data stream or the local dead-letter file. */
  readonly to: string;
}

export interface FileDigestBody {
  readonly kind: 'file';
  readonly version: typeof DIGEST_VERSION;
  readonly chain: ChainLink;
  readonly device: { readonly serial: string; readonly name: string };
  /** The data stream namespace the file's documents went to (`logs-encedo_hem.audit-<namespace>`). */
  readonly namespace: string;
  /** When the file was read (the documents' event.created); the same when an interrupted collection is retried. */
  readonly collected_at: string;
  readonly file: {
    readonly id: string;
    readonly sha256: string;
    readonly size: number;
    readonly records: number;
    readonly verified: number;
    readonly valid: boolean;
    readonly first_seq: number | null;
    readonly last_seq: number | null;
    readonly first_time: number | null;
    readonly last_time: number | null;
    readonly problems: Readonly<Record<string, number>>;
  };
  /** The file's key segments: K fingerprint and the device signature result (first 64; `count` has all). */
  readonly segments: {
    readonly count: number;
    readonly listed: readonly { readonly line: number; readonly key: string; readonly signature: string }[];
  };
  /** The device logger keys trusted at collection (base64): `audit` checks the device signatures with them. */
  readonly logger_keys: readonly string[];
  /** The audit documents (one per line of the file). */
  readonly documents: DocumentsCommitment;
  /** The file's other documents (integrity record, alerts), by id. */
  readonly companions: readonly { readonly id: string; readonly index: string; readonly hash: string }[];
  readonly dead_letters: {
    readonly count: number;
    readonly listed: readonly DeadLetterEntry[];
  };
  readonly forwarder: { readonly key: string; readonly version: string };
}

export interface RotationDigestBody {
  readonly kind: 'rotation';
  readonly version: typeof DIGEST_VERSION;
  readonly chain: ChainLink;
  readonly device: { readonly serial: string; readonly name: string };
  readonly rotated_at: string;
  /** The key that signs this chain's digests from the next position on. */
  readonly next_key: { readonly public_key: string; readonly fingerprint: string };
  readonly forwarder: { readonly key: string; readonly version: string };
}

export type DigestBody = FileDigestBody | RotationDigestBody;

export interface SignedDigest {
  readonly body: DigestBody;
  /** SHA-256 (hex) of the canonical body. */
  readonly hash: string;
  /** Ed25519 signature of the canonical body by `body.forwarder.key` (base64). */
  readonly signature: string;
}

export function signDigest(body: DigestBody, key: CustodyKey): SignedDigest {
  if (body.forwarder.key !== key.fingerprint) throw new Error('the digest names another forwarder key');
  const bytes = Buffer.from(canonicalJson(body));
  return { body, hash: sha256Hex(bytes.toString()), signature: signWithCustodyKey(key, bytes).toString('base64') };
}

export type DigestCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly kind: 'digest_signature' | 'unknown_key'; readonly reason: string };

/**
 * Checks a digest as read back: its hash is its body's, and its signature is by the key it names, which must
 * be one of `trusted` (fingerprint → raw public key).
 */
export function checkDigest(digest: SignedDigest, trusted: ReadonlyMap<string, Uint8Array>): DigestCheck {
  const bytes = Buffer.from(canonicalJson(digest.body));
  const fingerprint = digest.body?.forwarder?.key;
  if (sha256Hex(bytes.toString()) !== digest.hash) {
    return { ok: false, kind: 'digest_signature', reason: 'the digest body does not match its hash (altered)' };
  }
  const publicKey = typeof fingerprint === 'string' ? trusted.get(fingerprint) : undefined;
  if (publicKey === undefined) {
    return {
      ok: false,
      kind: 'unknown_key',
      reason: `signed by forwarder key ${short(fingerprint)}, which is not trusted`,
    };
  }
  const signature = Buffer.from(String(digest.signature), 'base64');
  if (!verifyCustodySignature(publicKey, bytes, signature)) {
    return {
      ok: false,
      kind: 'digest_signature',
      reason: `the signature is not forwarder key ${short(fingerprint)}'s`,
    };
  }
  return { ok: true };
}

/** The next key a valid rotation digest introduces, checked against its fingerprint. */
export function rotationKey(body: RotationDigestBody): { fingerprint: string; publicKey: Buffer } | null {
  const publicKey = Buffer.from(body.next_key.public_key, 'base64');
  if (publicKey.length !== 32 || custodyFingerprint(publicKey) !== body.next_key.fingerprint) return null;
  return { fingerprint: body.next_key.fingerprint, publicKey };
}

export function short(fingerprint: unknown): string {
  return typeof fingerprint === 'string' ? `${fingerprint.slice(0, 16)}…` : 'none';
}
