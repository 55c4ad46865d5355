import {
  type DashboardSpec,
  SECURITY_TAG_ID,
  type SearchSpec,
  dashboardObject,
  dataViewObject,
  lensObject,
  searchObject,
  tagObject,
} from './lens.js';

const A = 'encedo_hem.audit' as const;
const I = 'encedo_hem.integrity' as const;
const KEY_ACTIONS = 'event.action : ("key-generate" or "key-import" or "key-derive" or "key-delete" or "key-update")';
const CRYPTO_ACTIONS = 'event.action : crypto-* or event.action : "key-use-authorised"';

/** The four dashboards; each panel's `about` says what it shows (the README lists them). */
export const DASHBOARDS: readonly DashboardSpec[] = [
  {
    id: 'encedo_hem-overview',
    title: '[Encedo HEM] Overview',
    description:
      'Encedo HEM devices: inventory and collection status, audit activity, failures, devices and firmware, ' +
      'verification status, recent integrity alerts.',
    panels: [
      {
        id: 'encedo_hem-overview-inventory',
        title: 'Device inventory',
        about:
          "One row per device from the forwarder's status reports: serial, firmware, collection state " +
          '(ok/failing/halted), halted, consecutive failures, last success, last file ingested, the file in ' +
          "progress and since when, how long the current boot's audit trail has been unreleased, the logger " +
          'key fingerprint and its source, and the time of the last report.',
        dataset: I,
        query: 'event.action : "device-status"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 100, label: 'Device' },
          { kind: 'last', field: 'observer.serial_number', type: 'keyword', label: 'Serial' },
          { kind: 'last', field: 'observer.version', type: 'keyword', label: 'Firmware' },
          { kind: 'last', field: 'encedo_hem.status.state', type: 'keyword', label: 'State' },
          { kind: 'last', field: 'encedo_hem.status.halted', type: 'boolean', label: 'Halted' },
          {
            kind: 'last',
            field: 'encedo_hem.status.consecutive_failures',
            type: 'number',
            label: 'Consecutive failures',
          },
          { kind: 'last', field: 'encedo_hem.status.last_success', type: 'date', label: 'Last success' },
          { kind: 'last', field: 'encedo_hem.status.last_file_ingested', type: 'keyword', label: 'Last file ingested' },
          { kind: 'last', field: 'encedo_hem.status.current_file_id', type: 'keyword', label: 'Current file' },
          { kind: 'last', field: 'encedo_hem.status.current_file_since', type: 'date', label: 'Current file since' },
          { kind: 'last', field: 'encedo_hem.status.unreleased_seconds', type: 'number', label: 'Unreleased (s)' },
          { kind: 'last', field: 'encedo_hem.status.logger_key_fingerprint', type: 'keyword', label: 'Logger key' },
          { kind: 'last', field: 'encedo_hem.status.logger_key_source', type: 'keyword', label: 'Key source' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Last report' },
          { kind: 'count', label: 'Reports' },
        ],
        width: 48,
        height: 14,
      },
      {
        id: 'encedo_hem-overview-actions',
        title: 'Events over time by action',
        about: 'Audit events per time interval, stacked by action (the 15 most frequent actions over the whole range).',
        dataset: A,
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'event.action', size: 15 },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-overview-outcomes',
        title: 'Events over time by outcome',
        about: 'Audit events per time interval, stacked by outcome (success, failure, unknown).',
        dataset: A,
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'event.outcome', size: 3 },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-overview-failures',
        title: 'Failures by action and device',
        about: 'Failed audit events counted by action and device serial number.',
        dataset: A,
        query: 'event.outcome : "failure"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'event.action', size: 20 },
          { kind: 'terms', field: 'observer.serial_number', size: 20, label: 'Device' },
          { kind: 'count', label: 'Failures' },
        ],
      },
      {
        id: 'encedo_hem-overview-devices',
        title: 'Devices',
        about:
          'One row per device serial seen in the audit log: name, current firmware (last value), ' +
          'last event time, event count.',
        dataset: A,
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.serial_number', size: 50, label: 'Serial' },
          { kind: 'terms', field: 'observer.name', size: 1, label: 'Name' },
          { kind: 'last', field: 'observer.version', type: 'keyword', label: 'Firmware', exists: true },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Last event' },
          { kind: 'count', label: 'Events' },
        ],
        sortBy: 'Last event',
      },
      {
        id: 'encedo_hem-overview-verification',
        title: 'Verification status of events',
        about: 'Share of audit events by verification status (verified, unverified, failed).',
        dataset: A,
        chart: 'donut',
        columns: [{ kind: 'terms', field: 'encedo_hem.integrity.status', size: 3 }, { kind: 'count' }],
      },
      {
        id: 'encedo_hem-overview-alerts',
        title: 'Recent integrity alerts',
        about: 'Integrity alerts by device, alert kind and reason, with the last time seen, newest first.',
        dataset: I,
        query: 'event.kind : "alert"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.alert.kind', size: 20, label: 'Alert' },
          { kind: 'terms', field: 'event.reason', size: 50, label: 'Reason' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Last seen' },
          { kind: 'count', label: 'Alerts' },
        ],
        sortBy: 'Last seen',
        width: 48,
      },
    ],
  },
  {
    id: 'encedo_hem-access',
    title: '[Encedo HEM] Access',
    description: 'Logins by role and authenticator, and scope-check failures (access denied) by scope and device.',
    panels: [
      {
        id: 'encedo_hem-access-logins-role',
        title: 'Logins over time by role',
        about: 'Logins per time interval, stacked by role.',
        dataset: A,
        query: 'event.category : "authentication"',
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'user.roles', size: 3 },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-access-logins-who',
        title: 'Logins by authenticator',
        about: 'Logins counted by user or authenticator, role and scope.',
        dataset: A,
        query: 'event.category : "authentication"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'user.id', size: 20, label: 'User or authenticator' },
          { kind: 'terms', field: 'user.roles', size: 3, label: 'Role' },
          { kind: 'terms', field: 'encedo_hem.scope', size: 10, label: 'Scope' },
          { kind: 'count', label: 'Logins' },
        ],
      },
      {
        id: 'encedo_hem-access-denied-scope',
        title: 'Scope-check failures by scope',
        about: 'Scope-check failures (access denied) counted by scope and subject.',
        dataset: A,
        query: 'event.action : "scope-check-failed"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'encedo_hem.scope', size: 20, label: 'Scope' },
          { kind: 'terms', field: 'user.id', size: 10, label: 'Subject' },
          { kind: 'count', label: 'Failures' },
        ],
      },
      {
        id: 'encedo_hem-access-denied-device',
        title: 'Scope-check failures by device over time',
        about: 'Scope-check failures per time interval, stacked by device serial number.',
        dataset: A,
        query: 'event.action : "scope-check-failed"',
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'observer.serial_number', size: 10 },
          { kind: 'count' },
        ],
      },
    ],
  },
  {
    id: 'encedo_hem-keys',
    title: '[Encedo HEM] Keys and cryptography',
    description:
      'Key lifecycle (generate, import, derive, delete, change) and cryptographic operations by key id and operation.',
    panels: [
      {
        id: 'encedo_hem-keys-lifecycle-time',
        title: 'Key lifecycle events over time',
        about: 'Key generate, import, derive, delete and update events per time interval, stacked by action.',
        dataset: A,
        query: KEY_ACTIONS,
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'event.action', size: 5 },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-keys-lifecycle-table',
        title: 'Key lifecycle by key',
        about: 'Key lifecycle events counted by key id, action and outcome.',
        dataset: A,
        query: KEY_ACTIONS,
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'encedo_hem.key.id', size: 50, label: 'Key id' },
          { kind: 'terms', field: 'event.action', size: 5, label: 'Action' },
          { kind: 'terms', field: 'event.outcome', size: 3, label: 'Outcome' },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-keys-crypto-time',
        title: 'Cryptographic operations over time',
        about: 'Cryptographic operations per time interval, stacked by operation.',
        dataset: A,
        query: CRYPTO_ACTIONS,
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'event.action', size: 15 },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-keys-crypto-table',
        title: 'Cryptographic operations by key and operation',
        about: 'Cryptographic operations counted by key id and operation.',
        dataset: A,
        query: CRYPTO_ACTIONS,
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'encedo_hem.key.id', size: 50, label: 'Key id' },
          { kind: 'terms', field: 'event.action', size: 15, label: 'Operation' },
          { kind: 'count', label: 'Operations' },
        ],
      },
    ],
  },
  {
    id: 'encedo_hem-integrity',
    title: '[Encedo HEM] Integrity',
    description:
      'Per-file verification results, problems by kind over time, logger key changes, ' +
      'changed or vanished files, and how much of the log is verified.',
    panels: [
      {
        id: 'encedo_hem-integrity-verified-ratio',
        title: 'Share of records verified (per file, average)',
        about: 'Average share of records verified per log file.',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'metric',
        columns: [{ kind: 'metric', op: 'average', field: 'encedo_hem.file.verified_ratio', label: 'Verified' }],
        width: 16,
      },
      {
        id: 'encedo_hem-integrity-verified-records',
        title: 'Records verified',
        about: 'Total records whose signature chain verified.',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'metric',
        columns: [{ kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_verified', label: 'Records verified' }],
        width: 16,
      },
      {
        id: 'encedo_hem-integrity-total-records',
        title: 'Records collected',
        about: 'Total records collected from the devices.',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'metric',
        columns: [{ kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_total', label: 'Records' }],
        width: 16,
      },
      {
        id: 'encedo_hem-integrity-files',
        title: 'Per-file verification results',
        about: 'Per device and log file: validity, records verified and records total.',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.file.id', size: 200, label: 'File' },
          { kind: 'terms', field: 'event.outcome', size: 2, label: 'Valid' },
          { kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_verified', label: 'Verified' },
          { kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_total', label: 'Records' },
          { kind: 'count', label: 'Checks' },
        ],
        width: 48,
      },
      {
        id: 'encedo_hem-integrity-problems',
        title: 'Problems by kind over time',
        about: 'Integrity alerts per time interval, stacked by alert kind.',
        dataset: I,
        query: 'event.kind : "alert"',
        chart: 'bar',
        columns: [
          { kind: 'date', field: '@timestamp' },
          { kind: 'terms', field: 'encedo_hem.alert.kind', size: 15 },
          { kind: 'count' },
        ],
      },
      {
        id: 'encedo_hem-integrity-key-changes',
        title: 'Logger key changes',
        about: 'Logger key changes and mismatches by device and new key, with when they were seen.',
        dataset: I,
        query: 'encedo_hem.alert.kind : ("logger_key_changed" or "logger_key_mismatch")',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.alert.current_key', size: 20, label: 'New key' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Seen' },
          { kind: 'count', label: 'Alerts' },
        ],
        sortBy: 'Seen',
      },
      {
        id: 'encedo_hem-integrity-changed-files',
        title: 'Changed or vanished files',
        about: 'Log files that changed or vanished after collection, by device and file, with when they were seen.',
        dataset: I,
        query: 'encedo_hem.alert.kind : ("file_changed" or "file_vanished")',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.file.id', size: 100, label: 'File' },
          { kind: 'terms', field: 'encedo_hem.alert.kind', size: 2, label: 'What' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Seen' },
          { kind: 'count', label: 'Alerts' },
        ],
        sortBy: 'Seen',
        width: 48,
      },
    ],
  },
];

/** Discover saved searches, newest first. */
export const SEARCHES: readonly SearchSpec[] = [
  {
    id: 'encedo_hem-search-audit',
    title: 'HEM audit events',
    description: 'Audit events of Encedo HEM devices, newest first.',
    dataset: A,
    columns: ['observer.name', 'event.action', 'event.outcome', 'user.id', 'encedo_hem.key.id', 'message'],
  },
  {
    id: 'encedo_hem-search-integrity-alerts',
    title: 'HEM integrity alerts',
    description:
      'Integrity alerts (changed or vanished files, logger key changes, verification problems), newest first.',
    dataset: I,
    query: 'event.kind : "alert"',
    columns: ['observer.name', 'encedo_hem.alert.kind', 'event.reason', 'encedo_hem.file.id', 'message'],
  },
];

/**
 * Every saved object, in import order: data view, tag, Lens panels, saved searches, dashboards (each
 * tagged "Security Solution" so Security > Dashboards lists it).
 */
export function savedObjects(): Record<string, unknown>[] {
  return [
    dataViewObject(),
    tagObject(),
    ...DASHBOARDS.flatMap((d) => d.panels.map(lensObject)),
    ...SEARCHES.map(searchObject),
    ...DASHBOARDS.map((d) => dashboardObject({ ...d, tags: [SECURITY_TAG_ID] })),
  ];
}
