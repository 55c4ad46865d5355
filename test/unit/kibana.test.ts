import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readNdjson } from '../helpers/documents.js';
import { EcsFlat } from '@elastic/ecs';
import { STREAMS } from '../../src/ecs/fields.js';
import { savedObjects } from '../../src/kibana/dashboards.js';
import { EXCEPTIONS_FILE, RULES_FILE, SAVED_OBJECTS_FILE, installKibanaAssets } from '../../src/kibana/install.js';
import { MIGRATION, MINIMUM_KIBANA } from '../../src/kibana/lens.js';
import { runCli, runCliAsync } from '../helpers/cli.js';
import { kqlToQueryString } from '../helpers/kql.js';

const objects = readNdjson(SAVED_OBJECTS_FILE);
const rules = readNdjson(RULES_FILE);

const byId = new Map(objects.map((o) => [o.id as string, o]));
const lensObjects = objects.filter((o) => o.type === 'lens');
const semver = /^\d+\.\d+\.\d+$/;
const cmpVersion = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number)) as [number[], number[]];
  return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
};

/** Mapped type of every field per dataset, from the field contract and the ECS catalogue. */
const FIELD_TYPES = new Map(
  STREAMS.map((s) => {
    const types = new Map<string, string>();
    for (const f of s.ecs) types.set(f, (EcsFlat as Record<string, { type: string }>)[f]!.type);
    for (const [f, t] of Object.entries(s.vendor)) types.set(f, t);
    return [`encedo_hem.${s.name}`, types];
  }),
);
const LENS_DATA_TYPE: Record<string, string> = {
  keyword: 'string',
  constant_keyword: 'string',
  wildcard: 'string',
  long: 'number',
  float: 'number',
  scaled_float: 'number',
  date: 'date',
  boolean: 'boolean',
};

function lensLayer(lens: Record<string, any>): { columns: Record<string, any>; columnOrder: string[] } {
  return Object.values(lens.attributes.state.datasourceStates.formBased.layers)[0] as any;
}
function lensDataset(lens: Record<string, any>): string {
  return lens.attributes.state.filters[0].query.match_phrase['data_stream.dataset'];
}
function columnByLabel(lens: Record<string, any>, label: string): Record<string, any> {
  const c = Object.values(lensLayer(lens).columns).find((col: any) => col.label === label);
  expect(c, `${lens.id}: column ${label}`).toBeDefined();
  return c as Record<string, any>;
}

describe('Kibana saved objects: the structure of real Kibana exports', () => {
  it('every line has what the import API requires, with stable prefixed unique ids', () => {
    expect(objects.length).toBeGreaterThan(5);
    for (const o of objects) {
      expect(Object.keys(o)).toEqual(
        expect.arrayContaining([
          'type',
          'id',
          'attributes',
          'references',
          'coreMigrationVersion',
          'typeMigrationVersion',
        ]),
      );
      expect(o.id).toMatch(/^encedo_hem-[a-z0-9-]+$/);
      expect(['index-pattern', 'tag', 'lens', 'search', 'dashboard']).toContain(o.type);
      expect(typeof (o.type === 'tag' ? o.attributes.name : o.attributes.title)).toBe('string');
      expect(o.coreMigrationVersion).toBe(MIGRATION.core);
      expect(o.typeMigrationVersion).toMatch(semver);
      expect(o.typeMigrationVersion).toBe(MIGRATION[o.type as keyof typeof MIGRATION]);
    }
    expect(new Set(objects.map((o) => o.id)).size).toBe(objects.length);
  });

  it('the minimum Kibana version is the newest typeMigrationVersion (lens 8.9.0)', () => {
    const newest = objects
      .map((o) => o.typeMigrationVersion as string)
      .sort(cmpVersion)
      .at(-1);
    expect(newest).toBe(MINIMUM_KIBANA);
    expect(MINIMUM_KIBANA).toBe('8.9.0');
  });

  it('every reference is {type, id, name}, named once per object, and resolves to an object in the file', () => {
    for (const o of objects) {
      const names = o.references.map((r: any) => r.name);
      expect(new Set(names).size, `${o.id} reference names`).toBe(names.length);
      for (const r of o.references) {
        expect(Object.keys(r).sort()).toEqual(['id', 'name', 'type']);
        expect(byId.get(r.id)?.type, `${o.id} -> ${r.type}:${r.id}`).toBe(r.type);
      }
    }
  });

  it('is exactly what savedObjects() generates (npm run gen:mappings writes it)', () => {
    expect(objects).toEqual(JSON.parse(JSON.stringify(savedObjects())));
  });

  it('the data view and the "Security Solution" tag', () => {
    const dv = objects.filter((o) => o.type === 'index-pattern');
    expect(dv).toHaveLength(1);
    expect(dv[0]!.attributes).toMatchObject({ title: 'logs-encedo_hem.*', timeFieldName: '@timestamp' });
    const tags = objects.filter((o) => o.type === 'tag');
    expect(tags).toHaveLength(1);
    expect(tags[0]!.attributes).toEqual({
      name: 'Security Solution',
      description: expect.any(String),
      color: expect.stringMatching(/^#[0-9A-F]{6}$/i),
    });
  });

  it('saved searches: columns, newest first, dataset filter and data view by reference', () => {
    const searches = objects.filter((o) => o.type === 'search');
    expect(searches.map((s) => s.attributes.title).sort()).toEqual(['HEM audit events', 'HEM integrity alerts']);
    for (const s of searches) {
      const a = s.attributes;
      expect(a.columns.length).toBeGreaterThan(2);
      expect(a.sort).toEqual([['@timestamp', 'desc']]);
      const source = JSON.parse(a.kibanaSavedObjectMeta.searchSourceJSON);
      const refNames = s.references.map((r: any) => r.name);
      expect(refNames).toContain(source.indexRefName);
      for (const f of source.filter) expect(refNames).toContain(f.meta.indexRefName);
      const dataset = source.filter[0].query.match_phrase['data_stream.dataset'];
      const types = FIELD_TYPES.get(dataset)!;
      expect(types, dataset).toBeDefined();
      for (const c of a.columns) expect(types.has(c), `${s.id}: column ${c}`).toBe(true);
      if (source.query.query) expect(() => kqlToQueryString(source.query.query)).not.toThrow();
    }
    const alerts = searches.find((s) => s.attributes.title === 'HEM integrity alerts')!;
    const source = JSON.parse(alerts.attributes.kibanaSavedObjectMeta.searchSourceJSON);
    expect(source.filter[0].query.match_phrase['data_stream.dataset']).toBe('encedo_hem.integrity');
    expect(source.query.query).toBe('event.kind : "alert"');
  });

  it('Lens state: formBased layers with columns and columnOrder, referenced data view, known visualizations', () => {
    for (const lens of lensObjects) {
      const { state, visualizationType } = lens.attributes;
      const refNames = lens.references.map((r: any) => r.name);
      const layers = state.datasourceStates.formBased.layers as Record<string, any>;
      for (const [layerId, layer] of Object.entries(layers)) {
        expect(refNames).toContain(`indexpattern-datasource-layer-${layerId}`);
        expect(layer.incompleteColumns).toEqual({});
        expect([...layer.columnOrder].sort()).toEqual(Object.keys(layer.columns).sort());
        // Bucketed columns come before the metrics.
        const firstMetric = layer.columnOrder.findIndex((id: string) => !layer.columns[id].isBucketed);
        expect(layer.columnOrder.slice(firstMetric).every((id: string) => !layer.columns[id].isBucketed)).toBe(true);
        for (const c of Object.values(layer.columns) as any[]) {
          expect(Object.keys(c)).toEqual(
            expect.arrayContaining(['label', 'dataType', 'operationType', 'isBucketed', 'scale', 'sourceField']),
          );
          if (c.filter) expect(() => kqlToQueryString(c.filter.query)).not.toThrow();
        }
      }
      for (const f of state.filters) expect(refNames).toContain(f.meta.indexRefName);
      const ids = new Set(Object.values(layers).flatMap((l: any) => Object.keys(l.columns)));
      const vis = state.visualization;
      switch (visualizationType) {
        case 'lnsXY':
          for (const l of vis.layers) {
            expect(layers[l.layerId]).toBeDefined();
            for (const a of [...l.accessors, l.xAccessor, l.splitAccessor].filter(Boolean)) expect(ids).toContain(a);
          }
          break;
        case 'lnsDatatable':
          expect(layers[vis.layerId]).toBeDefined();
          expect(vis.columns.map((c: any) => c.columnId).sort()).toEqual([...ids].sort());
          if (vis.sorting) expect(ids).toContain(vis.sorting.columnId);
          break;
        case 'lnsMetric':
          expect(layers[vis.layerId]).toBeDefined();
          expect(ids).toContain(vis.metricAccessor);
          break;
        case 'lnsPie':
          for (const l of vis.layers) for (const a of [...l.primaryGroups, ...l.metrics]) expect(ids).toContain(a);
          break;
        default:
          throw new Error(`${lens.id}: unexpected ${visualizationType}`);
      }
    }
  });

  it('no terms column is ranked by anything but a count (Lens never ranks by a last value)', () => {
    for (const lens of lensObjects) {
      const { columns } = lensLayer(lens);
      for (const c of Object.values(columns) as any[]) {
        if (c.operationType !== 'terms') continue;
        expect(c.params.orderBy.type, `${lens.id}: ${c.label}`).toBe('column');
        expect(columns[c.params.orderBy.columnId]?.operationType, `${lens.id}: ${c.label}`).toBe('count');
        expect(c.params.parentFormat).toEqual({ id: 'terms' });
      }
    }
  });

  it('stacked bars split by top values: the terms column precedes the date histogram in columnOrder', () => {
    const stacked = lensObjects.filter((l) => l.attributes.visualizationType === 'lnsXY');
    expect(stacked.length).toBeGreaterThan(3);
    for (const lens of stacked) {
      const { columnOrder, columns } = lensLayer(lens);
      for (const l of lens.attributes.state.visualization.layers) {
        expect(l.seriesType).toBe('bar_stacked');
        if (!l.splitAccessor) continue;
        expect(columns[l.splitAccessor].operationType).toBe('terms');
        expect(columns[l.xAccessor].operationType).toBe('date_histogram');
        expect(columnOrder.indexOf(l.splitAccessor), lens.id).toBeLessThan(columnOrder.indexOf(l.xAccessor));
      }
    }
  });

  it('every column dataType matches the mapped type of its field', () => {
    for (const lens of lensObjects) {
      const types = FIELD_TYPES.get(lensDataset(lens))!;
      for (const c of Object.values(lensLayer(lens).columns) as any[]) {
        if (c.sourceField === '___records___') continue;
        const mapped = types.get(c.sourceField);
        expect(mapped, `${lens.id}: ${c.sourceField} is not a field of ${lensDataset(lens)}`).toBeDefined();
        if (c.operationType === 'terms') expect(LENS_DATA_TYPE[mapped!]).not.toBe('number');
        else if (c.operationType === 'date_histogram') expect(mapped).toBe('date');
        else expect(c.dataType, `${lens.id}: ${c.label} (${c.sourceField}: ${mapped})`).toBe(LENS_DATA_TYPE[mapped!]);
        if (['sum', 'average'].includes(c.operationType)) expect(c.dataType).toBe('number');
      }
    }
  });

  it('the Overview "Devices" table: Firmware is a keyword operation, rows ranked by the event count', () => {
    const devices = byId.get('encedo_hem-overview-devices')!;
    const firmware = columnByLabel(devices, 'Firmware');
    expect(firmware).toMatchObject({ sourceField: 'observer.version', dataType: 'string' });
    expect(['last_value', 'terms']).toContain(firmware.operationType);
    expect(firmware.scale).not.toBe('ratio');
    expect(columnByLabel(devices, 'Serial').params.orderBy.columnId).toBe(
      Object.entries(lensLayer(devices).columns).find(([, c]: [string, any]) => c.label === 'Events')![0],
    );
  });

  it('the device inventory: rows by device from the status reports, with the last value of each status field', () => {
    const inventory = byId.get('encedo_hem-overview-inventory')!;
    expect(lensDataset(inventory)).toBe('encedo_hem.integrity');
    expect(inventory.attributes.state.query.query).toBe('event.action : "device-status"');
    expect(inventory.attributes.visualizationType).toBe('lnsDatatable');
    const { columns, columnOrder } = lensLayer(inventory);
    const device = columns[columnOrder[0]!];
    expect(device).toMatchObject({ operationType: 'terms', sourceField: 'observer.name' });
    expect(columns[device.params.orderBy.columnId].operationType).toBe('count');
    const last = new Map(
      (Object.values(columns) as any[]).filter((c) => c.operationType === 'last_value').map((c) => [c.sourceField, c]),
    );
    const expected: Record<string, string> = {
      'observer.serial_number': 'string',
      'observer.version': 'string',
      'encedo_hem.status.state': 'string',
      'encedo_hem.status.halted': 'boolean',
      'encedo_hem.status.consecutive_failures': 'number',
      'encedo_hem.status.last_success': 'date',
      'encedo_hem.status.last_file_ingested': 'string',
      'encedo_hem.status.current_file_id': 'string',
      'encedo_hem.status.current_file_since': 'date',
      'encedo_hem.status.unreleased_seconds': 'number',
      'encedo_hem.status.logger_key_fingerprint': 'string',
      'encedo_hem.status.logger_key_source': 'string',
    };
    for (const [field, dataType] of Object.entries(expected)) {
      expect(last.get(field)?.dataType, field).toBe(dataType);
      expect(last.get(field)?.params.sortField).toBe('@timestamp');
    }
  });

  const dashboardsTitle =
    'four dashboards of by-reference Lens panels, referenced as Kibana exports do, tagged "Security Solution"; ' +
    'each panel filtered on its dataset; our own polling hidden by a filter that can be toggled';
  it(dashboardsTitle, () => {
    const dashboards = objects.filter((o) => o.type === 'dashboard');
    expect(dashboards.map((d) => d.attributes.title)).toEqual([
      '[Encedo HEM] Overview',
      '[Encedo HEM] Access',
      '[Encedo HEM] Keys and cryptography',
      '[Encedo HEM] Integrity',
    ]);
    const tag = objects.find((o) => o.type === 'tag')!;
    const panelled = new Set<string>();
    for (const d of dashboards) {
      const panels = JSON.parse(d.attributes.panelsJSON) as Record<string, any>[];
      expect(JSON.parse(d.attributes.optionsJSON)).toMatchObject({ useMargins: true, hidePanelTitles: false });
      expect(new Set(panels.map((p) => p.panelIndex)).size).toBe(panels.length);
      const refs = new Map(d.references.map((r: any) => [r.name, r]));
      for (const p of panels) {
        expect(p.type).toBe('lens');
        expect(p.version).toMatch(semver);
        expect(p.gridData).toEqual({
          x: expect.any(Number),
          y: expect.any(Number),
          w: expect.any(Number),
          h: expect.any(Number),
          i: p.panelIndex,
        });
        expect(p.gridData.x + p.gridData.w).toBeLessThanOrEqual(48);
        expect(p.panelRefName).toBe(`panel_${p.panelIndex}`);
        const ref = refs.get(`${p.panelIndex}:${p.panelRefName}`) as any;
        expect(ref, `${d.id}: ${p.panelRefName}`).toBeDefined();
        expect(ref.type).toBe(p.type);
        expect(byId.get(ref.id)?.attributes.title).toBe(p.title);
        panelled.add(ref.id);
      }
      // Panels do not overlap.
      for (const a of panels)
        for (const b of panels)
          if (a !== b) {
            const [ga, gb] = [a.gridData, b.gridData];
            const apart = ga.x + ga.w <= gb.x || gb.x + gb.w <= ga.x || ga.y + ga.h <= gb.y || gb.y + gb.h <= ga.y;
            expect(apart, `${d.id}: ${a.title} / ${b.title}`).toBe(true);
          }
      expect(d.references).toContainEqual({ type: 'tag', id: tag.id, name: `tag-ref-${tag.id}` });
      const search = JSON.parse(d.attributes.kibanaSavedObjectMeta.searchSourceJSON);
      expect(search.filter).toEqual([
        expect.objectContaining({
          meta: expect.objectContaining({ key: 'encedo_hem.self_generated', negate: true, disabled: false }),
        }),
      ]);
      for (const f of search.filter) expect(refs.has(f.meta.indexRefName)).toBe(true);
    }
    // Every Lens object is on a dashboard.
    expect([...panelled].sort()).toEqual(lensObjects.map((l) => l.id).sort());
    for (const lens of lensObjects) {
      expect(lens.attributes.state.filters).toEqual([
        expect.objectContaining({
          query: { match_phrase: { 'data_stream.dataset': expect.stringMatching(/^encedo_hem\.(audit|integrity)$/) } },
        }),
      ]);
      if (lens.attributes.state.query.query)
        expect(() => kqlToQueryString(lens.attributes.state.query.query)).not.toThrow();
    }
  });
});

describe('detection rules', () => {
  const rulesTitle =
    'every rule has what the rule import API requires, a severity, risk score, ' +
    'false-positive notes and MITRE where it fits';
  it(rulesTitle, () => {
    expect(rules.map((r) => r.rule_id)).toEqual(
      expect.arrayContaining([
        'encedo_hem-integrity-alert',
        'encedo_hem-logger-key-changed',
        'encedo_hem-scope-check-burst',
        'encedo_hem-hsm-health-failure',
        'encedo_hem-upgrade',
        'encedo_hem-device-initialised',
        'encedo_hem-rtc-set-outside-startup',
        'encedo_hem-key-deleted',
        'encedo_hem-master-login',
      ]),
    );
    for (const r of rules) {
      expect(r).toMatchObject({
        type: expect.stringMatching(/^(query|threshold|new_terms)$/),
        language: 'kuery',
        index: ['logs-encedo_hem.*'],
        version: 1,
      });
      expect(r.rule_id).toMatch(/^encedo_hem-/);
      expect(['low', 'medium', 'high', 'critical']).toContain(r.severity);
      expect(r.risk_score).toBeGreaterThan(0);
      expect(r.risk_score).toBeLessThanOrEqual(100);
      expect(r.false_positives.length).toBeGreaterThan(0);
      expect(r.description.length).toBeGreaterThan(30);
      for (const t of r.threat)
        expect(t).toMatchObject({ framework: 'MITRE ATT&CK', tactic: { id: expect.stringMatching(/^TA\d{4}$/) } });
      expect(() => kqlToQueryString(r.query)).not.toThrow();
    }
  });
});

describe('hem-forwarder setup --kibana (against a stub that checks each request)', () => {
  it('imports the saved objects and the rules with kbn-xsrf, overwrite and the API key', async () => {
    const seen: { method: string; url: string; headers: Record<string, unknown>; body: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            req.url!.includes('detection_engine')
              ? { success: true, success_count: rules.length, errors: [] }
              : req.url!.includes('exception_lists')
                ? { success: true, success_count: 2, errors: [] }
                : { success: true, successCount: objects.length, errors: [] },
          ),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = await runCliAsync(['setup', '--kibana', url], { env: { KIBANA_API_KEY: 'c2VjcmV0LWtleQ==' } });
    server.close();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${objects.length} saved objects and ${rules.length} detection rules imported`);
    expect(seen.map((s) => [s.method, s.url])).toEqual([
      ['POST', '/api/saved_objects/_import?overwrite=true'],
      ['POST', '/api/exception_lists/_import?overwrite=false'],
      ['POST', '/api/detection_engine/rules/_import?overwrite=true'],
    ]);
    for (const s of seen) {
      expect(s.headers['kbn-xsrf']).toBeTruthy();
      expect(s.headers.authorization).toBe('ApiKey c2VjcmV0LWtleQ==');
      expect(String(s.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
      expect(s.body).toContain('name="file"; filename="encedo_hem-');
    }
    expect(seen[0]!.body).toContain(readFileSync(SAVED_OBJECTS_FILE, 'utf8'));
    expect(seen[1]!.body).toContain(readFileSync(EXCEPTIONS_FILE, 'utf8'));
    expect(seen[2]!.body).toContain(readFileSync(RULES_FILE, 'utf8'));
    expect(r.stdout + r.stderr).not.toContain('c2VjcmV0LWtleQ==');
  });

  it.each([
    [401, /Kibana rejected the credentials \(401\)/],
    [403, /needs Kibana feature privileges/],
  ])('explains HTTP %i', async (status, message) => {
    const server = createServer((_req, res) => res.writeHead(status).end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await expect(installKibanaAssets({ url, username: 'u', password: 'p' })).rejects.toThrow(message);
    server.close();
  });

  it('explains an unreachable Kibana, another status and a body that is not JSON (in process)', async () => {
    await expect(installKibanaAssets({ url: 'http://127.0.0.1:59999', apiKey: 'k' })).rejects.toThrow(
      'cannot reach Kibana at http://127.0.0.1:59999: ECONNREFUSED',
    );
    for (const [status, body, message] of [
      [500, 'boom', 'Kibana answered HTTP 500 importing saved_objects: boom'],
      [200, '<html>', 'Kibana answered 200 importing saved_objects, but not with JSON: <html>'],
    ] as const) {
      const server = createServer((_req, res) => res.writeHead(status).end(body));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await expect(installKibanaAssets({ url, apiKey: 'k' })).rejects.toThrow(message);
      server.close();
    }
  });

  it('explains an unreachable Kibana and lists what it would import with --dry-run', () => {
    const r = runCli(['setup', '--kibana', 'http://127.0.0.1:59999']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot reach Kibana at http:\/\/127\.0\.0\.1:59999: ECONNREFUSED/);
    const dry = runCli(['setup', '--kibana', 'http://127.0.0.1:59999', '--dry-run']);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain('would import dashboard encedo_hem-overview "[Encedo HEM] Overview"');
    expect(dry.stdout).toContain('would import rule encedo_hem-master-login');
  });
});
