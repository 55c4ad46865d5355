/**
 * What `hem-forwarder audit` found: the model that the console output, `--json` and the HTML report are
 * rendered from. Plain data, no I/O.
 */

/** Every kind of finding, closed: an auditor can filter and count them. */
export const FINDING_KINDS = [
  'digest_signature',
  'chain_gap',
  'chain_fork',
  'truncated',
  'document_missing',
  'document_altered',
  'document_extra',
  'record_tag',
  'unknown_key',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  readonly kind: FindingKind;
  /** The device's name (or serial when the digest names no device). */
  readonly device: string;
  /** The log file the finding is about, when it is about one. */
  readonly fileId?: string;
  /** Position of the digest in the device's chain. */
  readonly position?: number;
  /** Lines of the log file concerned (inclusive). */
  readonly lines?: { readonly first: number; readonly last: number };
  /** The cluster document concerned, when one is. */
  readonly documentId?: string;
  /** When the concerned file was collected (ISO 8601): places the finding on the timeline. */
  readonly at?: string;
  /** What was found and the evidence, in one or two sentences. */
  readonly detail: string;
}

export interface DayCount {
  /** UTC day, YYYY-MM-DD. */
  readonly day: string;
  readonly records: number;
  readonly files: number;
}

export interface DeviceAudit {
  readonly device: string;
  readonly serial: string;
  /** The output the chain belongs to (`elasticsearch:<cluster uuid>`). */
  readonly output: string;
  readonly files: number;
  /** Records the digests name. */
  readonly records: number;
  /** Records whose device tag verified again during the audit. */
  readonly verified: number;
  /** Documents read back from the cluster and matched against the digests. */
  readonly documents: number;
  /** Documents the cluster refused at collection, known from the digests (not missing). */
  readonly deadLetters: number;
  readonly chain: {
    /** Positions of the first and last digest seen (null: no digest). */
    readonly first: number | null;
    readonly last: number | null;
    readonly digests: number;
    /** Digests in the local digest files for this chain (null: no --digest-dir). */
    readonly localDigests: number | null;
    readonly intact: boolean;
  };
  /** Records per day of collection, for the timeline. */
  readonly days: readonly DayCount[];
  readonly findings: readonly Finding[];
}

export interface KeyUse {
  readonly fingerprint: string;
  /** pinned: given by --public-key; state: the forwarder's own key read from state_dir; rotation: named by a
   * rotation digest signed by a trusted key. */
  readonly trust: 'pinned' | 'state' | 'rotation';
}

export interface AuditReport {
  readonly tool: { readonly name: string; readonly version: string };
  readonly generatedAt: string;
  /** Where the documents were read (cluster URL, credentials never included). */
  readonly source: string;
  readonly range: { readonly since: string | null; readonly until: string | null };
  readonly keys: readonly KeyUse[];
  readonly digestDir: string | null;
  readonly devices: readonly DeviceAudit[];
  /** True when at least one device was audited and none has a finding. */
  readonly intact: boolean;
}
