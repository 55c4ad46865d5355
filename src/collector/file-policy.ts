import type { FileRecord } from '../state/store.js';

/**
 * What a cycle does with one file, free of I/O: collect it (new to this output), fetch it again to see
 * whether its bytes changed (recheck), report that it is no longer listed (vanished), or nothing.
 */
export type FileDecision = 'collect' | 'recheck' | 'vanished' | 'none';

export function decideFile(
  record: FileRecord | undefined,
  listed: boolean,
  o: { readonly outputId: string; readonly now: number; readonly recheckIntervalMs: number },
): FileDecision {
  if (record === undefined) return listed ? 'collect' : 'none';
  if (!listed) return record.status === 'vanished' ? 'none' : 'vanished';
  if (!record.outputs.includes(o.outputId)) return 'collect';
  if (record.status !== 'vanished' && Date.parse(record.checkedAt) <= o.now - o.recheckIntervalMs) return 'recheck';
  return 'none';
}
