/**
 * Elastic Security detection rules (rule import format) and the planned-maintenance exception list, as data.
 * `npm run gen:mappings` writes them to mappings/rules/; `hem-forwarder setup --kibana` imports them.
 *
 * Time: a HEM releases the current boot's audit file only at the next reboot, so its events reach the cluster
 * hours to months after `@timestamp` (the device's record time). Every rule therefore looks back on
 * `event.ingested` (set by the ingest pipeline that setup installs), never on `@timestamp`.
 */

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Threat {
  readonly tactic: readonly [string, string];
  readonly technique?: readonly [string, string];
  readonly subtechnique?: readonly [string, string];
}

/** Investigation guide: becomes the rule's `note` (markdown). The false positives come from the rule. */
export interface Guide {
  /** What the alert means. */
  readonly happened: string;
  /** Steps on the device and in the data. */
  readonly triage: readonly string[];
  /** What to do when it is not explained. */
  readonly response: readonly string[];
}

export interface RuleSpec {
  readonly rule_id: string;
  readonly name: string;
  readonly description: string;
  readonly query: string;
  readonly severity: Severity;
  readonly risk_score: number;
  readonly false_positives: readonly string[];
  readonly threat: readonly Threat[];
  readonly domains: readonly string[];
  readonly useCases: readonly string[];
  readonly guide: Guide;
  /** Look-back (`now-<from>`) and schedule; the look-back covers the interval plus a margin. */
  readonly from: string;
  readonly interval: string;
  /** Threshold rules: alert when this many matches per group occur within the look-back. */
  readonly threshold?: { readonly field: string; readonly value: number };
  /** New terms rules: alert on the first value (per combination of fields) not seen since `history`. */
  readonly newTerms?: { readonly fields: readonly string[]; readonly history: string };
  /**
   * Alert suppression: one alert per group (group_by; threshold rules group by their threshold field) for
   * `duration` instead of one per matching document or per run.
   */
  readonly suppression?: { readonly groupBy?: readonly string[]; readonly duration: string };
  /** A planned maintenance may trigger it: it references the maintenance exception list. */
  readonly maintenance?: boolean;
}

const AUDIT = 'data_stream.dataset : "encedo_hem.audit"';
const INTEGRITY = 'data_stream.dataset : "encedo_hem.integrity"';
const ALERT = `${INTEGRITY} and event.kind : "alert"`;
const STATUS = `${INTEGRITY} and event.action : "device-status" and event.kind : "state"`;

const DEFENSE_EVASION = ['TA0005', 'Defense Evasion'] as const;
const IMPACT = ['TA0040', 'Impact'] as const;
const PERSISTENCE = ['TA0003', 'Persistence'] as const;
const PRIV_ESC = ['TA0004', 'Privilege Escalation'] as const;
const INITIAL_ACCESS = ['TA0001', 'Initial Access'] as const;
const INDICATOR_REMOVAL = ['T1070', 'Indicator Removal'] as const;
const VALID_ACCOUNTS = ['T1078', 'Valid Accounts'] as const;

/** Runs every 5 minutes over 6 (one minute of margin for ingest and scheduling delays). */
const EVERY_5M = { from: 'now-6m', interval: '5m' } as const;
/** Burst (threshold) rules: an hour's window, every 5 minutes; suppression keeps it to one alert per hour. */
const BURST = { from: 'now-60m', interval: '5m' } as const;
/** Status rules: a status document arrives at least every status_interval (15 minutes by default). */
const STATUS_WINDOW = { from: 'now-20m', interval: '10m' } as const;

const DEVICE = 'observer.serial_number';
const DAYS_7 = 7 * 86_400;

export const RULES: readonly RuleSpec[] = [
  {
    rule_id: 'encedo_hem-integrity-alert',
    name: 'Encedo HEM audit log integrity alert',
    description:
      'The forwarder found an integrity problem in a HEM audit log: altered records (MAC mismatch), missing, ' +
      'repeated or reordered records, a key segment not signed by the trusted logger key, unparseable lines, ' +
      'or a file or listing it could not collect. Logger key changes and files changed or removed after ' +
      'collection have rules of their own.',
    query: `${ALERT} and not encedo_hem.alert.kind : ("logger_key_changed" or "file_changed" or "file_vanished")`,
    severity: 'high',
    risk_score: 73,
    false_positives: [
      'A storage fault on the device (a truncated or corrupted file).',
      'An operational problem (a file the device answers 404 for, a listing longer than max_files): ' +
        'encedo_hem.alert.kind says which.',
    ],
    threat: [
      { tactic: DEFENSE_EVASION, technique: INDICATOR_REMOVAL },
      {
        tactic: IMPACT,
        technique: ['T1565', 'Data Manipulation'],
        subtechnique: ['T1565.001', 'Stored Data Manipulation'],
      },
    ],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Threat Detection'],
    guide: {
      happened:
        'The forwarder verifies every audit log file it collects: each record carries a MAC chained to a key ' +
        'segment signed by the device logger key. This alert means a file did not verify, or could not be ' +
        'collected completely. `encedo_hem.alert.kind` names the problem and `message` the file and first line.',
      triage: [
        'Read `encedo_hem.alert.kind`, `encedo_hem.alert.count` and `file.name` on the alert document.',
        'Run `hem-forwarder verify` on a fresh copy of the file (download it again from the device) to see ' +
          'whether the damage is on the device or happened in transit.',
        'List the audit events of that file (`encedo_hem.log.file_id`) with `encedo_hem.integrity.status` ' +
          'other than `verified`: they are the records that cannot be trusted.',
        "Check the device for storage errors and unexpected reboots around the file's time range.",
      ],
      response: [
        'Treat the device as possibly tampered with until the cause is known: secure a copy of the file.',
        'Review who had master access to the device in the period the file covers.',
      ],
    },
    ...EVERY_5M,
  },
  {
    rule_id: 'encedo_hem-logger-key-changed',
    name: 'Encedo HEM logger key changed',
    description:
      "The device's audit-log signing key differs from the trusted one: the device was wiped or " +
      're-initialised, or a different device answers at its address.',
    query: `${ALERT} and encedo_hem.alert.kind : "logger_key_changed"`,
    severity: 'critical',
    risk_score: 99,
    false_positives: [
      'A planned re-initialisation: add an exception to the planned-maintenance list for its window and accept ' +
        'the new key with hem-forwarder state accept-key.',
    ],
    threat: [{ tactic: DEFENSE_EVASION, technique: INDICATOR_REMOVAL }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Threat Detection'],
    guide: {
      happened:
        'The logger key signs every key segment of the audit log; it changes only when the device is ' +
        're-initialised. A new key means the audit trail before it can no longer be tied to this device, or ' +
        'that the address now answers with another device.',
      triage: [
        'Compare `encedo_hem.alert.previous_key` and `encedo_hem.alert.current_key` with the key recorded at ' +
          'commissioning.',
        'Check the device serial (`observer.serial_number`) and its management UI: was it re-initialised ' +
          '(look for a `device-initialised` audit event once its file is released)?',
        'Ask the device owner whether a re-initialisation was planned (change ticket).',
      ],
      response: [
        'If unplanned, isolate the device, keep the forwarder halted (on_key_change: halt) and investigate ' +
          'physical access to it.',
      ],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-log-file-changed-or-removed',
    name: 'Encedo HEM audit log file changed or removed after collection',
    description:
      'An audit log file the forwarder had already collected changed its content or is no longer listed by ' +
      'the device.',
    query: `${ALERT} and encedo_hem.alert.kind : ("file_changed" or "file_vanished")`,
    severity: 'high',
    risk_score: 73,
    false_positives: [
      'Closed files are never rewritten by the firmware; a re-initialisation or factory reset removes them ' +
        '(covered by the planned-maintenance exception list when planned).',
    ],
    threat: [{ tactic: DEFENSE_EVASION, technique: INDICATOR_REMOVAL }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Threat Detection'],
    guide: {
      happened:
        'A HEM never changes or deletes a closed audit file (deleting log files is not implemented in the ' +
        'firmware). A file that changed or vanished after collection was altered outside the normal API.',
      triage: [
        'The copy the forwarder indexed is the reference: compare `encedo_hem.alert.previous_sha256` and ' +
          '`encedo_hem.alert.current_sha256`.',
        "List the device's files in its management UI and check whether others are missing too.",
        'Check for a re-initialisation or firmware upgrade in the same period.',
      ],
      response: ['Preserve the indexed events of that file; treat the device as tampered with until explained.'],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-scope-check-burst',
    name: 'Encedo HEM burst of scope-check failures',
    description:
      'Ten or more access scope-check failures on one device in one look-back window of ingested events: a ' +
      'token is being used against endpoints it is not allowed to call.',
    query: `${AUDIT} and event.action : "scope-check-failed"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['A misconfigured application retrying with a token of the wrong scope.'],
    threat: [{ tactic: ['TA0007', 'Discovery'], technique: ['T1069', 'Permission Groups Discovery'] }],
    domains: ['Domain: Identity'],
    useCases: ['Use Case: Identity and Access Audit', 'Use Case: Threat Detection'],
    guide: {
      happened:
        "Every call with a token that lacks the endpoint's scope is logged as a scope-check failure. Many in " +
        'one released audit file point at a client probing the API or a broken integration.',
      triage: [
        'Group the failures by `encedo_hem.scope` (the scope that was required) and `user.id`.',
        'Find the successful logins (`login-passphrase`, `login-external`) just before them: which token was ' +
          'issued, with which scope, to whom.',
        'Check the applications that hold credentials for this device.',
      ],
      response: ['Rotate the passphrase or unpair the authenticator whose token was misused.'],
    },
    ...BURST,
    threshold: { field: DEVICE, value: 10 },
    suppression: { duration: '60m' },
  },
  {
    rule_id: 'encedo_hem-hsm-health-failure',
    name: 'Encedo HEM entropy, secure-state, key-integrity or self-test failure',
    description:
      'The HSM reported a TRNG entropy failure, entered the non-secure (fail) state, failed a key-integrity ' +
      'check or failed its power-up self-test.',
    query:
      `${AUDIT} and (event.action : ("trng-failure" or "non-secure-state") or ` +
      `(event.action : ("key-integrity-check" or "selftest") and event.outcome : "failure"))`,
    severity: 'critical',
    risk_score: 99,
    false_positives: ['Hardware faults are rarely false; a device under test in a lab.'],
    threat: [],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Threat Detection'],
    guide: {
      happened:
        "The device's own health checks failed: its random number generator, its secure state, the integrity " +
        'of its key store, or its power-up self-test. Keys generated or used since may be weak or corrupt.',
      triage: [
        'Check the device status page and `GET /api/system/status` for the current state.',
        'List other events of the same boot (`encedo_hem.log.file_id`) for reboots and failed operations.',
        'Note that the event may be days old: `@timestamp` is when it happened, `event.ingested` when it ' +
          'reached the cluster.',
      ],
      response: ['Take the device out of service and contact the vendor; do not generate keys on it.'],
    },
    ...EVERY_5M,
  },
  {
    rule_id: 'encedo_hem-upgrade',
    name: 'Encedo HEM firmware or UI upgrade',
    description: 'The firmware or the management UI of the HSM was upgraded (or an upgrade was attempted).',
    query: `${AUDIT} and event.action : "firmware-upgrade"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['Planned maintenance (add it to the planned-maintenance exception list).'],
    threat: [
      {
        tactic: DEFENSE_EVASION,
        technique: ['T1601', 'Modify System Image'],
        subtechnique: ['T1601.001', 'Patch System Image'],
      },
    ],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Configuration Audit'],
    guide: {
      happened: 'Someone installed firmware or management-UI code on the HSM, or tried to (`event.outcome`).',
      triage: [
        "Compare `observer.version` before and after, and check the version against the vendor's releases.",
        'Find the login before it (`user.id`, `user.roles`) and match it with a change ticket.',
      ],
      response: ['If unplanned, verify the firmware image with the vendor and review master access.'],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-device-initialised',
    name: 'Encedo HEM device re-initialised',
    description: 'The HSM was initialised (personalised): its keys and users were set up anew.',
    query: `${AUDIT} and event.action : "device-initialised"`,
    severity: 'high',
    risk_score: 73,
    false_positives: ['Commissioning of a new device; a planned re-initialisation.'],
    threat: [{ tactic: IMPACT, technique: ['T1485', 'Data Destruction'] }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Configuration Audit', 'Use Case: Threat Detection'],
    guide: {
      happened:
        'Initialisation wipes the key store and sets new passphrases: every key on the device before it is gone.',
      triage: [
        'Check whether the device was being commissioned (first events of its serial) or was in use.',
        'Look for the matching `logger_key_changed` integrity alert and the change ticket.',
      ],
      response: ['If unplanned, restore keys from backup and investigate who had physical and master access.'],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-rtc-set-outside-startup',
    name: 'Encedo HEM clock set outside startup',
    description:
      "The HSM's real-time clock was set other than in the power-up sequence (the first records of a boot's " +
      'file): log timestamps after it may not be comparable with those before.',
    query: `${AUDIT} and event.action : "rtc-set" and event.sequence > 3`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['A routine check-in that corrects clock drift (the HEM RTC drifts noticeably).'],
    threat: [{ tactic: DEFENSE_EVASION, technique: INDICATOR_REMOVAL, subtechnique: ['T1070.006', 'Timestomp'] }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Configuration Audit'],
    guide: {
      happened:
        'The clock is set by the check-in after every power-up. Setting it later moves the timestamps of every ' +
        'following record; `encedo_hem.data.time` is the time it was set to.',
      triage: [
        'Compare `encedo_hem.data.time` with `@timestamp`: a jump of seconds is drift, of hours or days is not.',
        'Check the events right before and after the jump (`event.sequence`) for activity hidden by it.',
      ],
      response: ["Order the file's events by `event.sequence`, not `@timestamp`, when the jump is large."],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-key-deleted',
    name: 'Encedo HEM key deleted',
    description: 'A key was deleted from the HSM.',
    query: `${AUDIT} and event.action : "key-delete" and event.outcome : "success"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['Planned key retirement.'],
    threat: [{ tactic: IMPACT, technique: ['T1485', 'Data Destruction'] }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Configuration Audit'],
    guide: {
      happened: 'A key (`encedo_hem.key.id`) was deleted; whatever it protected can no longer be decrypted or signed.',
      triage: [
        'Identify the key by `encedo_hem.key.id` in your key inventory and its owner.',
        'Find the login that issued the token (`user.id`, `user.roles`) before the deletion.',
      ],
      response: ['If unplanned, restore the key from a wrapped backup and revoke the credentials used.'],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-master-login',
    name: 'Encedo HEM master-role login',
    description: 'Someone logged in with the master (recovery) passphrase, which is meant for rescue only.',
    query: `${AUDIT} and event.action : "login-passphrase" and user.roles : "master"`,
    severity: 'high',
    risk_score: 73,
    false_positives: ['A documented recovery or maintenance procedure.'],
    threat: [{ tactic: PRIV_ESC, technique: VALID_ACCOUNTS }],
    domains: ['Domain: Identity'],
    useCases: ['Use Case: Identity and Access Audit', 'Use Case: Threat Detection'],
    guide: {
      happened: 'A token was issued for the master role (`user.roles: master`) with the scope in `encedo_hem.scope`.',
      triage: [
        'Check who holds the master passphrase and whether a recovery was scheduled.',
        'List the events after the login in the same file (`encedo_hem.log.file_id`, by `event.sequence`): ' +
          'what was done with the token.',
      ],
      response: ['If unexplained, change the master passphrase and review every change made after the login.'],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-new-authenticator-paired',
    name: 'Encedo HEM new external authenticator paired',
    description:
      'An external authenticator (mobile device) whose key id was not paired with this HSM in the last 60 days ' +
      'was registered: it can now obtain tokens.',
    query: `${AUDIT} and event.action : "authenticator-paired" and event.outcome : "success"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ["Enrolment of a new administrator's phone; re-pairing after more than 60 days."],
    threat: [
      {
        tactic: PERSISTENCE,
        technique: ['T1098', 'Account Manipulation'],
        subtechnique: ['T1098.005', 'Device Registration'],
      },
    ],
    domains: ['Domain: Identity'],
    useCases: ['Use Case: Identity and Access Audit'],
    guide: {
      happened:
        'Pairing registers a new external authenticator (`encedo_hem.key.id`) that can log in without the ' +
        'passphrase. The rule alerts once per authenticator key id first seen on this device.',
      triage: [
        "Match `encedo_hem.key.id` with the enrolment records of your administrators' devices.",
        'Find the login that paired it (the `login-passphrase` before it in the same file).',
      ],
      response: ['If unknown, unpair the authenticator on the device and rotate the passphrase used to pair it.'],
    },
    ...EVERY_5M,
    newTerms: { fields: [DEVICE, 'encedo_hem.key.id'], history: 'now-60d' },
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-first-login-role',
    name: 'Encedo HEM first login with a role on a device',
    description:
      'The first login in 60 days with a given role (user or external authenticator) on a device, other than ' +
      "the forwarder's own polling logins. Master logins have a rule of their own.",
    query:
      `${AUDIT} and event.action : ("login-passphrase" or "login-external") and event.outcome : "success" and ` +
      'not user.roles : "master" and not encedo_hem.self_generated : true',
    severity: 'low',
    risk_score: 21,
    false_positives: ['A new integration or administrator starting to use the device; a new device.'],
    threat: [{ tactic: INITIAL_ACCESS, technique: VALID_ACCOUNTS }],
    domains: ['Domain: Identity'],
    useCases: ['Use Case: Identity and Access Audit'],
    guide: {
      happened: 'A role that had not logged in on this device for the history window (60 days of ingested events) did.',
      triage: [
        'Check `user.roles`, `user.id` and the granted scope `encedo_hem.scope`.',
        'Confirm with the device owner that a new client or person was expected to use it.',
      ],
      response: ['If unexpected, rotate the credentials for that role and review what the token was used for.'],
    },
    ...EVERY_5M,
    newTerms: { fields: [DEVICE, 'user.roles'], history: 'now-60d' },
  },
  {
    rule_id: 'encedo_hem-audit-log-delete',
    name: 'Encedo HEM audit log deletion',
    description:
      'The device logged an audit log file deletion. The firmware does not implement deleting log files, so ' +
      'any such record is unexpected.',
    query: `${AUDIT} and event.action : "audit-log-delete"`,
    severity: 'high',
    risk_score: 73,
    false_positives: ['A newer firmware that implements log deletion.'],
    threat: [{ tactic: DEFENSE_EVASION, technique: INDICATOR_REMOVAL }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Threat Detection'],
    guide: {
      happened: 'A record of a log file deletion (`LOG_TYPE_LOGGER_DELETE_LOG`) is in the audit log.',
      triage: [
        "Compare the device's file list with the files the forwarder ingested (`hem-forwarder state show`).",
        'Check `observer.version` for a firmware that implements deletion.',
      ],
      response: ['Preserve the indexed copy of every file; investigate the login before the deletion.'],
    },
    ...EVERY_5M,
  },
  {
    rule_id: 'encedo_hem-config-changed',
    name: 'Encedo HEM configuration changed',
    description: 'The device configuration was updated (or an update was attempted).',
    query: `${AUDIT} and event.action : "config-updated"`,
    severity: 'low',
    risk_score: 21,
    false_positives: ['Planned configuration changes.'],
    threat: [{ tactic: DEFENSE_EVASION, technique: ['T1562', 'Impair Defenses'] }],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Configuration Audit'],
    guide: {
      happened: 'A `POST /api/system/config` changed the device configuration (`event.outcome` says if it worked).',
      triage: [
        'Read the current configuration in the management UI and compare it with the documented baseline.',
        'Find the login before the change (`user.id`, `user.roles`).',
      ],
      response: ['Revert unapproved settings and review the credentials used.'],
    },
    ...EVERY_5M,
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-tls-error-burst',
    name: 'Encedo HEM burst of TLS errors',
    description: 'Five or more TLS initialisation failures on one device in one look-back window of ingested events.',
    query: `${AUDIT} and event.action : "tls-error"`,
    severity: 'low',
    risk_score: 21,
    false_positives: ['Clients with outdated TLS settings; an expired certificate on the device.'],
    threat: [],
    domains: ['Domain: Network'],
    useCases: ['Use Case: Network Security Monitoring'],
    guide: {
      happened: 'Clients repeatedly failed the TLS 1.3 handshake; `encedo_hem.data.text` has the reason.',
      triage: [
        'Group by `encedo_hem.data.text` (handshake failure, no shared cipher, certificate expired).',
        "Check the device certificate's validity and which clients connect to the device.",
      ],
      response: ['Renew the certificate or fix the client; investigate unknown clients at the network level.'],
    },
    ...BURST,
    threshold: { field: DEVICE, value: 5 },
    suppression: { duration: '60m' },
  },
  {
    rule_id: 'encedo_hem-crypto-failure-burst',
    name: 'Encedo HEM burst of failed cryptographic operations',
    description:
      'Twenty or more failed cryptographic operations (sign, verify, decrypt, unwrap, HMAC, ECDH, ML-KEM, ML-DSA) ' +
      'on one device in one look-back window of ingested events.',
    query: `${AUDIT} and event.action : crypto-* and event.outcome : "failure"`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['An application using the wrong key id or sending malformed input after a deployment.'],
    threat: [],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Threat Detection'],
    guide: {
      happened:
        'Many cryptographic calls failed: failed decrypts or verifies in bulk can be an oracle attack or a ' +
        'client with a wrong key.',
      triage: [
        'Group by `event.action`, `encedo_hem.key.id`, `error.code` and `user.id`.',
        'Find the application that owns the key and the token used.',
      ],
      response: ['Block the client if it is not yours; otherwise fix its configuration.'],
    },
    ...BURST,
    threshold: { field: DEVICE, value: 20 },
    suppression: { duration: '60m' },
  },
  {
    rule_id: 'encedo_hem-audit-trail-unreleased',
    name: 'Encedo HEM audit trail unreleased for more than 7 days',
    description:
      'A reachable device has not rebooted for more than 7 days: its current audit file stays locked on the ' +
      'device until the next reboot, so the SIEM has not seen anything that happened on it since.',
    query: `${STATUS} and encedo_hem.status.state : "ok" and encedo_hem.status.unreleased_seconds > ${DAYS_7}`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['A device deliberately kept running; schedule a maintenance reboot instead.'],
    threat: [],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Asset Visibility'],
    guide: {
      happened:
        'The HEM releases an audit file only at reboot. `encedo_hem.status.unreleased_seconds` is how long the ' +
        'current boot (file `encedo_hem.status.current_file_id`, since `encedo_hem.status.current_file_since`) ' +
        'has run: none of its events are in the cluster.',
      triage: [
        "Check the device's uptime in its management UI.",
        'Plan a reboot in a maintenance window: the forwarder collects the released file on its next cycle.',
      ],
      response: ['Reboot the device so its audit trail reaches the SIEM; consider a scheduled weekly reboot.'],
    },
    ...STATUS_WINDOW,
    suppression: { groupBy: [DEVICE], duration: '24h' },
  },
  {
    rule_id: 'encedo_hem-device-unreachable',
    name: 'Encedo HEM device unreachable',
    description: 'The forwarder failed to collect from a device three or more cycles in a row.',
    query: `${STATUS} and encedo_hem.status.consecutive_failures >= 3 and not encedo_hem.status.halted : true`,
    severity: 'medium',
    risk_score: 47,
    false_positives: ['A device powered off or disconnected for maintenance; a network change.'],
    threat: [],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Asset Visibility'],
    guide: {
      happened:
        'The forwarder could not reach or log in to the device (`encedo_hem.status.last_error`) for several ' +
        'cycles; `encedo_hem.status.last_success` is when it last worked.',
      triage: [
        'Read `encedo_hem.status.last_error` (connection refused, TLS, authentication, timeout).',
        "Check the device's power and network, and the forwarder's own logs and metrics.",
        'A wrong passphrase error after a working period means someone changed it.',
      ],
      response: ['Restore connectivity; a device that stays unreachable is a device the SIEM cannot audit.'],
    },
    ...STATUS_WINDOW,
    suppression: { groupBy: [DEVICE], duration: '4h' },
    maintenance: true,
  },
  {
    rule_id: 'encedo_hem-forwarder-halted',
    name: 'Encedo HEM collection halted',
    description:
      'The forwarder halted collection from a device (its logger key changed and on_key_change is halt): ' +
      'nothing is collected until an operator accepts the key.',
    query: `${STATUS} and encedo_hem.status.halted : true`,
    severity: 'high',
    risk_score: 73,
    false_positives: ['A planned re-initialisation whose new key has not been accepted yet.'],
    threat: [],
    domains: ['Domain: Endpoint'],
    useCases: ['Use Case: Log Auditing', 'Use Case: Asset Visibility'],
    guide: {
      happened: 'Collection from the device stopped on a logger key change and waits for an operator decision.',
      triage: [
        'Find the `logger_key_changed` integrity alert for the device and triage it first.',
        'Check `encedo_hem.status.logger_key_fingerprint` against the key recorded at commissioning.',
      ],
      response: ['When the change is explained, run hem-forwarder state accept-key <device> so collection resumes.'],
    },
    ...STATUS_WINDOW,
    suppression: { groupBy: [DEVICE], duration: '12h' },
    maintenance: true,
  },
];

/** The exception list of planned maintenance windows, referenced by the rules a maintenance would trigger. */
export const MAINTENANCE_LIST = {
  list_id: 'encedo_hem-planned-maintenance',
  name: 'Encedo HEM planned maintenance',
  description:
    'Devices in a planned maintenance window (re-initialisation, firmware upgrade, key retirement, recovery ' +
    'login). Add an item per window with an expire_time so it lapses by itself.',
} as const;

const MAINTENANCE_REF = {
  id: MAINTENANCE_LIST.list_id,
  list_id: MAINTENANCE_LIST.list_id,
  namespace_type: 'single',
  type: 'detection',
} as const;

/** The exception list container and its example item, in the exception list import format. */
export function exceptionObjects(): Record<string, unknown>[] {
  return [
    {
      id: MAINTENANCE_LIST.list_id,
      list_id: MAINTENANCE_LIST.list_id,
      name: MAINTENANCE_LIST.name,
      description: MAINTENANCE_LIST.description,
      type: 'detection',
      namespace_type: 'single',
      immutable: false,
      os_types: [],
      tags: ['Encedo HEM'],
      version: 1,
    },
    {
      item_id: 'encedo_hem-planned-maintenance-example',
      list_id: MAINTENANCE_LIST.list_id,
      name: 'Example: a device in a maintenance window',
      description:
        'Replace the value with the observer.name of the device under maintenance (or match ' +
        'observer.serial_number), and set an expire_time at the end of the window.',
      type: 'simple',
      namespace_type: 'single',
      entries: [{ field: 'observer.name', operator: 'included', type: 'match', value: 'hem-maintenance-example' }],
      os_types: [],
      tags: ['Encedo HEM'],
      comments: [],
    },
  ];
}

const SETUP = [
  '## Setup',
  '',
  'The rule needs the Encedo HEM forwarder (encedo-hem-forwarder) shipping into this cluster:',
  '',
  '1. Install the forwarder (`npm install -g encedo-hem-forwarder`) on a host that reaches the HEM devices ' +
    'and the cluster, and configure the devices and the Elasticsearch output (see config.example.yaml).',
  '2. Run `hem-forwarder setup` with a user allowed to manage index templates and ingest pipelines: it ' +
    'installs the `logs-encedo_hem.*` index templates, the lifecycle policy and the ingest pipeline that ' +
    'sets `event.ingested` on every document. The rules look back on `event.ingested`, because a HEM releases ' +
    'its audit events only at the next reboot, long after their `@timestamp`.',
  '3. Run `hem-forwarder setup --kibana <kibana url>` to import the dashboards, the planned-maintenance ' +
    'exception list and these rules.',
  '4. Run `hem-forwarder run` as a service. Device status documents (the status rules) are written at ' +
    'least every status_interval (15 minutes by default).',
].join('\n');

function guideNote(r: RuleSpec): string {
  const list = (items: readonly string[]) => items.map((i) => `- ${i}`).join('\n');
  return [
    `## Triage and analysis`,
    '',
    `### What happened`,
    '',
    r.guide.happened,
    '',
    'Alerts are raised when the events reach the cluster (`event.ingested`); `@timestamp` is when they ' +
      'happened on the device, possibly days or months earlier.',
    '',
    '### How to triage on the device',
    '',
    list(r.guide.triage),
    '',
    '### False positive analysis',
    '',
    list(r.false_positives),
    ...(r.maintenance
      ? ['- Planned maintenance: add an item to the `Encedo HEM planned maintenance` exception list.']
      : []),
    '',
    '### Response',
    '',
    list(r.guide.response),
    '',
  ].join('\n');
}

export function ruleType(r: RuleSpec): 'query' | 'threshold' | 'new_terms' {
  return r.threshold ? 'threshold' : r.newTerms ? 'new_terms' : 'query';
}

const RULE_TYPE_TAG = {
  query: 'Rule Type: Custom Query (KQL)',
  threshold: 'Rule Type: Threshold',
  new_terms: 'Rule Type: New Terms',
};

function duration(d: string): { value: number; unit: 's' | 'm' | 'h' } {
  const m = /^(\d+)([smh])$/.exec(d);
  if (!m) throw new Error(`bad duration ${d}`);
  return { value: Number(m[1]), unit: m[2] as 's' | 'm' | 'h' };
}

function threatObject(t: Threat): Record<string, unknown> {
  const technique = t.technique
    ? [
        {
          id: t.technique[0],
          name: t.technique[1],
          reference: `https://attack.mitre.org/techniques/${t.technique[0]}/`,
          subtechnique: t.subtechnique
            ? [
                {
                  id: t.subtechnique[0],
                  name: t.subtechnique[1],
                  reference: `https://attack.mitre.org/techniques/${t.subtechnique[0].replace('.', '/')}/`,
                },
              ]
            : [],
        },
      ]
    : [];
  return {
    framework: 'MITRE ATT&CK',
    tactic: { id: t.tactic[0], name: t.tactic[1], reference: `https://attack.mitre.org/tactics/${t.tactic[0]}/` },
    technique,
  };
}

/** The rule in Elastic Security's import format. */
export function ruleObject(r: RuleSpec): Record<string, unknown> {
  const type = ruleType(r);
  const suppression = r.suppression
    ? type === 'threshold'
      ? { alert_suppression: { duration: duration(r.suppression.duration) } }
      : {
          alert_suppression: {
            group_by: r.suppression.groupBy ?? [DEVICE],
            duration: duration(r.suppression.duration),
            missing_fields_strategy: 'suppress',
          },
        }
    : {};
  return {
    rule_id: r.rule_id,
    name: r.name,
    description: r.description,
    type,
    language: 'kuery',
    query: r.query,
    index: ['logs-encedo_hem.*'],
    severity: r.severity,
    risk_score: r.risk_score,
    false_positives: r.false_positives,
    threat: r.threat.map(threatObject),
    ...(r.threshold ? { threshold: { field: [r.threshold.field], value: r.threshold.value } } : {}),
    ...(r.newTerms ? { new_terms_fields: r.newTerms.fields, history_window_start: r.newTerms.history } : {}),
    ...suppression,
    timestamp_override: 'event.ingested',
    timestamp_override_fallback_disabled: false,
    from: r.from,
    interval: r.interval,
    max_signals: 100,
    enabled: true,
    author: ['encedo-hem-forwarder'],
    license: 'Apache-2.0',
    note: guideNote(r),
    setup: SETUP,
    tags: [
      ...r.domains,
      ...r.useCases,
      ...[...new Set(r.threat.map((t) => t.tactic[1]))].map((t) => `Tactic: ${t}`),
      'Data Source: Encedo HEM',
      RULE_TYPE_TAG[type],
      'Resources: Investigation Guide',
    ],
    exceptions_list: r.maintenance ? [MAINTENANCE_REF] : [],
    references: [],
    version: 1,
  };
}
