import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { HemSimulator } from '../simulator/server.js';
import { UsageError } from './errors.js';
import type { Output } from './output.js';

export const SIMULATE_USAGE =
  'hem-forwarder simulate [--host 127.0.0.1] [--port 8443] [--http] [--passphrase PW] ' +
  '[--master-passphrase PW] [--seed N] [--boots N] [--events-per-boot N] ' +
  '[--auth-delay-ms MS] [--epa] [--control] [--json]';

const MAX = Number.MAX_SAFE_INTEGER;

function integer(name: string, value: string | undefined, fallback: number, min = 0, max = MAX): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === MAX ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`--${name} must be a whole number ${range}, got ${JSON.stringify(value)}`);
  }
  return n;
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
  ENOTFOUND: 'host not found',
};

/** Runs a simulated HEM until SIGINT/SIGTERM. */
export async function simulateCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      http: { type: 'boolean', default: false },
      passphrase: { type: 'string' },
      'master-passphrase': { type: 'string' },
      seed: { type: 'string' },
      boots: { type: 'string' },
      'events-per-boot': { type: 'string' },
      'auth-delay-ms': { type: 'string' },
      epa: { type: 'boolean', default: false },
      control: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const given = values.passphrase ?? process.env.HEM_SIM_PASSPHRASE;
  const passphrase = given ?? randomBytes(12).toString('base64url');
  const port = integer('port', values.port, 8443, 0, 65535);
  const sim = await HemSimulator.start({
    host: values.host,
    port,
    http: values.http,
    passphrase,
    masterPassphrase:
      values['master-passphrase'] ?? process.env.HEM_SIM_MASTER_PASSPHRASE ?? randomBytes(12).toString('base64url'),
    seed: integer('seed', values.seed, 1),
    boots: integer('boots', values.boots, 3),
    eventsPerBoot: integer('events-per-boot', values['events-per-boot'], 50),
    authDelayMs: integer('auth-delay-ms', values['auth-delay-ms'], 500),
    epa: values.epa,
    control: values.control,
  }).catch((err: unknown) => {
    const why = LISTEN_ERRORS[(err as NodeJS.ErrnoException).code ?? ''];
    if (why) throw new UsageError(`--host ${values.host} --port ${port}: ${why}`);
    throw err;
  });
  const info = {
    url: sim.url,
    certSha256: sim.certSha256,
    loggerKey: sim.device.loggerPublicKey.toString('base64'),
    serial: sim.device.serial,
    ...(given === undefined ? { passphrase } : {}),
  };
  await out.line(
    values.json
      ? JSON.stringify(info)
      : `HEM simulator at ${info.url} (serial ${info.serial}, logger key ${info.loggerKey}` +
          `${info.certSha256 ? `, certificate sha256 ${info.certSha256}` : ''}` +
          `${given === undefined ? `, generated passphrase ${passphrase}` : ''}` +
          `${values.control ? ', /sim/* control on' : ''})`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sim.close();
  return 0;
}
