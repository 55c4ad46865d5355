/**
 * Every default of the forwarder, once: the config schema fills them in, and the modules that can be used
 * without a config (the device client, the outputs, the CLI's own commands) read them from here too.
 * Durations in milliseconds, sizes in bytes.
 */
export const DEFAULTS = {
  stateDir: 'data/state',
  onceTimeoutMs: 6 * 3_600_000,
  device: {
    pollIntervalMs: 300_000,
    recheckIntervalMs: 86_400_000,
    statusIntervalMs: 15 * 60_000,
    namespace: 'default',
    onKeyChange: 'halt',
    connectTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    requestDeadlineMs: 600_000,
    maxFileBytes: 256 * 1024 * 1024,
    maxFiles: 10_000,
    pacingMs: 0,
    retries: 3,
    retryBaseMs: 500,
    retryMaxMs: 10_000,
    tokenLifetimeS: 8 * 3600,
    scope: 'logger:get',
  },
  elasticsearch: {
    retention: '365d',
    flushBytes: 5 * 1024 * 1024,
    flushCount: 5000,
    flushIntervalMs: 1000,
    concurrency: 2,
    retryBaseMs: 500,
    retryMaxMs: 30_000,
    /** Under state_dir (the config's, or the default one for `import --elasticsearch`). */
    deadLetterFileName: 'deadletter.ndjson',
  },
  file: { dir: 'data/out', maxBytes: 100 * 1024 * 1024 },
  /** Several instances sharing devices through the cluster (state.store: elasticsearch). */
  fleet: { index: 'encedo-hem-forwarder-state', name: 'default', leaseTtlMs: 60_000 },
  /** Under state_dir unless custody.digest_dir says otherwise. */
  digestDirName: 'digests',
} as const;
