import { describe, expect, it } from 'vitest';
import { fileRecord } from '../../helpers/state.js';
import { type FileDecision, decideFile } from '../../../src/collector/file-policy.js';
import type { FileRecord } from '../../../src/state/store.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const o = { outputId: 'elasticsearch:A', now: NOW, recheckIntervalMs: DAY };

function rec(over: Partial<FileRecord> = {}): FileRecord {
  const at = new Date(NOW - 3600_000).toISOString();
  return fileRecord('f', { ingestedAt: at, checkedAt: at, outputs: ['elasticsearch:A'], ...over });
}

describe('the file decision', () => {
  const old = new Date(NOW - 2 * DAY).toISOString();
  const table: [string, FileRecord | undefined, boolean, FileDecision][] = [
    ['new and listed: collect', undefined, true, 'collect'],
    ['unknown and not listed: nothing', undefined, false, 'none'],
    ['ingested here, recently checked: nothing', rec(), true, 'none'],
    ['ingested here, check due: recheck', rec({ checkedAt: old }), true, 'recheck'],
    [
      'changed here, check due: recheck (a later change is reported too)',
      rec({ status: 'changed', checkedAt: old }),
      true,
      'recheck',
    ],
    ['ingested into another output only: collect', rec({ outputs: ['file:/x'] }), true, 'collect'],
    ['written before outputs were recorded: collect', rec({ outputs: [] }), true, 'collect'],
    ['ingested, no longer listed: vanished', rec(), false, 'vanished'],
    ['vanished already, still not listed: nothing', rec({ status: 'vanished' }), false, 'none'],
    [
      'vanished, listed again, check due: nothing (stays vanished)',
      rec({ status: 'vanished', checkedAt: old }),
      true,
      'none',
    ],
  ];
  for (const [name, record, listed, want] of table) it(name, () => expect(decideFile(record, listed, o)).toBe(want));
});
