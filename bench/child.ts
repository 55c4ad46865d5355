/**
 * What the benchmarks share: running a process the way a user does (the built CLI with the Node flags of its
 * `#!` line), timed, with its peak RSS sampled from /proc; and the test engine when no cluster is given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ENGINE = fileURLToPath(new URL('../../test/engine/engine.mjs', import.meta.url));

/** Node flags of the installed command's `#!` line, as a user runs it. */
export const nodeFlags: string[] = (
  readFileSync(CLI, 'utf8')
    .split('\n', 1)[0]!
    .match(/ (--\S+)/g) ?? []
).map((f) => f.trim());

export interface Finished {
  readonly code: number | null;
  readonly seconds: number;
  /** Empty unless `stdout: 'pipe'`. */
  readonly stdout: string;
  /** VmHWM in bytes; 0 where /proc is not available. */
  readonly peak: number;
  /** User + system CPU seconds of the process (its last sample from /proc); 0 where not available. */
  readonly cpu: number;
}

/** User + system CPU seconds of a running process so far, from /proc (throws where it is not available). */
export function cpuSeconds(pid: number): number {
  // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime and stime, in ticks of 1/100 s.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak RSS (VmHWM) and CPU seconds of a running child, sampled from /proc until it exits. */
export function sampleUsage(child: ChildProcess): Promise<{ peak: number; cpu: number }> {
  return new Promise((resolve) => {
    let peak = 0;
    let cpu = 0;
    const sample = () => {
      try {
        const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, kb * 1024);
        cpu = cpuSeconds(child.pid!);
      } catch {
        // not started yet, or gone
      }
    };
    const timer = setInterval(sample, 10);
    child.once('exit', () => {
      clearInterval(timer);
      resolve({ peak, cpu });
    });
  });
}

/** Where a timed child's stdout and stderr go (`pipe`: the caller reads `child.stdout` / `child.stderr`). */
export interface TimedOptions {
  stdout?: 'pipe' | 'ignore';
  stderr?: 'inherit' | 'ignore' | 'pipe';
  env?: NodeJS.ProcessEnv;
  flags?: string[];
}

/** A child started by spawnTimed: the process now, and what it came to once it has exited. */
export interface Timed {
  readonly child: ChildProcess;
  readonly finished: Promise<Finished>;
}

/**
 * Starts `node <nodeFlags> <argv>` (argv[0] is the script) without waiting for it: the caller signals it and
 * reads its piped streams while it runs; `finished` resolves once it has exited (timed from the spawn, peak RSS
 * and CPU sampled from /proc). stdout is kept in `Finished.stdout` when piped.
 */
export function spawnTimed(argv: string[], options: TimedOptions = {}): Timed {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...(options.flags ?? nodeFlags), ...argv], {
    stdio: ['ignore', options.stdout ?? 'ignore', options.stderr ?? 'inherit'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  const usage = sampleUsage(child);
  const finished = (async (): Promise<Finished> => {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      // 'close': the process has exited and its stdout is read to the end.
      child.once('close', (c) => resolve(c));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { code, seconds, stdout, ...(await usage) };
  })();
  return { child, finished };
}

/**
 * Runs `node <nodeFlags> <argv>` (argv[0] is the script), timed; stdout kept or discarded (/dev/null: nothing
 * pays for a pipe), stderr passed through unless ignored.
 */
export async function runTimed(
  argv: string[],
  options: Omit<TimedOptions, 'stderr'> & { stderr?: 'inherit' | 'ignore' } = {},
): Promise<Finished> {
  return spawnTimed(argv, options).finished;
}

/** Starts the test engine; `reused` when one was already answering on the port (then it is left running). */
export async function startEngine(port: string): Promise<{ url: string; reused: boolean }> {
  console.log(`starting the test engine on port ${port}...`);
  const child = spawn(process.execPath, [ENGINE, 'start', '--port', port], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  const url = /^ENGINE_URL=(\S+)$/m.exec(stdout)?.[1];
  if (code !== 0 || !url) throw new Error(`test engine did not start (exit ${code}):\n${stderr}`);
  return { url, reused: stderr.includes('already running') };
}

export async function stopEngine(port: string): Promise<void> {
  const child = spawn(process.execPath, [ENGINE, 'stop', '--port', port], { stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((resolve) => child.once('close', resolve));
}

/** The passphrase of the benchmarks' simulated devices (configs read it from BENCH_PW). */
export const SIM_PASSPHRASE = 'bench passphrase';

export interface Simulator {
  readonly url: string;
  readonly certSha256: string;
  readonly loggerKey: string;
  readonly child: ChildProcess;
}

/**
 * `hem-forwarder simulate` in a process of its own: `boots` closed files of `eventsPerBoot` activity records
 * (each also holds its KEY_INIT, boot preamble and REBOOT records), plus the current boot's file, locked.
 * With `cacheMb`, files read again are served as rendered (simulate --cache-mb).
 */
export async function startSimulator(boots: number, eventsPerBoot: number, cacheMb = 0): Promise<Simulator> {
  const args = ['simulate', '--json', '--port', '0', '--boots', String(boots)];
  args.push('--events-per-boot', String(eventsPerBoot), '--auth-delay-ms', '5', '--cache-mb', String(cacheMb));
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HEM_SIM_PASSPHRASE: SIM_PASSPHRASE },
  });
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return { ...(JSON.parse(line) as Omit<Simulator, 'child'>), child };
}

export async function stopSimulator(sim: Simulator): Promise<void> {
  if (sim.child.exitCode !== null || sim.child.signalCode !== null) return;
  const exited = new Promise((resolve) => sim.child.once('exit', resolve));
  sim.child.kill('SIGTERM');
  await exited;
}

/**
 * The cluster to measure against: `url` (--elasticsearch or ELASTICSEARCH_URL), else the test engine started
 * on `port`. `shared` when the bench did not start it (then it must clean up after itself); `stop` stops an
 * engine the bench started.
 */
export async function benchCluster(
  url: string | undefined,
  port: string,
): Promise<{ url: string; shared: boolean; stop(): Promise<void> }> {
  if (url) return { url, shared: true, stop: async () => undefined };
  const started = await startEngine(port);
  return {
    url: started.url,
    shared: started.reused,
    stop: () => (started.reused ? Promise.resolve() : stopEngine(port)),
  };
}
