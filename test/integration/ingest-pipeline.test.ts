import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertDocument } from '../../src/ecs/integrity.js';
import type { IndexDocument } from '../../src/ecs/map.js';
import { ElasticsearchBulkSink } from '../../src/sinks/elasticsearch/bulk-sink.js';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';
import { FINAL_PIPELINE, SetupError, setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { SimulatedDevice } from '../../src/simulator/device.js';
import { runCli } from '../helpers/cli.js';
import { clusterUrl, countDocs, testClient, uniqueNamespace } from '../helpers/cluster.js';
import { mappedDocuments } from '../helpers/documents.js';

const client = testClient();
const STREAMS = ['audit', 'integrity', 'deadletter'] as const;
/** What a document tries to bring as its own event.ingested: must never survive. */
const BROUGHT = '2001-02-03T04:05:06.000Z';
const DAY = 86_400_000;
let device: SimulatedDevice;

type Source = { '@timestamp'?: string; event?: { ingested?: unknown; original?: string }; [k: string]: unknown };

function auditDocuments(ns: string): IndexDocument[] {
  return mappedDocuments(device, device.fileText(device.fileIds()[0]!)!, ns);
}

/** A copy of `doc` (without the prebuilt JSON) whose source is changed by `edit`. */
function edited(doc: IndexDocument, edit: (s: Source) => Source, id = doc._id): IndexDocument {
  return { _id: id, _index: doc._index, _source: edit(structuredClone(doc._source) as Source) as never };
}

async function index(docs: IndexDocument[]) {
  const sink = new ElasticsearchBulkSink({
    client,
    deadLetterFile: join(mkdtempSync(join(tmpdir(), 'hemfwd-dl-')), 'dl.ndjson'),
    flushCount: 200,
  });
  const unit = sink.open('file');
  for (const d of docs) await unit.write(d);
  const summary = await unit.end();
  await sink.close();
  return summary;
}

async function sources(stream: string, ns: string): Promise<Map<string, Source>> {
  const index = `logs-encedo_hem.${stream}-${ns}`;
  await client.indices.refresh({ index });
  const r = await client.search({ index, size: 100, query: { match_all: {} } });
  return new Map(r.hits.hits.map((h) => [h._id!, h._source as Source]));
}

/** The installed pipeline with its version and content hash replaced, wherever this engine keeps them. */
async function putPipelineVersion(version: string): Promise<Record<string, unknown>> {
  const installed = (await client.ingest.getPipeline({ id: FINAL_PIPELINE }))[FINAL_PIPELINE] as Record<
    string,
    unknown
  >;
  const body = { ...installed };
  if (body._meta) body._meta = { ...(body._meta as object), version, content_hash: 'other' };
  else {
    const [description, meta] = String(body.description).split(' _meta=') as [string, string];
    const changed = { ...(JSON.parse(meta) as object), version, content_hash: 'other' };
    body.description = `${description} _meta=${JSON.stringify(changed)}`;
  }
  await client.ingest.putPipeline({ id: FINAL_PIPELINE, ...body } as never);
  return body;
}

beforeAll(async () => {
  device = await SimulatedDevice.create({
    passphrase: 'p',
    masterPassphrase: 'm',
    boots: 1,
    eventsPerBoot: 20,
    seed: 7,
  });
  await setupCluster(client);
});
afterAll(async () => {
  await client.close();
});

describe(`ingest pipeline ${FINAL_PIPELINE}`, () => {
  it('is installed by setup before the index templates, and every index template runs it last', async () => {
    const dry = await setupCluster(client, { dryRun: true });
    const at = (kind: string, name?: string) =>
      dry.actions.findIndex((a) => a.kind === kind && (name === undefined || a.name === name));
    expect(at('ingest_pipeline', FINAL_PIPELINE)).toBeGreaterThanOrEqual(0);
    expect(at('ingest_pipeline', FINAL_PIPELINE)).toBeLessThan(at('index_template'));
    const listed = runCli(['setup', '--dry-run', '--elasticsearch', clusterUrl()]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(`unchanged ingest_pipeline ${FINAL_PIPELINE}\n`);
    for (const stream of STREAMS) {
      const name = `logs-encedo_hem.${stream}`;
      const t = (await client.indices.getIndexTemplate({ name })).index_templates[0]!.index_template;
      const settings = t.template?.settings as { index?: { final_pipeline?: string } } | undefined;
      expect(settings?.index?.final_pipeline, name).toBe(FINAL_PIPELINE);
    }
  });

  it('sets event.ingested from the cluster on every stream, over a brought value; @timestamp stays', async () => {
    const ns = uniqueNamespace();
    const old = new Date(Date.now() - 30 * DAY).toISOString();
    const [a0, a1, a2, a3] = auditDocuments(ns);
    const brings = (s: Source): Source => ({ ...s, '@timestamp': old, event: { ...s.event, ingested: BROUGHT } });
    const audit = [
      edited(a0!, brings),
      // A flat dotted key is the same field to the engine: it must not survive as a second value.
      edited(a1!, (s) => ({ ...s, 'event.ingested': BROUGHT })),
      edited(a2!, (s) => s),
      // Refused by the engine (a long field gets text): the bulk sink moves it to the dead-letter stream.
      edited(a3!, (s) => ({ ...s, event: { ...s.event, sequence: 'not-a-number' } }), 'refused'),
    ];
    const integrity = alertDocument(
      { device: { serial: device.serial }, namespace: ns, now: new Date(old) },
      { kind: 'file_changed', message: 'file changed', fileId: '67757a8d', discriminator: 'x' },
    );
    const deadletter: IndexDocument = {
      _id: 'brought-by-hand',
      _index: `logs-encedo_hem.deadletter-${ns}`,
      _source: {
        '@timestamp': old,
        message: 'a dead-letter document that brings its own event.ingested',
        event: { kind: 'pipeline_error', module: 'encedo_hem', dataset: 'encedo_hem.deadletter', ingested: BROUGHT },
        data_stream: { type: 'logs', dataset: 'encedo_hem.deadletter', namespace: ns },
      } as never,
    };
    const before = Date.now();
    const summary = await index([...audit, edited(integrity, brings), deadletter]);
    const after = Date.now();
    expect(summary).toMatchObject({ written: 5, duplicates: 0, deadLettered: 1 });

    const seen = new Map<string, Source>();
    for (const stream of STREAMS) {
      const docs = await sources(stream, ns);
      for (const [id, s] of docs) seen.set(`${stream}/${id}`, s);
      // The cluster's clock decides: a range on its own `now`.
      const index = `logs-encedo_hem.${stream}-${ns}`;
      const recent = { range: { 'event.ingested': { gte: 'now-5m', lte: 'now+1m' } } };
      expect(await countDocs(client, index, recent), stream).toBe(docs.size);
      expect(await countDocs(client, index, { term: { 'event.ingested': BROUGHT } }), stream).toBe(0);
    }
    expect([...seen.keys()].sort()).toEqual(
      [
        `audit/${a0!._id}`,
        `audit/${a1!._id}`,
        `audit/${a2!._id}`,
        'deadletter/brought-by-hand',
        'deadletter/refused',
        `integrity/${integrity._id}`,
      ].sort(),
    );
    for (const [key, s] of seen) {
      const ingested = s.event?.ingested;
      expect(typeof ingested, key).toBe('string');
      const t = Date.parse(ingested as string);
      expect(t, `${key}: ${String(ingested)}`).toBeGreaterThanOrEqual(before - 5_000);
      expect(t, `${key}: ${String(ingested)}`).toBeLessThanOrEqual(after + 5_000);
      expect(s, key).not.toHaveProperty(['event.ingested']);
    }
    // A 30-day-old event keeps its own @timestamp: only event.ingested is the cluster's.
    for (const key of [`audit/${a0!._id}`, `integrity/${integrity._id}`, 'deadletter/brought-by-hand'])
      expect(seen.get(key)!['@timestamp'], key).toBe(old);
    // The refused original is kept verbatim, as the forwarder sent it (without a cluster time).
    expect(JSON.parse(seen.get('deadletter/refused')!.event!.original!)).not.toHaveProperty('event.ingested');
  });

  it('changes nothing on a second setup', async () => {
    await setupCluster(client);
    const again = await setupCluster(client);
    // The test engine has no ISM plugin: its lifecycle policy is `unsupported` every time, never installed.
    for (const a of again.actions)
      expect(['unchanged', 'skip_user_owned', 'unsupported'], `${a.kind} ${a.name}`).toContain(a.action);
    expect(again.actions.find((a) => a.name === FINAL_PIPELINE)).toMatchObject({
      kind: 'ingest_pipeline',
      action: 'unchanged',
    });
  });

  it('never downgrades a newer installed pipeline, and upgrades an older one', async () => {
    const newer = await putPipelineVersion('99.0.0');
    const kept = await setupCluster(client);
    expect(kept.actions.find((a) => a.name === FINAL_PIPELINE)).toMatchObject({
      action: 'skip_newer',
      installedVersion: '99.0.0',
    });
    expect((await client.ingest.getPipeline({ id: FINAL_PIPELINE }))[FINAL_PIPELINE]).toEqual(newer);

    await putPipelineVersion('0.0.1');
    const dry = await setupCluster(client, { dryRun: true });
    expect(dry.actions.find((a) => a.name === FINAL_PIPELINE)).toMatchObject({
      action: 'update',
      installedVersion: '0.0.1',
    });
    expect((await setupCluster(client)).actions.find((a) => a.name === FINAL_PIPELINE)?.action).toBe('update');
    expect((await setupCluster(client)).actions.find((a) => a.name === FINAL_PIPELINE)?.action).toBe('unchanged');
  });

  it('stops setup with the reason on a cluster without lang-mustache', async () => {
    // A stand-in cluster without the mustache module: the simulated document keeps the template literally.
    const server = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        res.end(JSON.stringify(body));
      };
      req.resume();
      if (req.url === '/' || req.url?.startsWith('/?'))
        return send(200, {
          cluster_name: 'stand-in',
          cluster_uuid: 'u',
          version: { number: '2.19.6', distribution: 'opensearch' },
        });
      if (req.url?.startsWith('/_ingest/pipeline/_simulate'))
        return send(200, { docs: [{ doc: { _source: { event: { ingested: '{{{_ingest.timestamp}}}' } } } }] });
      return send(404, {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const standIn = createElasticsearchClient({ hosts: [url] });
    try {
      const failed = setupCluster(standIn, { dryRun: true });
      await expect(failed).rejects.toBeInstanceOf(SetupError);
      await expect(failed).rejects.toThrow(/lang-mustache/);
    } finally {
      await standIn.close();
      server.close();
    }
  });
});
