import { type LogSource, parseLogBatches } from '../logfile/parse.js';
import { type CheckedRecord, type FileVerdict, LogVerifier } from '../logfile/verify.js';
import { type IndexDocument, type MapContext, RecordMapper } from './map.js';

export interface MappedRecord {
  readonly checked: CheckedRecord;
  readonly doc: IndexDocument;
}

/**
 * parse → verify → map for one file, streaming: yields the documents of each chunk's complete lines as
 * one batch, and returns the file's verdict at the end.
 */
export async function* mapLogFile(
  source: LogSource,
  options: { loggerKey: Uint8Array | readonly Uint8Array[]; context: Omit<MapContext, 'header'> },
): AsyncGenerator<MappedRecord[], FileVerdict> {
  const verifier = new LogVerifier(options.loggerKey);
  let mapper: RecordMapper | null = null;
  let header: string | null = null;
  for await (const lines of parseLogBatches(source)) {
    const batch: MappedRecord[] = [];
    for (const line of lines) {
      const checked = verifier.check(line);
      if (checked === null) {
        // The header comes first; a later '#' line cannot change what earlier documents said.
        if (line.kind === 'header' && mapper === null) header ??= line.text;
        continue;
      }
      mapper ??= new RecordMapper({ ...options.context, header });
      batch.push({ checked, doc: mapper.map(checked) });
    }
    if (batch.length > 0) yield batch;
  }
  return verifier.verdict();
}
