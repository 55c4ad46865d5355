import { IMPORT_USAGE, SETUP_USAGE, importCommand, setupCommand } from './setup-import-commands.js';
import { CHECK_CONFIG_USAGE, STATE_USAGE, checkConfigCommand, stateCommand } from './config-commands.js';
import { ForwarderError, exitCodeFor } from '../shared/errors.js';
import { EXIT_USAGE } from './errors.js';
import { CUSTODY_USAGE, custodyCommand } from './custody-command.js';
import { AUDIT_USAGE, auditCommand } from './audit-command.js';
import { RUN_USAGE, runCommand } from './run-command.js';
import { type Output, processOutput } from './output.js';
import { PARSE_USAGE, parseCommand } from './parse-command.js';
import { SIMULATE_USAGE, simulateCommand } from './simulate-command.js';
import { VERIFY_USAGE, verifyCommand } from './verify-command.js';

type Command = (argv: string[], out: Output) => Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string; summary: string }> = {
  run: {
    run: runCommand,
    usage: RUN_USAGE,
    summary: 'collect from every configured device (until stopped, or one cycle with --once)',
  },
  'check-config': {
    run: checkConfigCommand,
    usage: CHECK_CONFIG_USAGE,
    summary: 'validate a config file without connecting to anything',
  },
  state: {
    run: stateCommand,
    usage: STATE_USAGE,
    summary: 'show or reset checkpoints, or accept a changed logger key',
  },
  custody: {
    run: custodyCommand,
    usage: CUSTODY_USAGE,
    summary: "print the forwarder's custody signing key (public half and fingerprint) for an auditor to pin",
  },
  audit: {
    run: auditCommand,
    usage: AUDIT_USAGE,
    summary: 'prove the indexed audit trail complete and unaltered against the signed custody digests',
  },
  verify: { run: verifyCommand, usage: VERIFY_USAGE, summary: 'verify audit log files against the pinned logger key' },
  parse: { run: parseCommand, usage: PARSE_USAGE, summary: 'print the ECS documents a log file becomes, as NDJSON' },
  setup: {
    run: setupCommand,
    usage: SETUP_USAGE,
    summary: 'install or upgrade the index templates and lifecycle policy',
  },
  import: { run: importCommand, usage: IMPORT_USAGE, summary: 'verify, map and index log files from disk' },
  simulate: {
    run: simulateCommand,
    usage: SIMULATE_USAGE,
    summary: 'run a simulated Encedo HEM (HTTPS, self-signed) for tests and demos',
  },
};

function help(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}\n      ${c.usage}`);
  return `usage: hem-forwarder <command> [options]\n\ncommands:\n${rows.join('\n')}\n`;
}

export async function main(argv: string[], out: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    await out.line(help());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    out.error(`unknown command ${JSON.stringify(name)}; run hem-forwarder --help`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, out);
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
