/**
 * `audit`: reads every digest in chain order, checks each chain, then each file's documents against its
 * digest, and gathers the findings into the report model. Memory: one page of documents, one file's chunk
 * list, and per device a counter per day.
 */
import type { FileDigestBody, SignedDigest } from '../custody/digest.js';
import { ChainAuditor, type TrustedKeys } from './chain-audit.js';
import type { ClusterReader, DigestFilter } from './cluster-reader.js';
import { FileAuditor } from './file-audit.js';
import { type LocalDigests, chainKey } from './local-digests.js';
import type { AuditReport, DayCount, DeviceAudit, Finding } from './report.js';

export interface AuditOptions {
  readonly reader: ClusterReader;
  readonly trusted: TrustedKeys;
  readonly local: LocalDigests | null;
  /** Only this output's chains (`elasticsearch:<cluster uuid>`): the local files may hold others. */
  readonly output: string;
  readonly filter: DigestFilter;
  readonly source: string;
  readonly digestDir: string | null;
  readonly tool: AuditReport['tool'];
}

interface DeviceTally {
  device: string;
  serial: string;
  output: string;
  files: number;
  records: number;
  verified: number;
  documents: number;
  deadLetters: number;
  days: Map<string, { records: number; files: number }>;
  findings: Finding[];
  chain: ChainAuditor;
}

export async function runAudit(o: AuditOptions): Promise<AuditReport> {
  const windowed = o.filter.since !== undefined || o.filter.until !== undefined;
  const devices = new Map<string, DeviceTally>();
  await o.reader.refresh();
  const extraFindings: Finding[] = [];
  /** serial + file id of every file a digest names. */
  const claimed = new Set<string>();
  for (const doc of await o.reader.incompleteDigests(o.filter)) {
    extraFindings.push({
      kind: 'digest_signature',
      device: String((doc.source.observer as { name?: unknown } | undefined)?.name ?? 'unknown'),
      documentId: doc.id,
      detail: `custody document ${doc.id} is not a complete digest (no chain position or hash)`,
    });
  }
  for await (const doc of o.reader.digests(o.filter)) {
    const digest = (doc.source.encedo_hem as { custody?: SignedDigest } | undefined)?.custody;
    if (!digest?.body) continue;
    const { body } = digest;
    if (body.chain.output !== o.output) continue;
    const key = chainKey(body.chain.device, body.chain.output);
    let tally = devices.get(key);
    if (!tally) {
      tally = newTally(String(body.device?.name ?? body.chain.device), body.chain.device, o, windowed);
      devices.set(key, tally);
    }
    const check = tally.chain.accept(digest);
    if (body.kind !== 'file') continue;
    claimed.add(fileKey(body.chain.device, body.file.id));
    if (!check.ok) continue;
    await auditFile(o, tally, body);
  }
  // A whole file no digest names (forged, imported, or collected before custody) is extra too; in a time window
  // the files outside it are not read, so this check needs the whole chain.
  if (!windowed) {
    // Files the local digest files name are accounted for there (a chain_gap or truncated finding says so).
    for (const [key, digests] of o.local?.chains ?? []) {
      const serial = key.slice(0, key.indexOf('\n'));
      for (const d of digests) if (d.fileId !== null) claimed.add(fileKey(serial, d.fileId));
    }
    const bySerial = new Map([...devices.values()].map((t) => [t.serial, t]));
    for await (const c of o.reader.fileClaims()) {
      if (claimed.has(fileKey(c.serial, c.fileId))) continue;
      const tally = bySerial.get(c.serial);
      if (o.filter.device && !tally) continue;
      (tally?.findings ?? extraFindings).push({
        kind: 'document_extra',
        device: tally?.device ?? (c.serial || 'unknown'),
        ...(c.fileId ? { fileId: c.fileId } : {}),
        detail:
          `${c.count} document(s) claim file ${c.fileId || '(none)'} of device ${c.serial || '(none)'}, ` +
          'which no custody digest names (forged, imported by hand, or collected before custody)',
      });
    }
  }
  const local = o.local;
  if (local) {
    for (const [key, digests] of local.chains) {
      if (!key.endsWith(`\n${o.output}`)) continue;
      let tally = devices.get(key);
      if (!tally) {
        const serial = key.slice(0, key.indexOf('\n'));
        tally = newTally(local.devices.get(key) ?? serial, serial, o, windowed);
        devices.set(key, tally);
      }
      tally.chain.compareLocal(digests);
    }
  }
  const audits: DeviceAudit[] = [...devices.values()].map((t) => deviceAudit(t, local));
  if (extraFindings.length > 0) audits.push(orphanDevice(extraFindings, o.output));
  const keys = [...o.trusted.uses].map(([fingerprint, trust]) => ({ fingerprint, trust }));
  return {
    tool: o.tool,
    generatedAt: new Date().toISOString(),
    source: o.source,
    range: { since: o.filter.since ?? null, until: o.filter.until ?? null },
    keys,
    digestDir: o.digestDir,
    devices: audits,
    // Nothing read proves nothing: an audit that found no digest is not "intact".
    intact: audits.length > 0 && audits.every((d) => d.findings.length === 0),
  };
}

/** Names one device's file, across chains and outputs. */
function fileKey(serial: string, fileId: string): string {
  return `${serial}\n${fileId}`;
}

function newTally(device: string, serial: string, o: AuditOptions, windowed: boolean): DeviceTally {
  return {
    device,
    serial,
    output: o.output,
    ...{ files: 0, records: 0, verified: 0, documents: 0, deadLetters: 0 },
    days: new Map(),
    findings: [],
    chain: new ChainAuditor(device, o.trusted, windowed),
  };
}

async function auditFile(o: AuditOptions, tally: DeviceTally, body: FileDigestBody): Promise<void> {
  const auditor = new FileAuditor(body, tally.device);
  for await (const group of o.reader.fileDocuments(body.chain.device, body.file.id, body.namespace)) {
    auditor.line(group.line, group.documents, group.overflow);
  }
  const unlined = await o.reader.unlinedDocuments(body.chain.device, body.file.id, body.namespace);
  auditor.unlined(unlined.documents, unlined.total);
  const byIndex = new Map<string, string[]>();
  for (const c of body.companions) byIndex.set(c.index, [...(byIndex.get(c.index) ?? []), c.id]);
  const found = (await Promise.all([...byIndex].map(([index, ids]) => o.reader.byIds(index, ids)))).flat();
  auditor.companions(found);
  const result = auditor.finish();
  tally.files++;
  tally.records += body.file.records;
  tally.verified += result.verified;
  tally.documents += result.documents;
  tally.deadLetters += result.deadLetters;
  tally.findings.push(...result.findings);
  const day = body.collected_at.slice(0, 10);
  const d = tally.days.get(day) ?? { records: 0, files: 0 };
  d.records += body.file.records;
  d.files++;
  tally.days.set(day, d);
}

function deviceAudit(t: DeviceTally, local: LocalDigests | null): DeviceAudit {
  const chainFindings = t.chain.findings;
  const findings = [...chainFindings, ...t.findings].sort((a, b) => (a.position ?? -1) - (b.position ?? -1));
  const days: DayCount[] = [...t.days]
    .map(([day, c]) => ({ day, records: c.records, files: c.files }))
    .sort((a, b) => a.day.localeCompare(b.day));
  const localDigests = local ? (local.chains.get(chainKey(t.serial, t.output))?.length ?? 0) : null;
  return {
    device: t.device,
    serial: t.serial,
    output: t.output,
    files: t.files,
    records: t.records,
    verified: t.verified,
    documents: t.documents,
    deadLetters: t.deadLetters,
    chain: { ...t.chain.summary, localDigests, intact: chainFindings.length === 0 },
    days,
    findings,
  };
}

function orphanDevice(findings: Finding[], output: string): DeviceAudit {
  return {
    device: 'unattributed',
    serial: '-',
    output,
    ...{ files: 0, records: 0, verified: 0, documents: 0, deadLetters: 0 },
    chain: { first: null, last: null, digests: 0, localDigests: null, intact: false },
    days: [],
    findings,
  };
}
