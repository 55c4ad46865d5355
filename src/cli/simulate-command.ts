import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { RenderedFiles } from '../simulator/file-cache.js';
import { startSimulatorFleet } from '../simulator/fleet.js';
import { UsageError } from './errors.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';

export const SIMULATE_USAGE = COMMANDS.simulate.usage;

const MAX = Number.MAX_SAFE_INTEGER;
const MAX_DEVICES = 1000;

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

/**
 * Runs simulated HEMs until SIGINT/SIGTERM: one line per device once all listen, and on the way out one JSON
 * line per device on stderr with what clients did to it.
 */
export async function simulateCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: COMMANDS.simulate.options,
  });
  const given = values.passphrase ?? process.env.HEM_SIM_PASSPHRASE;
  const passphrase = given ?? randomBytes(12).toString('base64url');
  const devices = integer('devices', values.devices, 1, 1, MAX_DEVICES);
  const port = integer('port', values.port, 8443, 0, 65535);
  if (port > 0 && port + devices - 1 > 65535)
    throw new UsageError(`--port ${port} --devices ${devices}: the last port would be past 65535`);
  const cacheMb = integer('cache-mb', values['cache-mb'], 0, 0, 1 << 20);
  const fleet = await startSimulatorFleet({
    devices,
    host: values.host,
    basePort: port,
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
    ...(cacheMb > 0 ? { fileCache: new RenderedFiles(cacheMb * 2 ** 20) } : {}),
  }).catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException & { port?: number };
    const why = LISTEN_ERRORS[e.code ?? ''];
    const which = devices > 1 && e.port !== undefined ? ` (port ${e.port})` : '';
    if (why) throw new UsageError(`--host ${values.host} --port ${port}${which}: ${why}`);
    throw err;
  });
  for (const sim of fleet.simulators) {
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
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await fleet.close();
  for (const sim of fleet.simulators)
    process.stderr.write(`${JSON.stringify({ serial: sim.device.serial, url: sim.url, ...sim.stats() })}\n`);
  return 0;
}
