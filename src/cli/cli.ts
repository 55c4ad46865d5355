import { ForwarderError, exitCodeFor } from '../shared/errors.js';
import { EXIT_USAGE } from './errors.js';
import { type Output, processOutput } from './output.js';

type Command = (argv: string[], out: Output) => Promise<number>;

interface Loaded {
  readonly run: Command;
  readonly usage: string;
}

/**
 * Each command's module is imported only when that command runs: `parse` and `verify` then start without
 * the Elasticsearch client, pino, the simulator and the rest (about half a second of loading). `--help`
 * loads them all, so every usage line stays beside its command.
 */
const COMMANDS: Record<string, { load: () => Promise<Loaded>; summary: string }> = {
  run: {
    load: async () => {
      const m = await import('./run-command.js');
      return { run: m.runCommand, usage: m.RUN_USAGE };
    },
    summary: 'collect from every configured device (until stopped, or one cycle with --once)',
  },
  'check-config': {
    load: async () => {
      const m = await import('./config-commands.js');
      return { run: m.checkConfigCommand, usage: m.CHECK_CONFIG_USAGE };
    },
    summary: 'validate a config file without connecting to anything',
  },
  state: {
    load: async () => {
      const m = await import('./config-commands.js');
      return { run: m.stateCommand, usage: m.STATE_USAGE };
    },
    summary: 'show or reset checkpoints, or accept a changed logger key',
  },
  custody: {
    load: async () => {
      const m = await import('./custody-command.js');
      return { run: m.custodyCommand, usage: m.CUSTODY_USAGE };
    },
    summary: "print the forwarder's custody signing key (public half and fingerprint) for an auditor to pin",
  },
  audit: {
    load: async () => {
      const m = await import('./audit-command.js');
      return { run: m.auditCommand, usage: m.AUDIT_USAGE };
    },
    summary: 'prove the indexed audit trail complete and unaltered against the signed custody digests',
  },
  verify: {
    load: async () => {
      const m = await import('./verify-command.js');
      return { run: m.verifyCommand, usage: m.VERIFY_USAGE };
    },
    summary: 'verify audit log files against the pinned logger key',
  },
  parse: {
    load: async () => {
      const m = await import('./parse-command.js');
      return { run: m.parseCommand, usage: m.PARSE_USAGE };
    },
    summary: 'print the ECS documents a log file becomes, as NDJSON',
  },
  setup: {
    load: async () => {
      const m = await import('./setup-import-commands.js');
      return { run: m.setupCommand, usage: m.SETUP_USAGE };
    },
    summary: 'install or upgrade the index templates and lifecycle policy',
  },
  import: {
    load: async () => {
      const m = await import('./setup-import-commands.js');
      return { run: m.importCommand, usage: m.IMPORT_USAGE };
    },
    summary: 'verify, map and index log files from disk',
  },
  simulate: {
    load: async () => {
      const m = await import('./simulate-command.js');
      return { run: m.simulateCommand, usage: m.SIMULATE_USAGE };
    },
    summary: 'run a simulated Encedo HEM (HTTPS, self-signed) for tests and demos',
  },
};

async function help(): Promise<string> {
  const rows = await Promise.all(
    Object.entries(COMMANDS).map(
      async ([name, c]) => `  ${name.padEnd(10)} ${c.summary}\n      ${(await c.load()).usage}`,
    ),
  );
  return `usage: hem-forwarder <command> [options]\n\ncommands:\n${rows.join('\n')}\n`;
}

export async function main(argv: string[], out: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await out.line(await help());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    out.error(`unknown command ${JSON.stringify(name)}; run hem-forwarder --help`);
    return EXIT_USAGE;
  }
  try {
    return await (await command.load()).run(rest, out);
  } catch (err) {
    // Expected conditions (usage mistakes included) and argument errors are one line; anything else is a bug
    // and keeps its stack.
    if (err instanceof ForwarderError) {
      out.error(`${name}: ${err.message}`);
      return exitCodeFor(err);
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      out.error(`${name}: ${(err as Error).message}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
