import { describe, expect, it } from 'vitest';
import { EXIT_INTERRUPTED, EXIT_INVALID, EXIT_USAGE, UsageError } from '../../../src/cli/errors.js';
import { ConfigError } from '../../../src/config/load.js';
import { DeviceError, type DeviceErrorCode } from '../../../src/device/errors.js';
import { KibanaError } from '../../../src/kibana/install.js';
import { MetricsListenError } from '../../../src/observability/metrics.js';
import { OpenSearchDashboardsError } from '../../../src/opensearch-dashboards/install.js';
import { ForwarderError, HaltedError, errorCode, exitCodeFor } from '../../../src/shared/errors.js';
import { SetupError } from '../../../src/sinks/elasticsearch/setup.js';
import { SinkError } from '../../../src/sinks/sink.js';
import { StateLockError } from '../../../src/state/lock.js';
import { StateReadError } from '../../../src/state/store.js';

const device = (code: DeviceErrorCode) => new DeviceError(code, `dev: ${code}`);

// [error, code, transient, exit status]
const table: [ForwarderError, string, boolean, number][] = [
  [new UsageError('bad flag'), 'usage', false, EXIT_USAGE],
  [new ConfigError('f.yaml', ['x: unknown key']), 'config', false, EXIT_USAGE],
  [new StateReadError('/s/a.json', 'EACCES'), 'state_unreadable', false, EXIT_USAGE],
  [new StateLockError('cannot take the state lock'), 'state_locked', false, EXIT_USAGE],
  [new MetricsListenError('127.0.0.1:1', 'EADDRINUSE'), 'metrics_listen', false, EXIT_USAGE],
  [new SetupError('refused'), 'setup', false, EXIT_INVALID],
  [new KibanaError('refused'), 'kibana', false, EXIT_INVALID],
  [new OpenSearchDashboardsError('refused'), 'opensearch_dashboards', false, EXIT_INVALID],
  [new HaltedError('hem1', 'halted'), 'halted', false, EXIT_INVALID],
  [new SinkError('auth', 'x'), 'auth', false, EXIT_INVALID],
  [new SinkError('rejected', 'x'), 'rejected', false, EXIT_INVALID],
  [new SinkError('io', 'x'), 'io', false, EXIT_USAGE],
  [new SinkError('aborted', 'x'), 'aborted', true, EXIT_INTERRUPTED],
  [device('unauthorized'), 'unauthorized', false, EXIT_USAGE],
  [device('forbidden'), 'forbidden', false, EXIT_USAGE],
  [device('clock_not_set'), 'clock_not_set', false, EXIT_USAGE],
  [device('not_found'), 'not_found', false, EXIT_USAGE],
  [device('locked'), 'locked', false, EXIT_USAGE],
  [device('fault'), 'fault', false, EXIT_USAGE],
  [device('server_error'), 'server_error', true, EXIT_USAGE],
  [device('timeout'), 'timeout', true, EXIT_USAGE],
  [device('connection'), 'connection', true, EXIT_USAGE],
  [device('tls'), 'tls', false, EXIT_USAGE],
  [device('closed'), 'closed', false, EXIT_INTERRUPTED],
  [device('too_large'), 'too_large', false, EXIT_USAGE],
  [device('protocol'), 'protocol', false, EXIT_USAGE],
];

describe('ForwarderError', () => {
  it.each(table)('%s: code %s, transient %s, exit %i', (err, code, transient, exit) => {
    expect(err).toBeInstanceOf(ForwarderError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(errorCode(err)).toBe(code);
    expect(err.transient).toBe(transient);
    expect(exitCodeFor(err)).toBe(exit);
  });

  it('codes are unique across classes, so a code alone picks the exit status', () => {
    const byCode = new Map<string, string>();
    for (const [err, code] of table) {
      expect(byCode.get(code) ?? err.name).toBe(err.name);
      byCode.set(code, err.name);
    }
  });

  it('keeps the messages and the system error codes', () => {
    const state = new StateReadError('/s/a.json', 'EISDIR');
    expect(state.message).toBe('cannot read the state file /s/a.json: is a directory');
    expect(new StateReadError('/s/a.json', 'EACCES').sysCode).toBe('EACCES');
    const listen = new MetricsListenError('127.0.0.1:80', 'EACCES');
    expect(listen.message).toBe('metrics.listen 127.0.0.1:80: permission denied (a port below 1024?)');
    expect(listen.sysCode).toBe('EACCES');
  });

  it('anything else is internal (exit 70)', () => {
    const errno = Object.assign(new Error('e'), { code: 'EACCES' });
    for (const err of [new Error('bug'), new TypeError('x'), errno, 'text', undefined]) {
      expect(errorCode(err)).toBe('internal');
      expect(exitCodeFor(err)).toBe(70);
    }
  });
});
