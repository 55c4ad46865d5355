import { type LogSource, parseLogBatches } from '../logfile/parse.js';
import { type CheckedRecord, type FileVerdict, LogVerifier } from '../logfile/verify.js';
import { cooperativeYielder } from '../shared/yield.js';
import { type IndexDocument, type MapContext, RecordMapper } from './map.js';

/** Lines between looks at the clock: one batch can hold a whole in-memory file. */
const LINES_PER_CLOCK_CHECK = 256;

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
  // Live collection runs this beside /metrics and the signal handlers: a hostile file must not hold the
  // event loop for its whole run, so the loop gets a turn every ~20 ms of work.
  const yieldIfBusy = cooperativeYielder();
  for await (const lines of parseLogBatches(source)) {
    const batch: MappedRecord[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (i > 0 && i % LINES_PER_CLOCK_CHECK === 0) await yieldIfBusy();
      const line = lines[i]!;
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
    await yieldIfBusy();
  }
  return verifier.verdict();
}
