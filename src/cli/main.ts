#!/usr/bin/env -S node --max-old-space-size=160 --initial-old-space-size=64
// The heap cap: the forwarder streams, so its live set stays small (tens of MB), but V8 grows the old
// generation lazily under a high allocation rate (400+ MB RSS over a 1M-record file into a cluster
// without it, about 215 MB with it, at the same throughput: npm run bench:rss). The initial old space: V8
// otherwise sizes the old generation from a live set of ~25 MB and runs a full collection every ~15 MB
// allocated (18 per 60,000 documents); from 64 MB it runs 6-9, which saves about 0.3 CPU s per 60,000
// documents for ~20 MB more RSS (npm run bench:backfill). Run `node --max-old-space-size=N <this file>` for more.
import { main } from './cli.js';

// A closed pipe (`| head`) ends the output; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `hem-forwarder: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 70;
  },
);
