import { type FetchedFile, fileVerdictDocument, verdictAlerts } from '../ecs/integrity.js';
import { mapLogFile } from '../ecs/map-file.js';
import type { MapContext } from '../ecs/map.js';
import type { LogSource } from '../logfile/parse.js';
import type { FileVerdict } from '../logfile/verify.js';
import type { Sink, UnitSummary } from '../sinks/sink.js';

export interface IngestedFile {
  readonly verdict: FileVerdict;
  readonly summary: UnitSummary;
  readonly alerts: number;
}

/**
 * One log file into the output as one unit: every record's document, then the file's integrity record
 * and an alert per problem kind. Resolves once the output acknowledged all of them; shared by live
 * collection and `import`, so both write the same documents with the same ids.
 */
export async function ingestFile(
  sink: Sink,
  options: { unitId: string; source: LogSource; loggerKey: Uint8Array | readonly Uint8Array[]; context: Omit<MapContext, 'header'>; deviceName: string; file: () => FetchedFile },
): Promise<IngestedFile> {
  const unit = sink.open(options.unitId);
  const documents = mapLogFile(options.source, { loggerKey: options.loggerKey, context: options.context });
  let verdict: FileVerdict;
  try {
    for (;;) {
      const next = await documents.next();
      if (next.done) {
        verdict = next.value;
        break;
      }
      for (const { doc } of next.value) await unit.write(doc);
    }
  } catch (err) {
    await unit.end().catch(() => undefined);
    throw err;
  }
  const file = options.file();
  const ctx = { device: options.context.device, namespace: options.context.namespace, now: options.context.created };
  const alerts = verdictAlerts(ctx, file, options.deviceName, verdict);
  for (const doc of [fileVerdictDocument(ctx, file, verdict), ...alerts]) await unit.write(doc);
  return { verdict, summary: await unit.end(), alerts: alerts.length };
}
