import { EcsFlat } from '@elastic/ecs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_ECS_FIELDS, AUDIT_VENDOR_FIELDS, CONSTANT_FIELDS } from '../../src/ecs/fields.js';
import type { IndexDocument } from '../../src/ecs/map.js';
import { ElasticsearchBulkSink } from '../../src/sinks/elasticsearch/bulk-sink.js';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';
import { SetupError, setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { SimulatedDevice } from '../../src/simulator/device.js';
import { runCli } from '../helpers/cli.js';
import { clusterUrl, countDocs, testClient, uniqueNamespace } from '../helpers/cluster.js';
import { flatten } from '../helpers/ecs-validate.js';
import { mappedDocuments } from '../helpers/documents.js';

const client = testClient();
let device: SimulatedDevice;
let fileText: string;

/** A realistic multi-segment file from the simulator, mapped for namespace `ns`. */
function documents(ns: string, text = fileText): IndexDocument[] {
  return mappedDocuments(device, text, ns);
}

async function index(
  docs: IndexDocument[],
  options: Partial<ConstructorParameters<typeof ElasticsearchBulkSink>[0]> = {},
) {
  const sink = new ElasticsearchBulkSink({
    client,
    deadLetterFile: join(mkdtempSync(join(tmpdir(), 'hemfwd-dl-')), 'dl.ndjson'),
    flushCount: 200,
    ...options,
  });
  const unit = sink.open('file');
  for (const d of docs) await unit.write(d);
  const summary = await unit.end();
  await sink.close();
  return { summary, sink };
}

beforeAll(async () => {
  device = await SimulatedDevice.create({
    passphrase: 'p',
    masterPassphrase: 'm',
    boots: 1,
    eventsPerBoot: 600,
    segmentEvery: 150,
    seed: 42,
  });
  fileText = device.fileText(device.fileIds()[0]!)!;
  await setupCluster(client);
});
afterAll(async () => {
  await client.close();
});

describe('hem-forwarder setup', () => {
  it('installs the templates once; a second run changes nothing', () => {
    runCli(['setup', '--elasticsearch', clusterUrl()]);
    const again = runCli(['setup', '--elasticsearch', clusterUrl()]);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/: 0 created, 0 updated, \d+ unchanged\n$/);
    expect(again.stdout).toContain('keep component_template logs-encedo_hem.audit@custom: yours, never changed');
  });

  it('upgrades an older installed version and never downgrades a newer one', async () => {
    const name = 'logs-encedo_hem.deadletter@package';
    const current = (await client.cluster.getComponentTemplate({ name })).component_templates[0]!.component_template;
    const put = (version: string) =>
      client.cluster.putComponentTemplate({
        name,
        template: current.template,
        _meta: { ...current._meta, version, content_hash: 'other' },
      } as never);
    await put('99.0.0');
    expect((await setupCluster(client)).actions.find((a) => a.name === name)).toMatchObject({
      action: 'skip_newer',
      installedVersion: '99.0.0',
    });
    await put('0.0.1');
    expect((await setupCluster(client, { dryRun: true })).actions.find((a) => a.name === name)?.action).toBe('update');
    expect((await setupCluster(client)).actions.find((a) => a.name === name)?.action).toBe('update');
    expect((await setupCluster(client)).actions.find((a) => a.name === name)?.action).toBe('unchanged');
  });

  it('gives every field the mapper emits the expected type in the data stream', async () => {
    const ns = uniqueNamespace();
    const docs = documents(ns);
    const emitted = new Set(docs.flatMap((d) => Object.keys(flatten(d._source))));
    const contract = new Set<string>([...AUDIT_ECS_FIELDS, ...Object.keys(AUDIT_VENDOR_FIELDS)]);
    for (const f of emitted) expect(contract.has(f), `${f} is emitted but not in src/ecs/fields.ts`).toBe(true);
    await index(docs.slice(0, 50));
    const mapping = await client.indices.getMapping({ index: `logs-encedo_hem.audit-${ns}` });
    const properties = Object.values(mapping)[0]!.mappings.properties!;
    const typeOf = (field: string) => {
      let node = { properties } as { properties?: Record<string, unknown>; type?: string };
      for (const part of field.split('.')) node = (node.properties?.[part] ?? {}) as typeof node;
      return node.type;
    };
    const flat = EcsFlat as unknown as Record<string, { type: string }>;
    for (const field of contract) {
      const expected =
        field in CONSTANT_FIELDS
          ? 'constant_keyword'
          : field in AUDIT_VENDOR_FIELDS
            ? AUDIT_VENDOR_FIELDS[field]
            : flat[field]!.type;
      const actual = typeOf(field);
      // OpenSearch requires a value on constant_keyword, so the per-stream namespace is a keyword there.
      if (field === 'data_stream.namespace' && actual === 'keyword') continue;
      expect(actual, field).toBe(expected);
    }
    for (const aggregated of [
      'event.action',
      'event.outcome',
      'user.roles',
      'observer.serial_number',
      'encedo_hem.integrity.status',
      'encedo_hem.key.id',
    ]) {
      expect(['keyword', 'constant_keyword']).toContain(typeOf(aggregated));
    }
  });

  it('explains an unreachable cluster, bad credentials and missing privileges', async () => {
    const r = runCli(['setup', '--elasticsearch', 'http://127.0.0.1:1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the cluster is unreachable/);
    for (const [status, message] of [
      [401, /rejected the credentials \(401\)/],
      [403, /needs the cluster privilege monitor/],
    ] as const) {
      // A stand-in that only ever refuses: the error path needs no real engine.
      const server = createServer((_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        res.end(JSON.stringify({ error: { type: 'security_exception', reason: 'no' }, status }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await expect(setupCluster(createElasticsearchClient({ hosts: [url] }))).rejects.toThrow(message);
      await expect(setupCluster(createElasticsearchClient({ hosts: [url] }))).rejects.toBeInstanceOf(SetupError);
      server.close();
    }
  });
});

describe('the bulk sink', () => {
  const multiSegmentTitle =
    'indexes a multi-segment file: one document per record, searchable by action, ' + 'outcome, role and vendor fields';
  it(multiSegmentTitle, async () => {
    const ns = uniqueNamespace();
    const docs = documents(ns);
    const { summary } = await index(docs);
    expect(summary).toEqual({ written: docs.length, duplicates: 0, deadLettered: 0, deadLetters: [] });
    const ds = `logs-encedo_hem.audit-${ns}`;
    expect(await countDocs(client, ds)).toBe(docs.length);
    const expectCount = async (
      field: string,
      value: string | boolean,
      predicate: (d: Record<string, unknown>) => boolean,
    ) => {
      const expected = docs.filter((d) => predicate(flatten(d._source))).length;
      expect(expected, `${field}=${value} occurs in the file`).toBeGreaterThan(0);
      expect(await countDocs(client, ds, { term: { [field]: value } }), `${field}=${value}`).toBe(expected);
    };
    await expectCount('event.action', 'key-delete', (f) => f['event.action'] === 'key-delete');
    await expectCount('event.outcome', 'failure', (f) => f['event.outcome'] === 'failure');
    await expectCount(
      'user.roles',
      'master',
      (f) => (f['user.roles'] as string[] | undefined)?.includes('master') ?? false,
    );
    await expectCount(
      'encedo_hem.integrity.status',
      'verified',
      (f) => f['encedo_hem.integrity.status'] === 'verified',
    );
    await expectCount(
      'encedo_hem.event.name',
      'LOG_TYPE_KEY_INIT',
      (f) => f['encedo_hem.event.name'] === 'LOG_TYPE_KEY_INIT',
    );
    const kid = docs.map((d) => flatten(d._source)['encedo_hem.key.id']).find(Boolean) as string;
    await expectCount('encedo_hem.key.id', kid, (f) => f['encedo_hem.key.id'] === kid);
  });

  it('re-indexing the same file adds nothing: every document counts as a duplicate', async () => {
    const ns = uniqueNamespace();
    const docs = documents(ns);
    await index(docs);
    const { summary, sink } = await index(documents(ns));
    expect(summary).toEqual({ written: 0, duplicates: docs.length, deadLettered: 0, deadLetters: [] });
    expect(sink.stats.duplicates).toBe(docs.length);
    expect(await countDocs(client, `logs-encedo_hem.audit-${ns}`)).toBe(docs.length);
  });

  it('a document that breaks the mapping goes to the dead-letter stream; the rest is indexed', async () => {
    const ns = uniqueNamespace();
    const docs = documents(ns).slice(0, 100);
    const source = structuredClone(docs[10]!._source) as { event: Record<string, unknown> };
    source.event.sequence = 'not a number';
    const broken: IndexDocument = { _id: 'broken-doc', _index: docs[10]!._index, _source: source };
    const { summary } = await index([...docs, broken]);
    expect(summary).toMatchObject({ written: 100, duplicates: 0, deadLettered: 1 });
    // Named with where it went: custody digests list dead letters so an audit knows them.
    expect(summary.deadLetters).toEqual([
      expect.objectContaining({ status: 400, to: expect.stringMatching(/^logs-encedo_hem\.deadletter-/) }),
    ]);
    expect(await countDocs(client, `logs-encedo_hem.audit-${ns}`)).toBe(100);
    const dl = `logs-encedo_hem.deadletter-${ns}`;
    await client.indices.refresh({ index: dl });
    const hits = (await client.search({ index: dl })).hits.hits;
    expect(hits).toHaveLength(1);
    const letter = hits[0]!._source as {
      error: { type: string };
      event: { original: string };
      encedo_hem: { deadletter: { id: string } };
    };
    expect(letter.error.type).toBe('mapper_parsing_exception');
    expect(letter.encedo_hem.deadletter.id).toBe('broken-doc');
    expect(JSON.parse(letter.event.original)).toEqual(broken._source);
  });

  it('when the dead-letter stream refuses too, the document lands in the local dead-letter file', async () => {
    const [doc] = documents('x');
    const bad: IndexDocument = { _id: doc!._id, _index: 'logs-encedo_hem.audit-BAD*NAME', _source: doc!._source };
    const file = join(mkdtempSync(join(tmpdir(), 'hemfwd-dl-')), 'dl.ndjson');
    const { summary } = await index([bad], { deadLetterFile: file });
    expect(summary.deadLettered).toBe(1);
    expect(existsSync(file)).toBe(true);
    const [line] = readFileSync(file, 'utf8').trim().split('\n');
    expect(JSON.parse(line!)).toMatchObject({
      _id: doc!._id,
      _source: { encedo_hem: { deadletter: { index: 'logs-encedo_hem.audit-BAD*NAME' } } },
    });
  });

  it('keeps memory bounded: write() waits while every request slot is busy', async () => {
    const ns = uniqueNamespace();
    const docs = documents(ns);
    const sink = new ElasticsearchBulkSink({ client, deadLetterFile: '/dev/null', flushCount: 50, concurrency: 1 });
    const unit = sink.open('f');
    let maxQueued = 0;
    for (const d of docs) {
      await unit.write(d);
      maxQueued = Math.max(maxQueued, sink.stats.queued);
    }
    await unit.end();
    await sink.close();
    expect(maxQueued).toBeLessThanOrEqual(2 * 50); // one batch in flight plus one buffered
    expect(sink.stats.written).toBe(docs.length);
  });
});

describe('hem-forwarder import', () => {
  it('imports files with the same ids as live collection; importing again adds nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-import-'));
    const path = join(dir, '67757a8d.log');
    writeFileSync(path, fileText, 'latin1');
    const ns = uniqueNamespace();
    const args = [
      'import',
      '--elasticsearch',
      clusterUrl(),
      '--key',
      device.loggerPublicKey.toString('base64'),
      '--serial',
      device.serial,
      '--namespace',
      ns,
      path,
    ];
    const first = runCli(args);
    expect(first.status).toBe(0);
    const n = documents(ns).length;
    // Every record, plus the file's integrity record.
    expect(first.stdout).toContain(
      `${path}: valid; ${n}/${n} records verified; ${n + 1} written, 0 already indexed, 0 dead-lettered`,
    );
    const second = runCli(args);
    expect(second.stdout).toContain(`${n} records verified; 0 written, ${n + 1} already indexed`);
    expect(await countDocs(client, `logs-encedo_hem.integrity-${ns}`)).toBe(1);
  });
});
