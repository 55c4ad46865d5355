import type { DeviceState } from '../state/store.js';

/** What the collector knows when it decides which logger keys to trust (all keys in standard base64). */
export interface KeyPolicyInput {
  /** The device's name, for the halt reason. */
  readonly device: string;
  /** `logger_key` from the config, if pinned there. */
  readonly pinned: string | null;
  readonly onKeyChange: 'halt' | 'alert';
  readonly state: Pick<DeviceState, 'loggerKey' | 'knownKeys' | 'halted'>;
  /** The key the device reports now (GET /api/logger/key). */
  readonly deviceKey: string;
  readonly now: string;
}

export interface KeyDecision {
  /** The state's key fields after the decision (unchanged objects when nothing changed). */
  readonly next: Pick<DeviceState, 'loggerKey' | 'knownKeys' | 'halted'>;
  readonly changed: boolean;
  /** Keys to verify files with, the trusted one first; null while the device is halted. */
  readonly verifyWith: readonly string[] | null;
  /** The device's key differs from the trusted one. */
  readonly keyChanged: { readonly previous: string; readonly current: string; readonly halted: boolean } | null;
  /** The device's key was trusted on first use just now. */
  readonly firstUse: boolean;
  /** A key learned on first use was dropped because the config pins another one. */
  readonly unpinned: string | null;
}

/**
 * The logger-key trust decision, free of I/O. A key accepted by the operator (`state accept-key`, or
 * `on_key_change: alert`) outranks the config; a pinned key outranks, and replaces, a key learned on
 * first use, so files signed by that first-use key no longer verify. Every trusted key is kept, so
 * files written before a wipe still verify.
 */
/**
 * Whether a halt still holds. Pinning the key the halt was waiting for is the operator's decision, like
 * accept-key (unless a key was accepted since, which outranks the config).
 */
export function haltStands(state: Pick<DeviceState, 'loggerKey' | 'halted'>, pinned: string | null): boolean {
  if (state.halted === null) return false;
  return !(pinned !== null && state.halted.newKey === pinned && state.loggerKey.source !== 'accepted');
}

export function decideLoggerKey(input: KeyPolicyInput): KeyDecision {
  const { pinned, deviceKey, now } = input;
  let { loggerKey, knownKeys, halted } = input.state;
  let unpinned: string | null = null;
  if (pinned !== null && loggerKey.source === 'first_use') {
    if (loggerKey.trusted !== pinned) {
      unpinned = loggerKey.trusted;
      knownKeys = knownKeys.filter((k) => k !== unpinned);
    }
    loggerKey = { trusted: pinned, source: 'config', since: now };
  }
  if (halted && !haltStands({ loggerKey, halted }, pinned)) halted = null;
  let trusted = loggerKey.source === 'accepted' ? loggerKey.trusted : (pinned ?? loggerKey.trusted);
  let firstUse = false;
  if (trusted === null) {
    trusted = deviceKey;
    firstUse = true;
    loggerKey = { trusted, source: 'first_use', since: now };
  } else if (loggerKey.trusted !== trusted) {
    loggerKey = { trusted, source: 'config', since: now };
  }
  if (!knownKeys.includes(trusted)) knownKeys = [...knownKeys, trusted];
  let keyChanged: KeyDecision['keyChanged'] = null;
  if (deviceKey !== trusted && !halted) {
    const halt = input.onKeyChange === 'halt';
    keyChanged = { previous: trusted, current: deviceKey, halted: halt };
    if (halt) {
      const reason =
        `${input.device}: the logger key changed from ${trusted} to ${deviceKey} (a wipe or re-initialisation, ` +
        'or a different device); collection halted until hem-forwarder state accept-key';
      halted = { reason, newKey: deviceKey, since: now };
    } else {
      loggerKey = { trusted: deviceKey, source: 'accepted', since: now };
      if (!knownKeys.includes(deviceKey)) knownKeys = [...knownKeys, deviceKey];
      trusted = deviceKey;
    }
  }
  const next = { loggerKey, knownKeys, halted };
  const s = input.state;
  const changed =
    JSON.stringify([s.loggerKey, s.knownKeys, s.halted]) !== JSON.stringify([loggerKey, knownKeys, halted]);
  const verifyWith = halted ? null : [trusted, ...knownKeys.filter((k) => k !== trusted)];
  return { next, changed, verifyWith, keyChanged, firstUse, unpinned };
}
