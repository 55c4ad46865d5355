import { HemSimulator, type SimulatorOptions, selfSignedCertificate } from './server.js';

export interface FleetOptions extends Omit<SimulatorOptions, 'port' | 'tls'> {
  /** Every device takes this passphrase (without one, nobody could log in). */
  readonly passphrase: string;
  readonly devices?: number;
  /** Device i listens on basePort + i; 0 (the default): each on an ephemeral port. */
  readonly basePort?: number;
}

export interface SimulatorFleet {
  /** In device order. */
  readonly simulators: readonly HemSimulator[];
  close(): Promise<void>;
}

/**
 * Independent simulated devices in one process: each its own seed (`seed`, then `seed#i`: a fleet of one is the
 * device `seed` always gave), so its own serial, keys and history, and its own port; one certificate for all
 * (generating one costs ~10 ms).
 */
export async function startSimulatorFleet(options: FleetOptions): Promise<SimulatorFleet> {
  const { devices = 1, basePort = 0, seed = 1, ...rest } = options;
  const tls = rest.http ? undefined : await selfSignedCertificate();
  const started = await Promise.allSettled(
    Array.from({ length: devices }, (_, i) =>
      HemSimulator.start({
        ...rest,
        tls,
        seed: i === 0 ? seed : `${seed}#${i}`,
        port: basePort === 0 ? 0 : basePort + i,
      }),
    ),
  );
  const simulators = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const close = async () => {
    await Promise.all(simulators.map((s) => s.close()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await close();
    throw failed.reason;
  }
  return { simulators, close };
}
