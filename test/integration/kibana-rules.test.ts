import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClient } from '../../src/device/client.js';
import { RULES_FILE, SAVED_OBJECTS_FILE } from '../../src/kibana/install.js';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { cleanupRigs, es, rig } from '../helpers/collector-rig.js';
import { flatten } from '../helpers/ecs-validate.js';
import { kqlFields, kqlToQueryString } from '../helpers/kql.js';

type Doc = Record<string, unknown>;
const objects = readFileSync(SAVED_OBJECTS_FILE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Record<string, any>);
const rules = readFileSync(RULES_FILE, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Record<string, any>);

let ns = '';
let docs: { id: string; f: Doc }[] = [];
let serial = '';

afterAll(cleanupRigs);

/** A simulated device with scripted incidents, collected into the engine. */
beforeAll(async () => {
  await setupCluster(es);
  const r = await rig({ sim: { boots: 4, eventsPerBoot: 250, seed: 77 }, device: { on_key_change: 'alert' } });
  ns = r.ns;
  serial = r.sim.device.serial;
  r.sim.device.tamper(r.sim.device.fileIds()[1]!, 'edit'); // an altered record
  await r.collector.cycle();
  const as = (passphrase: string, scope?: string) =>
    new DeviceClient({
      url: r.sim.url,
      passphrase: () => passphrase,
      tls: { fingerprint: r.sim.certSha256! },
      ...(scope ? { scope } : {}),
    });
  const master = as('m');
  await master.listLogFiles(); // a master-role login
  const wrongScope = as('forwarder passphrase', 'keymgmt:list');
  for (let i = 0; i < 12; i++) await wrongScope.loggerKey().catch(() => undefined); // a burst of scope-check failures
  await Promise.all([master.close(), wrongScope.close()]);
  r.sim.device.replaceLoggerKey(); // a wipe: new logger key (and a reboot that closes the file above)
  await r.collector.cycle();
  await es.indices.refresh({ index: `logs-encedo_hem.*-${ns}` });
  const hits = (await es.search({ index: `logs-encedo_hem.*-${ns}`, size: 10_000, query: { match_all: {} } })).hits
    .hits;
  docs = hits.map((h) => ({ id: h._id!, f: flatten(h._source as Doc) }));
});

const audit = (d: Doc) => d['data_stream.dataset'] === 'encedo_hem.audit';
const integrity = (d: Doc) => d['data_stream.dataset'] === 'encedo_hem.integrity';
const action = (d: Doc, ...a: string[]) => a.includes(d['event.action'] as string);

/** What each rule is meant to find, stated independently of its KQL. */
const INTENT: Record<string, (d: Doc) => boolean> = {
  'encedo_hem-integrity-alert': (d) => integrity(d) && d['event.kind'] === 'alert',
  'encedo_hem-logger-key-changed': (d) => integrity(d) && d['encedo_hem.alert.kind'] === 'logger_key_changed',
  'encedo_hem-scope-check-burst': (d) => audit(d) && action(d, 'scope-check-failed'),
  'encedo_hem-hsm-health-failure': (d) =>
    audit(d) &&
    (action(d, 'trng-failure', 'non-secure-state') ||
      (action(d, 'key-integrity-check', 'selftest') && d['event.outcome'] === 'failure')),
  'encedo_hem-upgrade': (d) => audit(d) && action(d, 'firmware-upgrade'),
  'encedo_hem-device-initialised': (d) => audit(d) && action(d, 'device-initialised'),
  'encedo_hem-rtc-set-outside-startup': (d) => audit(d) && action(d, 'rtc-set') && (d['event.sequence'] as number) > 3,
  'encedo_hem-key-deleted': (d) => audit(d) && action(d, 'key-delete') && d['event.outcome'] === 'success',
  'encedo_hem-master-login': (d) =>
    audit(d) && action(d, 'login-passphrase') && ((d['user.roles'] as string[] | undefined) ?? []).includes('master'),
};

describe('detection rules on the real engine', () => {
  it.each(rules.map((r) => [r.rule_id as string, r] as const))(
    '%s matches exactly the incident documents it is meant for',
    async (id, rule) => {
      const expected = docs
        .filter((d) => INTENT[id]!(d.f))
        .map((d) => d.id)
        .sort();
      expect(expected.length, `the scripted data contains incidents for ${id}`).toBeGreaterThan(0);
      const hits = await es.search({
        index: `logs-encedo_hem.*-${ns}`,
        size: 10_000,
        query: { query_string: { query: kqlToQueryString(rule.query) } },
      });
      expect(hits.hits.hits.map((h) => h._id).sort()).toEqual(expected);
      if (rule.threshold) {
        const perDevice = expected.length;
        expect(rule.threshold.field).toEqual(['observer.serial_number']);
        expect(docs.filter((d) => INTENT[id]!(d.f) && d.f['observer.serial_number'] === serial)).toHaveLength(
          perDevice,
        );
        expect(perDevice).toBeGreaterThanOrEqual(rule.threshold.value);
      }
    },
  );
});

describe('fields used by dashboards and rules', () => {
  it('exist in the installed mappings with a type that supports how they are used', async () => {
    const types = new Map<string, { type: string; index?: boolean }>();
    const mappings = await es.indices.getMapping({ index: `logs-encedo_hem.*-${ns}` });
    const walk = (props: Record<string, any>, prefix: string) => {
      for (const [k, v] of Object.entries(props)) {
        if (v.properties) walk(v.properties, `${prefix}${k}.`);
        else types.set(`${prefix}${k}`, v);
      }
    };
    for (const m of Object.values(mappings)) walk(m.mappings.properties ?? {}, '');

    const aggregated = new Set<string>();
    const filtered = new Set<string>();
    for (const o of objects) {
      if (o.type === 'lens') {
        const layers = o.attributes.state.datasourceStates.formBased.layers;
        for (const layer of Object.values(layers) as { columns: Record<string, any> }[]) {
          for (const c of Object.values(layer.columns)) {
            if (c.sourceField !== '___records___') aggregated.add(c.sourceField);
            if (c.params?.sortField) aggregated.add(c.params.sortField);
          }
        }
        for (const f of o.attributes.state.filters) filtered.add(f.meta.key);
        for (const f of kqlFields(o.attributes.state.query.query)) filtered.add(f);
      }
      if (o.type === 'dashboard')
        for (const f of JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON).filter)
          filtered.add(f.meta.key);
    }
    for (const r of rules) {
      for (const f of kqlFields(r.query)) filtered.add(f);
      for (const f of r.threshold?.field ?? []) aggregated.add(f);
    }
    expect(aggregated.size).toBeGreaterThan(10);
    for (const f of aggregated) {
      expect(['keyword', 'constant_keyword', 'long', 'float', 'date', 'boolean'], `${f} is aggregated`).toContain(
        types.get(f)?.type,
      );
      expect(types.get(f)?.index, f).not.toBe(false);
    }
    for (const f of filtered) {
      expect(types.get(f), `${f} is filtered on`).toBeDefined();
      expect(types.get(f)?.index, f).not.toBe(false);
    }
  });
});
