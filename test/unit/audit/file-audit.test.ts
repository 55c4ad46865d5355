import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StoredDocument } from '../../../src/audit/cluster-reader.js';
import { FileAuditor, type FileAuditResult } from '../../../src/audit/file-audit.js';
import type { Finding } from '../../../src/audit/report.js';
import { fileDigestBody } from '../../../src/collector/custody-digest.js';
import { sha256Hex } from '../../../src/custody/canonical.js';
import type { FileDigestBody } from '../../../src/custody/digest.js';
import { CustodyTrail } from '../../../src/custody/trail.js';
import { type FetchedFile, fileVerdictDocument, verdictAlerts } from '../../../src/ecs/integrity.js';
import { mapLogFile } from '../../../src/ecs/map-file.js';
import { type IndexDocument, type MapContext, sourceJson } from '../../../src/ecs/map.js';
import type { FileVerdict } from '../../../src/logfile/verify.js';
import type { DeadLetter } from '../../../src/sinks/sink.js';
import { LogWriter } from '../../../src/logfile/write.js';
import { LOGGER_PUBLIC, LOGGER_SECRET, bytesFor, joinFile, validFile } from '../../helpers/log-gen.js';

const SERIAL = '2023b758c209269a';
const DEVICE = 'hem-1';
const CREATED = new Date('2026-01-02T03:04:05.000Z');
const INGESTED = '2026-01-02T03:04:09.123Z';
const FORWARDER_KEY = 'f'.repeat(64);

const VECTOR = readFileSync(new URL('../../vectors/docs-log-62310ba5.log', import.meta.url));
const VECTOR_KEY = Buffer.from(
  (JSON.parse(readFileSync(new URL('../../vectors/docs-logger-key.json', import.meta.url), 'utf8')) as { key: string })
    .key,
  'base64',
);

/** What the collector sent for one file, and the digest it signed for it. */
interface Collected {
  readonly body: FileDigestBody;
  /** The record documents, in line order. */
  readonly records: readonly { readonly line: number; readonly doc: IndexDocument }[];
  /** The integrity record and the alerts. */
  readonly companions: readonly IndexDocument[];
  readonly verdict: FileVerdict;
}

/**
 * Maps and digests a log file as the collector does (writeRecords, then finishFile's companions), with the
 * documents on `deadLetterLines` refused by the output and listed in the digest (unless `unlisted`).
 */
async function collect(
  bytes: Uint8Array,
  loggerKey: Uint8Array,
  fileId: string,
  options: { deadLetterLines?: readonly number[]; unlisted?: boolean } = {},
): Promise<Collected> {
  const context: Omit<MapContext, 'header'> = {
    device: { serial: SERIAL, name: DEVICE },
    fileId,
    namespace: 'default',
    created: CREATED,
  };
  const trail = new CustodyTrail();
  const records: { line: number; doc: IndexDocument }[] = [];
  const documents = mapLogFile(bytes, { loggerKey, context });
  let verdict: FileVerdict;
  for (;;) {
    const next = await documents.next();
    if (next.done) {
      verdict = next.value;
      break;
    }
    for (const { checked, doc } of next.value) {
      trail.record(checked.record.line, doc);
      records.push({ line: checked.record.line, doc });
    }
  }
  const file: FetchedFile = {
    id: fileId,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
  };
  const ctx = { device: context.device, namespace: context.namespace, now: CREATED };
  const companions = [fileVerdictDocument(ctx, file, verdict), ...verdictAlerts(ctx, file, DEVICE, verdict)];
  for (const doc of companions) trail.companion(doc);
  // Refused by the output, as the sink reports them: the collector turns them into the digest's entries.
  const letters: DeadLetter[] = (options.deadLetterLines ?? []).map((line) => {
    const doc = records.find((r) => r.line === line)!.doc;
    const to = 'logs-encedo_hem.dead_letter-default';
    return {
      id: doc._id,
      index: doc._index,
      source: sourceJson(doc),
      status: 400,
      reason: 'document_parsing_exception',
      to,
    };
  });
  const summary = {
    written: records.length - letters.length,
    duplicates: 0,
    deadLettered: letters.length,
    deadLetters: options.unlisted ? [] : letters,
  };
  const place = {
    outputId: 'elasticsearch:cluster-uuid',
    deviceName: DEVICE,
    device: { serial: SERIAL, name: DEVICE },
    namespace: 'default',
    head: { output: 'elasticsearch:cluster-uuid', position: 6, hash: 'a'.repeat(64) },
    forwarder: { key: FORWARDER_KEY, version: '0.1.0' },
  };
  const loggerKeys = [loggerKey];
  const body = fileDigestBody(place, {
    fileId,
    file,
    verdict,
    loggerKeys,
    collectedAt: CREATED.toISOString(),
    trail,
    summary,
  });
  return { body, records, companions, verdict };
}

/** A document as the cluster returns it: the body sent, plus the event.ingested the ingest pipeline adds. */
function stored(doc: IndexDocument): StoredDocument {
  const source = JSON.parse(sourceJson(doc)) as Record<string, any>;
  source.event = { ...source.event, ingested: INGESTED };
  return { id: doc._id, index: doc._index, source };
}

function lineOf(doc: StoredDocument): number {
  return (doc.source as { encedo_hem: { log: { line: number } } }).encedo_hem.log.line;
}

/** What the cluster holds for a collected file, to be tampered with by a test. */
function cluster(c: Collected, options: { without?: readonly number[] } = {}) {
  return {
    records: c.records.filter((r) => !options.without?.includes(r.line)).map((r) => stored(r.doc)),
    companions: c.companions.map(stored),
  };
}

/** Feeds the auditor as runAudit does: records grouped by line in line order, then companions. */
function auditFile(
  body: FileDigestBody,
  held: { records: readonly StoredDocument[]; companions: readonly StoredDocument[] },
  unlined: readonly StoredDocument[] = [],
): FileAuditResult {
  const auditor = new FileAuditor(body, DEVICE);
  const byLine = new Map<number, StoredDocument[]>();
  for (const doc of held.records) byLine.set(lineOf(doc), [...(byLine.get(lineOf(doc)) ?? []), doc]);
  for (const line of [...byLine.keys()].sort((a, b) => a - b)) auditor.line(line, byLine.get(line)!, 0);
  auditor.unlined(unlined, unlined.length);
  auditor.companions(held.companions);
  return auditor.finish();
}

function kinds(findings: readonly Finding[]): string[] {
  return findings.map((f) => f.kind);
}

function covers(finding: Finding, line: number): boolean {
  return finding.lines !== undefined && finding.lines.first <= line && line <= finding.lines.last;
}

/** `doc` with `change` applied to a deep copy of its source. */
function edited(doc: StoredDocument, change: (source: Record<string, any>) => void): StoredDocument {
  const source = structuredClone(doc.source) as Record<string, any>;
  change(source);
  return { ...doc, source };
}

function replaceLine(docs: readonly StoredDocument[], line: number, by: StoredDocument): StoredDocument[] {
  return docs.map((d) => (lineOf(d) === line ? by : d));
}

describe('FileAuditor on the vendor test vector (7 records, lines 2–8)', () => {
  let c: Collected;
  const docAt = (held: { records: readonly StoredDocument[] }, line: number) =>
    held.records.find((d) => lineOf(d) === line)!;

  beforeAll(async () => {
    c = await collect(VECTOR, VECTOR_KEY, '62310ba5');
    // The vector as the README describes it: every record verifies, one chunk holds them all.
    expect(c.verdict.valid).toBe(true);
    expect(c.records.map((r) => r.line)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(c.body.documents.chunks).toHaveLength(1);
    expect(c.companions).toHaveLength(1);
  });

  it('untouched: no finding, every document read and every record verified again', () => {
    const result = auditFile(c.body, cluster(c));
    expect(result.findings).toEqual([]);
    expect(result.documents).toBe(7);
    expect(result.verified).toBe(c.body.file.records);
    expect(result.verified).toBe(7);
    expect(result.deadLetters).toBe(0);
  });

  it('untouched, without the event.ingested the cluster adds: still no finding', () => {
    const held = cluster(c);
    const plain = {
      records: held.records.map((d) => edited(d, (s) => delete s.event.ingested)),
      companions: held.companions,
    };
    expect(auditFile(c.body, plain).findings).toEqual([]);
  });

  it('one field of one document changed: document_altered on lines that include it', () => {
    const held = cluster(c);
    held.records = replaceLine(
      held.records,
      5,
      edited(docAt(held, 5), (s) => {
        s.message = 'Real-time clock set: nothing to see';
      }),
    );
    const result = auditFile(c.body, held);
    expect(kinds(result.findings)).toEqual(['document_altered']);
    const [finding] = result.findings;
    expect(covers(finding!, 5)).toBe(true);
    expect(finding!.fileId).toBe('62310ba5');
    expect(finding!.position).toBe(7);
    expect(finding!.device).toBe(DEVICE);
    expect(finding!.at).toBe(CREATED.toISOString());
  });

  it('a nested field changed, or a field added: document_altered', () => {
    for (const change of [
      (s: Record<string, any>) => {
        s.user.id = 'U';
      },
      (s: Record<string, any>) => {
        s.labels = { note: 'added later' };
      },
      (s: Record<string, any>) => {
        s.event.ingested = undefined;
        s.event.created = '2026-01-02T03:04:06.000Z';
      },
    ]) {
      const held = cluster(c);
      held.records = replaceLine(held.records, 6, edited(docAt(held, 6), change));
      const result = auditFile(c.body, held);
      expect(kinds(result.findings)).toEqual(['document_altered']);
      expect(covers(result.findings[0]!, 6)).toBe(true);
    }
  });

  it('one document removed: document_missing naming its line', () => {
    const result = auditFile(c.body, cluster(c, { without: [5] }));
    expect(kinds(result.findings)).toEqual(['document_missing']);
    expect(result.findings[0]!.lines).toEqual({ first: 5, last: 5 });
    expect(result.findings[0]!.detail).toContain('line 5');
    expect(result.documents).toBe(6);
  });

  it('the first or the last document removed: document_missing naming its line', () => {
    for (const line of [2, 8]) {
      const result = auditFile(c.body, cluster(c, { without: [line] }));
      expect(result.findings.some((f) => f.kind === 'document_missing' && f.lines?.first === line)).toBe(true);
      expect(result.findings.every((f) => f.kind !== 'document_missing' || covers(f, line))).toBe(true);
    }
  });

  it('every document removed: document_missing for the lines', () => {
    const result = auditFile(c.body, { records: [], companions: cluster(c).companions });
    expect(result.findings.length).toBeGreaterThan(0);
    expect(result.findings.every((f) => f.kind === 'document_missing')).toBe(true);
    for (let line = 2; line <= 8; line++) expect(result.findings.some((f) => covers(f, line))).toBe(true);
    expect(result.documents).toBe(0);
  });

  it('an extra document on a line far from the others: document_extra on that line', () => {
    const held = cluster(c);
    const copy = edited(docAt(held, 8), (s) => {
      s.encedo_hem.log.line = 40;
    });
    held.records = [...held.records, { ...copy, id: 'planted-40' }];
    const result = auditFile(c.body, held);
    expect(result.findings.some((f) => f.kind === 'document_extra' && covers(f, 40))).toBe(true);
    expect(result.findings.every((f) => covers(f, 40))).toBe(true);
  });

  it('an extra document on a new line inside a collected chunk: document_extra on lines that include it', () => {
    const held = cluster(c);
    const copy = edited(docAt(held, 8), (s) => {
      s.encedo_hem.log.line = 9;
    });
    held.records = [...held.records, { ...copy, id: 'planted-9' }];
    const result = auditFile(c.body, held);
    expect(kinds(result.findings)).toContain('document_extra');
    // Not only the lines of the chunk as collected (2–8): the finding must lead to the extra document.
    expect(result.findings.some((f) => f.kind === 'document_extra' && covers(f, 9))).toBe(true);
  });

  it('a second document with the same source under a new id on the same line: document_extra on that line', () => {
    const held = cluster(c);
    const twin = { ...docAt(held, 5), id: 'twin-of-line-5' };
    held.records = [...held.records, twin];
    const result = auditFile(c.body, held);
    expect(kinds(result.findings)).toEqual(['document_extra']);
    expect(result.findings[0]!.lines).toEqual({ first: 5, last: 5 });
    expect(result.findings[0]!.detail).toContain('twin-of-line-5');
  });

  it('event.original changed without a new tag or event.hash: document_altered and record_tag on its document', () => {
    const held = cluster(c);
    const original = docAt(held, 5);
    held.records = replaceLine(
      held.records,
      5,
      edited(original, (s) => {
        s.event.original = String(s.event.original).replace('|13|0|', '|13|1|');
      }),
    );
    const result = auditFile(c.body, held);
    expect(result.findings.length).toBeGreaterThan(0);
    for (const f of result.findings) {
      expect(['document_altered', 'record_tag']).toContain(f.kind);
      expect(f.lines).toEqual({ first: 5, last: 5 });
      expect(f.documentId).toBe(original.id);
    }
    expect(kinds(result.findings)).toContain('record_tag');
    expect(result.verified).toBe(6);
  });

  it('event.original and event.hash changed together: record_tag (the device tag does not verify again)', () => {
    const held = cluster(c);
    const original = docAt(held, 6);
    held.records = replaceLine(
      held.records,
      6,
      edited(original, (s) => {
        s.event.original = String(s.event.original).replace('|M||', '|U||');
        s.event.hash = sha256Hex(s.event.original);
      }),
    );
    const result = auditFile(c.body, held);
    expect(kinds(result.findings)).toEqual(['record_tag']);
    expect(result.findings[0]!.documentId).toBe(original.id);
    expect(result.findings[0]!.lines).toEqual({ first: 6, last: 6 });
    expect(result.findings[0]!.detail).toContain('mac_mismatch');
  });

  it('event.hash alone changed: document_altered on its document', () => {
    const held = cluster(c);
    const original = docAt(held, 4);
    held.records = replaceLine(
      held.records,
      4,
      edited(original, (s) => {
        s.event.hash = sha256Hex('something else');
      }),
    );
    const result = auditFile(c.body, held);
    expect(kinds(result.findings)).toEqual(['document_altered']);
    expect(result.findings[0]!.documentId).toBe(original.id);
  });

  it('a dead letter listed in the digest and absent from the cluster: no finding', async () => {
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [5] });
    // The digest commits to the same documents: a refused document is still one the collector sent.
    expect(withLetter.body.documents).toEqual(c.body.documents);
    const result = auditFile(withLetter.body, cluster(withLetter, { without: [5] }));
    expect(result.findings).toEqual([]);
    expect(result.deadLetters).toBe(1);
    expect(result.documents).toBe(6);
    // The refused record is verified again from its line as the digest lists it.
    expect(result.verified).toBe(withLetter.body.file.verified);
  });

  it('a dead letter on the last line, absent: no finding', async () => {
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [8] });
    expect(auditFile(withLetter.body, cluster(withLetter, { without: [8] })).findings).toEqual([]);
  });

  it('a dead letter re-indexed later (present under its id): no finding, the document counts', async () => {
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [5] });
    const result = auditFile(withLetter.body, cluster(withLetter));
    expect(result.findings).toEqual([]);
    expect(result.documents).toBe(7);
  });

  it('a dead letter whose document is present under another id: document_extra on its line', async () => {
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [5] });
    const held = cluster(withLetter);
    held.records = held.records.map((d) => (lineOf(d) === 5 ? { ...d, id: 'impostor' } : d));
    const result = auditFile(withLetter.body, held);
    expect(result.findings.some((f) => f.kind === 'document_extra' && covers(f, 5))).toBe(true);
  });

  it('a dead letter on the KEY_INIT line, absent: no finding, and the records after it verify again', async () => {
    // The cluster never had the KEY_INIT document: the records of its segment must not become record_tag.
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [2] });
    const result = auditFile(withLetter.body, cluster(withLetter, { without: [2] }));
    expect(result.findings).toEqual([]);
    expect(result.verified).toBe(7);
  });

  it('a dead letter listed without its original line, absent: no finding', async () => {
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [5] });
    const body: FileDigestBody = {
      ...withLetter.body,
      dead_letters: {
        count: 1,
        listed: withLetter.body.dead_letters.listed.map((d) => ({ ...d, original: null })),
      },
    };
    const result = auditFile(body, cluster(withLetter, { without: [5] }));
    expect(result.findings).toEqual([]);
    expect(result.verified).toBe(6);
  });

  it('a refused document the digest counts but does not list: document_missing for its line', async () => {
    const withLetter = await collect(VECTOR, VECTOR_KEY, '62310ba5', { deadLetterLines: [5], unlisted: true });
    const result = auditFile(withLetter.body, cluster(withLetter, { without: [5] }));
    expect(kinds(result.findings)).toEqual(['document_missing']);
    expect(covers(result.findings[0]!, 5)).toBe(true);
  });

  it('a document claiming the file without a line number: document_extra', () => {
    const held = cluster(c);
    const stray = edited(docAt(held, 3), (s) => {
      s.encedo_hem.log.line = undefined;
    });
    const result = auditFile(c.body, held, [{ ...stray, id: 'no-line' }]);
    expect(kinds(result.findings)).toEqual(['document_extra']);
    expect(result.findings[0]!.detail).toContain('no-line');
  });

  it('the integrity record missing: document_missing with its id', () => {
    const held = cluster(c);
    const result = auditFile(c.body, { records: held.records, companions: [] });
    expect(kinds(result.findings)).toEqual(['document_missing']);
    expect(result.findings[0]!.documentId).toBe(c.companions[0]!._id);
  });

  it('the integrity record altered: document_altered with its id', () => {
    const held = cluster(c);
    const verdict = edited(held.companions[0]!, (s) => {
      s.event.outcome = s.event.outcome === 'success' ? 'failure' : 'success';
    });
    const result = auditFile(c.body, { records: held.records, companions: [verdict] });
    expect(kinds(result.findings)).toEqual(['document_altered']);
    expect(result.findings[0]!.documentId).toBe(c.companions[0]!._id);
  });
});

describe('FileAuditor on a generated file with a sequence gap (integrity record and an alert)', () => {
  let c: Collected;

  beforeAll(async () => {
    const { records } = validFile({ segments: 2, perSegment: 6 });
    // Drop the device's 4th record: the file has a seq gap, so an alert goes with the integrity record.
    const text = joinFile(records.filter((_, i) => i !== 3));
    c = await collect(Buffer.from(text, 'latin1'), LOGGER_PUBLIC, '62310ba6');
    expect(c.verdict.problemCounts.seq_gap).toBe(1);
    expect(c.companions).toHaveLength(2);
  });

  it('untouched: no finding (a gap the device log had is not the cluster’s)', () => {
    const result = auditFile(c.body, cluster(c));
    expect(result.findings).toEqual([]);
    expect(result.verified).toBe(c.body.file.verified);
  });

  it('the alert missing and the integrity record altered: one finding each, with the document id', () => {
    const held = cluster(c);
    const [verdictDoc, alertDoc] = held.companions;
    const altered = edited(verdictDoc!, (s) => {
      s.message = 'all good';
    });
    const result = auditFile(c.body, { records: held.records, companions: [altered] });
    expect(
      result.findings
        .map((f) => ({ kind: f.kind, documentId: f.documentId }))
        .sort((a, b) => (a.kind < b.kind ? -1 : 1)),
    ).toEqual([
      { kind: 'document_altered', documentId: verdictDoc!.id },
      { kind: 'document_missing', documentId: alertDoc!.id },
    ]);
  });
});

describe('FileAuditor on a generated file of several chunks (90 records, lines 2–91)', () => {
  let c: Collected;

  beforeAll(async () => {
    c = await collect(
      Buffer.from(validFile({ segments: 3, perSegment: 30 }).text, 'latin1'),
      LOGGER_PUBLIC,
      'aa000001',
    );
    expect(c.verdict.valid).toBe(true);
    expect(c.body.documents.span).toBe(16);
    expect(c.body.documents.chunks.map((ch) => ch[0])).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('untouched: no finding', () => {
    const result = auditFile(c.body, cluster(c));
    expect(result.findings).toEqual([]);
    expect(result.verified).toBe(90);
  });

  it('a whole chunk of documents removed: document_missing over its lines', () => {
    // Lines 16–31: chunk 1, inside the first segment (segments start on lines 2, 32 and 62).
    const lines = Array.from({ length: 16 }, (_, i) => 16 + i);
    const result = auditFile(c.body, cluster(c, { without: lines }));
    expect(kinds(result.findings)).toEqual(['document_missing']);
    expect(result.findings[0]!.lines).toEqual({ first: 16, last: 31 });
    expect(result.findings[0]!.detail).toContain('16 of 16');
  });

  it('findings in two chunks are both reported, each on its own lines', () => {
    const held = cluster(c, { without: [20] });
    held.records = held.records.map((d) =>
      lineOf(d) === 70
        ? edited(d, (s) => {
            s.message = 'changed';
          })
        : d,
    );
    const result = auditFile(c.body, held);
    expect(result.findings.map((f) => f.kind).sort()).toEqual(['document_altered', 'document_missing']);
    expect(result.findings.find((f) => f.kind === 'document_missing')!.lines).toEqual({ first: 20, last: 20 });
    const altered = result.findings.find((f) => f.kind === 'document_altered')!;
    expect(covers(altered, 70)).toBe(true);
    expect(covers(altered, 20)).toBe(false);
  });

  it('documents moved to other lines of their chunk: found (the line is committed)', () => {
    const held = cluster(c);
    // Swap the line numbers of lines 33 and 34: same documents, same chunk, same count.
    held.records = held.records.map((d) => {
      const line = lineOf(d);
      if (line !== 33 && line !== 34) return d;
      return edited(d, (s) => {
        s.encedo_hem.log.line = line === 33 ? 34 : 33;
      });
    });
    const result = auditFile(c.body, held);
    expect(result.findings.length).toBeGreaterThan(0);
    expect(result.findings.every((f) => covers(f, 33) || covers(f, 34))).toBe(true);
  });

  it('a dead letter on the second segment’s KEY_INIT line, absent: no finding', async () => {
    const text = validFile({ segments: 3, perSegment: 30 }).text;
    const withLetter = await collect(Buffer.from(text, 'latin1'), LOGGER_PUBLIC, 'aa000001', { deadLetterLines: [32] });
    expect(withLetter.body.documents).toEqual(c.body.documents);
    const result = auditFile(withLetter.body, cluster(withLetter, { without: [32] }));
    expect(result.findings).toEqual([]);
    expect(result.verified).toBe(90);
  });

  it('a KEY_INIT document removed: document_missing for its line', () => {
    // Line 32 is the third segment's KEY_INIT (lines 2, 32 and 62 start segments).
    expect(c.body.segments.listed.map((s) => s.line)).toEqual([2, 32, 62]);
    const result = auditFile(c.body, cluster(c, { without: [32] }));
    expect(result.findings.some((f) => f.kind === 'document_missing' && f.lines?.first === 32)).toBe(true);
  });
});

describe('FileAuditor on a file big enough for merged chunks (5000 records)', () => {
  let c: Collected;

  beforeAll(async () => {
    const writer = new LogWriter({ signingKey: LOGGER_SECRET });
    let text = LogWriter.header('Encedo nGINE FW v1.2.2');
    text += writer.keyInit(bytesFor('big segment'), 0x62310ba5);
    for (let i = 1; i < 5000; i++) text += writer.append({ time: 0x62310ba5 + i, event: 1, result: 0 });
    c = await collect(Buffer.from(text, 'latin1'), LOGGER_PUBLIC, 'bb000001');
    // Lines 2–5001: 313 leaves, merged once.
    expect(c.body.documents.span).toBe(32);
    expect(c.body.documents.chunks.length).toBeLessThanOrEqual(256);
  });

  it('untouched: no finding', () => {
    const result = auditFile(c.body, cluster(c));
    expect(result.findings).toEqual([]);
    expect(result.documents).toBe(5000);
    expect(result.verified).toBe(5000);
  });

  it('one document removed: document_missing naming its line', () => {
    const result = auditFile(c.body, cluster(c, { without: [4000] }));
    expect(kinds(result.findings)).toEqual(['document_missing']);
    expect(result.findings[0]!.lines).toEqual({ first: 4000, last: 4000 });
  });

  it('one document altered: document_altered on the merged chunk that holds it', () => {
    const held = cluster(c);
    held.records = held.records.map((d) =>
      lineOf(d) === 2500
        ? edited(d, (s) => {
            s.observer.serial_number = 'ffffffffffffffff';
          })
        : d,
    );
    const result = auditFile(c.body, held);
    expect(kinds(result.findings)).toEqual(['document_altered']);
    expect(result.findings[0]!.lines).toEqual({ first: 2496, last: 2527 });
  });
});
