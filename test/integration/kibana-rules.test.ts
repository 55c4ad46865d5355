import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNdjson } from '../helpers/documents.js';
import { DeviceClient } from '../../src/device/client.js';
import { RULES_FILE, SAVED_OBJECTS_FILE } from '../../src/kibana/install.js';
import { type DeviceStatus, statusDocument } from '../../src/ecs/integrity.js';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { cleanupRigs, es, rig } from '../helpers/collector-rig.js';
import { flatten } from '../helpers/ecs-validate.js';
import { kqlFields, kqlToQueryString } from '../helpers/kql.js';

type Doc = Record<string, unknown>;
const objects = readNdjson(SAVED_OBJECTS_FILE);
const rules = readNdjson(RULES_FILE);

const DAY = 86_400;
/** The device clock runs 30 days behind: every audit event reaches the cluster 30 days after its @timestamp. */
const LAG_S = 30 * DAY;
let ns = '';
let docs: { id: string; f: Doc }[] = [];
let serial = '';

afterAll(cleanupRigs);

/**
 * A simulated device with scripted incidents, collected into the engine through the forwarder's real path
 * (collector, bulk sink, the ingest pipeline that sets event.ingested). Its history starts 2025-01-01 and its
 * clock is 30 days behind, so even the live incidents are 30 days old by @timestamp when they are indexed.
 */
beforeAll(async () => {
  await setupCluster(es);
  const r = await rig({
    sim: { boots: 4, eventsPerBoot: 250, seed: 77, clock: () => Math.floor(Date.now() / 1000) - LAG_S },
    device: { on_key_change: 'alert' },
  });
  ns = r.ns;
  serial = r.sim.device.serial;
  r.sim.device.tamper(r.sim.device.fileIds()[1]!, 'edit'); // an altered record
  await r.collector.cycle();
  r.sim.device.tamper(r.sim.device.fileIds()[0]!, 'delete'); // a collected file removed from the device
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
  // Device status documents as the collector writes them, delivered 30 days late (their @timestamp is old).
  const late = new Date(Date.now() - LAG_S * 1000);
  const device = { serial, name: 'hem1', hostname: null, product: null, tags: ['test'] };
  const status = (s: Partial<DeviceStatus>, sinceDays: number): DeviceStatus => ({
    state: 'ok',
    firmware: null,
    consecutiveFailures: 0,
    lastError: null,
    lastSuccess: late,
    lastFileIngested: null,
    currentFile: { id: 'feed0001', since: new Date(late.getTime() - sinceDays * DAY * 1000) },
    loggerKey: null,
    ...s,
  });
  const unit = r.sink.open('hem1/status-test');
  let n = 0;
  for (const s of [
    status({}, 10), // unreleased for 10 days
    status({}, 2), // unreleased for 2 days: fine
    status({ state: 'failing', consecutiveFailures: 1, lastError: 'ECONNREFUSED' }, 10), // one failure: fine
    status({ state: 'failing', consecutiveFailures: 3, lastError: 'ECONNREFUSED' }, 10), // unreachable
    status({ state: 'halted', consecutiveFailures: 0 }, 10), // halted
  ])
    await unit.write(statusDocument({ device, namespace: ns, now: new Date(late.getTime() + n++ * 1000) }, s));
  await unit.end();
  await es.indices.refresh({ index: `logs-encedo_hem.*-${ns}` });
  const hits = (await es.search({ index: `logs-encedo_hem.*-${ns}`, size: 10_000, query: { match_all: {} } })).hits
    .hits;
  docs = hits.map((h) => ({ id: h._id!, f: flatten(h._source as Doc) }));
});

const audit = (d: Doc) => d['data_stream.dataset'] === 'encedo_hem.audit';
const integrity = (d: Doc) => d['data_stream.dataset'] === 'encedo_hem.integrity';
const action = (d: Doc, ...a: string[]) => a.includes(d['event.action'] as string);
const success = (d: Doc) => d['event.outcome'] === 'success';
const roles = (d: Doc) => (d['user.roles'] as string[] | undefined) ?? [];
const alertKind = (d: Doc, ...k: string[]) =>
  integrity(d) && d['event.kind'] === 'alert' && k.includes(d['encedo_hem.alert.kind'] as string);
const status = (d: Doc) => integrity(d) && action(d, 'device-status') && d['event.kind'] === 'state';

/** What each rule is meant to find, stated independently of its KQL. */
const INTENT: Record<string, (d: Doc) => boolean> = {
  'encedo_hem-integrity-alert': (d) =>
    integrity(d) && d['event.kind'] === 'alert' && !alertKind(d, 'logger_key_changed', 'file_changed', 'file_vanished'),
  'encedo_hem-logger-key-changed': (d) => alertKind(d, 'logger_key_changed'),
  'encedo_hem-log-file-changed-or-removed': (d) => alertKind(d, 'file_changed', 'file_vanished'),
  'encedo_hem-scope-check-burst': (d) => audit(d) && action(d, 'scope-check-failed'),
  'encedo_hem-hsm-health-failure': (d) =>
    audit(d) &&
    (action(d, 'trng-failure', 'non-secure-state') ||
      (action(d, 'key-integrity-check', 'selftest') && d['event.outcome'] === 'failure')),
  'encedo_hem-upgrade': (d) => audit(d) && action(d, 'firmware-upgrade'),
  'encedo_hem-device-initialised': (d) => audit(d) && action(d, 'device-initialised'),
  'encedo_hem-rtc-set-outside-startup': (d) => audit(d) && action(d, 'rtc-set') && (d['event.sequence'] as number) > 3,
  'encedo_hem-key-deleted': (d) => audit(d) && action(d, 'key-delete') && success(d),
  'encedo_hem-master-login': (d) => audit(d) && action(d, 'login-passphrase') && roles(d).includes('master'),
  'encedo_hem-new-authenticator-paired': (d) => audit(d) && action(d, 'authenticator-paired') && success(d),
  'encedo_hem-first-login-role': (d) =>
    audit(d) &&
    action(d, 'login-passphrase', 'login-external') &&
    success(d) &&
    !roles(d).includes('master') &&
    d['encedo_hem.self_generated'] !== true,
  'encedo_hem-audit-log-delete': (d) => audit(d) && action(d, 'audit-log-delete'),
  'encedo_hem-config-changed': (d) => audit(d) && action(d, 'config-updated'),
  'encedo_hem-tls-error-burst': (d) => audit(d) && action(d, 'tls-error'),
  'encedo_hem-crypto-failure-burst': (d) =>
    audit(d) && (d['event.action'] as string).startsWith('crypto-') && d['event.outcome'] === 'failure',
  'encedo_hem-audit-trail-unreleased': (d) =>
    status(d) &&
    d['encedo_hem.status.state'] === 'ok' &&
    (d['encedo_hem.status.unreleased_seconds'] as number) > 7 * DAY,
  'encedo_hem-device-unreachable': (d) =>
    status(d) && (d['encedo_hem.status.consecutive_failures'] as number) >= 3 && d['encedo_hem.status.halted'] !== true,
  'encedo_hem-forwarder-halted': (d) => status(d) && d['encedo_hem.status.halted'] === true,
};

/** The engine-side search a rule's run amounts to: its query, within its look-back on one time field. */
async function ruleSearch(rule: Record<string, any>, timeField: string, gte: string, lt = 'now'): Promise<string[]> {
  const hits = await es.search({
    index: `logs-encedo_hem.*-${ns}`,
    size: 10_000,
    query: {
      bool: {
        filter: [{ query_string: { query: kqlToQueryString(rule.query) } }, { range: { [timeField]: { gte, lt } } }],
      },
    },
  });
  return hits.hits.hits.map((h) => h._id!).sort();
}

describe('detection rules on the real engine (look-back on event.ingested)', () => {
  it('every document got event.ingested from the ingest pipeline; the audit events are 30 days old', () => {
    const now = Date.now();
    for (const d of docs) {
      const ingested = Date.parse(d.f['event.ingested'] as string);
      expect(now - ingested, `${d.id} event.ingested`).toBeLessThan(10 * 60_000);
      expect(now - ingested).toBeGreaterThanOrEqual(-5_000);
    }
    const auditDocs = docs.filter((d) => audit(d.f));
    expect(auditDocs.length).toBeGreaterThan(900);
    for (const d of auditDocs) expect(now - Date.parse(d.f['@timestamp'] as string)).toBeGreaterThan(29 * DAY * 1000);
  });

  it.each(rules.map((r) => [r.rule_id as string, r] as const))(
    '%s matches exactly its incident documents, which a look-back on @timestamp would miss',
    async (id, rule) => {
      const intent = INTENT[id];
      expect(intent, `INTENT states what ${id} is for`).toBeDefined();
      const expected = docs
        .filter((d) => intent!(d.f))
        .map((d) => d.id)
        .sort();
      expect(expected.length, `the scripted data contains incidents for ${id}`).toBeGreaterThan(0);
      // What the detection engine searches with timestamp_override: event.ingested within now-<from>.
      expect(rule.timestamp_override).toBe('event.ingested');
      expect(await ruleSearch(rule, 'event.ingested', rule.from)).toEqual(expected);
      // The old behaviour (@timestamp within now-<from>) misses every incident that arrived late.
      const byTimestamp = new Set(await ruleSearch(rule, '@timestamp', rule.from));
      const cutoff = Date.now() - 24 * 3600_000;
      const late = docs.filter((d) => intent!(d.f) && Date.parse(d.f['@timestamp'] as string) < cutoff);
      if (rule.query.includes('encedo_hem.audit') || rule.query.includes('device-status'))
        expect(late.length, `${id} has incidents delivered late`).toBeGreaterThan(0);
      for (const d of late) expect(byTimestamp.has(d.id), `${d.id} found by @timestamp`).toBe(false);
      if (rule.query.includes('encedo_hem.audit')) expect(byTimestamp.size).toBe(0);
      if (rule.type === 'threshold') {
        expect(rule.threshold.field).toEqual(['observer.serial_number']);
        const perDevice = docs.filter((d) => intent!(d.f) && d.f['observer.serial_number'] === serial);
        expect(perDevice).toHaveLength(expected.length);
        expect(perDevice.length).toBeGreaterThanOrEqual(rule.threshold.value);
      }
      if (rule.type === 'new_terms') {
        // Nothing was ingested in the history window before the look-back: every term in it is new.
        const from = rule.from as string;
        expect(await ruleSearch(rule, 'event.ingested', rule.history_window_start, from)).toEqual([]);
        const terms = new Set(
          docs.filter((d) => intent!(d.f)).map((d) => JSON.stringify(rule.new_terms_fields.map((f: string) => d.f[f]))),
        );
        expect(terms.size).toBeGreaterThan(0);
      }
    },
  );

  it('no two rules fire on the same event', async () => {
    const firedBy = new Map<string, string[]>();
    for (const r of rules)
      for (const id of await ruleSearch(r, 'event.ingested', r.from))
        firedBy.set(id, [...(firedBy.get(id) ?? []), r.rule_id]);
    const twice = [...firedBy].filter(([, ids]) => ids.length > 1);
    expect(twice).toEqual([]);
  });
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
      for (const f of r.new_terms_fields ?? []) aggregated.add(f);
      for (const f of r.alert_suppression?.group_by ?? []) aggregated.add(f);
      aggregated.add(r.timestamp_override);
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
