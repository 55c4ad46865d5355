/**
 * npm run bench:core — parse + verify + map + serialize over a generated 1,000,000-record file, against a
 * baseline that only splits the same bytes into lines. Prints records/s for both, their ratio, and peak
 * RSS. Usage: node dist/bench/core.js [records]
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { mapLogFile } from '../src/ecs/map-file.js';
import { sourceJson } from '../src/ecs/map.js';
import { LogWriter } from '../src/logfile/write.js';
import { ed25519PublicKey } from '../src/shared/ed25519.js';

const RECORDS = Number(process.argv[2] ?? 1_000_000);
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

async function pipeline(): Promise<number> {
  let records = 0;
  let bytes = 0;
  const docs = mapLogFile(createReadStream(path, { highWaterMark: 64 * 1024 }), {
    loggerKey: ed25519PublicKey(secret),
    context: { device: { serial: '2023b758c209269a' }, fileId: '62310ba5', namespace: 'default', created: new Date() },
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

async function timed(fn: () => Promise<number>): Promise<{ n: number; seconds: number }> {
  const t0 = process.hrtime.bigint();
  const n = await fn();
  return { n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

await generate();
const size = statSync(path).size;
const base = await timed(baseline);
const full = await timed(pipeline);
const rate = (r: { n: number; seconds: number }) => Math.round(r.n / r.seconds);
const rssMb = process.resourceUsage().maxRSS / 1024;
console.log(
  `bench:core  ${RECORDS.toLocaleString('en-US')} records, ${(size / 1e6).toFixed(1)} ` +
    `MB, ${RECORDS / PER_SEGMENT} key segments`,
);
console.log(
  `baseline (split lines only):           ` +
    `${rate(base).toLocaleString('en-US').padStart(12)} records/s  ` +
    `(${base.seconds.toFixed(2)} s)`,
);
console.log(
  `parse+verify+map+serialize:            ` +
    `${rate(full).toLocaleString('en-US').padStart(12)} records/s  ` +
    `(${full.seconds.toFixed(2)} s)`,
);
console.log(`ratio pipeline/baseline:               ${(rate(full) / rate(base)).toFixed(3)}`);
console.log(`peak RSS:                              ${rssMb.toFixed(0)} MB`);
console.log(
  `targets: >= 100,000 records/s end to end: ` +
    `${rate(full) >= 100_000 ? 'met' : 'NOT met'}; peak RSS < 200 MB: ` +
    `${rssMb < 200 ? 'met' : 'NOT met'}`,
);
rmSync(dir, { recursive: true, force: true });
