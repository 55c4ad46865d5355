// The OpenSearch Dashboards saved objects against an unmodified OpenSearch holding what `run --once` wrote: every
// dashboard panel's visualization is turned into the search OSD's data plugin sends for it (time range, the
// panel's and the dashboard's filters, the panel's KQL, the aggs of its visState) and run on the engine.
// Not covered: OSD itself (its rendering, its own KQL parser: test/helpers/kql.ts stands in for it) and the second
// request OSD sends for a terms agg's "Other" bucket.
import { Client } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OSD_SAVED_OBJECTS_FILE } from '../../src/opensearch-dashboards/install.js';
import { runCliAsync } from '../helpers/cli.js';
import { openSearchSimConfig, opensearchUrl, uniqueNamespace } from '../helpers/cluster.js';
import { readNdjson } from '../helpers/documents.js';
import { FIELD_TYPES } from '../helpers/field-types.js';
import { kqlToQueryString } from '../helpers/kql.js';

const url = opensearchUrl();
const client = new Client({ node: url });
const namespace = uniqueNamespace('osd');
const objects = readNdjson(OSD_SAVED_OBJECTS_FILE);
const byRef = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));

/**
 * Panels the simulated run gives no data: no logger key changed, no file changed or vanished. They must run without
 * an error all the same; every other panel must show data.
 */
const EMPTY_HERE = ['encedo_hem-integrity-key-changes', 'encedo_hem-integrity-changed-files'];

let range: { from: string; to: string; interval: string };

afterAll(async () => {
  await client.close();
});

beforeAll(async () => {
  const { path: config } = openSearchSimConfig(namespace, {
    device: 'osd-sim',
    level: 'error',
    // An edited file gives integrity alerts and an invalid file, for the alert and problem panels.
    simulator: '{ seed: 11, boots: 3, events_per_boot: 60, tamper: [{ file: 1, kind: edit }] }',
  });
  const r = await runCliAsync(['run', '--once', '--config', config]);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  // The tampered file does not verify; its events are indexed all the same, flagged, with an alert.
  expect(r.stdout).toMatch(/1 INVALID/);
  await client.indices.refresh({ index: `logs-encedo_hem.*-${namespace}` } as never);
  // The time picker of a user looking at this data: from its first event to its last.
  const bounds = await client.search({
    index: `logs-encedo_hem.*-${namespace}`,
    body: { size: 0, aggs: { min: { min: { field: '@timestamp' } }, max: { max: { field: '@timestamp' } } } },
  } as never);
  const aggs = (bounds.body as any).aggregations;
  const [from, to] = [aggs.min.value as number, (aggs.max.value as number) + 1000];
  range = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval: autoInterval(to - from) };
}, 120_000);

/** OSD's "auto" interval: about 50 buckets over the range, rounded up to a round interval. */
function autoInterval(ms: number): string {
  const steps: [string, number][] = [
    ['1s', 1e3],
    ['5s', 5e3],
    ['10s', 1e4],
    ['30s', 3e4],
    ['1m', 6e4],
    ['5m', 3e5],
    ['10m', 6e5],
    ['30m', 18e5],
    ['1h', 36e5],
    ['3h', 108e5],
    ['12h', 432e5],
    ['1d', 864e5],
    ['7d', 6048e5],
    ['30d', 2592e6],
  ];
  return (steps.find(([, step]) => step >= ms / 50) ?? ['365d'])[0];
}

type Agg = { id: string; type: string; schema: string; params: Record<string, any> };
const isBucket = (a: Agg) => a.type === 'terms' || a.type === 'date_histogram';

/** One agg as OSD's data plugin writes it (buckets get `aggs` for what nests in them; count has no DSL). */
function aggDsl(a: Agg, all: Agg[], types: ReadonlyMap<string, string>): Record<string, any> | null {
  const p = a.params;
  switch (a.type) {
    case 'count':
      return null;
    case 'terms': {
      const orderBy = all.find((m) => m.id === p.orderBy)!;
      expect(orderBy.type, 'terms ranked by the count').toBe('count');
      return { terms: { field: p.field, size: p.size, order: { _count: p.order } } };
    }
    case 'date_histogram':
      return {
        date_histogram: { field: p.field, fixed_interval: range.interval, time_zone: 'UTC', min_doc_count: 1 },
      };
    case 'max':
    case 'min':
    case 'sum':
    case 'avg':
      return { [a.type]: { field: p.field } };
    case 'top_hits':
      return {
        top_hits: {
          docvalue_fields: [{ field: p.field, ...(types.get(p.field) === 'date' ? { format: 'date_time' } : {}) }],
          _source: p.field,
          size: p.size,
          sort: [{ [p.sortField]: { order: p.sortOrder } }],
        },
      };
    default:
      throw new Error(`no DSL for ${a.type}`);
  }
}

/** The aggs in request order (buckets, then metrics), each nested in the bucket agg before it. */
function toDsl(aggs: Agg[], types: ReadonlyMap<string, string>): Record<string, any> {
  const top: Record<string, any> = {};
  let level = top;
  for (const a of [...aggs.filter(isBucket), ...aggs.filter((x) => !isBucket(x))]) {
    const dsl = aggDsl(a, aggs, types);
    if (!dsl) continue;
    level[a.id] = dsl;
    if (isBucket(a)) level = dsl.aggs = {};
  }
  return top;
}

type Filter = { meta: { negate: boolean; disabled: boolean }; query: Record<string, unknown> };

/** The query OSD sends: time range, enabled filters (negated ones as must_not), the KQL; scoped to this test. */
function query(kql: string, filters: Filter[]): Record<string, unknown> {
  const on = filters.filter((f) => !f.meta.disabled);
  return {
    bool: {
      filter: [
        { range: { '@timestamp': { gte: range.from, lte: range.to, format: 'strict_date_optional_time' } } },
        ...on.filter((f) => !f.meta.negate).map((f) => f.query),
        ...(kql ? [{ query_string: { query: kqlToQueryString(kql), analyze_wildcard: true } }] : []),
        // Other tests write into the same engine: a user's filter pill on the namespace.
        { term: { 'data_stream.namespace': namespace } },
      ],
      must_not: on.filter((f) => f.meta.negate).map((f) => f.query),
    },
  };
}

function refOf(o: Record<string, any>, name: string): Record<string, any> {
  const ref = o.references.find((r: any) => r.name === name);
  expect(ref, `${o.id}: reference ${name}`).toBeDefined();
  const target = byRef.get(`${ref.type}:${ref.id}`);
  expect(target, `${o.id}: ${ref.type}:${ref.id}`).toBeDefined();
  return target!;
}

const sourceOf = (o: Record<string, any>) => JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON);
const get = (doc: Record<string, any>, path: string): unknown =>
  path.split('.').reduce<any>((v, k) => (v == null ? undefined : v[k]), doc);

/** Rows of the innermost bucket level (or the top level for a panel without buckets). */
function leaves(level: Record<string, any>, aggs: Agg[]): Record<string, any>[] {
  const buckets = aggs.filter(isBucket);
  let rows = [level];
  for (const b of buckets) rows = rows.flatMap((r) => r[b.id].buckets as Record<string, any>[]);
  return rows;
}

describe('OpenSearch Dashboards visualizations on the engine (the searches OSD would send)', () => {
  it('every panel of every dashboard runs without an error; the panels with data show it', async () => {
    const seen: string[] = [];
    for (const dashboard of objects.filter((o) => o.type === 'dashboard')) {
      const dashboardFilters: Filter[] = sourceOf(dashboard).filter;
      for (const panel of JSON.parse(dashboard.attributes.panelsJSON) as { panelRefName: string }[]) {
        const vis = refOf(dashboard, panel.panelRefName);
        const source = sourceOf(vis);
        const pattern = refOf(vis, source.indexRefName);
        for (const f of source.filter) expect(refOf(vis, f.meta.indexRefName).type).toBe('index-pattern');
        const state = JSON.parse(vis.attributes.visState) as { aggs: Agg[] };
        const dataset = source.filter[0].query.match_phrase['data_stream.dataset'] as string;
        const types = FIELD_TYPES.get(dataset)!;
        const r = await client.search({
          index: pattern.attributes.title,
          body: {
            size: 0,
            track_total_hits: true,
            query: query(source.query.query, [...dashboardFilters, ...source.filter]),
            aggs: toDsl(state.aggs, types),
          },
        } as never);
        const body = r.body as any;
        expect(body._shards.failed, `${vis.id}: ${JSON.stringify(body._shards.failures)}`).toBe(0);
        expect(body.timed_out).toBe(false);
        seen.push(vis.id);
        if (EMPTY_HERE.includes(vis.id)) continue;
        expect(body.hits.total.value, `${vis.id}: documents`).toBeGreaterThan(0);
        const rows = leaves(body.aggregations ?? {}, state.aggs);
        expect(rows.length, `${vis.id}: rows`).toBeGreaterThan(0);
        for (const m of state.aggs.filter((a) => !isBucket(a) && a.type !== 'count'))
          for (const row of rows) {
            if (m.type === 'top_hits') {
              // What OSD reads from the hit: the field in _source. The inventory's fields are in every report.
              const hit = row[m.id].hits.hits[0];
              expect(hit, `${vis.id}: ${m.params.field}`).toBeDefined();
              if (vis.id === 'encedo_hem-overview-inventory' && m.params.field !== 'encedo_hem.status.current_file_id')
                expect(get(hit._source, m.params.field), `${vis.id}: ${m.params.field}`).not.toBeUndefined();
            } else expect(row[m.id].value, `${vis.id}: ${m.type} of ${m.params.field}`).not.toBeNull();
          }
      }
    }
    expect(seen).toEqual(objects.filter((o) => o.type === 'visualization').map((o) => o.id));
  });

  it('the device inventory shows the simulated device, ok, with its serial and logger key', async () => {
    const vis = byRef.get('visualization:encedo_hem-overview-inventory')!;
    const source = sourceOf(vis);
    const state = JSON.parse(vis.attributes.visState) as { aggs: Agg[] };
    const r = await client.search({
      index: 'logs-encedo_hem.*',
      body: {
        size: 0,
        query: query(source.query.query, source.filter),
        aggs: toDsl(state.aggs, FIELD_TYPES.get('encedo_hem.integrity')!),
      },
    } as never);
    const [row] = (r.body as any).aggregations['1'].buckets;
    expect(row.key).toBe('osd-sim');
    const value = (label: string) => {
      const m = state.aggs.find((a) => a.params.customLabel === label)!;
      return get(row[m.id].hits.hits[0]._source, m.params.field);
    };
    expect(value('State')).toBe('ok');
    expect(value('Halted')).toBe(false);
    expect(value('Serial')).toEqual(expect.any(String));
    expect(value('Logger key')).toMatch(/^[0-9a-f]{16,}$/);
  });

  it('the saved searches find their documents, newest first', async () => {
    for (const search of objects.filter((o) => o.type === 'search')) {
      const source = sourceOf(search);
      const pattern = refOf(search, source.indexRefName);
      const [[field, order]] = search.attributes.sort as [string, string][];
      const r = await client.search({
        index: pattern.attributes.title,
        body: {
          size: 50,
          sort: [{ [field!]: { order } }],
          _source: search.attributes.columns,
          query: query(source.query.query, source.filter),
        },
      } as never);
      const hits = (r.body as any).hits.hits as { _source: Record<string, any>; sort: number[] }[];
      expect(hits.length, search.id).toBeGreaterThan(0);
      const times = hits.map((h) => h.sort[0]!);
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      // Each column has a value in some row.
      for (const c of search.attributes.columns as string[])
        expect(
          hits.some((h) => get(h._source, c) !== undefined),
          `${search.id}: ${c}`,
        ).toBe(true);
    }
  });
});
