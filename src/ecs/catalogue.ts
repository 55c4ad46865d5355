/**
 * Every HEM event code (spec §1.2) and result code (§1.1), with its ECS classification. Data, not logic:
 * the mapper reads this table. Categories and types use only ECS's allowed values and expected pairs
 * (checked against @elastic/ecs in the tests).
 */

export type EcsCategory = 'api' | 'authentication' | 'configuration' | 'file' | 'host' | 'iam' | 'network' | 'package';
export type EcsType =
  | 'access'
  | 'change'
  | 'creation'
  | 'deletion'
  | 'denied'
  | 'end'
  | 'info'
  | 'installation'
  | 'start'
  | 'user';

/** How the data field (f5) is decoded (spec §1.2 "Data"). */
export type DataKind = 'none' | 'raw' | 'log' | 'time' | 'kid' | 'code' | 'signature';

/**
 * How the result maps to `event.outcome`:
 * - `by_result`: OK → success, FAILED/ERROR → failure.
 * - `always_failure`: the event itself reports something bad whatever the result (TRNG failure,
 *   non-secure state, TLS error, scope-check failure): spec §1.4.
 * - `signature`: KEY_INIT; success when its signature verified, unknown otherwise.
 */
export type OutcomeRule = 'by_result' | 'always_failure' | 'signature';

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

/** `event.severity` numbers, on the scale Elastic Security uses for its own severities. */
export const SEVERITY_SCORE: Readonly<Record<Severity, number>> = {
  info: 0,
  low: 21,
  medium: 47,
  high: 73,
  critical: 99,
};

export interface EventCode {
  readonly code: number;
  readonly name: string;
  readonly description: string;
  readonly action: string;
  readonly category: EcsCategory;
  readonly type: readonly EcsType[];
  readonly outcome: OutcomeRule;
  readonly data: DataKind;
  readonly severity: Severity;
}

type Row = [number, string, string, string, EcsCategory, EcsType[], OutcomeRule, DataKind, Severity];

// code, name (without LOG_TYPE_), description, action, category, types, outcome rule, data, severity
const ROWS: Row[] = [
  [
    0,
    'KEY_INIT',
    'Log integrity key created (first record of a key segment)',
    'log-key-init',
    'configuration',
    ['creation'],
    'signature',
    'signature',
    'info',
  ],
  [1, 'STARTUP', 'Successful device startup', 'device-startup', 'host', ['start'], 'by_result', 'none', 'info'],
  [2, 'REBOOT', 'Reboot performed', 'device-reboot', 'host', ['end'], 'by_result', 'none', 'low'],
  [3, 'SHUTDOWN', 'Shutdown performed', 'device-shutdown', 'host', ['end'], 'by_result', 'none', 'low'],
  [
    4,
    'UPGRADE',
    'Upgrade (firmware or UI) performed',
    'firmware-upgrade',
    'package',
    ['installation'],
    'by_result',
    'none',
    'high',
  ],
  [
    5,
    'TRNG_FAILED',
    'TRNG entropy test failed',
    'trng-failure',
    'host',
    ['info'],
    'always_failure',
    'none',
    'critical',
  ],
  [
    6,
    'TLS_ERROR',
    'TLS 1.3 initialisation failed',
    'tls-error',
    'network',
    ['info'],
    'always_failure',
    'raw',
    'medium',
  ],
  [
    7,
    'SELFTEST_PASSED',
    'Power-up self-test (result FAILED means the self-test failed)',
    'selftest',
    'host',
    ['info'],
    'by_result',
    'none',
    'info',
  ],
  [
    8,
    'NON_SECURE_STATE',
    'Device entered the fail (non-secure) state',
    'non-secure-state',
    'host',
    ['info'],
    'always_failure',
    'none',
    'critical',
  ],
  [9, 'LOGGER_LIST_LOG', 'Audit log files listed', 'audit-log-list', 'file', ['access'], 'by_result', 'none', 'info'],
  [
    10,
    'LOGGER_DELETE_LOG',
    'Audit log file deleted',
    'audit-log-delete',
    'file',
    ['deletion'],
    'by_result',
    'none',
    'high',
  ],
  [11, 'LOGGER_READ_LOG', 'Audit log file read', 'audit-log-read', 'file', ['access'], 'by_result', 'log', 'info'],
  [
    12,
    'FAILED_SCOPE_CHECK',
    'Access scope check failed',
    'scope-check-failed',
    'api',
    ['denied'],
    'always_failure',
    'raw',
    'medium',
  ],
  [
    13,
    'AUTH_SUCCESS_INTERNAL',
    'Access token issued to the user or master (passphrase login)',
    'login-passphrase',
    'authentication',
    ['start'],
    'by_result',
    'raw',
    'low',
  ],
  [
    14,
    'AUTH_SUCCESS_EXTERNAL',
    'Access token issued to an external authenticator',
    'login-external',
    'authentication',
    ['start'],
    'by_result',
    'raw',
    'low',
  ],
  [
    15,
    'AUTH_PAIRED_EXTERNAL',
    'External authenticator registered',
    'authenticator-paired',
    'iam',
    ['user', 'creation'],
    'by_result',
    'kid',
    'medium',
  ],
  [
    18,
    'CONFIG_UPDATED',
    'Device configuration updated',
    'config-updated',
    'configuration',
    ['change'],
    'by_result',
    'none',
    'medium',
  ],
  [19, 'RTC_SET', 'Real-time clock set', 'rtc-set', 'configuration', ['change'], 'by_result', 'time', 'low'],
  [20, 'KEY_GENERATION', 'New key generated', 'key-generate', 'configuration', ['creation'], 'by_result', 'kid', 'low'],
  [21, 'KEY_DELETE', 'Key deleted', 'key-delete', 'configuration', ['deletion'], 'by_result', 'kid', 'medium'],
  [22, 'KEY_IMPORT', 'Key imported', 'key-import', 'configuration', ['creation'], 'by_result', 'kid', 'low'],
  [
    23,
    'KEY_USAGE_PKEY',
    'Key use authorised (secret key used by a cryptographic operation)',
    'key-use-authorised',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    24,
    'KEY_INTEGRITY_ERROR',
    'Key integrity check (result OK means it passed, FAILED that it failed)',
    'key-integrity-check',
    'host',
    ['info'],
    'by_result',
    'code',
    'info',
  ],
  [
    25,
    'KEY_ATTRIBUTES_CHANGED',
    'Key label or description updated',
    'key-update',
    'configuration',
    ['change'],
    'by_result',
    'kid',
    'low',
  ],
  [26, 'KEY_DERIVE', 'New key derived (ECDH)', 'key-derive', 'configuration', ['creation'], 'by_result', 'kid', 'low'],
  [
    29,
    'DEVICE_INITED',
    'Device initialised (personalised)',
    'device-initialised',
    'configuration',
    ['creation'],
    'by_result',
    'none',
    'high',
  ],
  [
    30,
    'CRYPTO_HMAC_HASH',
    'Cryptographic operation: HMAC hash',
    'crypto-hmac-hash',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    31,
    'CRYPTO_HMAC_VERIFY',
    'Cryptographic operation: HMAC verify',
    'crypto-hmac-verify',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    32,
    'CRYPTO_EXDSA_SIGN',
    'Cryptographic operation: ExDSA sign',
    'crypto-exdsa-sign',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    33,
    'CRYPTO_EXDSA_VERIFY',
    'Cryptographic operation: ExDSA verify',
    'crypto-exdsa-verify',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    34,
    'CRYPTO_WRAP',
    'Cryptographic operation: key wrap',
    'crypto-wrap',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    35,
    'CRYPTO_UNWRAP',
    'Cryptographic operation: key unwrap',
    'crypto-unwrap',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    36,
    'CRYPTO_ENCRYPT',
    'Cryptographic operation: encryption',
    'crypto-encrypt',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    37,
    'CRYPTO_DECRYPT',
    'Cryptographic operation: decryption',
    'crypto-decrypt',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [38, 'CRYPTO_ECDH', 'Cryptographic operation: ECDH', 'crypto-ecdh', 'api', ['access'], 'by_result', 'kid', 'info'],
  [
    39,
    'CRYPTO_PQC_MLKEM_ENCAPS',
    'Cryptographic operation: ML-KEM encapsulation',
    'crypto-mlkem-encaps',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    40,
    'CRYPTO_PQC_MLKEM_DECAPS',
    'Cryptographic operation: ML-KEM decapsulation',
    'crypto-mlkem-decaps',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    41,
    'CRYPTO_PQC_MLDSA_SIGN',
    'Cryptographic operation: ML-DSA sign',
    'crypto-mldsa-sign',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
  [
    42,
    'CRYPTO_PQC_MLDSA_VERIFY',
    'Cryptographic operation: ML-DSA verify',
    'crypto-mldsa-verify',
    'api',
    ['access'],
    'by_result',
    'kid',
    'info',
  ],
];

/** Codes the firmware leaves unused (spec §1.2). */
export const UNUSED_CODES: readonly number[] = [16, 17, 27, 28];

export const EVENT_CODES: ReadonlyMap<number, EventCode> = new Map(
  ROWS.map(([code, name, description, action, category, type, outcome, data, severity]) => [
    code,
    { code, name: `LOG_TYPE_${name}`, description, action, category, type, outcome, data, severity },
  ]),
);

/** Unknown (newer firmware, unused) codes keep their number and map to a generic action. */
export function eventCode(code: number): EventCode {
  return (
    EVENT_CODES.get(code) ?? {
      code,
      name: `LOG_TYPE_UNKNOWN_${code}`,
      description: `Event code ${code} is not in the catalogue (newer firmware?)`,
      action: 'unknown-event',
      category: 'host',
      type: ['info'],
      outcome: 'by_result',
      data: 'raw',
      severity: 'low',
    }
  );
}

export interface ResultInfo {
  readonly code: number;
  readonly name: string;
  readonly description: string;
}

export const RESULT_CODES: readonly ResultInfo[] = [
  { code: 0, name: 'LOG_RESULT_OK', description: 'All went well' },
  { code: 1, name: 'LOG_RESULT_FAILED', description: 'Execution failed' },
  { code: 2, name: 'LOG_RESULT_ERROR', description: 'Cannot execute (e.g. parameters error)' },
];
