import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { EXCEPTIONS_FILE, RULES_FILE, installKibanaAssets, kibanaAssets } from '../../src/kibana/install.js';
import { MAINTENANCE_LIST, RULES, exceptionObjects, ruleObject } from '../../src/kibana/rules.js';
import { kqlToQueryString } from '../helpers/kql.js';

const ndjson = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
const rules = ndjson(RULES_FILE);
const exceptions = ndjson(EXCEPTIONS_FILE);

/** `now-6m` → 360 seconds; `5m` → 300. */
function seconds(s: string): number {
  const m = /^(?:now-)?(\d+)([smhd])$/.exec(s);
  if (!m) throw new Error(`not a duration: ${s}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

describe('the shipped rule file', () => {
  it('is what src/kibana/rules.ts generates (npm run gen:mappings ran)', () => {
    expect(rules).toEqual(JSON.parse(JSON.stringify(RULES.map(ruleObject))));
    expect(exceptions).toEqual(JSON.parse(JSON.stringify(exceptionObjects())));
  });

  it('has at least 15 rules with unique ids and names', () => {
    expect(rules.length).toBeGreaterThanOrEqual(15);
    expect(new Set(rules.map((r) => r.rule_id)).size).toBe(rules.length);
    expect(new Set(rules.map((r) => r.name)).size).toBe(rules.length);
    for (const r of rules) expect(r.rule_id).toMatch(/^encedo_hem-[a-z0-9-]+$/);
  });
});

describe.each(rules.map((r) => [r.rule_id as string, r] as const))('rule %s', (_id, r) => {
  it('looks back on event.ingested over its interval plus a margin', () => {
    expect(r.timestamp_override).toBe('event.ingested');
    expect(r.timestamp_override_fallback_disabled).toBe(false);
    expect(r.from).toMatch(/^now-\d+[smh]$/);
    expect(seconds(r.from)).toBeGreaterThan(seconds(r.interval));
    if (r.type === 'threshold') expect(seconds(r.from)).toBeGreaterThanOrEqual(30 * 60);
  });

  it('has an investigation guide, setup text and a description', () => {
    expect(r.description.length).toBeGreaterThan(30);
    for (const heading of [
      '## Triage and analysis',
      '### What happened',
      '### How to triage on the device',
      '### False positive analysis',
    ])
      expect(r.note).toContain(heading);
    expect(r.note).toContain('event.ingested');
    expect(r.setup).toMatch(/^## Setup/);
    expect(r.setup).toContain('hem-forwarder setup');
    expect(r.setup).toContain('event.ingested');
    expect(r.false_positives.length).toBeGreaterThan(0);
  });

  it("carries Elastic's tag taxonomy, with a Tactic tag for each ATT&CK tactic", () => {
    const prefixed = (p: string) => r.tags.filter((t: string) => t.startsWith(p));
    expect(prefixed('Domain: ').length).toBeGreaterThan(0);
    expect(prefixed('Use Case: ').length).toBeGreaterThan(0);
    expect(r.tags).toContain('Data Source: Encedo HEM');
    expect(r.tags).toContain('Resources: Investigation Guide');
    expect(prefixed('Rule Type: ')).toHaveLength(1);
    for (const t of r.tags) expect(t).toMatch(/^(Domain|Use Case|Tactic|Data Source|Rule Type|Resources): \S/);
    const tactics = [...new Set(r.threat.map((t: any) => `Tactic: ${t.tactic.name}`))].sort();
    expect(prefixed('Tactic: ').sort()).toEqual(tactics);
    for (const t of r.threat) {
      expect(t).toMatchObject({ framework: 'MITRE ATT&CK', tactic: { id: expect.stringMatching(/^TA\d{4}$/) } });
      for (const tech of t.technique) {
        expect(tech.id).toMatch(/^T\d{4}$/);
        for (const sub of tech.subtechnique ?? []) expect(sub.id).toMatch(new RegExp(`^${tech.id}\\.\\d{3}$`));
      }
    }
  });

  it('has the shape of its type, with alert suppression where one incident would alert repeatedly', () => {
    expect(['query', 'threshold', 'new_terms']).toContain(r.type);
    expect(r).toMatchObject({ language: 'kuery', index: ['logs-encedo_hem.*'], enabled: true });
    expect(() => kqlToQueryString(r.query)).not.toThrow();
    if (r.type === 'threshold') {
      expect(r.threshold).toEqual({ field: ['observer.serial_number'], value: expect.any(Number) });
      expect(r.alert_suppression).toEqual({ duration: { value: expect.any(Number), unit: expect.any(String) } });
    }
    if (r.type === 'new_terms') {
      expect(r.new_terms_fields.length).toBeGreaterThanOrEqual(1);
      expect(r.new_terms_fields.length).toBeLessThanOrEqual(3);
      expect(r.new_terms_fields).toContain('observer.serial_number');
      expect(seconds(r.history_window_start)).toBeGreaterThan(seconds(r.from));
    } else {
      expect(r.new_terms_fields).toBeUndefined();
      expect(r.history_window_start).toBeUndefined();
    }
    // The status stream has a document at least every 15 minutes: one alert per device and period.
    if (r.query.includes('"device-status"')) {
      expect(r.alert_suppression).toMatchObject({
        group_by: ['observer.serial_number'],
        missing_fields_strategy: 'suppress',
      });
      expect(seconds(r.from)).toBeGreaterThan(15 * 60);
    }
  });

  it('references the planned-maintenance list (or no list)', () => {
    for (const ref of r.exceptions_list)
      expect(ref).toEqual({
        id: MAINTENANCE_LIST.list_id,
        list_id: MAINTENANCE_LIST.list_id,
        namespace_type: 'single',
        type: 'detection',
      });
  });
});

describe('the planned-maintenance exception list', () => {
  it('is an import-ready detection list container with one example item', () => {
    const [list, ...items] = exceptions;
    expect(list).toMatchObject({
      list_id: 'encedo_hem-planned-maintenance',
      type: 'detection',
      namespace_type: 'single',
      name: expect.any(String),
      description: expect.any(String),
    });
    expect(list!.item_id).toBeUndefined();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      item_id: expect.stringMatching(/^encedo_hem-/),
      list_id: list!.list_id,
      type: 'simple',
      namespace_type: 'single',
      entries: [{ field: 'observer.name', operator: 'included', type: 'match', value: expect.any(String) }],
    });
  });

  it('is referenced by the rules a maintenance triggers, and imported before them', () => {
    const referencing = rules.filter((r) => r.exceptions_list.length > 0).map((r) => r.rule_id);
    expect(referencing).toEqual(
      expect.arrayContaining([
        'encedo_hem-logger-key-changed',
        'encedo_hem-device-initialised',
        'encedo_hem-upgrade',
        'encedo_hem-device-unreachable',
      ]),
    );
    expect(referencing).not.toContain('encedo_hem-hsm-health-failure');
    expect(kibanaAssets().map((a) => a.api)).toEqual(['saved_objects', 'exceptions', 'rules']);
  });
});

describe('installing the exception list (against a stub Kibana)', () => {
  const stub = async (exceptionsReply: object) => {
    const urls: string[] = [];
    const server = createServer((req, res) => {
      urls.push(req.url!);
      req.resume().on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            req.url!.includes('exception_lists') ? exceptionsReply : { success: true, success_count: 1, errors: [] },
          ),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      return { result: await installKibanaAssets({ url }), urls };
    } finally {
      server.close();
    }
  };

  it("keeps a list that already exists (409): the SOC's maintenance items are never overwritten", async () => {
    const exists = (id: string) => ({
      error: { status_code: 409, message: `Found that list_id: "${id}" already exists` },
    });
    const { result, urls } = await stub({
      success: false,
      success_count: 0,
      errors: [exists('encedo_hem-planned-maintenance'), exists('encedo_hem-planned-maintenance-example')],
    });
    expect(urls).toEqual([
      '/api/saved_objects/_import?overwrite=true',
      '/api/exception_lists/_import?overwrite=false',
      '/api/detection_engine/rules/_import?overwrite=true',
    ]);
    expect(result.map((r) => r.api)).toEqual(['saved_objects', 'rules']);
  });

  it('fails on any other exception import error, before importing the rules', async () => {
    const p = stub({ success: false, errors: [{ error: { status_code: 400, message: 'bad entries' } }] });
    await expect(p).rejects.toThrow(/Kibana refused part of the exceptions import: .*bad entries/);
  });

  it('lists the list and its item in --dry-run', () => {
    const exceptionsAsset = kibanaAssets().find((a) => a.api === 'exceptions')!;
    expect(exceptionsAsset.objects).toEqual([
      'exception-list encedo_hem-planned-maintenance "Encedo HEM planned maintenance"',
      'exception-item encedo_hem-planned-maintenance-example "Example: a device in a maintenance window"',
    ]);
  });
});
