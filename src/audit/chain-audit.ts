/**
 * Checks one chain (a device's digests for one output) read in position order: every digest signed by a
 * trusted key, every position present once, every digest linked to the one before; then compares with the
 * auditor's local copy. Pure.
 */
import { type DigestCheck, type SignedDigest, checkDigest, rotationKey, short } from '../custody/digest.js';
import type { Finding, KeyUse } from './report.js';

/** A digest of the local digest files, reduced to what the chain comparison needs. */
export interface LocalDigest {
  readonly position: number;
  readonly hash: string;
  readonly fileId: string | null;
  readonly at: string;
}

export interface TrustedKeys {
  readonly keys: Map<string, Uint8Array>;
  readonly uses: Map<string, KeyUse['trust']>;
}

export class ChainAuditor {
  readonly findings: Finding[] = [];
  #last: { position: number; hash: string } | null = null;
  #first: number | null = null;
  #digests = 0;
  readonly #seen = new Map<number, string>();
  /** Keys replaced by a rotation in this chain, and where. */
  readonly #retired = new Map<string, number>();

  constructor(
    readonly device: string,
    readonly trusted: TrustedKeys,
    /** A --since/--until window: the first digest seen need not be position 0. */
    readonly windowed: boolean,
  ) {}

  /** Takes the next digest (position order); returns its check, so its documents are audited only if it holds. */
  accept(digest: SignedDigest): DigestCheck {
    const { body } = digest;
    const where = { device: this.device, position: body.chain.position, ...fileOf(digest) };
    let check = checkDigest(digest, this.trusted.keys);
    const retiredAt = this.#retired.get(String(body.forwarder?.key));
    if (check.ok && retiredAt !== undefined) {
      // A key's word ends with the rotation that replaced it: whoever still holds it cannot extend the chain.
      const reason = `signed by forwarder key ${short(body.forwarder.key)}, retired by the rotation at position ${retiredAt}`;
      check = { ok: false, kind: 'unknown_key', reason };
    }
    if (!check.ok) this.findings.push({ kind: check.kind, ...where, detail: check.reason });
    this.#digests++;
    const position = body.chain.position;
    const last = this.#last;
    if (last !== null && position === last.position) {
      if (digest.hash !== last.hash) {
        this.findings.push({
          kind: 'chain_fork',
          ...where,
          detail: `two digests at position ${position}: ${short(last.hash)} and ${short(digest.hash)}`,
        });
      }
      return check;
    }
    if (last === null) {
      this.#first = position;
      if (position > 0 && !this.windowed) {
        this.findings.push({
          kind: 'chain_gap',
          ...where,
          detail: `the chain starts at position ${position}: digests 0–${position - 1} are missing`,
        });
      }
    } else if (position > last.position + 1) {
      const missing = position - last.position - 1;
      this.findings.push({
        kind: 'chain_gap',
        ...where,
        detail: `${missing} digest(s) missing between positions ${last.position} and ${position}`,
      });
    } else if (body.chain.previous !== last.hash) {
      this.findings.push({
        kind: 'chain_fork',
        ...where,
        detail:
          `the digest at position ${position} links to ${short(body.chain.previous)}, ` +
          `not to the digest at position ${last.position} (${short(last.hash)})`,
      });
    }
    if (check.ok && body.kind === 'rotation') this.#rotate(digest);
    this.#last = { position, hash: digest.hash };
    this.#seen.set(position, digest.hash);
    return check;
  }

  #rotate(digest: SignedDigest): void {
    if (digest.body.kind !== 'rotation') return;
    const next = rotationKey(digest.body);
    if (next === null) {
      this.findings.push({
        kind: 'digest_signature',
        device: this.device,
        position: digest.body.chain.position,
        detail: 'a key rotation names a public key that does not match its fingerprint',
      });
      return;
    }
    if (next.fingerprint !== digest.body.forwarder.key) {
      this.#retired.set(digest.body.forwarder.key, digest.body.chain.position);
    }
    this.#retired.delete(next.fingerprint); // rotating back to an earlier key revives it
    this.trusted.keys.set(next.fingerprint, next.publicKey);
    if (!this.trusted.uses.has(next.fingerprint)) this.trusted.uses.set(next.fingerprint, 'rotation');
  }

  /** Compares with the local digest files of this chain (in the same window): truncation and rewrites. */
  compareLocal(local: readonly LocalDigest[]): void {
    const newest = this.#last?.position ?? -1;
    const beyond = local.filter((d) => d.position > newest);
    if (beyond.length > 0) {
      const positions = [...new Set(beyond.map((d) => d.position))].sort((a, b) => a - b);
      this.findings.push({
        kind: 'truncated',
        device: this.device,
        position: positions[0]!,
        at: beyond[0]!.at,
        detail:
          `the local digest files hold ${positions.length} digest(s) newer than the cluster's newest ` +
          `(positions ${positions[0]}–${positions.at(-1)}; the cluster ends at ${newest < 0 ? 'none' : newest})`,
      });
    }
    for (const d of local) {
      if (d.position > newest) continue;
      const stored = this.#seen.get(d.position);
      if (stored === undefined) {
        if (this.windowed && this.#first !== null && d.position < this.#first) continue;
        this.findings.push({
          kind: 'chain_gap',
          device: this.device,
          position: d.position,
          at: d.at,
          ...(d.fileId ? { fileId: d.fileId } : {}),
          detail: `the cluster has no digest at position ${d.position}; the local digest files have ${short(d.hash)}`,
        });
      } else if (stored !== d.hash) {
        this.findings.push({
          kind: 'chain_fork',
          device: this.device,
          position: d.position,
          at: d.at,
          detail: `the cluster's digest at position ${d.position} (${short(stored)}) is not the local copy (${short(d.hash)})`,
        });
      }
    }
  }

  get summary(): { first: number | null; last: number | null; digests: number } {
    return { first: this.#first, last: this.#last?.position ?? null, digests: this.#digests };
  }
}

function fileOf(digest: SignedDigest): { fileId?: string; at?: string } {
  const { body } = digest;
  return body.kind === 'file' ? { fileId: body.file.id, at: body.collected_at } : { at: body.rotated_at };
}
