import type { DashboardSpec } from './lens.js';

const A = 'encedo_hem.audit' as const;
const I = 'encedo_hem.integrity' as const;
const KEY_ACTIONS = 'event.action : ("key-generate" or "key-import" or "key-derive" or "key-delete" or "key-update")';
const CRYPTO_ACTIONS = 'event.action : crypto-* or event.action : "key-use-authorised"';

/** The four dashboards; the README describes each panel. */
export const DASHBOARDS: readonly DashboardSpec[] = [
  {
    id: 'encedo_hem-overview',
    title: '[Encedo HEM] Overview',
    description:
      'Audit events of Encedo HEM devices: activity, failures, devices and firmware, ' +
      'verification status, recent integrity alerts.',
    panels: [
      {
        id: 'encedo_hem-overview-actions',
        title: 'Events over time by action',
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
        dataset: A,
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.serial_number', size: 50, label: 'Serial' },
          { kind: 'terms', field: 'observer.name', size: 1, label: 'Name' },
          { kind: 'metric', op: 'last_value', field: 'observer.version', label: 'Firmware' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Last event' },
          { kind: 'count', label: 'Events' },
        ],
      },
      {
        id: 'encedo_hem-overview-verification',
        title: 'Verification status of events',
        dataset: A,
        chart: 'donut',
        columns: [{ kind: 'terms', field: 'encedo_hem.integrity.status', size: 3 }, { kind: 'count' }],
      },
      {
        id: 'encedo_hem-overview-alerts',
        title: 'Recent integrity alerts',
        dataset: I,
        query: 'event.kind : "alert"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.alert.kind', size: 20, label: 'Alert' },
          { kind: 'terms', field: 'event.reason', size: 50, label: 'Reason' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Last seen' },
        ],
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
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'metric',
        columns: [{ kind: 'metric', op: 'average', field: 'encedo_hem.file.verified_ratio', label: 'Verified' }],
        width: 16,
      },
      {
        id: 'encedo_hem-integrity-verified-records',
        title: 'Records verified',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'metric',
        columns: [{ kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_verified', label: 'Records verified' }],
        width: 16,
      },
      {
        id: 'encedo_hem-integrity-total-records',
        title: 'Records collected',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'metric',
        columns: [{ kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_total', label: 'Records' }],
        width: 16,
      },
      {
        id: 'encedo_hem-integrity-files',
        title: 'Per-file verification results',
        dataset: I,
        query: 'event.action : "log-file-verified"',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.file.id', size: 200, label: 'File' },
          { kind: 'terms', field: 'event.outcome', size: 2, label: 'Valid' },
          { kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_verified', label: 'Verified' },
          { kind: 'metric', op: 'sum', field: 'encedo_hem.file.records_total', label: 'Records' },
        ],
        width: 48,
      },
      {
        id: 'encedo_hem-integrity-problems',
        title: 'Problems by kind over time',
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
        dataset: I,
        query: 'encedo_hem.alert.kind : ("logger_key_changed" or "logger_key_mismatch")',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.alert.current_key', size: 20, label: 'New key' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Seen' },
        ],
      },
      {
        id: 'encedo_hem-integrity-changed-files',
        title: 'Changed or vanished files',
        dataset: I,
        query: 'encedo_hem.alert.kind : ("file_changed" or "file_vanished")',
        chart: 'table',
        columns: [
          { kind: 'terms', field: 'observer.name', size: 20, label: 'Device' },
          { kind: 'terms', field: 'encedo_hem.file.id', size: 100, label: 'File' },
          { kind: 'terms', field: 'encedo_hem.alert.kind', size: 2, label: 'What' },
          { kind: 'metric', op: 'max', field: '@timestamp', label: 'Seen' },
        ],
        width: 48,
      },
    ],
  },
];
