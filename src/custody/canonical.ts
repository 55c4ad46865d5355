/**
 * RFC 8785 (JCS) canonical JSON, and the custody hash of a document. Keys are sorted by UTF-16 code
 * units at every level; numbers and strings are written as JSON.stringify writes them, which is what JCS
 * specifies. One deliberate difference: a lone surrogate (which a device can send in a JSON answer, e.g. a
 * hostname) is escaped as JSON.stringify does instead of refused, so a hostile string cannot stop an audit.
 * test/unit/custody/canonical.test.ts holds this equal to the `canonicalize` reference library.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('not a JSON number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const object = value as Record<string, unknown>;
  let out = '';
  for (const key of Object.keys(object).sort()) {
    const v = object[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `{${out}}`;
}

/** Fields the cluster adds after the forwarder sent a document: not part of what the digest commits to. */
const CLUSTER_FIELDS = ['ingested'] as const;

/**
 * The custody hash of a document as stored: SHA-256 (hex) of its canonical JSON without the fields the
 * cluster adds (`event.ingested`). `source` is not modified.
 */
export function storedDocumentHash(source: Record<string, unknown>): string {
  const event = source.event;
  let doc = source;
  if (event !== null && typeof event === 'object' && !Array.isArray(event)) {
    const rest: Record<string, unknown> = { ...(event as Record<string, unknown>) };
    for (const f of CLUSTER_FIELDS) delete rest[f];
    doc = { ...source, event: rest };
  }
  return sha256Hex(canonicalJson(doc));
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
