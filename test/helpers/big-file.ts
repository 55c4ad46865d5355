import { type IndexDocument, RecordMapper } from '../../src/ecs/map.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import { SimulatedDevice } from '../../src/simulator/device.js';
import { SearchBulkSink } from '../../src/sinks/search/bulk-sink.js';
import type { BulkTransport } from '../../src/sinks/search/transport.js';
import type { UnitSummary } from '../../src/sinks/sink.js';

/** The documents of one simulated boot of `events` records, mapped for `namespace`: a big file to index. */
export async function bigFileDocs(options: {
  seed: number;
  events: number;
  namespace: string;
  segmentEvery?: number;
}): Promise<IndexDocument[]> {
  const device = await SimulatedDevice.create({
    passphrase: 'p',
    masterPassphrase: 'm',
    boots: 1,
    eventsPerBoot: options.events,
    seed: options.seed,
    ...(options.segmentEvery ? { segmentEvery: options.segmentEvery } : {}),
  });
  const { records } = verifyLines(
    parseLogSync(Buffer.from(device.fileText(device.fileIds()[0]!)!, 'latin1')),
    device.loggerPublicKey,
  );
  const mapper = new RecordMapper({
    device: { serial: device.serial },
    fileId: 'f',
    header: null,
    namespace: options.namespace,
    created: new Date(),
  });
  return records.map((r) => mapper.map(r));
}

/**
 * Writes `docs` through a sink over `transport` (small batches, fast retries) and, once `after` documents are
 * stored, takes the engine away and brings it back (`outage`). Resolves when every document is acknowledged.
 */
export async function indexThroughOutage(
  transport: BulkTransport,
  docs: readonly IndexDocument[],
  after: number,
  outage: () => Promise<void>,
): Promise<{ summary: UnitSummary; retries: number }> {
  const sink = new SearchBulkSink({
    transport,
    deadLetterFile: '/dev/null',
    flushCount: 300,
    concurrency: 2,
    retryBaseMs: 100,
    retryMaxMs: 1000,
  });
  const unit = sink.open('big file');
  let away: Promise<void> | null = null;
  for (const doc of docs) {
    await unit.write(doc);
    if (away === null && sink.stats.written > after) away = outage();
  }
  const summary = await unit.end();
  await away;
  await sink.close();
  return { summary, retries: sink.stats.retries };
}
