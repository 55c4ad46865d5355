import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createPublicKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { digestDirOf } from '../app/wiring.js';
import type { Config } from '../config/schema.js';
import type { TrustedKeys } from '../audit/chain-audit.js';
import { ClusterReader } from '../audit/cluster-reader.js';
import { readLocalDigests } from '../audit/local-digests.js';
import { type AuditReport, FINDING_KINDS } from '../audit/report.js';
import { renderReportHtml } from '../audit/report-html.js';
import { runAudit } from '../audit/run-audit.js';
import { custodyFingerprint } from '../custody/signing.js';
import { PACKAGE_VERSION } from '../shared/package-info.js';
import { redactUrls } from '../shared/redact.js';
import { detectEngine } from '../sinks/search/setup.js';
import { readCustodyKey } from '../state/custody-key.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';
import { clusterFrom } from './setup-import-commands.js';

export const AUDIT_USAGE = COMMANDS.audit.usage;

/**
 * `audit`: proves what the forwarder wrote is still in the cluster, complete and unaltered, against its signed
 * digests. Exit 0 intact, 1 any finding, 2 usage or I/O error.
 */
export async function auditCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: COMMANDS.audit.options,
  });
  const since = instant(values.since, '--since');
  const until = instant(values.until, '--until');
  if (values.namespace !== undefined && !/^[a-z0-9_]{1,100}$/.test(values.namespace)) {
    throw new UsageError(`--namespace ${JSON.stringify(values.namespace)} is not a data stream namespace`);
  }
  const opened = await clusterFrom(values, out, AUDIT_USAGE);
  if (!opened) return EXIT_USAGE;
  const { cluster, config } = opened;
  const where = cluster.where;
  try {
    const trusted = await trustedKeys(values['public-key'] ?? [], config);
    const digestDir = values['digest-dir'] ?? (config && existsSync(digestDirOf(config)) ? digestDirOf(config) : null);
    if (digestDir !== null && !existsSync(digestDir)) throw new UsageError(`--digest-dir ${digestDir} does not exist`);
    const filter = {
      ...(values.device ? { device: values.device } : {}),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
    };
    let uuid: string;
    try {
      uuid = (await detectEngine(cluster.rest)).clusterUuid;
    } catch (err) {
      out.error(`audit: cannot reach ${where}: ${redactUrls((err as Error).message)}`);
      return EXIT_USAGE;
    }
    const local = digestDir ? await readLocalDigests(digestDir, filter) : null;
    for (const line of local?.unreadable ?? []) out.error(`audit: ${line}`);
    const report = await runAudit({
      reader: new ClusterReader(cluster.rest, values.namespace ?? '*'),
      trusted,
      local,
      output: `${cluster.kind}:${uuid}`,
      filter,
      source: where,
      digestDir,
      tool: { name: 'encedo-hem-forwarder', version: PACKAGE_VERSION },
    });
    if (values.report) await writeFile(values.report, renderReportHtml(report));
    if (values.json) await out.line(JSON.stringify(report));
    else await printReport(report, out, values.report);
    if (report.devices.length === 0) {
      // Nothing checked proves nothing: a wrong cluster, namespace or window must not read as intact.
      out.error('audit: no custody digests matched: nothing was proven (check --namespace, --device, --since)');
      return EXIT_INVALID;
    }
    return report.intact ? EXIT_OK : EXIT_INVALID;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    out.error(`audit: ${redactUrls(message.split('\n')[0] ?? message)}`);
    return EXIT_USAGE;
  } finally {
    await cluster.close();
  }
}

async function printReport(report: AuditReport, out: Output, reportFile: string | undefined): Promise<void> {
  const total = report.devices.reduce((n, d) => n + d.findings.length, 0);
  await out.line(
    `Audit of ${report.source}: ${report.intact ? 'INTACT' : report.devices.length === 0 ? 'NOTHING PROVEN' : `${total} FINDING(S)`}; ` +
      `keys ${report.keys.map((k) => `${k.fingerprint.slice(0, 16)}… (${k.trust})`).join(', ')}`,
  );
  if (report.devices.length === 0) await out.line('  no custody digests found (has `run` written to this cluster?)');
  for (const d of report.devices) {
    const chain = d.chain.last === null ? 'no digests' : `chain ${d.chain.first}–${d.chain.last} (${d.chain.digests})`;
    const local = d.chain.localDigests === null ? '' : `, ${d.chain.localDigests} local`;
    await out.line(
      `  ${d.device} (${d.serial}): ${d.files} files, ${d.records} records, ${d.verified} verified, ` +
        `${d.documents} documents, ${d.deadLetters} dead letters; ${chain}${local}; ${d.findings.length} finding(s)`,
    );
    for (const f of d.findings) {
      const at = [
        f.fileId ? `file ${f.fileId}` : null,
        f.position !== undefined ? `position ${f.position}` : null,
        f.lines ? `lines ${f.lines.first}–${f.lines.last}` : null,
        f.documentId ? `id ${f.documentId}` : null,
      ].filter((x) => x !== null);
      await out.line(`    ${f.kind}${at.length > 0 ? ` (${at.join(', ')})` : ''}: ${f.detail}`);
    }
  }
  if (total > 0) {
    const counts = FINDING_KINDS.map((k) => [
      k,
      report.devices.flatMap((d) => d.findings).filter((f) => f.kind === k).length,
    ])
      .filter(([, n]) => (n as number) > 0)
      .map(([k, n]) => `${k} ${n}`);
    await out.line(`  findings: ${counts.join(', ')}`);
  }
  if (reportFile) await out.line(`  report: ${reportFile}`);
}

/** --public-key values (base64 raw key, or a file with a PEM public key or the base64 key), else the state's key. */
async function trustedKeys(given: readonly string[], config: Config | undefined): Promise<TrustedKeys> {
  const keys = new Map<string, Uint8Array>();
  const uses = new Map<string, 'pinned' | 'state' | 'rotation'>();
  for (const value of given) {
    const key = publicKeyOf(value);
    const fingerprint = custodyFingerprint(key);
    keys.set(fingerprint, key);
    uses.set(fingerprint, 'pinned');
  }
  if (given.length === 0) {
    if (!config)
      throw new UsageError('--public-key KEY is required without --config: pin the key `custody key` printed');
    const own = await readCustodyKey(config.state_dir, config.custody?.signing_key);
    if (!own) throw new UsageError(`no custody key in ${config.state_dir} (has \`run\` run?); pass --public-key KEY`);
    keys.set(own.fingerprint, own.publicKey);
    uses.set(own.fingerprint, 'state');
  }
  return { keys, uses };
}

function publicKeyOf(value: string): Buffer {
  const text = existsSync(value) ? readFileSync(value, 'utf8').trim() : value.trim();
  if (text.startsWith('-----BEGIN')) {
    try {
      const spki = createPublicKey(text).export({ type: 'spki', format: 'der' });
      return Buffer.from(spki.subarray(spki.length - 32));
    } catch {
      throw new UsageError(`--public-key ${value}: not an Ed25519 public key`);
    }
  }
  const raw = Buffer.from(text, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== text) {
    throw new UsageError(
      `--public-key: expected the base64 Ed25519 public key that \`custody key\` prints, or a PEM file`,
    );
  }
  return raw;
}

function instant(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not a date (e.g. 2026-11-01 or 2026-11-01T12:00:00Z)`);
  return new Date(ms).toISOString();
}
