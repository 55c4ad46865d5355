import { hash } from 'node:crypto';
import type { IndexDocument } from '../ecs/map.js';
import { canonicalJson } from './canonical.js';
import { DocumentDigester } from './document-digest.js';

/** A document of the file other than its records (the integrity record, an alert), committed to by id. */
export interface Companion {
  readonly id: string;
  readonly index: string;
  readonly hash: string;
}

/**
 * What a file's digest will commit to, gathered while its documents are written: every record's document
 * (by line) and the file's other documents.
 */
export class CustodyTrail {
  readonly documents = new DocumentDigester();
  readonly companions: Companion[] = [];

  record(line: number, doc: IndexDocument): void {
    this.documents.add(line, doc._id, sentDocumentHash(doc));
  }

  companion(doc: IndexDocument): void {
    this.companions.push({ id: doc._id, index: doc._index, hash: sentDocumentHash(doc) });
  }
}

/**
 * The custody hash of a document as sent. A document that carries its JSON (the audit mapper's) carries it in
 * canonical form already (audit-json.ts), so the hash costs no second serialization on the hot path.
 */
export function sentDocumentHash(doc: IndexDocument): string {
  return hash('sha256', doc.json ?? canonicalJson(doc._source), 'hex');
}
