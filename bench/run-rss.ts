/**
 * Peak memory of `hem-forwarder run --once` over one large log file served by the simulator in a process
 * of its own, against the same command over a small file in the same run (the baseline: what the process
 * needs whatever the file size). Memory is flat when the ratio stays near 1.
 *
 *   npm run bench:rss -- [--records 1000000] [--elasticsearch URL]
 *
 * Without --elasticsearch the documents go to stdout (discarded), which measures the forwarder alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, nodeFlags, runTimed } from './child.js';

const PASSPHRASE = 'bench passphrase';

interface Served {
  readonly url: string;
  readonly certSha256: string;
  readonly loggerKey: string;
  readonly child: ChildProcess;
}

async function serve(records: number): Promise<Served> {
  const args = [
    'simulate',
    '--json',
    '--port',
    '0',
    '--boots',
    '1',
    '--events-per-boot',
    String(records),
    '--auth-delay-ms',
    '5',
  ];
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HEM_SIM_PASSPHRASE: PASSPHRASE },
  });
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return { ...(JSON.parse(line) as Omit<Served, 'child'>), child };
}

async function runOnce(
  served: Served,
  elasticsearch: string | undefined,
): Promise<{ seconds: number; peak: number; records: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-bench-rss-'));
  const output = elasticsearch
    ? `output:\n  type: elasticsearch\n  elasticsearch: { hosts: ["${elasticsearch}"], flush_interval: 200ms }\n`
    : 'output: { type: stdout }\n';
  const device = [
    '  - name: big',
    `    url: ${served.url}`,
    '    passphrase: ${env:BENCH_PW}',
    `    tls: { fingerprint: "${served.certSha256}" }`,
    `    logger_key: ${served.loggerKey}`,
    `    namespace: bench${Date.now()}`,
  ].join('\n');
  writeFileSync(
    join(dir, 'config.yaml'),
    `state_dir: ${dir}/state\nlog: { level: warn }\ndevices:\n${device}\n${output}`,
  );
  const { code, seconds, peak } = await runTimed([CLI, 'run', '--once', '--config', join(dir, 'config.yaml')], {
    env: { BENCH_PW: PASSPHRASE },
    flags,
  });
  if (code !== 0) throw new Error(`run --once exited with ${code}`);
  const state = JSON.parse(readFileSync(join(dir, 'state', 'big.json'), 'utf8')) as {
    files: Record<string, { records: number }>;
  };
  const records = Object.values(state.files).reduce((a, f) => a + f.records, 0);
  return { seconds, peak, records };
}

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    elasticsearch: { type: 'string' },
    'node-flag': { type: 'string', multiple: true },
  },
});
/** Node flags for the forwarder: by default those of the installed command's `#!` line, as a user runs it. */
const flags = values['node-flag'] ?? nodeFlags;
const big = Number(values.records);
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
console.log(
  `starting simulators (1,000 and ${big.toLocaleString('en-US')} records; the large one takes a while to build)...`,
);
const [small, large] = await Promise.all([serve(1000), serve(big)]);
try {
  const base = await runOnce(small, values.elasticsearch);
  const run = await runOnce(large, values.elasticsearch);
  const where = values.elasticsearch ? `into ${values.elasticsearch}` : 'to stdout (discarded)';
  console.log(`run --once ${where}, one file per device, simulator in its own process, node ${flags.join(' ')}:`);
  console.log(
    `  baseline ${base.records.toLocaleString('en-US')} records: ` +
      `${base.seconds.toFixed(1)} s, peak RSS ${mb(base.peak)}`,
  );
  console.log(
    `  large    ${run.records.toLocaleString('en-US')} records: ` +
      `${run.seconds.toFixed(1)} s, ` +
      `${Math.round(run.records / run.seconds).toLocaleString('en-US')} records/s, peak ` +
      `RSS ${mb(run.peak)}`,
  );
  console.log(
    `  peak RSS ratio large/baseline: ${(run.peak / base.peak).toFixed(2)} (target: under 250 MB for 1M records)`,
  );
} finally {
  small.child.kill();
  large.child.kill();
}
