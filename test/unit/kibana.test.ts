import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RULES_FILE, SAVED_OBJECTS_FILE, installKibanaAssets } from '../../src/kibana/install.js';
import { runCli, runCliAsync } from '../helpers/cli.js';
import { kqlToQueryString } from '../helpers/kql.js';

const objects = readFileSync(SAVED_OBJECTS_FILE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Record<string, any>);
const rules = readFileSync(RULES_FILE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Record<string, any>);

describe('Kibana saved objects', () => {
  it('every line has what the import API requires, with stable prefixed ids', () => {
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
      expect(['index-pattern', 'lens', 'dashboard']).toContain(o.type);
      expect(typeof o.attributes.title).toBe('string');
    }
    expect(new Set(objects.map((o) => o.id)).size).toBe(objects.length);
  });

  it('every reference resolves to an object in the file', () => {
    const ids = new Set(objects.map((o) => `${o.type}:${o.id}`));
    for (const o of objects)
      for (const r of o.references) expect(ids.has(`${r.type}:${r.id}`), `${o.id} -> ${r.type}:${r.id}`).toBe(true);
  });

  const dashboardsTitle =
    'four dashboards, each panel a Lens object filtered on its dataset; our own polling ' +
    'hidden by a filter that can be toggled';
  it(dashboardsTitle, () => {
    const dashboards = objects.filter((o) => o.type === 'dashboard');
    expect(dashboards.map((d) => d.attributes.title)).toEqual([
      '[Encedo HEM] Overview',
      '[Encedo HEM] Access',
      '[Encedo HEM] Keys and cryptography',
      '[Encedo HEM] Integrity',
    ]);
    for (const d of dashboards) {
      const panels = JSON.parse(d.attributes.panelsJSON) as { panelRefName: string; type: string }[];
      expect(panels.every((p) => p.type === 'lens')).toBe(true);
      const search = JSON.parse(d.attributes.kibanaSavedObjectMeta.searchSourceJSON);
      expect(search.filter).toEqual([
        expect.objectContaining({
          meta: expect.objectContaining({ key: 'encedo_hem.self_generated', negate: true, disabled: false }),
        }),
      ]);
    }
    for (const lens of objects.filter((o) => o.type === 'lens')) {
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
        type: expect.stringMatching(/^(query|threshold)$/),
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
      ['POST', '/api/detection_engine/rules/_import?overwrite=true'],
    ]);
    for (const s of seen) {
      expect(s.headers['kbn-xsrf']).toBeTruthy();
      expect(s.headers.authorization).toBe('ApiKey c2VjcmV0LWtleQ==');
      expect(String(s.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
      expect(s.body).toContain('name="file"; filename="encedo_hem-');
    }
    expect(seen[0]!.body).toContain(readFileSync(SAVED_OBJECTS_FILE, 'utf8'));
    expect(seen[1]!.body).toContain(readFileSync(RULES_FILE, 'utf8'));
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
