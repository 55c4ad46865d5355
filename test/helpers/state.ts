import type { FileRecord } from '../../src/state/store.js';

/** A checkpointed file record for state tests; override what the test is about. */
export function fileRecord(id: string, over: Partial<FileRecord> = {}): FileRecord {
  return {
    id,
    size: 1,
    sha256: 'a'.repeat(64),
    records: 1,
    verified: 1,
    lastSeq: 0,
    segments: [],
    valid: true,
    problems: {},
    status: 'ingested',
    ingestedAt: 'x',
    checkedAt: 'x',
    outputs: ['stdout'],
    ...over,
  };
}
