/**
 * Reads back what the forwarder wrote: custody digests in chain order and each file's documents in line order,
 * page by page with `search_after` (memory: one page). Sorts are on fields of the documents, never on `_id`
 * (Elasticsearch 8+ refuses that by default). Plain search DSL over the RestClient seam, so either engine serves it.
 */
import { type RestClient, refusal } from '../sinks/search/rest.js';
import { AUDIT_DATASET } from '../ecs/audit-shape.js';
import { CUSTODY_DATASET } from '../ecs/custody.js';

const PAGE = 1000;
/** Documents claiming one line of one file that are read one by one; more are only counted (a flood). */
export const MAX_SAME_LINE = 1000;

const C = 'encedo_hem.custody';
const CHAIN_SORT = [`${C}.body.chain.device`, `${C}.body.chain.output`, `${C}.body.chain.position`, `${C}.hash`];
const LINE = 'encedo_hem.log.line';

interface SearchAnswer {
  readonly hits: {
    readonly total?: number | { value: number };
    readonly hits: readonly { _id?: string; _index: string; _source?: unknown; sort?: unknown[] }[];
  };
  readonly aggregations?: Record<string, unknown>;
}

/** A search the engine refused (HTTP status and reason): the audit cannot go on without its answer. */
export class ClusterReadError extends Error {
  override readonly name = 'ClusterReadError';
}

interface CompositeAggregate {
  readonly buckets: readonly { key: Record<string, unknown>; doc_count: number }[];
  readonly after_key?: Record<string, unknown>;
}

function auditIndexOf(namespace: string): string {
  return `logs-${AUDIT_DATASET}-${namespace}`;
}

function lineOf(d: StoredDocument): number {
  return Number((d.source.encedo_hem as { log?: { line?: unknown } } | undefined)?.log?.line);
}

export interface StoredDocument {
  readonly id: string;
  readonly index: string;
  readonly source: Record<string, unknown>;
}

export interface DigestFilter {
  readonly namespace?: string;
  /** Device name as configured (the digest's device.name). */
  readonly device?: string;
  readonly since?: string;
  readonly until?: string;
}

export class ClusterReader {
  constructor(
    readonly rest: RestClient,
    readonly namespace = '*',
  ) {}

  /** One search; missing indices match nothing (a namespace without data is not an error). */
  async #query(index: string, body: Record<string, unknown>): Promise<SearchAnswer> {
    const path = `/${index}/_search?ignore_unavailable=true&allow_no_indices=true`;
    const answer = await this.rest.request('POST', path, body);
    if (answer.status !== 200) throw new ClusterReadError(`searching ${index} failed: ${refusal(answer)}`);
    return answer.body as SearchAnswer;
  }

  get #custodyIndex(): string {
    return `logs-${CUSTODY_DATASET}-${this.namespace}`;
  }

  get #auditIndex(): string {
    return auditIndexOf(this.namespace);
  }

  #digestQuery(filter: DigestFilter, complete: boolean): Record<string, unknown> {
    const must: unknown[] = [];
    if (filter.device) must.push({ term: { [`${C}.body.device.name`]: filter.device } });
    if (filter.since || filter.until) {
      must.push({
        range: {
          '@timestamp': {
            ...(filter.since ? { gte: filter.since } : {}),
            ...(filter.until ? { lte: filter.until } : {}),
          },
        },
      });
    }
    const exists = CHAIN_SORT.map((field) => ({ exists: { field } }));
    return complete
      ? { bool: { filter: [...must, ...exists] } }
      : { bool: { filter: must, should: exists.map((e) => ({ bool: { must_not: e } })), minimum_should_match: 1 } };
  }

  /**
   * Makes what was just written searchable (best effort: a read-only auditor may lack the privilege, and a
   * cluster refreshes by itself within a second), so an audit run right after `run` does not report the newest
   * digests as missing.
   */
  async refresh(): Promise<void> {
    const index = [this.#custodyIndex, this.#auditIndex, `logs-encedo_hem.integrity-${this.namespace}`];
    await this.rest
      .request('POST', `/${index.join(',')}/_refresh?ignore_unavailable=true&allow_no_indices=true`)
      .catch(() => undefined);
  }

  /** Every digest, ordered by chain (device serial, output) and position. */
  async *digests(filter: DigestFilter): AsyncGenerator<StoredDocument> {
    yield* this.#pages(
      this.#custodyIndex,
      this.#digestQuery(filter, true),
      CHAIN_SORT.map((f) => ({ [f]: 'asc' })),
    );
  }

  /** Documents in the custody stream without the fields a digest must have: forged or damaged. */
  async incompleteDigests(filter: DigestFilter): Promise<StoredDocument[]> {
    return this.#search(this.#custodyIndex, this.#digestQuery(filter, false), undefined, 100);
  }

  /**
   * The audit documents of one file, in line order. Documents that share a line come together (they are read
   * by a query of their own when a page ends among them, so none is skipped); beyond MAX_SAME_LINE of them
   * `overflow` says how many more there are.
   */
  async *fileDocuments(
    serial: string,
    fileId: string,
    namespace: string,
  ): AsyncGenerator<{ line: number; documents: StoredDocument[]; overflow: number }> {
    const index = auditIndexOf(namespace);
    const claims = [{ term: { 'observer.serial_number': serial } }, { term: { 'encedo_hem.log.file_id': fileId } }];
    const query = { bool: { filter: [...claims, { exists: { field: LINE } }] } };
    const page = (after: number | null) => {
      const p = this.#search(index, query, [{ [LINE]: 'asc' }], PAGE, after);
      p.catch(() => undefined); // observed when awaited; a consumer that stops early leaves no unhandled rejection
      return p;
    };
    let next = page(null);
    for (;;) {
      const hits = await next;
      if (hits.length === 0) return;
      const full = hits.length === PAGE;
      const last = lineOf(hits.at(-1)!);
      // The next page is on its way while this one is checked: engine time and CPU time overlap.
      if (full) next = page(last);
      // A full page may end in the middle of a line's documents: that line is read whole, by a query of its own.
      const sameLine = full
        ? this.#counted(index, { bool: { filter: [...claims, { term: { [LINE]: last } }] } }, MAX_SAME_LINE)
        : null;
      sameLine?.catch(() => undefined);
      const complete = full ? hits.filter((d) => lineOf(d) !== last) : hits;
      for (let i = 0; i < complete.length; ) {
        const line = lineOf(complete[i]!);
        let j = i;
        while (j < complete.length && lineOf(complete[j]!) === line) j++;
        yield { line, documents: complete.slice(i, j), overflow: 0 };
        i = j;
      }
      if (sameLine === null) return;
      const { documents, total } = await sameLine;
      yield { line: last, documents, overflow: Math.max(0, total - documents.length) };
    }
  }

  /**
   * Every (device serial, file id) that audit documents claim, with how many, by a composite aggregation paged
   * with `after_key`: finds documents of files no digest names.
   */
  async *fileClaims(): AsyncGenerator<{ serial: string; fileId: string; count: number }> {
    let after: Record<string, unknown> | undefined;
    for (;;) {
      const r = await this.#query(this.#auditIndex, {
        size: 0,
        aggs: {
          claims: {
            composite: {
              size: PAGE,
              sources: [
                { serial: { terms: { field: 'observer.serial_number', missing_bucket: true } } },
                { file: { terms: { field: 'encedo_hem.log.file_id', missing_bucket: true } } },
              ],
              ...(after ? { after } : {}),
            },
          },
        },
      });
      const agg = (r.aggregations as { claims?: CompositeAggregate } | undefined)?.claims;
      const buckets = agg?.buckets ?? [];
      for (const b of buckets) {
        yield { serial: String(b.key.serial ?? ''), fileId: String(b.key.file ?? ''), count: b.doc_count };
      }
      if (buckets.length < PAGE || !agg?.after_key) return;
      after = agg.after_key;
    }
  }

  /** Documents claiming the file without a line number: none of the forwarder's lacks one. */
  async unlinedDocuments(
    serial: string,
    fileId: string,
    namespace: string,
  ): Promise<{ documents: StoredDocument[]; total: number }> {
    const index = auditIndexOf(namespace);
    const query = {
      bool: {
        filter: [{ term: { 'observer.serial_number': serial } }, { term: { 'encedo_hem.log.file_id': fileId } }],
        must_not: [{ exists: { field: LINE } }],
      },
    };
    return this.#counted(index, query, 20);
  }

  /** Documents by id in one data stream (a file's integrity record and alerts). */
  async byIds(index: string, ids: readonly string[]): Promise<StoredDocument[]> {
    if (ids.length === 0) return [];
    return this.#search(index, { ids: { values: [...ids] } }, undefined, ids.length * 2);
  }

  async #counted(
    index: string,
    query: Record<string, unknown>,
    size: number,
  ): Promise<{ documents: StoredDocument[]; total: number }> {
    const r = await this.#query(index, { query, size, track_total_hits: true });
    const total = typeof r.hits.total === 'number' ? r.hits.total : (r.hits.total?.value ?? 0);
    return { documents: r.hits.hits.map(toStored), total };
  }

  async *#pages(
    index: string,
    query: Record<string, unknown>,
    sort: Record<string, string>[],
  ): AsyncGenerator<StoredDocument> {
    let after: unknown[] | undefined;
    for (;;) {
      const r = await this.#query(index, {
        query,
        sort,
        size: PAGE,
        track_total_hits: false,
        ...(after ? { search_after: after } : {}),
      });
      const hits = r.hits.hits;
      for (const hit of hits) yield toStored(hit);
      if (hits.length < PAGE) return;
      after = hits.at(-1)!.sort as unknown[];
    }
  }

  async #search(
    index: string,
    query: Record<string, unknown>,
    sort: Record<string, string>[] | undefined,
    size: number,
    searchAfter: number | null = null,
  ): Promise<StoredDocument[]> {
    const r = await this.#query(index, {
      query,
      size,
      ...(searchAfter !== null ? { search_after: [searchAfter] } : {}),
      track_total_hits: false,
      ...(sort ? { sort } : {}),
    });
    return r.hits.hits.map(toStored);
  }
}

function toStored(hit: SearchAnswer['hits']['hits'][number]): StoredDocument {
  return { id: hit._id ?? '', index: hit._index, source: (hit._source ?? {}) as Record<string, unknown> };
}
