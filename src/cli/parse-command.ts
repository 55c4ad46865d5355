import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { mapLogFileNdjson } from '../ecs/map-file.js';
import { fileIdFromName, namespaceError } from '../ecs/map.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { loadLoggerKey } from './keys.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';
import { describeIoError } from './verify-command.js';

export const PARSE_USAGE = COMMANDS.parse.usage;

/** Prints, one per line, the documents `import`/`run` would index for FILE: `{"_id","_index","_source"}`. */
export async function parseCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: COMMANDS.parse.options,
  });
  if (positionals.length !== 1) throw new UsageError(`give exactly one FILE; usage: ${PARSE_USAGE}`);
  const file = positionals[0]!;
  const nsError = namespaceError(values.namespace);
  if (nsError) throw new UsageError(`--namespace: ${nsError}`);
  const key = await loadLoggerKey(values);
  // 32 KiB reads: each chunk's documents (about 1 MB of JSON) are built, written at once and dropped while
  // still young, so the heap stays small.
  const documents = mapLogFileNdjson(createReadStream(file, { highWaterMark: 32 * 1024 }), {
    loggerKey: key,
    context: {
      device: { serial: values.serial ?? null },
      fileId: values['file-id'] ?? fileIdFromName(file),
      namespace: values.namespace,
      created: new Date(),
    },
  });
  try {
    for (;;) {
      const next = await documents.next();
      if (next.done) {
        const v = next.value;
        out.error(`${file}: ${v.valid ? 'valid' : 'INVALID'}; ${v.lines.verified}/${v.lines.total} records verified`);
        return v.valid ? EXIT_OK : EXIT_INVALID;
      }
      // One write per chunk; a full pipe is waited for, a free one is not.
      await out.write(next.value);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    out.error(`cannot read ${file}: ${describeIoError(err)}`);
    return EXIT_USAGE;
  }
}
