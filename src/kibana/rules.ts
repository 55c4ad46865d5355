/** Elastic Security detection rules (rule import format), as data. The README lists them. */

export interface RuleSpec {
  readonly rule_id: string;
  readonly name: string;
  readonly description: string;
  readonly query: string;
  readonly severity: 'low' | 'medium' | 'high' | 'critical';
  readonly risk_score: number;
  readonly false_positives: readonly string[];
  readonly threat: readonly { tactic: [string, string]; technique?: [string, string] }[];
  /** Threshold rules: alert when this many matches per group occur within the look-back. */
  readonly threshold?: { field: string; value: number };
}

const AUDIT = 'data_stream.dataset : "encedo_hem.audit"';
const INTEGRITY = 'data_stream.dataset : "encedo_hem.integrity"';

export const RULES: readonly RuleSpec[] = [
  {
    rule_id: 'encedo_hem-integrity-alert',
    name: 'Encedo HEM audit log integrity alert',
    description:
      'The forwarder found an integrity problem in a HEM audit log: an altered record (MAC ' +
      'mismatch), missing, repeated or reordered records, a key segment not signed by the ' +
      'trusted logger key, a logger key change, or a file that changed or vanished after ' +
      'it was collected.',
    query: `${INTEGRITY} and event.kind : "alert"`,
    severity: 'high',
    risk_score: 73,
    false_positives: [
      'A storage fault on the device (truncated or corrupted file).',
      'A device wiped and re-initialised on purpose (a new logger key).',
    ],
    threat: [
      { tactic: ['TA0005', 'Defense Evasion'], technique: ['T1070', 'Indicator Removal'] },
      { tactic: ['TA0040', 'Impact'], technique: ['T1565', 'Data Manipulation'] },
    ],
  },
  {
    rule_id: 'encedo_hem-logger-key-changed',
    name: 'Encedo HEM logger key changed',
    description:
      "The device's audit-log signing key differs from the trusted one: the device was " +
      'wiped or re-initialised, or a different device answers at its address.',
    query: `${INTEGRITY} and encedo_hem.alert.kind : "logger_key_changed"`,
    severity: 'critical',
    risk_score: 99,
    false_positives: ['A planned re-initialisation; accept the new key with hem-forwarder state accept-key.'],
    threat: [{ tactic: ['TA0005', 'Defense Evasion'], technique: ['T1070', 'Indicator Removal'] }],
  },
  {
    rule_id: 'encedo_hem-scope-check-burst',
    name: 'Encedo HEM burst of scope-check failures',
    description:
      'Ten or more access scope-check failures on one device within the look-back window: ' +
      'a token is being used against endpoints it is not allowed to call.',
    query: `${AUDIT} and event.action : "scope-check-failed"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['A misconfigured application retrying with a token of the wrong scope.'],
    threat: [{ tactic: ['TA0007', 'Discovery'], technique: ['T1069', 'Permission Groups Discovery'] }],
    threshold: { field: 'observer.serial_number', value: 10 },
  },
  {
    rule_id: 'encedo_hem-hsm-health-failure',
    name: 'Encedo HEM entropy, secure-state, key-integrity or self-test failure',
    description:
      'The HSM reported a TRNG entropy failure, entered the non-secure (fail) state, ' +
      'failed a key-integrity check or failed its power-up self-test.',
    query:
      `${AUDIT} and (event.action : ("trng-failure" or "non-secure-state") or ` +
      `(event.action : ("key-integrity-check" or "selftest") and event.outcome : ` +
      `"failure"))`,
    severity: 'critical',
    risk_score: 99,
    false_positives: ['Hardware faults are rarely false; a device under test in a lab.'],
    threat: [],
  },
  {
    rule_id: 'encedo_hem-upgrade',
    name: 'Encedo HEM firmware or UI upgrade',
    description: 'The firmware or the management UI of the HSM was upgraded (or an upgrade was attempted).',
    query: `${AUDIT} and event.action : "firmware-upgrade"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['Planned maintenance.'],
    threat: [{ tactic: ['TA0005', 'Defense Evasion'], technique: ['T1601', 'Modify System Image'] }],
  },
  {
    rule_id: 'encedo_hem-device-initialised',
    name: 'Encedo HEM device re-initialised',
    description: 'The HSM was initialised (personalised): its keys and users were set up anew.',
    query: `${AUDIT} and event.action : "device-initialised"`,
    severity: 'high',
    risk_score: 73,
    false_positives: ['Commissioning of a new device.'],
    threat: [{ tactic: ['TA0040', 'Impact'], technique: ['T1485', 'Data Destruction'] }],
  },
  {
    rule_id: 'encedo_hem-rtc-set-outside-startup',
    name: 'Encedo HEM clock set outside startup',
    description:
      "The HSM's real-time clock was set other than in the power-up sequence (the first " +
      "records of a boot's file): log timestamps after it may not be comparable with those " +
      'before.',
    query: `${AUDIT} and event.action : "rtc-set" and event.sequence > 3`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['A routine check-in that corrects clock drift (the HEM RTC drifts noticeably).'],
    threat: [{ tactic: ['TA0005', 'Defense Evasion'], technique: ['T1070', 'Indicator Removal'] }],
  },
  {
    rule_id: 'encedo_hem-key-deleted',
    name: 'Encedo HEM key deleted',
    description: 'A key was deleted from the HSM.',
    query: `${AUDIT} and event.action : "key-delete" and event.outcome : "success"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['Planned key retirement.'],
    threat: [{ tactic: ['TA0040', 'Impact'], technique: ['T1485', 'Data Destruction'] }],
  },
  {
    rule_id: 'encedo_hem-master-login',
    name: 'Encedo HEM master-role login',
    description: 'Someone logged in with the master (recovery) passphrase, which is meant for rescue only.',
    query: `${AUDIT} and event.action : "login-passphrase" and user.roles : "master"`,
    severity: 'high',
    risk_score: 73,
    false_positives: ['A documented recovery procedure.'],
    threat: [{ tactic: ['TA0004', 'Privilege Escalation'], technique: ['T1078', 'Valid Accounts'] }],
  },
];

/** The rule in Elastic Security's import format. */
export function ruleObject(r: RuleSpec): Record<string, unknown> {
  return {
    rule_id: r.rule_id,
    name: r.name,
    description: r.description,
    type: r.threshold ? 'threshold' : 'query',
    language: 'kuery',
    query: r.query,
    index: ['logs-encedo_hem.*'],
    severity: r.severity,
    risk_score: r.risk_score,
    false_positives: r.false_positives,
    threat: r.threat.map((t) => ({
      framework: 'MITRE ATT&CK',
      tactic: { id: t.tactic[0], name: t.tactic[1], reference: `https://attack.mitre.org/tactics/${t.tactic[0]}/` },
      technique: t.technique
        ? [
            {
              id: t.technique[0],
              name: t.technique[1],
              reference: `https://attack.mitre.org/techniques/${t.technique[0]}/`,
            },
          ]
        : [],
    })),
    ...(r.threshold ? { threshold: { field: [r.threshold.field], value: r.threshold.value } } : {}),
    from: 'now-10m',
    interval: '5m',
    max_signals: 100,
    enabled: true,
    author: ['encedo-hem-forwarder'],
    license: 'Apache-2.0',
    tags: ['Encedo HEM', 'HSM', 'Audit log'],
    references: [],
    version: 1,
  };
}
