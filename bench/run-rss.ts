/**
 * Peak memory of `hem-forwarder run --once` over one large log file served by the simulator in a process
 * of its own, against the same command over a small file in the same run (the baseline: what the process
 * needs whatever the file size). Memory is flat when the ratio stays near 1.
 *
 *   npm run bench:rss -- [--records 1000000] [--elasticsearch URL]
 *
 * Without --elasticsearch the documents go to stdout (discarded), which measures the forwarder alone.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, SIM_PASSPHRASE, type Simulator, nodeFlags, runTimed, startSimulator } from './child.js';

async function runOnce(
  served: Simulator,
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
    env: { BENCH_PW: SIM_PASSPHRASE },
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
const [small, large] = await Promise.all([startSimulator(1, 1000), startSimulator(1, big)]);
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
