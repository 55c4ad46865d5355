/**
 * npm run bench:core — two measurements over one generated 1,000,000-record signed file:
 *
 * - in process: parse + verify + map + serialize, against a baseline that only splits the same bytes into
 *   lines; records/s of both, their ratio, and the peak RSS of this process;
 * - CLI: `hem-forwarder parse --key-file K FILE > /dev/null` as a child process started like the bin
 *   (the node flags of its `#!` line), against a lean reference pass over the same bytes in a child of its
 *   own (bench/core-reference.ts: split, HMAC check, a small JSON per record); records/s of both, their
 *   ratio, and the peak RSS of each (VmHWM sampled from /proc). With --rounds N the two alternate N times
 *   and the medians are reported.
 *
 *   npm run bench:core -- [records] [--only core|cli] [--rounds N]
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nodeFlags, runTimed } from './child.js';
import { createHash } from 'node:crypto';
import { mapLogFile } from '../src/ecs/map-file.js';
import { sourceJson } from '../src/ecs/map.js';
import { LogWriter } from '../src/logfile/write.js';
import { ed25519PublicKey } from '../src/shared/ed25519.js';

const args = parseArgs({
  allowPositionals: true,
  options: { only: { type: 'string' }, rounds: { type: 'string', default: '1' } },
});
const RECORDS = Number(args.positionals[0] ?? 1_000_000);
const ONLY = args.values.only;
if (ONLY !== undefined && ONLY !== 'core' && ONLY !== 'cli') throw new Error('--only core or --only cli');
const ROUNDS = Number(args.values.rounds);
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const REFERENCE = fileURLToPath(new URL('./core-reference.js', import.meta.url));
const PER_SEGMENT = 100_000;
const secret = new Uint8Array(createHash('sha256').update('bench logger').digest());
const dir = mkdtempSync(join(tmpdir(), 'hemfwd-bench-'));
const path = join(dir, '62310ba5.log');

async function generate(): Promise<void> {
  const out = createWriteStream(path);
  const writer = new LogWriter({ signingKey: secret });
  let buf = LogWriter.header('Encedo nGINE FW v1.2.2');
  const kid = Buffer.alloc(16, 7).toString('base64url');
  for (let i = 0; i < RECORDS; i++) {
    if (i % PER_SEGMENT === 0) buf += writer.keyInit(createHash('sha256').update(`k${i}`).digest(), 0x62310ba5 + i);
    else
      buf += writer.append({
        time: 0x62310ba5 + i,
        event: 20 + (i % 19),
        result: (i % 3) as 0 | 1 | 2,
        subject: i % 2 ? 'U' : kid,
        data: kid,
      });
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

async function baseline(): Promise<number> {
  // Split only: count line terminators over the same bytes, through the same stream source.
  let lines = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
    let at = chunk.indexOf(10);
    while (at !== -1) {
      lines++;
      at = chunk.indexOf(10, at + 1);
    }
  }
  return lines - 1; // the header
}

/** mapLogFile, as the collector runs it; `fast: false` sends every record down the general path. */
async function pipeline(fast: boolean): Promise<number> {
  let records = 0;
  let bytes = 0;
  const docs = mapLogFile(createReadStream(path, { highWaterMark: 64 * 1024 }), {
    loggerKey: ed25519PublicKey(secret),
    context: { device: { serial: '2023b758c209269a' }, fileId: '62310ba5', namespace: 'default', created: new Date() },
    fast,
  });
  for (;;) {
    const next = await docs.next();
    if (next.done) {
      if (next.value.lines.verified !== RECORDS)
        throw new Error(`only ${next.value.lines.verified} of ${RECORDS} verified`);
      break;
    }
    for (const { doc } of next.value) {
      bytes += sourceJson(doc).length;
      records++;
    }
  }
  if (bytes === 0) throw new Error('nothing serialized');
  return records;
}

interface Timed {
  readonly n: number;
  readonly seconds: number;
}

async function timed(fn: () => Promise<number>): Promise<Timed> {
  const t0 = process.hrtime.bigint();
  const n = await fn();
  return { n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

const rate = (r: Timed) => Math.round(r.n / r.seconds);
const fmt = (n: number) => n.toLocaleString('en-US').padStart(12);
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

interface ChildRun extends Timed {
  readonly peak: number;
}

/** Runs `node <the bin's #! flags> script ...args` as users run the CLI, stdout discarded; fails unless it exits 0. */
async function child(script: string, argv: string[]): Promise<ChildRun> {
  const { code, seconds, peak } = await runTimed([script, ...argv], { flags: nodeFlags, stderr: 'ignore' });
  if (code !== 0) throw new Error(`${script} ${argv.join(' ')} exited with ${code}`);
  return { n: RECORDS, seconds, peak };
}

async function inProcess(): Promise<void> {
  const base = await timed(baseline);
  const full = await timed(() => pipeline(true));
  const general = await timed(() => pipeline(false));
  const rssMb = process.resourceUsage().maxRSS / 1024;
  const seconds = (r: Timed) => `(${r.seconds.toFixed(2)} s)`;
  console.log('in process (mapLogFile, as the collector runs it):');
  console.log(`  baseline (split lines only):         ${fmt(rate(base))} records/s  ${seconds(base)}`);
  console.log(`  parse+verify+map+serialize:          ${fmt(rate(full))} records/s  ${seconds(full)}`);
  console.log(`  the same, general path only:         ${fmt(rate(general))} records/s  ${seconds(general)}`);
  console.log(`  ratio pipeline/baseline:             ${(rate(full) / rate(base)).toFixed(3).padStart(12)}`);
  console.log(`  peak RSS (this process):             ${`${rssMb.toFixed(0)} MB`.padStart(12)}`);
  console.log(`  target: >= 100,000 records/s: ${met(rate(full) >= 100_000)}`);
}

async function cli(): Promise<void> {
  const keyFile = join(dir, 'logger-key.txt');
  writeFileSync(keyFile, Buffer.from(ed25519PublicKey(secret)).toString('base64'));
  const refs: ChildRun[] = [];
  const cliRuns: ChildRun[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const ref = await child(REFERENCE, [path]);
    const run = await child(CLI, ['parse', '--key-file', keyFile, path]);
    refs.push(ref);
    cliRuns.push(run);
    ratios.push(rate(run) / rate(ref));
    if (ROUNDS > 1)
      console.log(
        `  round ${round + 1}: reference ${rate(ref).toLocaleString('en-US')}/s, parse ` +
          `${rate(run).toLocaleString('en-US')}/s, ratio ${ratios.at(-1)!.toFixed(3)}, parse peak RSS ${mb(run.peak)}`,
      );
  }
  const refRate = median(refs.map(rate));
  const cliRate = median(cliRuns.map(rate));
  const ratio = median(ratios);
  const peak = Math.max(...cliRuns.map((r) => r.peak));
  const what = ROUNDS > 1 ? `median of ${ROUNDS} rounds` : 'one round';
  console.log(`CLI (child processes, node ${nodeFlags.join(' ')}, stdout to /dev/null, ${what}):`);
  console.log(
    `  reference (split, HMAC, small JSON): ${fmt(refRate)} records/s  ` +
      `(peak RSS ${mb(Math.max(...refs.map((r) => r.peak)))})`,
  );
  console.log(
    `  hem-forwarder parse FILE:            ${fmt(cliRate)} records/s  ` +
      `target >= 100,000: ${met(cliRate >= 100_000)}`,
  );
  console.log(
    `  ratio parse/reference:               ${ratio.toFixed(3).padStart(12)}  target >= 0.5: ${met(ratio >= 0.5)}`,
  );
  console.log(
    `  parse peak RSS:                      ${mb(peak).padStart(12)}  target < 150 MB: ${met(peak < 150 * 2 ** 20)}`,
  );
}

await generate();
const size = statSync(path).size;
console.log(
  `bench:core  ${RECORDS.toLocaleString('en-US')} records, ${(size / 1e6).toFixed(1)} ` +
    `MB, ${Math.ceil(RECORDS / PER_SEGMENT)} key segments`,
);
try {
  if (ONLY !== 'cli') await inProcess();
  if (ONLY !== 'core') await cli();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
