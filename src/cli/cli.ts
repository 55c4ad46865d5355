import { ForwarderError, exitCodeFor } from '../shared/errors.js';
import { PACKAGE_VERSION } from '../shared/package-info.js';
import { COMMANDS, type CommandName, commandHelp, commandList, isCommand, nearestOption } from './commands.js';
import { EXIT_USAGE } from './errors.js';
import { type Output, processOutput } from './output.js';

function overview(): string {
  return (
    `hem-forwarder ${PACKAGE_VERSION}: Encedo HEM audit logs, verified, into Elasticsearch\n\n` +
    'usage: hem-forwarder <command> [options]\n' +
    '       hem-forwarder help <command>    (or <command> --help): its options, defaults, examples, exit codes\n' +
    '       hem-forwarder --version\n\n' +
    `commands:\n${commandList('text')}\n`
  );
}

const HELP = new Set(['--help', '-h']);

export async function main(argv: string[], out: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    await out.line(`hem-forwarder ${PACKAGE_VERSION}`);
    return 0;
  }
  if (name === undefined || HELP.has(name) || name === 'help') {
    const about = name === 'help' ? rest[0] : undefined;
    if (about === undefined) {
      await out.line(overview());
      return name === undefined ? EXIT_USAGE : 0;
    }
    if (!isCommand(about)) return unknownCommand(about, out);
    await out.line(commandHelp(about));
    return 0;
  }
  if (!isCommand(name)) return unknownCommand(name, out);
  // Help wins over everything else on the line: `run --config x --help` explains rather than runs.
  if (rest.some((a) => HELP.has(a))) {
    await out.line(commandHelp(name));
    return 0;
  }
  const command: { load: () => Promise<(argv: string[], out: Output) => Promise<number>> } = COMMANDS[name];
  try {
    return await (await command.load())(rest, out);
  } catch (err) {
    // Expected conditions (usage mistakes included) and argument errors are one line; anything else is a bug
    // and keeps its stack.
    if (err instanceof ForwarderError) {
      out.error(`${name}: ${err.message}`);
      return exitCodeFor(err);
    }
    const code = (err as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      out.error(`${name}: ${argumentError(name, err as Error, code)} (hem-forwarder ${name} --help)`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

function unknownCommand(name: string, out: Output): number {
  out.error(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  return EXIT_USAGE;
}

/** parseArgs's message, with the nearest option when one was mistyped. */
function argumentError(name: CommandName, err: Error, code: string): string {
  const typed = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(?:--)?([^']+)'/.exec(err.message)?.[1] : undefined;
  const nearest = typed === undefined ? null : nearestOption(name, typed.replace(/=.*/, ''));
  const first = err.message.split('. ')[0]!;
  return nearest ? `unknown option '--${typed}'; did you mean --${nearest}?` : first;
}
