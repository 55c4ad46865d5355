import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IndexDocument, RecordMapper } from '../../src/ecs/map.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import { type BulkSinkOptions, ElasticsearchBulkSink } from '../../src/sinks/elasticsearch/bulk-sink.js';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { SinkError } from '../../src/sinks/sink.js';
import { clusterUrl, countDocs, testClient, uniqueNamespace } from '../helpers/cluster.js';
import { LOGGER_PUBLIC, validFile } from '../helpers/log-gen.js';

const client = testClient();
const logFile = validFile({ segments: 4, perSegment: 30 });
const records = verifyLines(parseLogSync(Buffer.from(logFile.text)), LOGGER_PUBLIC).records;

function documents(ns: string): IndexDocument[] {
  const context = { device: { serial: 's' }, fileId: 'f', header: null, namespace: ns, created: new Date() };
  const mapper = new RecordMapper(context);
  return records.map((r) => mapper.map(r));
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}
interface Bulk {
  /** 1-based count of `_bulk` requests seen by this proxy. */
  readonly n: number;
  /** The NDJSON request lines. */
  readonly lines: string[];
  /** Sends the request to the real engine and returns its answer. */
  forward(): Promise<Answer>;
}
type OnBulk = (bulk: Bulk) => Promise<Answer>;

/**
 * An engine-side proxy: everything goes to the real engine; `_bulk` requests go through `onBulk`, which may forward
 * and rewrite the answer, or answer itself (refusals the engine does not produce on demand).
 */
async function startProxy(onBulk: OnBulk): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(clusterUrl());
  let n = 0;
  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
      const headers = { ...req.headers, host: target.host };
      delete headers['accept-encoding']; // plain answers, so they can be rewritten
      const options = { host: target.hostname, port: target.port, method: req.method, path: req.url, headers };
      const out = request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  const reply = (res: ServerResponse, status: number, body: Buffer, headers: IncomingMessage['headers'] = {}) => {
    const { 'content-length': _l, 'content-encoding': _e, 'transfer-encoding': _t, ...rest } = headers;
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-elastic-product': 'Elasticsearch',
      ...rest,
      'content-length': body.length,
    });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        if (!/\/_bulk(\?|$)/.test(req.url ?? '')) {
          const r = await forward(req, body);
          return reply(res, r.status, r.body, r.headers);
        }
        const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
        let headers: IncomingMessage['headers'] = {};
        const answer = await onBulk({
          n: ++n,
          lines: raw.toString('utf8').split('\n').filter(Boolean),
          forward: async () => {
            const r = await forward(req, body);
            headers = r.headers;
            return { status: r.status, body: JSON.parse(r.body.toString('utf8')) as unknown };
          },
        });
        reply(res, answer.status, Buffer.from(JSON.stringify(answer.body)), headers);
      })().catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface BulkBody {
  errors: boolean;
  items: Record<string, { _index?: string; _id?: string; status: number; error?: unknown }>[];
}

/** The answer the engine gives when every document of the request meets a cluster block. */
function blockedItems(lines: string[], status: number, reason: string): Answer {
  const items = lines
    .filter((_, i) => i % 2 === 0)
    .map((l) => {
      const { _index, _id } = (JSON.parse(l) as { create: { _index: string; _id: string } }).create;
      return { create: { _index, _id, status, error: { type: 'cluster_block_exception', reason } } };
    });
  return { status: 200, body: { took: 1, errors: true, items } };
}

interface Captured {
  readonly level: string;
  readonly fields: object;
  readonly message: string;
}

function capturingLog(into: Captured[]) {
  const at = (level: string) => (fields: object, message: string) => into.push({ level, fields, message });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function newSink(url: string, options: Partial<BulkSinkOptions> = {}) {
  const dlDir = mkdtempSync(join(tmpdir(), 'hemfwd-dl-'));
  const deadLetterFile = join(dlDir, 'dl.ndjson');
  const sinkClient = createElasticsearchClient({ hosts: [url], requestTimeoutMs: 10_000 });
  const sink = new ElasticsearchBulkSink({
    client: sinkClient,
    deadLetterFile,
    flushCount: 40,
    flushIntervalMs: 50,
    retryBaseMs: 50,
    retryMaxMs: 400,
    ...options,
  });
  return { sink, deadLetterFile, close: () => sinkClient.close() };
}

async function failure(p: Promise<unknown>): Promise<SinkError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SinkError);
  return error as SinkError;
}

async function expectAllOnce(ns: string, docs: IndexDocument[]) {
  const index = `logs-encedo_hem.audit-${ns}`;
  expect(await countDocs(client, index)).toBe(docs.length);
  expect(await countDocs(client, index, { ids: { values: docs.map((d) => d._id) } })).toBe(docs.length);
  expect(await countDocs(client, `logs-encedo_hem.deadletter-${ns}`)).toBe(0);
}

beforeAll(async () => {
  await setupCluster(client);
});
afterAll(async () => {
  await client.close();
});

describe('cluster blocks are waited out, never dead-lettered', () => {
  it('a real write block on the backing index: retried until lifted', { timeout: 30_000 }, async () => {
    const ns = uniqueNamespace('blk');
    const docs = documents(ns);
    const stream = `logs-encedo_hem.audit-${ns}`;
    await client.indices.createDataStream({ name: stream });
    const backing = (await client.indices.getDataStream({ name: stream })).data_streams[0]!.indices[0]!.index_name;
    await client.indices.putSettings({ index: backing, settings: { 'index.blocks.write': true } });
    const log: Captured[] = [];
    const { sink, deadLetterFile, close } = newSink(clusterUrl(), { log: capturingLog(log) });
    const unblock = new Promise((r) => setTimeout(r, 1000)).then(() =>
      client.indices.putSettings({ index: backing, settings: { 'index.blocks.write': false } }),
    );
    try {
      const unit = sink.open('f');
      for (const d of docs) await unit.write(d);
      const summary = await unit.end();
      await unblock;
      await sink.close();
      expect(summary).toEqual({ written: docs.length, duplicates: 0, deadLettered: 0, deadLetters: [] });
      expect(sink.stats.retries).toBeGreaterThan(0);
      expect(existsSync(deadLetterFile)).toBe(false);
      await expectAllOnce(ns, docs);
      const warnings = log.filter((l) => l.level === 'warn' && /cluster block/.test(l.message));
      expect(warnings).toHaveLength(1); // throttled: many blocked requests, one warning
      expect(warnings[0]!.message).toContain('index write');
      expect(log.some((l) => l.level === 'info' && /accepts writes again/.test(l.message))).toBe(true);
    } finally {
      await unblock;
      await close();
    }
  });

  it('a whole-request 403 block, then per-item watermark blocks: retried', { timeout: 30_000 }, async () => {
    const ns = uniqueNamespace('blk');
    const docs = documents(ns);
    const watermark = 'index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark];';
    const proxy = await startProxy(async (bulk) => {
      if (bulk.n === 1) {
        const reason = 'blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];';
        return { status: 403, body: { error: { type: 'cluster_block_exception', reason }, status: 403 } };
      }
      if (bulk.n <= 4) return blockedItems(bulk.lines, bulk.n % 2 ? 403 : 429, watermark);
      return bulk.forward();
    });
    const { sink, close } = newSink(proxy.url, { flushCount: 1000 });
    try {
      const unit = sink.open('f');
      for (const d of docs) await unit.write(d);
      expect(await unit.end()).toEqual({ written: docs.length, duplicates: 0, deadLettered: 0, deadLetters: [] });
      await sink.close();
      await expectAllOnce(ns, docs);
    } finally {
      await close();
      await proxy.close();
    }
  });
});

describe('refused credentials fail the file; nothing is dead-lettered', () => {
  it.each([
    [401, 'security_exception', /rejected the credentials \(401\)/],
    [403, 'security_exception', /denied writing to logs-encedo_hem\.audit-.+ \(403 security_exception\)/],
  ])('a per-item %i fails only the unit it belongs to', { timeout: 30_000 }, async (status, type, message) => {
    const ns = uniqueNamespace('auth');
    const docs = documents(ns);
    const victim = docs[5]!._id;
    const proxy = await startProxy(async (bulk) => {
      const answer = await bulk.forward();
      const body = answer.body as BulkBody;
      // Items answer in request order (the sink asks for status and error only, not ids).
      const at = bulk.lines.filter((_, i) => i % 2 === 0).findIndex((action) => action.includes(victim));
      if (at >= 0) {
        body.errors = true;
        const error = { type, reason: 'action [indices:data/write/bulk[s]] is unauthorized' };
        body.items[at]!.create = { status, error };
      }
      return answer;
    });
    const { sink, deadLetterFile, close } = newSink(proxy.url, { flushCount: 1000, flushIntervalMs: 60_000 });
    try {
      const a = sink.open('a');
      const b = sink.open('b');
      for (const d of docs.slice(0, 50)) await a.write(d);
      for (const d of docs.slice(50)) await b.write(d);
      const [ea, sb] = [failure(a.end()), b.end()];
      const error = await ea;
      expect(error.code).toBe('auth');
      expect(error.message).toMatch(message);
      expect(await sb).toEqual({ written: docs.length - 50, duplicates: 0, deadLettered: 0, deadLetters: [] });
      await sink.close();
      expect(sink.stats.deadLettered).toBe(0);
      expect(sink.stats.queued).toBe(0);
      expect(existsSync(deadLetterFile)).toBe(false);
      expect(await countDocs(client, `logs-encedo_hem.deadletter-${ns}`)).toBe(0);
    } finally {
      await close();
      await proxy.close();
    }
  });
});

describe('an unwritable dead-letter file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-dlbad-'));
  writeFileSync(join(dir, 'regular'), 'x');
  mkdirSync(join(dir, 'a-directory'));

  it.each([
    ['/proc/hemfwd-nope/x.ndjson', 'ENOENT'],
    [join(dir, 'regular', 'x.ndjson'), 'ENOTDIR'],
    [join(dir, 'a-directory'), 'EISDIR'],
  ])('%s fails the unit with one io line (%s); no crash, no spin', { timeout: 20_000 }, async (file, code) => {
    // The engine refuses the index name, and the dead-letter stream of that namespace too: the file is the last resort.
    const [doc] = documents('x');
    const bad: IndexDocument = { _id: doc!._id, _index: 'logs-encedo_hem.audit-BAD*NAME', _source: doc!._source };
    const { sink, close } = newSink(clusterUrl(), { deadLetterFile: file });
    try {
      const unit = sink.open('f');
      await unit.write(bad);
      const error = await failure(unit.end());
      expect(error.code).toBe('io');
      expect(error.message).toMatch(new RegExp(`^cannot write the dead-letter file ${file}: ${code} \\(.+\\)$`));
      expect(error.message).not.toContain('\n');
      await sink.close();
      expect(sink.stats.queued).toBe(0);
    } finally {
      await close();
    }
  });
});

describe('a bulk response that does not match the request', () => {
  it('an item missing every time: the batch is resent a few times, then fails', { timeout: 20_000 }, async () => {
    const ns = uniqueNamespace('short');
    const docs = documents(ns);
    const proxy = await startProxy(async (bulk) => {
      const answer = await bulk.forward();
      (answer.body as BulkBody).items.pop();
      return answer;
    });
    const log: Captured[] = [];
    const { sink, close } = newSink(proxy.url, { flushCount: 1000, log: capturingLog(log) });
    try {
      const unit = sink.open('f');
      for (const d of docs) await unit.write(d);
      const error = await failure(unit.end());
      expect(error.code).toBe('rejected');
      expect(error.message).toContain(`bulk request of ${docs.length} documents with ${docs.length - 1} item results`);
      await sink.close();
      expect(sink.stats.requests).toBeGreaterThan(1);
      expect(sink.stats.queued).toBe(0);
      expect(log.some((l) => l.level === 'error' && /resending the batch/.test(l.message))).toBe(true);
    } finally {
      await close();
      await proxy.close();
    }
  });

  it('an item missing once: the resent batch succeeds; every document indexed once', { timeout: 20_000 }, async () => {
    const ns = uniqueNamespace('short');
    const docs = documents(ns);
    const proxy = await startProxy(async (bulk) => {
      const answer = await bulk.forward();
      if (bulk.n === 1) (answer.body as BulkBody).items.pop();
      return answer;
    });
    const { sink, close } = newSink(proxy.url, { flushCount: 1000 });
    try {
      const unit = sink.open('f');
      for (const d of docs) await unit.write(d);
      const summary = await unit.end();
      expect(summary.written + summary.duplicates).toBe(docs.length);
      expect(summary.deadLettered).toBe(0);
      await sink.close();
      await expectAllOnce(ns, docs);
    } finally {
      await close();
      await proxy.close();
    }
  });
});
