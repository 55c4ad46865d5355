import { describe, expect, it } from 'vitest';
import { type KeyPolicyInput, decideLoggerKey } from '../../../src/collector/key-policy.js';

const [A, B, C] = ['A', 'B', 'C'].map((k) => `${k.repeat(43)}=`) as [string, string, string];
const NOW = '2026-01-01T00:00:00.000Z';
type Source = 'config' | 'first_use' | 'accepted' | null;

function input(
  pinned: string | null,
  stored: string | null,
  source: Source,
  device: string,
  onKeyChange: 'halt' | 'alert' = 'halt',
  known = stored ? [stored] : [],
): KeyPolicyInput {
  return {
    device: 'hem1',
    pinned,
    onKeyChange,
    deviceKey: device,
    now: NOW,
    state: { loggerKey: { trusted: stored, source, since: stored ? 'earlier' : null }, knownKeys: known, halted: null },
  };
}

describe('the logger-key decision', () => {
  // pinned × stored (source) × device key × on_key_change → trusted key, verify-with list, halt, alerts
  const table: [
    string,
    KeyPolicyInput,
    {
      trusted: string;
      source: Source;
      verifyWith: string[] | null;
      changed?: boolean;
      keyChanged?: boolean;
      unpinned?: string | null;
      firstUse?: boolean;
    },
  ][] = [
    [
      'nothing pinned, nothing stored: first use',
      input(null, null, null, A),
      { trusted: A, source: 'first_use', verifyWith: [A], firstUse: true },
    ],
    ['pinned, nothing stored: the pin', input(A, null, null, A), { trusted: A, source: 'config', verifyWith: [A] }],
    [
      'pinned and stored agree',
      input(A, A, 'config', A),
      { trusted: A, source: 'config', verifyWith: [A], changed: false },
    ],
    [
      'pinned, first-use key equal: relabelled',
      input(A, A, 'first_use', A),
      { trusted: A, source: 'config', verifyWith: [A], unpinned: null },
    ],
    [
      'pinned replaces a different first-use key, which is dropped',
      input(B, A, 'first_use', B),
      { trusted: B, source: 'config', verifyWith: [B], unpinned: A },
    ],
    [
      'pin changed in the config: old config keys stay for old files',
      input(B, A, 'config', B),
      { trusted: B, source: 'config', verifyWith: [B, A] },
    ],
    [
      'accepted outranks the pin',
      input(A, B, 'accepted', B, 'halt', [A, B]),
      { trusted: B, source: 'accepted', verifyWith: [B, A] },
    ],
    [
      'device differs, halt',
      input(A, A, 'config', C),
      { trusted: A, source: 'config', verifyWith: null, keyChanged: true },
    ],
    [
      'device differs, alert: accepted',
      input(A, A, 'config', C, 'alert'),
      { trusted: C, source: 'accepted', verifyWith: [C, A], keyChanged: true },
    ],
    [
      'first-use device differs later, halt',
      input(null, A, 'first_use', C),
      { trusted: A, source: 'first_use', verifyWith: null, keyChanged: true },
    ],
  ];
  for (const [name, given, want] of table) {
    it(name, () => {
      const d = decideLoggerKey(given);
      expect(d.next.loggerKey.trusted).toBe(want.trusted);
      expect(d.next.loggerKey.source).toBe(want.source);
      expect(d.verifyWith).toEqual(want.verifyWith);
      expect(d.keyChanged !== null).toBe(want.keyChanged ?? false);
      expect(d.unpinned).toBe(want.unpinned ?? null);
      expect(d.firstUse).toBe(want.firstUse ?? false);
      if (want.changed !== undefined) expect(d.changed).toBe(want.changed);
      if (want.verifyWith === null)
        expect(d.next.halted?.reason).toMatch(/^hem1: the logger key changed from .* collection halted/);
    });
  }

  it('a halt stays until accepted, and pinning the new key is an acceptance', () => {
    const halted = { reason: 'r', newKey: C, since: 'then' };
    const still = decideLoggerKey({
      ...input(A, A, 'config', C),
      state: { loggerKey: { trusted: A, source: 'config', since: 'x' }, knownKeys: [A], halted },
    });
    expect(still.verifyWith).toBeNull();
    expect(still.keyChanged).toBeNull(); // not alerted again every cycle
    const pinned = decideLoggerKey({
      ...input(C, A, 'config', C),
      state: { loggerKey: { trusted: A, source: 'config', since: 'x' }, knownKeys: [A], halted },
    });
    expect(pinned.next.halted).toBeNull();
    expect(pinned.verifyWith).toEqual([C, A]);
  });
});
