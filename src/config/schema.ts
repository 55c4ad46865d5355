import { z } from 'zod';
import { DEFAULTS as D } from './defaults.js';
import { Secret } from './secret.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30s`, `5m`, `1h`, `7d`, or a number of seconds; to milliseconds. */
const duration = z
  .union([z.number().nonnegative(), z.string().regex(DURATION, 'a duration like 30s, 5m, 1h or 7d')])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const [, n, unit] = DURATION.exec(v)!;
    return Math.round(Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS]);
  });

// An empty value (e.g. `${env:NAME:-}` with NAME unset) means "not set".
const secret = z.string().transform((v) => (v === '' ? undefined : new Secret(v)));
const namespace = z.string().regex(/^[a-z0-9_]{1,100}$/, '1-100 characters of a-z, 0-9 and _ (no dash)');
const base64Key = z
  .string()
  .regex(/^[A-Za-z0-9+/]{43}=$/, 'a 32-byte Ed25519 public key in standard base64 (44 characters)');

const tls = z
  .strictObject({
    ca: z.string().min(1).optional(),
    fingerprint: z
      .string()
      .regex(
        /^(sha256[:/])?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/,
        'a SHA-256 fingerprint: 64 hex digits, colons allowed',
      )
      .optional(),
    insecure: z.boolean().optional(),
  })
  .refine(
    (t) => [t.ca, t.fingerprint, t.insecure].filter((x) => x !== undefined && x !== false).length <= 1,
    'choose one of ca, fingerprint or insecure',
  );

const simulator = z.strictObject({
  seed: z.number().int().nonnegative().default(1),
  boots: z.number().int().min(1).max(10_000).default(5),
  events_per_boot: z.number().int().min(1).max(1_000_000).default(200),
  segment_every: z.number().int().nonnegative().default(0),
  /** Damage stored files (by position in the history, 0 = oldest) to show what the forwarder reports. */
  tamper: z
    .array(
      z.strictObject({ file: z.number().int().nonnegative(), kind: z.enum(['edit', 'drop', 'truncate', 'delete']) }),
    )
    .default([]),
});

const device = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a name of letters, digits, _, . and - (it names the state file)'),
    url: z.url({ protocol: /^https?$/ }).optional(),
    passphrase: secret.optional(),
    tls: tls.optional(),
    logger_key: base64Key.optional(),
    trust_on_first_use: z.boolean().default(false),
    on_key_change: z.enum(['halt', 'alert']).default(D.device.onKeyChange),
    poll_interval: duration.default(D.device.pollIntervalMs),
    recheck_interval: duration.default(D.device.recheckIntervalMs),
    /** A device status document at least this often (and whenever the status changes). */
    status_interval: duration.default(D.device.statusIntervalMs),
    namespace: namespace.default(D.device.namespace),
    tags: z.array(z.string().min(1)).default([]),
    request_timeout: duration.default(D.device.requestTimeoutMs),
    /** Whole-request bound: a device that trickles its answer cannot hold a request longer. */
    request_deadline: duration.default(D.device.requestDeadlineMs),
    /** Largest log file accepted from the device; a longer answer is cut off and alerted. */
    max_file_bytes: z.number().int().min(1024).default(D.device.maxFileBytes),
    /** Most log file ids one listing may bring. */
    max_files: z.number().int().min(1).max(1_000_000).default(D.device.maxFiles),
    pacing: duration.default(D.device.pacingMs),
    simulator: simulator.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.simulator) {
      if (d.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'a simulator device has no url' });
      return;
    }
    if (!d.url)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'required: the device address, e.g. https://my.ence.do (or a simulator: section)',
      });
    if (!d.passphrase)
      ctx.addIssue({
        code: 'custom',
        path: ['passphrase'],
        message: 'required: the User passphrase, e.g. ${env:HEM_PASSPHRASE}',
      });
    if (!d.logger_key && !d.trust_on_first_use)
      ctx.addIssue({
        code: 'custom',
        path: ['logger_key'],
        message: 'required: pin the logger key (GET /api/logger/key), or set trust_on_first_use: true',
      });
    if (d.url?.startsWith('http:') && !d.tls?.insecure)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message:
          'plain http:// sends the token and the log in the clear; use https://, or set ' +
          'tls.insecure: true to accept it',
      });
  });

/** What the Elasticsearch and the OpenSearch output share: where, how much per request, setup, retention. */
const searchOutput = z.strictObject({
  // URLs only: a host may come by reference (it can carry user:password), so it must not carry a file.
  hosts: z
    .array(z.string())
    .default([])
    .transform((h) => h.filter((x) => x !== ''))
    .pipe(z.array(z.url({ protocol: /^https?$/ }))),
  username: z.string().min(1).optional(),
  password: secret.optional(),
  ca: z.string().min(1).optional(),
  setup: z.boolean().default(true),
  retention: z
    .string()
    .regex(/^\d+[dhm]$/, 'like 365d')
    .default(D.elasticsearch.retention),
  flush_bytes: z.number().int().positive().default(D.elasticsearch.flushBytes),
  flush_count: z.number().int().positive().default(D.elasticsearch.flushCount),
  flush_interval: duration.default(D.elasticsearch.flushIntervalMs),
  concurrency: z.number().int().min(1).max(16).default(D.elasticsearch.concurrency),
  /** gzip bulk requests: `auto` is off for plain http or a loopback host (CPU better spent), on otherwise. */
  compression: z.enum(['auto', 'on', 'off']).default('auto'),
  dead_letter_file: z.string().optional(),
});

const passwordWithUser = (e: { username?: string | undefined; password?: unknown }) => !(e.username && !e.password);

const elasticsearch = searchOutput
  .extend({
    cloud_id: z.string().min(1).optional(),
    api_key: secret.optional(),
    bearer: secret.optional(),
    ca_fingerprint: z.string().min(1).optional(),
  })
  .refine(passwordWithUser, { path: ['password'], message: 'required with username' });

const opensearch = searchOutput
  .extend({
    /** Amazon OpenSearch Service (es) or Serverless (aoss): requests signed with the AWS_* environment. */
    aws_sigv4: z
      .strictObject({
        region: z.string().regex(/^[a-z0-9-]{4,32}$/, 'an AWS region, e.g. eu-central-1'),
        service: z.enum(['es', 'aoss']).default('es'),
      })
      .optional(),
  })
  .refine(passwordWithUser, { path: ['password'], message: 'required with username' })
  .refine((o) => !(o.aws_sigv4 && o.username), {
    path: ['aws_sigv4'],
    message: 'either aws_sigv4 or username, not both',
  });

const output = z.strictObject({
  /** `auto`: Elasticsearch when `elasticsearch.hosts` (or `cloud_id`) is set, else NDJSON files. */
  type: z.enum(['auto', 'elasticsearch', 'opensearch', 'file', 'stdout']).default('auto'),
  elasticsearch: elasticsearch.optional(),
  /** An OpenSearch cluster (self-managed, the Wazuh indexer, Amazon OpenSearch Service) through its own client. */
  opensearch: opensearch.optional(),
  file: z
    .strictObject({
      dir: z.string().default(D.file.dir),
      max_bytes: z.number().int().positive().default(D.file.maxBytes),
    })
    .optional(),
});

const kibana = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  api_key: secret.optional(),
  username: z.string().min(1).optional(),
  password: secret.optional(),
  ca: z.string().min(1).optional(),
  insecure: z.boolean().optional(),
});

/** OpenSearch Dashboards for `setup`: like `kibana`, without API keys (OpenSearch Dashboards has none). */
const opensearchDashboards = kibana.omit({ api_key: true });

const LISTEN = /^[^:]*:(\d+)$/;
// A bad format is reported by the regex alone; the range check only judges what looks like host:port.
const listen = z
  .string()
  .regex(LISTEN, 'host:port, e.g. 127.0.0.1:9464')
  .refine((v) => {
    const port = LISTEN.exec(v)?.[1];
    return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  }, 'expected a port from 1 to 65535, e.g. 127.0.0.1:9464');

/**
 * Where checkpoints live: files under state_dir, or documents in the output's cluster, shared by several
 * instances that divide the devices among themselves with leases.
 */
const state = z
  .strictObject({
    /** `elasticsearch` or `opensearch`: in the cluster of that output (it must be the output in use). */
    store: z.enum(['file', 'elasticsearch', 'opensearch']).default('file'),
    /** The instances that share one config's devices; another fleet in the same cluster is counted apart. */
    fleet: z
      .string()
      .regex(/^[a-z0-9_-]{1,64}$/, '1-64 characters of a-z, 0-9, _ and -')
      .default(D.fleet.name),
    /** Names this instance in leases, heartbeats, metrics and status documents (default host-pid). */
    instance_id: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,128}$/, '1-128 letters, digits, _, ., : and -')
      .optional(),
    /** A device's lease lapses this long after its holder last renewed it; another instance may then take it. */
    lease_ttl: duration.default(D.fleet.leaseTtlMs),
    /** Default: a third of lease_ttl. */
    lease_renew: duration.optional(),
  })
  .transform((s) => ({ ...s, lease_renew: s.lease_renew ?? Math.floor(s.lease_ttl / 3) }))
  .superRefine((s, ctx) => {
    // An instance stops a device's work when its lease would lapse before the next renewal: with a third, a
    // renewal that is late by up to one interval still keeps it.
    if (s.lease_renew * 3 > s.lease_ttl)
      ctx.addIssue({
        code: 'custom',
        path: ['lease_renew'],
        message: `at most a third of lease_ttl (${s.lease_ttl} ms), so one late renewal does not lose the lease`,
      });
    if (s.lease_ttl < 1000) ctx.addIssue({ code: 'custom', path: ['lease_ttl'], message: 'at least 1s' });
  });

export const configSchema = z
  .strictObject({
    state_dir: z.string().default(D.stateDir),
    state: state.default({
      store: 'file',
      fleet: D.fleet.name,
      lease_ttl: D.fleet.leaseTtlMs,
      lease_renew: Math.floor(D.fleet.leaseTtlMs / 3),
    }),
    /** `run --once` as a whole stops after this long (exit 3); unfinished files are collected next run. */
    once_timeout: duration.default(D.onceTimeoutMs),
    log: z
      .strictObject({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
        format: z.enum(['auto', 'ecs', 'pretty']).default('auto'),
      })
      .default({ level: 'info', format: 'auto' }),
    metrics: z.strictObject({ listen }).optional(),
    devices: z.array(device).min(1, 'at least one device'),
    output: output.default({ type: 'auto' }),
    /** Where `hem-forwarder setup` imports the dashboards and detection rules. */
    kibana: kibana.optional(),
    opensearch_dashboards: opensearchDashboards.optional(),
    /**
     * Chain of custody: the forwarder's Ed25519 signing key (PKCS#8 PEM; default state_dir/custody-key.pem) and
     * the directory of the local digest files (default state_dir/digests; better on storage the forwarder host
     * cannot rewrite, e.g. a WORM mount).
     */
    custody: z.strictObject({ signing_key: secret.optional(), digest_dir: z.string().min(1).optional() }).optional(),
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.devices.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({
          code: 'custom',
          path: ['devices', i, 'name'],
          message: `duplicate device name ${JSON.stringify(d.name)}`,
        });
      names.add(d.name);
    });
    const es = c.output.elasticsearch;
    if (c.output.type === 'elasticsearch' && !(es && (es.hosts.some(Boolean) || es.cloud_id))) {
      ctx.addIssue({
        code: 'custom',
        path: ['output', 'elasticsearch', 'hosts'],
        message: 'required with type: elasticsearch (or cloud_id)',
      });
    }
    if (c.output.type === 'opensearch' && !c.output.opensearch?.hosts.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['output', 'opensearch', 'hosts'],
        message: 'required with type: opensearch',
      });
    }
    if (c.state.store !== 'file' && effectiveOutput(c) !== c.state.store)
      ctx.addIssue({
        code: 'custom',
        path: ['state', 'store'],
        message:
          `${c.state.store} needs the output in use to be ${c.state.store} (output.${c.state.store}.hosts): ` +
          'the state lives in its cluster',
      });
  });

export type Config = z.infer<typeof configSchema>;
export type DeviceConfig = Config['devices'][number];
export type ElasticsearchConfig = z.infer<typeof elasticsearch>;
export type OpenSearchConfig = z.infer<typeof opensearch>;

/** The output that will be used, with `auto` decided. */
export function effectiveOutput(c: Config): 'elasticsearch' | 'opensearch' | 'file' | 'stdout' {
  if (c.output.type !== 'auto') return c.output.type;
  const es = c.output.elasticsearch;
  return es && (es.hosts.some(Boolean) || es.cloud_id) ? 'elasticsearch' : 'file';
}
