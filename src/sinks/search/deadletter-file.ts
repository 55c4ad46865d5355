import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SinkError } from '../sink.js';

/**
 * Appends to the local dead-letter file and syncs it. Any failure is one SinkError('io') line naming the file
 * and the errno code. No recursive mkdir: Node 20 loops forever on it under /proc.
 */
export async function appendDeadLetterFile(file: string, text: string): Promise<void> {
  try {
    await makeDir(dirname(file));
    const handle = await open(file, 'a');
    try {
      await handle.appendFile(text);
      await handle.sync().catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EINVAL') throw err; // a device such as /dev/null cannot sync
      });
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new SinkError('io', `cannot write the dead-letter file ${file}: ${errnoText(err)}`, { cause: err });
  }
}

/** mkdir -p with each level tried at most twice. */
async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // open() reports a parent that is not a directory
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await makeDir(parent);
    await mkdir(dir).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = (e.message ?? String(err)).split('\n')[0]!;
  if (!e.code) return text;
  const reason = /^[A-Z0-9_]+: ([^,]+)/.exec(text)?.[1]; // "ENOENT: no such file or directory, open '...'"
  return reason ? `${e.code} (${reason})` : e.code;
}
