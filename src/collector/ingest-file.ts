import { type FetchedFile, fileVerdictDocument, verdictAlerts } from '../ecs/integrity.js';
import { mapLogFile } from '../ecs/map-file.js';
import type { MapContext } from '../ecs/map.js';
import type { LogSource } from '../logfile/parse.js';
import type { FileVerdict } from '../logfile/verify.js';
import type { Sink, SinkUnit, UnitSummary } from '../sinks/sink.js';
import type { CustodyTrail } from '../custody/trail.js';

export interface IngestedFile {
  readonly verdict: FileVerdict;
  readonly summary: UnitSummary;
  readonly alerts: number;
}

export interface IngestOptions {
  readonly loggerKey: Uint8Array | readonly Uint8Array[];
  readonly context: Omit<MapContext, 'header'>;
  readonly deviceName: string;
}

/**
 * One log file into the output as one unit: every record's document, then the file's integrity record
 * and an alert per problem kind. Resolves once the output acknowledged all of them; shared by live
 * collection and `import`, so both write the same documents with the same ids.
 */
export async function ingestFile(
  sink: Sink,
  options: IngestOptions & { unitId: string; source: LogSource; file: () => FetchedFile },
): Promise<IngestedFile> {
  const unit = sink.open(options.unitId);
  let verdict: FileVerdict;
  try {
    verdict = await writeRecords(unit, options.source, options);
  } catch (err) {
    void unit.end().catch(() => undefined); // what was sent stays; the document ids absorb a resend
    throw err;
  }
  return finishFile(unit, options, options.file(), verdict);
}

/**
 * The first half of a file's unit: a document per record, streaming; returns the file's verdict. `trail`
 * gathers what the file's custody digest commits to.
 */
export async function writeRecords(
  unit: SinkUnit,
  source: LogSource,
  options: IngestOptions,
  trail?: CustodyTrail,
): Promise<FileVerdict> {
  const documents = mapLogFile(source, { loggerKey: options.loggerKey, context: options.context });
  for (;;) {
    const next = await documents.next();
    if (next.done) return next.value;
    for (const { checked, doc } of next.value) {
      trail?.record(checked.record.line, doc);
      await unit.write(doc);
    }
  }
}

/** The second half: the file's integrity record and alerts, then the wait for the acknowledgement. */
export async function finishFile(
  unit: SinkUnit,
  options: IngestOptions,
  file: FetchedFile,
  verdict: FileVerdict,
  trail?: CustodyTrail,
): Promise<IngestedFile> {
  const alerts = await writeFileTail(unit, options, file, verdict, trail);
  return { verdict, summary: await unit.end(), alerts };
}

/** The file's integrity record and an alert per problem kind, into its unit; returns how many alerts. */
export async function writeFileTail(
  unit: SinkUnit,
  options: IngestOptions,
  file: FetchedFile,
  verdict: FileVerdict,
  trail?: CustodyTrail,
): Promise<number> {
  const ctx = { device: options.context.device, namespace: options.context.namespace, now: options.context.created };
  const alerts = verdictAlerts(ctx, file, options.deviceName, verdict);
  for (const doc of [fileVerdictDocument(ctx, file, verdict), ...alerts]) {
    trail?.companion(doc);
    await unit.write(doc);
  }
  return alerts.length;
}
