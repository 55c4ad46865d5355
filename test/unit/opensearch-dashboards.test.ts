import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, SEARCHES } from '../../src/kibana/dashboards.js';
import { panelGrid } from '../../src/kibana/lens.js';
import {
  OSD_SAVED_OBJECTS_FILE,
  OpenSearchDashboardsError,
  installOpenSearchDashboardsAssets,
  openSearchDashboardsAssets,
} from '../../src/opensearch-dashboards/install.js';
import {
  MINIMUM_OSD,
  OSD_DIFFERENCES,
  OSD_MIGRATION,
  openSearchDashboardsObjects,
} from '../../src/opensearch-dashboards/objects.js';
import { exitCodeFor } from '../../src/shared/errors.js';
import { selfSignedCertificate } from '../../src/simulator/server.js';
import { runCliAsync } from '../helpers/cli.js';
import { readNdjson } from '../helpers/documents.js';
import { FIELD_TYPES } from '../helpers/field-types.js';
import { kqlFields, kqlToQueryString } from '../helpers/kql.js';

const objects = readNdjson(OSD_SAVED_OBJECTS_FILE);
const byId = new Map(objects.map((o) => [`${o.type}:${o.id}`, o]));
const visualizations = objects.filter((o) => o.type === 'visualization');
const panels = DASHBOARDS.flatMap((d) => d.panels);

const NUMBER = ['long', 'integer', 'short', 'byte', 'float', 'double', 'scaled_float', 'half_float'];
const KEYWORD = ['keyword', 'constant_keyword', 'wildcard'];
/** Field types an agg of each type runs on (OSD's data plugin offers no other). */
const AGG_FIELD_TYPES: Record<string, string[]> = {
  terms: [...KEYWORD, 'boolean', ...NUMBER],
  date_histogram: ['date'],
  max: [...NUMBER, 'date'],
  min: [...NUMBER, 'date'],
  sum: NUMBER,
  avg: NUMBER,
  // Any field with a value in _source; it reads doc values too, so it must not be text.
  top_hits: [...KEYWORD, 'boolean', ...NUMBER, 'date'],
};
/** Schemas each visualization type has, and the agg types each accepts (vis_type_* plugins of OSD 2.x). */
const SCHEMAS: Record<string, Record<string, { aggs: string[]; min?: number; max?: number }>> = {
  histogram: {
    metric: { aggs: ['count', 'max', 'min', 'sum', 'avg', 'top_hits'], min: 1 },
    segment: { aggs: ['date_histogram', 'terms'], max: 1 },
    group: { aggs: ['terms', 'date_histogram'], max: 3 },
  },
  table: {
    metric: { aggs: ['count', 'max', 'min', 'sum', 'avg', 'top_hits'], min: 1 },
    bucket: { aggs: ['terms', 'date_histogram'] },
    split: { aggs: ['terms'], max: 1 },
  },
  metric: {
    metric: { aggs: ['count', 'max', 'min', 'sum', 'avg', 'top_hits'], min: 1 },
    group: { aggs: ['terms'] },
  },
  pie: {
    metric: { aggs: ['sum', 'count', 'cardinality', 'top_hits'], min: 1, max: 1 },
    segment: { aggs: ['terms'] },
  },
};
const PARAMS: Record<string, string[]> = {
  count: ['customLabel'],
  max: ['field', 'customLabel'],
  min: ['field', 'customLabel'],
  sum: ['field', 'customLabel'],
  avg: ['field', 'customLabel'],
  top_hits: ['field', 'aggregate', 'size', 'sortField', 'sortOrder', 'customLabel'],
  terms: [
    'field',
    'orderBy',
    'order',
    'size',
    'otherBucket',
    'otherBucketLabel',
    'missingBucket',
    'missingBucketLabel',
    'customLabel',
  ],
  date_histogram: [
    'field',
    'timeRange',
    'useNormalizedOpenSearchInterval',
    'scaleMetricValues',
    'interval',
    'drop_partials',
    'min_doc_count',
    'extended_bounds',
  ],
};

const json = (text: string) => JSON.parse(text) as Record<string, any>;
const visState = (v: Record<string, any>) => json(v.attributes.visState);
const searchSource = (o: Record<string, any>) => json(o.attributes.kibanaSavedObjectMeta.searchSourceJSON);
const datasetOf = (o: Record<string, any>): string =>
  searchSource(o).filter[0].query.match_phrase['data_stream.dataset'];
const cmpVersion = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number)) as [number[], number[]];
  return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
};
/** A table's columns: its bucket aggs, then its metric aggs (how OSD's tabify orders them). */
const tableColumns = (aggs: Record<string, any>[]) => [
  ...aggs.filter((a) => a.schema !== 'metric'),
  ...aggs.filter((a) => a.schema === 'metric'),
];

describe('OpenSearch Dashboards saved objects: the shape of OSD exports', () => {
  it('is exactly what openSearchDashboardsObjects() generates (npm run gen:mappings writes it)', () => {
    expect(objects).toEqual(JSON.parse(JSON.stringify(openSearchDashboardsObjects())));
  });

  it('every line has what the import API requires, with the migration version OSD 2.x has for its type', () => {
    expect(objects.map((o) => o.type)).toEqual([
      'index-pattern',
      ...panels.map(() => 'visualization'),
      ...SEARCHES.map(() => 'search'),
      ...DASHBOARDS.map(() => 'dashboard'),
    ]);
    for (const o of objects) {
      expect(Object.keys(o).sort()).toEqual(['attributes', 'id', 'migrationVersion', 'references', 'type']);
      expect(o.id).toMatch(/^encedo_hem-[a-z0-9-]+$/);
      expect(typeof o.attributes.title).toBe('string');
      // Kibana 8's coreMigrationVersion/typeMigrationVersion mean nothing to OSD.
      expect(o.migrationVersion).toEqual({ [o.type]: OSD_MIGRATION[o.type as keyof typeof OSD_MIGRATION] });
      for (const r of o.references) expect(Object.keys(r).sort()).toEqual(['id', 'name', 'type']);
      const names = o.references.map((r: any) => r.name);
      expect(new Set(names).size, `${o.id} reference names`).toBe(names.length);
    }
    expect(byId.size).toBe(objects.length);
  });

  it('migration versions are the newest of the Kibana 7.10.2 fork (OSD registers no later ones); minimum 2.5.0', () => {
    // visualization_migrations.ts ends at 7.10.0, dashboard_migrations.ts and search_migrations.ts at 7.9.3,
    // index_pattern_migrations.ts at 7.6.0: a newer version would make OSD refuse the object.
    expect(OSD_MIGRATION).toEqual({
      'index-pattern': '7.6.0',
      visualization: '7.10.0',
      search: '7.9.3',
      dashboard: '7.9.3',
    });
    for (const v of Object.values(OSD_MIGRATION)) expect(cmpVersion(v, '7.10.2')).toBeLessThanOrEqual(0);
    expect(MINIMUM_OSD).toBe('2.5.0');
  });

  it('every indexRefName and panelRefName resolves to a reference to an object in the file', () => {
    let resolved = 0;
    for (const o of objects) {
      const refs = new Map(o.references.map((r: any) => [r.name, r]));
      const names: string[] = [];
      if (o.attributes.kibanaSavedObjectMeta) {
        const source = searchSource(o);
        if (source.indexRefName) names.push(source.indexRefName);
        for (const f of source.filter ?? []) names.push(f.meta.indexRefName);
      }
      if (o.type === 'dashboard') for (const p of json(o.attributes.panelsJSON) as any) names.push(p.panelRefName);
      for (const name of names) {
        const ref = refs.get(name) as any;
        expect(ref, `${o.id}: ${name}`).toBeDefined();
        expect(byId.has(`${ref.type}:${ref.id}`), `${o.id} -> ${ref.type}:${ref.id}`).toBe(true);
        resolved++;
      }
      // Nothing referenced that is not used.
      expect(new Set(names)).toEqual(new Set(refs.keys()));
    }
    expect(resolved).toBeGreaterThan(objects.length);
  });

  it('the index pattern: logs-encedo_hem.* on @timestamp', () => {
    expect(objects[0]!.attributes).toEqual({ title: 'logs-encedo_hem.*', timeFieldName: '@timestamp' });
  });

  it('one visualization per Lens panel: same id, title and description, KQL and dataset filter', () => {
    expect(visualizations.map((v) => v.id)).toEqual(panels.map((p) => p.id));
    for (const [i, v] of visualizations.entries()) {
      const spec = panels[i]!;
      expect(v.attributes).toMatchObject({ title: spec.title, description: spec.about, version: 1 });
      const source = searchSource(v);
      expect(source.query).toEqual({ query: spec.query ?? '', language: 'kuery' });
      expect(source.filter).toEqual([
        expect.objectContaining({
          meta: expect.objectContaining({ type: 'phrase', key: 'data_stream.dataset', negate: false }),
          query: { match_phrase: { 'data_stream.dataset': spec.dataset } },
        }),
      ]);
      if (spec.query) expect(() => kqlToQueryString(spec.query!)).not.toThrow();
      for (const f of kqlFields(spec.query ?? ''))
        expect(FIELD_TYPES.get(spec.dataset)!.has(f), `${spec.id}: KQL field ${f}`).toBe(true);
      expect(() => json(v.attributes.uiStateJSON)).not.toThrow();
    }
    for (const id of Object.keys(OSD_DIFFERENCES)) expect(panels.map((p) => p.id)).toContain(id);
  });

  it('every visState parses, with agg ids, schemas and params that its visualization type accepts', () => {
    const chart = { bar: 'histogram', table: 'table', metric: 'metric', donut: 'pie' } as const;
    for (const [i, v] of visualizations.entries()) {
      const spec = panels[i]!;
      const vis = visState(v);
      expect(Object.keys(vis)).toEqual(['title', 'type', 'aggs', 'params']);
      expect(vis.title).toBe(v.attributes.title);
      expect(vis.type).toBe(chart[spec.chart]);
      expect(vis.params.type ?? vis.type).toBe(vis.type);
      const aggs = vis.aggs as Record<string, any>[];
      expect(aggs).toHaveLength(spec.columns.length);
      const ids = aggs.map((a) => a.id);
      expect(new Set(ids).size).toBe(ids.length);
      const schemas = SCHEMAS[vis.type]!;
      for (const a of aggs) {
        expect(Object.keys(a)).toEqual(['id', 'enabled', 'type', 'schema', 'params']);
        expect(a.id).toMatch(/^[1-9]\d*$/);
        expect(a.enabled).toBe(true);
        expect(schemas[a.schema]?.aggs, `${v.id}: ${a.type} as ${a.schema}`).toContain(a.type);
        for (const p of Object.keys(a.params)) expect(PARAMS[a.type], `${v.id}: ${a.type}.${p}`).toContain(p);
        if (a.type === 'terms') {
          // Ranked by the count, as the Lens column is.
          expect(aggs.find((m) => m.id === a.params.orderBy)?.type, `${v.id}: ${a.params.field}`).toBe('count');
          expect(a.params.order).toBe('desc');
          expect(a.params.size).toBeGreaterThan(0);
          expect(a.params.otherBucket).toBe(vis.type !== 'table');
        }
        if (a.type === 'top_hits')
          expect(a.params).toMatchObject({ size: 1, sortField: '@timestamp', sortOrder: 'desc', aggregate: 'concat' });
      }
      for (const [name, s] of Object.entries(schemas)) {
        const n = aggs.filter((a) => a.schema === name).length;
        if (s.min !== undefined) expect(n, `${v.id}: ${name}`).toBeGreaterThanOrEqual(s.min);
        if (s.max !== undefined) expect(n, `${v.id}: ${name}`).toBeLessThanOrEqual(s.max);
      }
      if (vis.type === 'histogram') {
        expect(vis.params.seriesParams.map((s: any) => s.data.id).sort()).toEqual(
          aggs.filter((a) => a.schema === 'metric').map((a) => a.id),
        );
        expect(vis.params.seriesParams.every((s: any) => s.mode === 'stacked' && s.type === 'histogram')).toBe(true);
        // Split series before the x-axis: the terms agg is the outer one, ranked over the whole time range.
        const order = aggs.map((a) => a.schema).filter((s) => s !== 'metric');
        if (order.length === 2) expect(order).toEqual(['group', 'segment']);
        expect(aggs.find((a) => a.schema === 'segment')?.type).toBe('date_histogram');
      }
      if (vis.type === 'pie') expect(vis.params.isDonut).toBe(true);
      if (vis.type === 'table') {
        expect(vis.params).toMatchObject({ perPage: expect.any(Number), showPartialRows: false });
        const ui = json(v.attributes.uiStateJSON);
        const columns = tableColumns(aggs);
        if (spec.sortBy === undefined) expect(ui).toEqual({});
        else {
          expect(ui).toEqual({ vis: { sortColumn: { colIndex: expect.any(Number), direction: 'desc' } } });
          expect(columns[ui.vis.sortColumn.colIndex]?.params.customLabel, v.id).toBe(spec.sortBy);
        }
      }
    }
  });

  it('every field an agg uses exists in its dataset with a type that agg can aggregate', () => {
    let checked = 0;
    for (const v of visualizations) {
      const dataset = datasetOf(v);
      const types = FIELD_TYPES.get(dataset);
      expect(types, `${v.id}: dataset ${dataset}`).toBeDefined();
      for (const a of visState(v).aggs as Record<string, any>[]) {
        if (a.type === 'count') continue;
        const mapped = types!.get(a.params.field);
        expect(mapped, `${v.id}: ${a.params.field} is not a field of ${dataset}`).toBeDefined();
        expect(AGG_FIELD_TYPES[a.type], `${v.id}: ${a.type} on ${a.params.field} (${mapped})`).toContain(mapped);
        if (a.type === 'top_hits') expect(types!.get(a.params.sortField)).toBe('date');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('the device inventory: one row per device, the newest value of each status field, ranked by reports', () => {
    const inventory = visState(byId.get('visualization:encedo_hem-overview-inventory')!);
    const [device, ...metrics] = inventory.aggs as Record<string, any>[];
    expect(device).toMatchObject({ type: 'terms', schema: 'bucket', params: { field: 'observer.name', size: 100 } });
    const last = metrics.filter((m) => m.type === 'top_hits').map((m) => m.params.field);
    expect(last).toEqual(expect.arrayContaining(['encedo_hem.status.state', 'encedo_hem.status.unreleased_seconds']));
    expect(last).toHaveLength(12);
  });

  it('saved searches: columns of their dataset, newest first, dataset filter and index pattern by reference', () => {
    const searches = objects.filter((o) => o.type === 'search');
    expect(searches.map((s) => s.id)).toEqual(SEARCHES.map((s) => s.id));
    for (const [i, s] of searches.entries()) {
      const spec = SEARCHES[i]!;
      expect(s.attributes).toMatchObject({
        title: spec.title,
        description: spec.description,
        columns: spec.columns,
        sort: [['@timestamp', 'desc']],
        version: 1,
      });
      const source = searchSource(s);
      expect(source.query).toEqual({ query: spec.query ?? '', language: 'kuery' });
      expect(datasetOf(s)).toBe(spec.dataset);
      for (const c of spec.columns) expect(FIELD_TYPES.get(spec.dataset)!.has(c), `${s.id}: ${c}`).toBe(true);
    }
  });

  it('each dashboard holds exactly its spec panels, laid out as in Kibana, with the self-generated filter', () => {
    const dashboards = objects.filter((o) => o.type === 'dashboard');
    expect(dashboards.map((d) => d.id)).toEqual(DASHBOARDS.map((d) => d.id));
    for (const [n, d] of dashboards.entries()) {
      const spec = DASHBOARDS[n]!;
      expect(d.attributes).toMatchObject({ title: spec.title, description: spec.description, timeRestore: false });
      expect(json(d.attributes.optionsJSON)).toEqual({ useMargins: true, hidePanelTitles: false });
      const refs = new Map(d.references.map((r: any) => [r.name, r]));
      const list = json(d.attributes.panelsJSON) as unknown as Record<string, any>[];
      const grids = panelGrid(spec.panels);
      expect(list).toHaveLength(spec.panels.length);
      for (const [i, p] of list.entries()) {
        expect(Object.keys(p)).toEqual(['version', 'gridData', 'panelIndex', 'embeddableConfig', 'panelRefName']);
        expect(p.version).toBe(MINIMUM_OSD);
        expect(p.gridData).toEqual(grids[i]);
        expect(p.gridData.x + p.gridData.w).toBeLessThanOrEqual(48);
        expect(p.panelIndex).toBe(p.gridData.i);
        expect(p.panelRefName).toBe(`panel_${i}`);
        expect(refs.get(p.panelRefName)).toEqual({
          name: p.panelRefName,
          type: 'visualization',
          id: spec.panels[i]!.id,
        });
      }
      expect(new Set(list.map((p) => p.panelIndex)).size).toBe(list.length);
      for (const a of list)
        for (const b of list)
          if (a !== b) {
            const [ga, gb] = [a.gridData, b.gridData];
            const apart = ga.x + ga.w <= gb.x || gb.x + gb.w <= ga.x || ga.y + ga.h <= gb.y || gb.y + gb.h <= ga.y;
            expect(apart, `${d.id}: ${a.panelIndex} / ${b.panelIndex}`).toBe(true);
          }
      const source = searchSource(d);
      expect(source.query).toEqual({ query: '', language: 'kuery' });
      expect(source.filter).toEqual([
        expect.objectContaining({
          meta: expect.objectContaining({ key: 'encedo_hem.self_generated', negate: true, disabled: false }),
          query: { match_phrase: { 'encedo_hem.self_generated': true } },
        }),
      ]);
    }
    // Every visualization is on exactly one dashboard.
    const placed = dashboards.flatMap((d) => d.references.filter((r: any) => r.type === 'visualization'));
    expect(placed.map((r: any) => r.id).sort()).toEqual(visualizations.map((v) => v.id).sort());
  });

  it('openSearchDashboardsAssets() lists every object as `type id "title"` for a dry run', () => {
    const [asset] = openSearchDashboardsAssets();
    expect(asset!.file).toBe(OSD_SAVED_OBJECTS_FILE);
    expect(asset!.objects).toHaveLength(objects.length);
    expect(asset!.objects).toContain('dashboard encedo_hem-overview "[Encedo HEM] Overview"');
    expect(asset!.objects).toContain('index-pattern encedo_hem-data-view "logs-encedo_hem.*"');
  });
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for OSD's import API: records each request and answers with `answer(request)`. */
async function stub(
  answer: (s: Seen) => { status: number; body: unknown },
  tls?: { key: string; cert: string },
): Promise<{ url: string; seen: Seen[]; close: () => void }> {
  const seen: Seen[] = [];
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(s);
      const { status, body } = answer(s);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  };
  const server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen, close: () => server.close() };
}

/** Like OSD: the xsrf header and the credentials first, then a multipart body with an .ndjson file field. */
function osdLike(s: Seen): { status: number; body: unknown } {
  if (!s.headers['osd-xsrf']) return { status: 400, body: { message: 'Request must contain a osd-xsrf header.' } };
  if (s.headers.authorization !== `Basic ${Buffer.from('hemfwd:pw').toString('base64')}`)
    return { status: 401, body: { statusCode: 401, error: 'Unauthorized' } };
  if (!/name="file"; filename="[^"]+\.ndjson"/.test(s.body)) return { status: 400, body: { message: 'no file' } };
  return { status: 200, body: { success: true, successCount: objects.length } };
}

const conn = (url: string) => ({ url, username: 'hemfwd', password: 'pw' });

describe('installOpenSearchDashboardsAssets (against a stand-in for the import API)', () => {
  it('posts the file to /api/saved_objects/_import?overwrite=true, multipart, osd-xsrf, basic auth', async () => {
    const osd = await stub(osdLike);
    try {
      const r = await installOpenSearchDashboardsAssets(conn(`${osd.url}/`));
      expect(r).toEqual({ api: 'saved_objects', imported: objects.length });
      expect(osd.seen).toHaveLength(1);
      const [s] = osd.seen;
      expect([s!.method, s!.url]).toEqual(['POST', '/api/saved_objects/_import?overwrite=true']);
      expect(s!.headers['osd-xsrf']).toBe('true');
      expect(s!.headers['kbn-xsrf']).toBeUndefined();
      expect(String(s!.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
      expect(s!.body).toContain('name="file"; filename="encedo_hem-saved-objects.ndjson"');
      expect(s!.body).toContain(readFileSync(OSD_SAVED_OBJECTS_FILE, 'utf8'));
    } finally {
      osd.close();
    }
  });

  it('keeps the base path of the URL (OSD behind /_dashboards)', async () => {
    const osd = await stub(osdLike);
    try {
      await installOpenSearchDashboardsAssets(conn(`${osd.url}/_dashboards`));
      expect(osd.seen[0]!.url).toBe('/_dashboards/api/saved_objects/_import?overwrite=true');
    } finally {
      osd.close();
    }
  });

  it.each([
    [401, { statusCode: 401, error: 'Unauthorized' }, /OpenSearch Dashboards rejected the credentials \(401\)/],
    [
      403,
      { statusCode: 403, error: 'Forbidden' },
      /denied the saved objects import \(403\).*kibana_user.*kibana_all_write/,
    ],
    [404, { statusCode: 404 }, /answered HTTP 404 .*base path such as \/_dashboards/],
    [500, { statusCode: 500, message: 'boom' }, /answered HTTP 500 importing saved objects: .*boom/],
    [200, '<html>login</html>', /answered 200 importing saved objects, but not with JSON: <html>/],
  ])('explains HTTP %i in one line, as an OpenSearchDashboardsError (exit 1)', async (status, body, message) => {
    const osd = await stub(() => ({ status, body }));
    try {
      const err = await installOpenSearchDashboardsAssets(conn(osd.url)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenSearchDashboardsError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
      expect(exitCodeFor(err)).toBe(1);
    } finally {
      osd.close();
    }
  });

  it('lists what OSD refused in a partial import', async () => {
    const errors = [
      {
        id: 'encedo_hem-overview',
        type: 'dashboard',
        title: '[Encedo HEM] Overview',
        error: { type: 'missing_references', references: [{ type: 'index-pattern', id: 'encedo_hem-data-view' }] },
      },
      { id: 'encedo_hem-search-audit', type: 'search', title: 'x', error: { type: 'unknown', message: 'bad' } },
    ];
    const osd = await stub(() => ({ status: 200, body: { success: false, successCount: objects.length - 2, errors } }));
    try {
      await expect(installOpenSearchDashboardsAssets(conn(osd.url))).rejects.toThrow(
        `OpenSearch Dashboards refused 2 of ${objects.length} saved objects: dashboard encedo_hem-overview: ` +
          'missing_references (index-pattern encedo_hem-data-view); search encedo_hem-search-audit: unknown: bad',
      );
    } finally {
      osd.close();
    }
  });

  it('explains an unreachable OSD and refuses an API key (OSD has none)', async () => {
    const osd = await stub(osdLike);
    const { url } = osd;
    osd.close();
    await new Promise((r) => setTimeout(r, 50));
    await expect(installOpenSearchDashboardsAssets(conn(url))).rejects.toThrow(
      new RegExp(`cannot reach OpenSearch Dashboards at ${url.replaceAll('.', '\\.')}: ECONNREFUSED`),
    );
    await expect(installOpenSearchDashboardsAssets({ url, apiKey: 'k' } as never)).rejects.toThrow(/has no API keys/);
  });

  it('trusts the given CA over https, and refuses the certificate without it', async () => {
    const tls = await selfSignedCertificate();
    const osd = await stub(osdLike, tls);
    try {
      await expect(installOpenSearchDashboardsAssets({ ...conn(osd.url), ca: tls.cert })).resolves.toMatchObject({
        imported: objects.length,
      });
      await expect(installOpenSearchDashboardsAssets(conn(osd.url))).rejects.toThrow(
        /cannot reach OpenSearch Dashboards at https:.*(CERT|SELF_SIGNED|self.signed)/i,
      );
      await expect(installOpenSearchDashboardsAssets({ ...conn(osd.url), insecure: true })).resolves.toBeDefined();
    } finally {
      osd.close();
    }
  });
});

describe('hem-forwarder setup --opensearch-dashboards, as a user runs it', () => {
  it('imports with the credentials of OPENSEARCH_DASHBOARDS_*; --dry-run lists and sends nothing', async () => {
    const osd = await stub(osdLike);
    try {
      const env = { OPENSEARCH_DASHBOARDS_USERNAME: 'hemfwd', OPENSEARCH_DASHBOARDS_PASSWORD: 'pw' };
      const dry = await runCliAsync(['setup', '--opensearch-dashboards', osd.url, '--dry-run'], { env });
      expect(dry.status, dry.stderr).toBe(0);
      expect(dry.stdout).toContain('would import dashboard encedo_hem-overview "[Encedo HEM] Overview"');
      expect(dry.stdout.match(/^would import /gm)).toHaveLength(objects.length);
      expect(osd.seen).toHaveLength(0);
      const r = await runCliAsync(['setup', '--opensearch-dashboards', osd.url], { env });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${objects.length} saved objects imported`);
      expect(osd.seen).toHaveLength(1);
      // Wrong credentials: one line, exit 1, the password never printed.
      const refused = await runCliAsync(['setup', '--opensearch-dashboards', osd.url], {
        env: { OPENSEARCH_DASHBOARDS_USERNAME: 'hemfwd', OPENSEARCH_DASHBOARDS_PASSWORD: 'wrong-secret' },
      });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/setup: OpenSearch Dashboards rejected the credentials \(401\)/);
      expect(refused.stderr + refused.stdout).not.toContain('wrong-secret');
    } finally {
      osd.close();
    }
  });

  it("takes the config's opensearch_dashboards section, and names a bad key in it", async () => {
    const osd = await stub(osdLike);
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-osd-'));
    const config = join(dir, 'config.yaml');
    const device = 'devices: [{ name: sim, simulator: {} }]\noutput: { type: file }\n';
    try {
      writeFileSync(config, `${device}opensearch_dashboards: { url: "${osd.url}", username: hemfwd, password: pw }\n`);
      const r = await runCliAsync(['setup', '--config', config]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${objects.length} saved objects imported`);
      writeFileSync(config, `${device}opensearch_dashboards: { url: "${osd.url}", api_key: abc }\n`);
      const bad = await runCliAsync(['check-config', '--config', config]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/opensearch_dashboards\.api_key: unknown key/);
    } finally {
      osd.close();
    }
  });
});
