// The one table of commands: it drives parsing (each command parses with its `options`), `--help` and
// `help COMMAND`, the suggestions for a mistyped option, and the README's command list (a test holds the two
// equal). Each command's module is imported only when that command runs, so `parse` and `verify` start
// without the Elasticsearch client, pino or the simulator.
import { DEFAULTS as D } from '../config/defaults.js';
import type { Output } from './output.js';

export type CommandRun = (argv: string[], out: Output) => Promise<number>;

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  /** The value's name in help (FILE, URL); booleans have none. */
  readonly value?: string;
  readonly help: string;
  /** What applies when the option is not given, if not `default` (help shows it). */
  readonly otherwise?: string;
}

export interface CommandSpec {
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  readonly exits: Readonly<Record<number, string>>;
  readonly load: () => Promise<CommandRun>;
}

const CONFIG = { type: 'string', value: 'FILE', help: 'the YAML config (see config.example.yaml)' } as const;
const ES_URL = {
  type: 'string',
  value: 'URL',
  help: 'the cluster, instead of a config; credentials from ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME/PASSWORD',
} as const;
const OS_URL = {
  type: 'string',
  value: 'URL',
  help: 'an OpenSearch cluster, instead of a config; credentials from OPENSEARCH_USERNAME/PASSWORD',
} as const;
const KEY = { type: 'string', value: 'BASE64', help: "the device's logger public key (Ed25519, base64)" } as const;
const KEY_FILE = { type: 'string', value: 'PATH', help: 'a file holding the logger public key' } as const;
const JSON_OUT = { type: 'boolean', default: false, help: 'print JSON instead of text' } as const;
const OK = 'success';
const USAGE = 'usage or configuration error, or a file/network error (one line on stderr)';

export const COMMANDS = {
  run: {
    summary: 'collect from every configured device (until stopped, or one cycle with --once)',
    usage: 'hem-forwarder run --config FILE [--once] [--instance-id ID] [--state-dir DIR]',
    options: {
      config: { ...CONFIG, help: 'the YAML config (required)' },
      once: { type: 'boolean', default: false, help: 'one collection cycle, a summary, then exit' },
      'instance-id': {
        type: 'string',
        value: 'ID',
        help: 'names this instance in leases, metrics and status documents',
        otherwise: 'state.instance_id, else host-pid',
      },
      'state-dir': { type: 'string', value: 'DIR', help: "this instance's local state", otherwise: 'state_dir' },
    },
    examples: ['hem-forwarder run --once --config config.example.yaml', 'hem-forwarder run --config /etc/hem.yaml'],
    exits: {
      0: `${OK} (a service stopped by SIGTERM also exits 0)`,
      1: 'with --once: a file did not verify, a device failed or halted, or documents were dead-lettered',
      2: USAGE,
      3: 'with --once: interrupted (SIGINT/SIGTERM or once_timeout); the rest is collected next run',
    },
    load: async () => (await import('./run-command.js')).runCommand,
  },
  'check-config': {
    summary: 'validate a config file without connecting to anything',
    usage: 'hem-forwarder check-config --config FILE',
    options: { config: CONFIG },
    examples: ['hem-forwarder check-config --config config.example.yaml'],
    exits: { 0: 'valid (warnings are printed)', 2: 'invalid: every problem named with its key' },
    load: async () => (await import('./config-commands.js')).checkConfigCommand,
  },
  state: {
    summary: 'show or reset checkpoints, accept a changed logger key, or move the state into the cluster',
    usage:
      'hem-forwarder state (show [DEVICE] | reset DEVICE | accept-key DEVICE | ' +
      'migrate --to (elasticsearch | opensearch)) --config FILE',
    options: {
      config: CONFIG,
      to: { type: 'string', value: 'STORE', help: "with migrate: the output's cluster, elasticsearch or opensearch" },
    },
    examples: ['hem-forwarder state show --config config.yaml', 'hem-forwarder state accept-key hem1 --config c.yaml'],
    exits: { 0: OK, 1: 'nothing to accept, a corrupt state, or migrate refused a device', 2: USAGE },
    load: async () => (await import('./config-commands.js')).stateCommand,
  },
  custody: {
    summary: 'print the custody signing key (public half, fingerprint) for an auditor to pin, or rotate it',
    usage: 'hem-forwarder custody key --config FILE [--json] | custody rotate --config FILE [--next-key FILE.pem]',
    options: {
      config: CONFIG,
      json: JSON_OUT,
      'next-key': {
        type: 'string',
        value: 'FILE.pem',
        help: 'with rotate: the next key (PKCS#8 PEM)',
        otherwise: 'a new key is generated',
      },
    },
    examples: ['hem-forwarder custody key --config config.yaml', 'hem-forwarder custody rotate --config config.yaml'],
    exits: { 0: OK, 2: USAGE },
    load: async () => (await import('./custody-command.js')).custodyCommand,
  },
  audit: {
    summary: 'prove the indexed audit trail complete and unaltered against the signed custody digests',
    usage:
      'hem-forwarder audit (--config FILE | --elasticsearch URL | --opensearch URL) [--public-key KEY]... ' +
      '[--digest-dir DIR] [--device NAME] [--since T] [--until T] [--namespace NS] [--json] [--report FILE.html]',
    options: {
      config: CONFIG,
      elasticsearch: ES_URL,
      opensearch: OS_URL,
      'public-key': {
        type: 'string',
        multiple: true,
        value: 'KEY',
        help: 'a trusted custody key (base64 or PEM file); repeat for several',
        otherwise: "the config's own key",
      },
      'digest-dir': {
        type: 'string',
        value: 'DIR',
        help: 'local digest copies, to show truncation',
        otherwise: "the config's custody.digest_dir when it exists",
      },
      device: { type: 'string', value: 'NAME', help: 'only this device', otherwise: 'every device' },
      since: { type: 'string', value: 'T', help: 'only files collected from this time (ISO 8601)' },
      until: { type: 'string', value: 'T', help: 'only files collected before this time (ISO 8601)' },
      namespace: { type: 'string', value: 'NS', help: 'only this data stream namespace', otherwise: 'all' },
      json: JSON_OUT,
      report: { type: 'string', value: 'FILE.html', help: 'also write a self-contained HTML report' },
    },
    examples: ['hem-forwarder audit --config config.yaml --report audit.html'],
    exits: { 0: 'intact', 1: 'a finding, or no digest matched (nothing was proven)', 2: USAGE },
    load: async () => (await import('./audit-command.js')).auditCommand,
  },
  verify: {
    summary: 'verify audit log files against the pinned logger key',
    usage: 'hem-forwarder verify [--key BASE64 | --key-file PATH] [--json] FILE...',
    options: { key: KEY, 'key-file': KEY_FILE, json: JSON_OUT },
    examples: ['hem-forwarder verify --key T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A= docs-log-62310ba5.log'],
    exits: { 0: 'every file verified', 1: 'a file did not verify', 2: USAGE },
    load: async () => (await import('./verify-command.js')).verifyCommand,
  },
  parse: {
    summary: 'print the ECS documents a log file becomes, as NDJSON',
    usage: 'hem-forwarder parse [--key BASE64 | --key-file PATH] [--serial S] [--namespace N] [--file-id ID] FILE',
    options: {
      key: KEY,
      'key-file': KEY_FILE,
      serial: { type: 'string', value: 'S', help: "the device's serial number", otherwise: 'none' },
      namespace: { type: 'string', default: D.device.namespace, value: 'N', help: 'the data stream namespace' },
      'file-id': { type: 'string', value: 'ID', help: "the file's id on the device", otherwise: 'its file name' },
    },
    examples: ['hem-forwarder parse --key-file logger.pub --serial 4e95d079 6774f7b9.log > docs.ndjson'],
    exits: { 0: OK, 2: USAGE },
    load: async () => (await import('./parse-command.js')).parseCommand,
  },
  setup: {
    summary: 'install or upgrade the index templates, lifecycle policy, dashboards and rules',
    usage:
      'hem-forwarder setup [--config FILE | --elasticsearch URL | --opensearch URL] [--kibana URL] ' +
      '[--opensearch-dashboards URL] [--dry-run] [--retention 365d]',
    options: {
      config: CONFIG,
      elasticsearch: ES_URL,
      opensearch: OS_URL,
      kibana: { type: 'string', value: 'URL', help: 'also import the dashboards and detection rules' },
      'opensearch-dashboards': {
        type: 'string',
        value: 'URL',
        help: 'also import the OpenSearch Dashboards dashboards; credentials from OPENSEARCH_DASHBOARDS_USERNAME/PASSWORD',
      },
      'dry-run': { type: 'boolean', default: false, help: 'say what would change, change nothing' },
      retention: {
        type: 'string',
        value: 'DURATION',
        help: 'delete audit data older than this',
        otherwise: `the output's retention, else ${D.elasticsearch.retention}`,
      },
    },
    examples: [
      'hem-forwarder setup --config config.yaml --dry-run',
      'hem-forwarder setup --elasticsearch URL',
      'hem-forwarder setup --opensearch URL --opensearch-dashboards https://osd.example:5601',
    ],
    exits: { 0: OK, 1: 'the cluster, Kibana or OpenSearch Dashboards refused (the reason is printed)', 2: USAGE },
    load: async () => (await import('./setup-import-commands.js')).setupCommand,
  },
  import: {
    summary: 'verify, map and index log files from disk',
    usage:
      'hem-forwarder import (--config FILE | --elasticsearch URL | --opensearch URL) ' +
      '(--key BASE64 | --key-file PATH) --serial S [--namespace N] [--dead-letter-file PATH] FILE...',
    options: {
      config: CONFIG,
      elasticsearch: ES_URL,
      opensearch: OS_URL,
      key: KEY,
      'key-file': KEY_FILE,
      serial: { type: 'string', value: 'S', help: "the device's serial number (required)" },
      namespace: { type: 'string', default: D.device.namespace, value: 'N', help: 'the data stream namespace' },
      'dead-letter-file': {
        type: 'string',
        value: 'PATH',
        help: 'where documents the cluster refuses go',
        otherwise: `state_dir/${D.elasticsearch.deadLetterFileName}`,
      },
    },
    examples: ['hem-forwarder import --elasticsearch URL --key-file logger.pub --serial 4e95d079 *.log'],
    exits: { 0: OK, 1: 'a file did not verify or documents were dead-lettered', 2: USAGE },
    load: async () => (await import('./setup-import-commands.js')).importCommand,
  },
  simulate: {
    summary: 'run simulated Encedo HEMs (HTTPS, self-signed) for tests, demos and load',
    usage:
      'hem-forwarder simulate [--devices 1] [--host 127.0.0.1] [--port 8443] [--http] [--passphrase PW] ' +
      '[--master-passphrase PW] [--seed N] [--boots N] [--events-per-boot N] [--auth-delay-ms MS] [--epa] ' +
      '[--cache-mb N] [--control] [--json]',
    options: {
      devices: { type: 'string', value: 'N', help: 'independent devices, on consecutive ports', otherwise: '1' },
      host: { type: 'string', default: '127.0.0.1', value: 'HOST', help: 'the address to listen on' },
      port: { type: 'string', value: 'PORT', help: 'the (first) port; 0 for ephemeral ports', otherwise: '8443' },
      http: { type: 'boolean', default: false, help: 'plain HTTP instead of HTTPS' },
      passphrase: {
        type: 'string',
        value: 'PW',
        help: 'the user passphrase',
        otherwise: 'HEM_SIM_PASSPHRASE, else generated and printed',
      },
      'master-passphrase': {
        type: 'string',
        value: 'PW',
        help: 'the master passphrase',
        otherwise: 'HEM_SIM_MASTER_PASSPHRASE, else generated',
      },
      seed: { type: 'string', value: 'N', help: 'makes the history reproducible', otherwise: '1' },
      boots: { type: 'string', value: 'N', help: 'closed log files (one per boot)', otherwise: '3' },
      'events-per-boot': { type: 'string', value: 'N', help: 'records per boot', otherwise: '50' },
      'auth-delay-ms': { type: 'string', value: 'MS', help: "the device's login delay", otherwise: '500' },
      epa: { type: 'boolean', default: false, help: 'behave like an EPA model' },
      'cache-mb': {
        type: 'string',
        value: 'N',
        help: 'keep up to N MB of closed files, all devices together, for the next read instead of rebuilding them',
        otherwise: '0',
      },
      control: { type: 'boolean', default: false, help: 'serve /sim/* (faults, tamper, stats) for tests' },
      json: { type: 'boolean', default: false, help: 'one JSON line per device (url, certSha256, loggerKey, serial)' },
    },
    examples: ['hem-forwarder simulate --devices 3 --port 0 --json'],
    exits: { 0: 'stopped by SIGINT/SIGTERM', 2: USAGE },
    load: async () => (await import('./simulate-command.js')).simulateCommand,
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** `--name VALUE` (or `--name`) as the help lists it. */
function flag(name: string, o: OptionSpec): string {
  return o.value ? `--${name} ${o.value}` : `--${name}`;
}

/** A command's help: usage, every option with its default, examples, exit codes. */
export function commandHelp(name: CommandName): string {
  const c: CommandSpec = COMMANDS[name];
  const options = Object.entries(c.options);
  const width = Math.max(...options.map(([n, o]) => flag(n, o).length));
  const lines = options.map(([n, o]) => {
    const fallback = o.otherwise ?? (o.default === undefined ? null : o.default === false ? 'off' : String(o.default));
    return `  ${flag(n, o).padEnd(width)}  ${o.help}${fallback === null ? '' : ` (default: ${fallback})`}`;
  });
  return [
    `hem-forwarder ${name}: ${c.summary}`,
    '',
    `usage: ${c.usage}`,
    '',
    'options:',
    ...lines,
    '',
    c.examples.length > 1 ? 'examples:' : 'example:',
    ...c.examples.map((e) => `  ${e}`),
    '',
    'exit codes:',
    ...Object.entries(c.exits).map(([code, what]) => `  ${code}  ${what}`),
    '',
  ].join('\n');
}

/** The list of commands: for `hem-forwarder --help`, or as the README's Markdown list. */
export function commandList(format: 'text' | 'markdown'): string {
  const entries: [string, CommandSpec][] = Object.entries(COMMANDS);
  const width = Math.max(...entries.map(([name]) => name.length));
  return entries
    .map(([name, c]) =>
      format === 'text' ? `  ${name.padEnd(width)}  ${c.summary}` : `- \`${c.usage}\`: ${c.summary}`,
    )
    .join('\n');
}

/** The option of `name` nearest to a mistyped one, if near enough to be a likely typo. */
export function nearestOption(name: CommandName, typed: string): string | null {
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const option of Object.keys(COMMANDS[name].options)) {
    const d = distance(typed, option);
    if (d < bestDistance) [best, bestDistance] = [option, d];
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

/** Levenshtein distance (the options are short: the plain table is enough). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
