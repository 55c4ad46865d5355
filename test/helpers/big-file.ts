import { type IndexDocument, RecordMapper } from '../../src/ecs/map.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import { SimulatedDevice } from '../../src/simulator/device.js';

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
