import { readFileSync } from 'node:fs';
import { type IndexDocument, RecordMapper } from '../../src/ecs/map.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import type { SimulatedDevice } from '../../src/simulator/device.js';

/** A simulated device's log file text, verified and mapped for namespace `ns` as live collection would. */
export function mappedDocuments(device: SimulatedDevice, text: string, ns: string): IndexDocument[] {
  const { records } = verifyLines(parseLogSync(Buffer.from(text, 'latin1')), device.loggerPublicKey);
  const mapper = new RecordMapper({
    device: { serial: device.serial },
    fileId: '67757a8d',
    header: 'Encedo nGINE FW v1.2.2',
    namespace: ns,
    created: new Date(),
  });
  return records.map((r) => mapper.map(r));
}

/** The objects of a generated NDJSON file in mappings/. */
export function readNdjson(file: string): Record<string, any>[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
}
