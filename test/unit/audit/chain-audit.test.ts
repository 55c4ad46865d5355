import { describe, expect, it } from 'vitest';
import { ChainAuditor, type LocalDigest, type TrustedKeys } from '../../../src/audit/chain-audit.js';
import type { Finding } from '../../../src/audit/report.js';
import { canonicalJson, sha256Hex } from '../../../src/custody/canonical.js';
import {
  DIGEST_VERSION,
  type FileDigestBody,
  type RotationDigestBody,
  type SignedDigest,
  signDigest,
} from '../../../src/custody/digest.js';
import { DocumentDigester } from '../../../src/custody/document-digest.js';
import {
  type CustodyKey,
  custodyKeyFromPem,
  generateCustodyKeyPem,
  signWithCustodyKey,
} from '../../../src/custody/signing.js';

const SERIAL = '2023b758c209269a';
const OUTPUT = 'elasticsearch:cluster-uuid';
const DEVICE = 'hem-1';

const keyA = custodyKeyFromPem(generateCustodyKeyPem());
const keyB = custodyKeyFromPem(generateCustodyKeyPem());
const keyC = custodyKeyFromPem(generateCustodyKeyPem());

function fileIdAt(position: number, variant = ''): string {
  return `${(0x62310ba5 + position).toString(16)}${variant}`;
}

function atOf(position: number): string {
  return new Date(Date.UTC(2026, 0, 1 + position)).toISOString();
}

function fileBody(key: CustodyKey, position: number, previous: string | null, variant = ''): FileDigestBody {
  const documents = new DocumentDigester();
  documents.add(2, `doc-${position}${variant}`, sha256Hex(`record ${position}${variant}`));
  return {
    kind: 'file',
    version: DIGEST_VERSION,
    chain: { device: SERIAL, output: OUTPUT, position, previous },
    device: { serial: SERIAL, name: DEVICE },
    collected_at: atOf(position),
    file: {
      id: fileIdAt(position, variant),
      sha256: sha256Hex(`file ${position}${variant}`),
      size: 100,
      records: 1,
      verified: 1,
      valid: true,
      first_seq: 0,
      last_seq: 0,
      first_time: 1647381413,
      last_time: 1647381413,
      problems: {},
    },
    segments: { count: 1, listed: [{ line: 2, key: 'd'.repeat(64), signature: 'valid' }] },
    logger_keys: [Buffer.alloc(32, 1).toString('base64')],
    documents: documents.commitment(),
    companions: [],
    dead_letters: { count: 0, listed: [] },
    forwarder: { key: key.fingerprint, version: '0.1.0' },
  };
}

function rotationBody(
  key: CustodyKey,
  position: number,
  previous: string | null,
  next: { publicKey: Buffer; fingerprint: string },
): RotationDigestBody {
  return {
    kind: 'rotation',
    version: DIGEST_VERSION,
    chain: { device: SERIAL, output: OUTPUT, position, previous },
    device: { serial: SERIAL, name: DEVICE },
    rotated_at: atOf(position),
    next_key: { public_key: next.publicKey.toString('base64'), fingerprint: next.fingerprint },
    forwarder: { key: key.fingerprint, version: '0.1.0' },
  };
}

/** A step of a chain: the key that signs it, and a rotation's next key. */
type Step = CustodyKey | { rotateTo: CustodyKey; by: CustodyKey };

/** Signed digests at positions from..from+steps-1, each linked to the one before. */
function chain(steps: readonly Step[], from = 0, previous: string | null = null): SignedDigest[] {
  const out: SignedDigest[] = [];
  let prev = previous;
  steps.forEach((step, i) => {
    const position = from + i;
    const digest =
      'rotateTo' in step
        ? signDigest(rotationBody(step.by, position, prev, step.rotateTo), step.by)
        : signDigest(fileBody(step, position, prev), step);
    out.push(digest);
    prev = digest.hash;
  });
  return out;
}

function trusted(...keys: CustodyKey[]): TrustedKeys {
  return {
    keys: new Map(keys.map((k) => [k.fingerprint, k.publicKey])),
    uses: new Map(keys.map((k) => [k.fingerprint, 'pinned' as const])),
  };
}

function audit(digests: readonly SignedDigest[], keys = trusted(keyA), windowed = false): ChainAuditor {
  const auditor = new ChainAuditor(DEVICE, keys, windowed);
  for (const d of digests) auditor.accept(d);
  return auditor;
}

function summary(findings: readonly Finding[]): { kind: string; position: number | undefined }[] {
  return findings.map((f) => ({ kind: f.kind, position: f.position }));
}

function local(digests: readonly SignedDigest[]): LocalDigest[] {
  return digests.map((d) => ({
    position: d.body.chain.position,
    hash: d.hash,
    fileId: d.body.kind === 'file' ? d.body.file.id : null,
    at: d.body.kind === 'file' ? d.body.collected_at : d.body.rotated_at,
  }));
}

describe('ChainAuditor.accept', () => {
  it('an intact chain has no finding', () => {
    const digests = chain([keyA, keyA, keyA, keyA, keyA]);
    const auditor = new ChainAuditor(DEVICE, trusted(keyA), false);
    for (const d of digests) expect(auditor.accept(d)).toEqual({ ok: true });
    expect(auditor.findings).toEqual([]);
    expect(auditor.summary).toEqual({ first: 0, last: 4, digests: 5 });
  });

  it('a missing middle position is one chain_gap, at the digest after the gap', () => {
    const digests = chain([keyA, keyA, keyA, keyA, keyA]);
    const auditor = audit([...digests.slice(0, 2), ...digests.slice(3)]);
    expect(summary(auditor.findings)).toEqual([{ kind: 'chain_gap', position: 3 }]);
    const [gap] = auditor.findings;
    expect(gap!.device).toBe(DEVICE);
    expect(gap!.fileId).toBe(fileIdAt(3));
    expect(gap!.at).toBe(atOf(3));
    expect(gap!.detail).toMatch(/\b1 digest\(s\) missing between positions 1 and 3/);
  });

  it('several missing positions are counted in one chain_gap', () => {
    const digests = chain([keyA, keyA, keyA, keyA, keyA, keyA]);
    const auditor = audit([digests[0]!, digests[4]!, digests[5]!]);
    expect(summary(auditor.findings)).toEqual([{ kind: 'chain_gap', position: 4 }]);
    expect(auditor.findings[0]!.detail).toMatch(/\b3 digest\(s\) missing/);
  });

  it('two different digests at one position are a chain_fork', () => {
    const digests = chain([keyA, keyA, keyA]);
    const rival = signDigest(fileBody(keyA, 2, digests[1]!.hash, '-rival'), keyA);
    // The reader sorts by position, then hash.
    const atTwo = [digests[2]!, rival].sort((a, b) => a.hash.localeCompare(b.hash));
    const auditor = audit([digests[0]!, digests[1]!, ...atTwo]);
    expect(summary(auditor.findings)).toEqual([{ kind: 'chain_fork', position: 2 }]);
    expect(auditor.findings[0]!.detail).toContain(atTwo[0]!.hash.slice(0, 16));
    expect(auditor.findings[0]!.detail).toContain(atTwo[1]!.hash.slice(0, 16));
    expect(auditor.summary.digests).toBe(4);
  });

  it('a fork followed by more digests is still reported at the forked position', () => {
    const digests = chain([keyA, keyA, keyA, keyA]);
    const rival = signDigest(fileBody(keyA, 2, digests[1]!.hash, '-rival'), keyA);
    const atTwo = [digests[2]!, rival].sort((a, b) => a.hash.localeCompare(b.hash));
    const auditor = audit([digests[0]!, digests[1]!, ...atTwo, digests[3]!]);
    expect(auditor.findings.every((f) => f.kind === 'chain_fork')).toBe(true);
    expect(summary(auditor.findings)).toContainEqual({ kind: 'chain_fork', position: 2 });
  });

  it('the same digest read twice at one position is not a fork', () => {
    const digests = chain([keyA, keyA, keyA]);
    const auditor = audit([digests[0]!, digests[1]!, digests[1]!, digests[2]!]);
    expect(auditor.findings).toEqual([]);
  });

  it('a broken previous link is a chain_fork at the digest that does not link', () => {
    const digests = chain([keyA, keyA]);
    const unlinked = signDigest(fileBody(keyA, 2, sha256Hex('another chain')), keyA);
    const rest = chain([keyA, keyA], 3, unlinked.hash);
    const auditor = audit([...digests, unlinked, ...rest]);
    expect(summary(auditor.findings)).toEqual([{ kind: 'chain_fork', position: 2 }]);
    expect(auditor.findings[0]!.detail).toContain(digests[1]!.hash.slice(0, 16));
  });

  it('a link to null after position 0 is a chain_fork', () => {
    const digests = chain([keyA]);
    const unlinked = signDigest(fileBody(keyA, 1, null), keyA);
    expect(summary(audit([...digests, unlinked]).findings)).toEqual([{ kind: 'chain_fork', position: 1 }]);
  });

  it('a chain that does not start at 0 is a chain_gap, unless the audit is windowed', () => {
    const digests = chain([keyA, keyA, keyA], 3, sha256Hex('digest 2'));
    const whole = audit(digests);
    expect(summary(whole.findings)).toEqual([{ kind: 'chain_gap', position: 3 }]);
    expect(whole.findings[0]!.detail).toContain('0–2');
    const windowed = audit(digests, trusted(keyA), true);
    expect(windowed.findings).toEqual([]);
    expect(windowed.summary).toEqual({ first: 3, last: 5, digests: 3 });
  });

  it('a digest signed by a key that is not trusted is unknown_key, and its check says so', () => {
    const digests = chain([keyA, keyA, keyC, keyA]);
    const auditor = new ChainAuditor(DEVICE, trusted(keyA), false);
    const checks = digests.map((d) => auditor.accept(d));
    expect(checks.map((c) => c.ok)).toEqual([true, true, false, true]);
    expect(summary(auditor.findings)).toEqual([{ kind: 'unknown_key', position: 2 }]);
    expect(auditor.findings[0]!.fileId).toBe(fileIdAt(2));
  });

  it('a digest whose signature is not the named key is digest_signature', () => {
    const digests = chain([keyA, keyA]);
    const body = fileBody(keyA, 2, digests[1]!.hash);
    const bytes = Buffer.from(canonicalJson(body));
    const forged: SignedDigest = {
      body,
      hash: sha256Hex(canonicalJson(body)),
      signature: signWithCustodyKey(keyC, bytes).toString('base64'),
    };
    const auditor = audit([...digests, forged], trusted(keyA, keyC));
    expect(summary(auditor.findings)).toEqual([{ kind: 'digest_signature', position: 2 }]);
  });
});

describe('key rotation', () => {
  it('a valid rotation makes the next key trusted from then on; before it, the next key is unknown_key', () => {
    const keys = trusted(keyA);
    const digests = chain([keyA, keyB, keyA, { rotateTo: keyB, by: keyA }, keyB, keyB]);
    const auditor = audit(digests, keys);
    expect(summary(auditor.findings)).toEqual([{ kind: 'unknown_key', position: 1 }]);
    expect(keys.uses.get(keyB.fingerprint)).toBe('rotation');
    expect(keys.uses.get(keyA.fingerprint)).toBe('pinned');
    expect(Buffer.compare(Buffer.from(keys.keys.get(keyB.fingerprint)!), keyB.publicKey)).toBe(0);
  });

  it('after a rotation the old key can no longer extend the chain: unknown_key, naming the rotation', () => {
    const digests = chain([keyA, { rotateTo: keyB, by: keyA }, keyB, keyA]);
    const auditor = audit(digests, trusted(keyA));
    expect(summary(auditor.findings)).toEqual([{ kind: 'unknown_key', position: 3 }]);
    expect(auditor.findings[0]!.detail).toMatch(/retired by the rotation at position 1/);
  });

  it('rotations chain: A names B, B names C', () => {
    const keys = trusted(keyA);
    const digests = chain([keyA, { rotateTo: keyB, by: keyA }, keyB, { rotateTo: keyC, by: keyB }, keyC]);
    expect(audit(digests, keys).findings).toEqual([]);
    expect(keys.uses.get(keyC.fingerprint)).toBe('rotation');
  });

  it('a rotation signed by a key that is not trusted does not make its next key trusted', () => {
    const keys = trusted(keyA);
    const digests = chain([keyA, { rotateTo: keyB, by: keyC }, keyB]);
    const auditor = audit(digests, keys);
    expect(summary(auditor.findings)).toEqual([
      { kind: 'unknown_key', position: 1 },
      { kind: 'unknown_key', position: 2 },
    ]);
    expect(keys.keys.has(keyB.fingerprint)).toBe(false);
    expect(keys.uses.has(keyB.fingerprint)).toBe(false);
  });

  it('a rotation naming a public key that does not match its fingerprint is digest_signature, key not trusted', () => {
    const keys = trusted(keyA);
    const first = chain([keyA]);
    const lying = signDigest(
      rotationBody(keyA, 1, first[0]!.hash, { publicKey: keyC.publicKey, fingerprint: keyB.fingerprint }),
      keyA,
    );
    const after = chain([keyB], 2, lying.hash);
    const auditor = audit([...first, lying, ...after], keys);
    expect(summary(auditor.findings)).toEqual([
      { kind: 'digest_signature', position: 1 },
      { kind: 'unknown_key', position: 2 },
    ]);
    expect(keys.keys.has(keyB.fingerprint)).toBe(false);
  });

  it('a rotation to a key already pinned keeps it recorded as pinned', () => {
    const keys = trusted(keyA, keyB);
    audit(chain([keyA, { rotateTo: keyB, by: keyA }, keyB]), keys);
    expect(keys.uses.get(keyB.fingerprint)).toBe('pinned');
  });
});

describe('ChainAuditor.compareLocal', () => {
  it('local digests equal to the cluster chain give no finding', () => {
    const digests = chain([keyA, keyA, keyA]);
    const auditor = audit(digests);
    auditor.compareLocal(local(digests));
    expect(auditor.findings).toEqual([]);
  });

  it('local digests beyond the cluster newest are one truncated finding at the first missing position', () => {
    const digests = chain([keyA, keyA, keyA, keyA, keyA, keyA]);
    const auditor = audit(digests.slice(0, 4));
    auditor.compareLocal(local(digests));
    expect(summary(auditor.findings)).toEqual([{ kind: 'truncated', position: 4 }]);
    expect(auditor.findings[0]!.at).toBe(atOf(4));
    expect(auditor.findings[0]!.detail).toMatch(/\b2 digest\(s\).*4–5.*ends at 3/);
  });

  it('local digests and no cluster digest at all: truncated', () => {
    const digests = chain([keyA, keyA]);
    const auditor = new ChainAuditor(DEVICE, trusted(keyA), false);
    auditor.compareLocal(local(digests));
    expect(summary(auditor.findings)).toEqual([{ kind: 'truncated', position: 0 }]);
    expect(auditor.findings[0]!.detail).toContain('none');
  });

  it('a local digest with another hash at a position is a chain_fork at that position', () => {
    const digests = chain([keyA, keyA, keyA]);
    const auditor = audit(digests);
    const copy = local(digests);
    copy[1] = { ...copy[1]!, hash: sha256Hex('what the forwarder really wrote') };
    auditor.compareLocal(copy);
    expect(summary(auditor.findings)).toEqual([{ kind: 'chain_fork', position: 1 }]);
  });

  it('a local digest at a position the cluster lacks is a chain_gap naming its file', () => {
    const digests = chain([keyA, keyA, keyA, keyA]);
    const auditor = audit([digests[0]!, digests[1]!, digests[3]!]);
    expect(summary(auditor.findings)).toEqual([{ kind: 'chain_gap', position: 3 }]);
    auditor.compareLocal(local(digests));
    const fromLocal = auditor.findings.slice(1);
    expect(summary(fromLocal)).toEqual([{ kind: 'chain_gap', position: 2 }]);
    expect(fromLocal[0]!.fileId).toBe(fileIdAt(2));
    expect(fromLocal[0]!.at).toBe(atOf(2));
  });

  it('when the cluster chain lacks its start, the local digests before it are chain_gap unless windowed', () => {
    const digests = chain([keyA, keyA, keyA, keyA]);
    const whole = audit(digests.slice(2));
    whole.compareLocal(local(digests));
    expect(summary(whole.findings)).toEqual([
      { kind: 'chain_gap', position: 2 },
      { kind: 'chain_gap', position: 0 },
      { kind: 'chain_gap', position: 1 },
    ]);
    const windowed = audit(digests.slice(2), trusted(keyA), true);
    windowed.compareLocal(local(digests));
    expect(windowed.findings).toEqual([]);
  });
});
