import { type LogSource, parseLog } from '../logfile/parse.js';
import { type CheckedRecord, type FileVerdict, LogVerifier } from '../logfile/verify.js';
import { type IndexDocument, type MapContext, mapRecord } from './map.js';

export interface MappedRecord {
  readonly checked: CheckedRecord;
  readonly doc: IndexDocument;
}

/**
 * parse → verify → map for one file, streaming: yields each record's document as soon as its line is
 * complete and returns the file's verdict at the end.
 */
export async function* mapLogFile(
  source: LogSource,
  options: { loggerKey: Uint8Array; context: Omit<MapContext, 'header'> },
): AsyncGenerator<MappedRecord, FileVerdict> {
  const verifier = new LogVerifier(options.loggerKey);
  let context: MapContext = { ...options.context, header: null };
  for await (const line of parseLog(source)) {
    const checked = verifier.check(line);
    if (checked === null) {
      if (context.header === null && line.kind === 'header') context = { ...context, header: line.text };
      continue;
    }
    yield { checked, doc: mapRecord(checked, context) };
  }
  return verifier.verdict();
}
