import { canonicalJson, sha256Hex } from '../custody/canonical.js';
import {
  DIGEST_VERSION,
  type DeadLetterEntry,
  type DigestBody,
  type FileDigestBody,
  MAX_DEAD_LETTERS_LISTED,
  type SignedDigest,
  signDigest,
} from '../custody/digest.js';
import type { CustodyKey } from '../custody/signing.js';
import type { CustodyTrail } from '../custody/trail.js';
import { custodyDocument } from '../ecs/custody.js';
import type { FetchedFile } from '../ecs/integrity.js';
import type { DeviceContext } from '../ecs/map.js';
import type { FileVerdict } from '../logfile/verify.js';
import { ForwarderError } from '../shared/errors.js';
import type { DeadLetter, Sink, UnitSummary } from '../sinks/sink.js';
import type { ChainHead } from '../state/checkpoint.js';
import { appendDigest } from '../state/digest-files.js';
import { MAX_SEGMENTS_KEPT } from '../state/store.js';

/** What the collector needs to keep the chain of custody. */
export interface CustodyOptions {
  readonly key: CustodyKey;
  /** Where the local digest files go (custody.digest_dir). */
  readonly digestDir: string;
  /** The forwarder's version, named in every digest. */
  readonly version: string;
}

/** Where a device's chain stands and where its next digest goes. */
export interface ChainContext {
  readonly custody: CustodyOptions;
  readonly sink: Sink;
  readonly outputId: string;
  readonly deviceName: string;
  readonly device: DeviceContext;
  readonly namespace: string;
  readonly head: ChainHead | null;
}

export interface IngestedForDigest {
  readonly fileId: string;
  readonly file: FetchedFile;
  readonly verdict: FileVerdict;
  readonly loggerKeys: readonly Uint8Array[];
  readonly collectedAt: string;
  readonly trail: CustodyTrail;
  readonly summary: UnitSummary;
}

/** The output refused a digest: the file stays unacknowledged and is collected again. */
export class DigestRefusedError extends ForwarderError {
  override readonly name = 'DigestRefusedError';
  readonly code = 'digest_refused';
  readonly transient = true;
}

/**
 * The digest of a file whose documents the output acknowledged: signed, linked to the chain head, written to
 * the output (acknowledged before this resolves) and appended to the local digest file. Returns the new head,
 * which the caller commits with the file's checkpoint: a checkpoint implies its digest.
 */
export async function writeFileDigest(chain: ChainContext, ingested: IngestedForDigest): Promise<WrittenDigest> {
  const forwarder = { key: chain.custody.key.fingerprint, version: chain.custody.version };
  return writeDigest(chain, fileDigestBody({ ...chain, forwarder }, ingested));
}

/** Where a digest sits: the chain's device, output and head, and the forwarder that signs it. */
export type ChainPlace = Pick<ChainContext, 'outputId' | 'deviceName' | 'device' | 'namespace' | 'head'> & {
  readonly forwarder: FileDigestBody['forwarder'];
};

/** The body of a file's digest (pure): what `writeFileDigest` signs. */
export function fileDigestBody(chain: ChainPlace, ingested: IngestedForDigest): FileDigestBody {
  const { file, verdict, summary } = ingested;
  return {
    kind: 'file',
    version: DIGEST_VERSION,
    chain: link(chain),
    device: deviceOf(chain),
    namespace: chain.namespace,
    collected_at: ingested.collectedAt,
    file: {
      id: ingested.fileId,
      sha256: file.sha256,
      size: file.size,
      records: verdict.lines.total,
      verified: verdict.lines.verified,
      valid: verdict.valid,
      first_seq: verdict.firstSeq,
      last_seq: verdict.lastSeq,
      first_time: verdict.firstTime,
      last_time: verdict.lastTime,
      problems: Object.fromEntries(Object.entries(verdict.problemCounts).filter(([, n]) => n > 0)),
    },
    segments: {
      count: verdict.segmentCount,
      listed: verdict.segments
        .slice(0, MAX_SEGMENTS_KEPT)
        .map((s) => ({ line: s.line, key: s.keyFingerprint, signature: s.signature })),
    },
    logger_keys: ingested.loggerKeys.map((k) => Buffer.from(k).toString('base64')),
    documents: ingested.trail.documents.commitment(),
    companions: ingested.trail.companions,
    dead_letters: {
      count: summary.deadLettered,
      listed: summary.deadLetters.slice(0, MAX_DEAD_LETTERS_LISTED).map(deadLetterEntry),
    },
    forwarder: chain.forwarder,
  };
}

export interface WrittenDigest {
  /** The new chain head, for the checkpoint. */
  readonly head: ChainHead;
  /** What the output did with the digest document (written, or a duplicate of a retried collection's). */
  readonly stored: UnitSummary;
}

/** Signs `body`, writes it to the output and the local digest file, and returns the new chain head. */
export async function writeDigest(chain: ChainContext, body: DigestBody): Promise<WrittenDigest> {
  const signed: SignedDigest = signDigest(body, chain.custody.key);
  // Immediate: the file's checkpoint waits for this one document, which need not queue behind the next files' data.
  const unit = chain.sink.open(`${chain.deviceName}/custody/${body.chain.position}`, { immediate: true });
  await unit.write(custodyDocument(signed, chain));
  const summary = await unit.end();
  if (summary.deadLettered > 0) {
    const why = summary.deadLetters[0]?.reason ?? 'refused';
    throw new DigestRefusedError(
      `the output refused the custody digest at chain position ${body.chain.position} of ${chain.deviceName} ` +
        `(${why}); the file is collected again`,
    );
  }
  await appendDigest(chain.custody.digestDir, chain.deviceName, signed);
  return { head: { output: chain.outputId, position: body.chain.position, hash: signed.hash }, stored: summary };
}

export function link(chain: Pick<ChainPlace, 'device' | 'outputId' | 'head'>): FileDigestBody['chain'] {
  const { head } = chain;
  return {
    device: chain.device.serial ?? 'unknown',
    output: chain.outputId,
    position: head === null ? 0 : head.position + 1,
    previous: head?.hash ?? null,
  };
}

export function deviceOf(chain: Pick<ChainPlace, 'device' | 'deviceName'>): FileDigestBody['device'] {
  return { serial: chain.device.serial ?? 'unknown', name: chain.deviceName };
}

function deadLetterEntry(letter: DeadLetter): DeadLetterEntry {
  let source: unknown = null;
  try {
    source = JSON.parse(letter.source);
  } catch {
    // kept as null: the hash then commits to nothing a reader could match, and `line` is unknown
  }
  const doc = source as { encedo_hem?: { log?: { line?: unknown } }; event?: { original?: unknown } } | null;
  const line = doc?.encedo_hem?.log?.line;
  const original = doc?.event?.original;
  return {
    id: letter.id,
    line: typeof line === 'number' ? line : null,
    hash: sha256Hex(canonicalJson(source)),
    original: typeof original === 'string' ? original : null,
    status: letter.status,
    reason: letter.reason.slice(0, 500),
    to: letter.to,
  };
}
