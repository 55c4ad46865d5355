import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IndexDocument } from '../../../src/ecs/map.js';
import { sourceJson } from '../../../src/ecs/map.js';
import { SearchBulkSink, type SearchBulkSinkOptions } from '../../../src/sinks/search/bulk-sink.js';
import {
  type ItemVerdict,
  type RequestVerdict,
  classifyItem,
  classifyRequest,
} from '../../../src/sinks/search/classify.js';
import type { BulkRequestFailure } from '../../../src/sinks/search/transport.js';
import { SinkError } from '../../../src/sinks/sink.js';
import {
  FakeTransport,
  type FakeHandler,
  acceptAll,
  doc,
  item,
  ok,
  requestError,
} from '../../helpers/fake-transport.js';

interface Captured {
  readonly level: string;
  readonly fields: object;
  readonly message: string;
}

function newSink(transport: FakeTransport, options: Partial<SearchBulkSinkOptions> = {}) {
  const deadLetterFile = join(mkdtempSync(join(tmpdir(), 'hemfwd-fake-dl-')), 'dl.ndjson');
  const log: Captured[] = [];
  const at = (level: string) => (fields: object, message: string) => log.push({ level, fields, message });
  const sink = new SearchBulkSink({
    transport,
    deadLetterFile,
    flushCount: 10,
    flushIntervalMs: 10,
    retryBaseMs: 1,
    retryMaxMs: 5,
    log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    ...options,
  });
  return { sink, deadLetterFile, log };
}

async function writeAll(sink: SearchBulkSink, docs: IndexDocument[], unitId = 'f') {
  const unit = sink.open(unitId);
  for (const d of docs) await unit.write(d);
  return unit;
}

async function failure(p: Promise<unknown>): Promise<SinkError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SinkError);
  return error as SinkError;
}

/** Answers request `n` with `first`, every later one with `then`. */
function onFirst(first: FakeHandler, then: FakeHandler = acceptAll, upTo = 1): FakeHandler {
  return (r) => (r.n <= upTo ? first(r) : then(r));
}

const docs = (count: number, ns = 'test') => Array.from({ length: count }, (_, i) => doc(i, ns));

describe('classify', () => {
  it.each<[number, string | undefined, ItemVerdict]>([
    [200, undefined, 'written'],
    [201, undefined, 'written'],
    [409, 'version_conflict_engine_exception', 'duplicate'],
    [403, 'cluster_block_exception', 'blocked'],
    [429, 'cluster_block_exception', 'blocked'],
    [503, 'cluster_block_exception', 'blocked'],
    [429, 'es_rejected_execution_exception', 'retry'],
    [500, 'unknown', 'retry'],
    [503, 'unavailable_shards_exception', 'retry'],
    [401, 'security_exception', 'auth'],
    [403, 'security_exception', 'auth'],
    [400, 'mapper_parsing_exception', 'reject'],
    [400, 'document_parsing_exception', 'reject'],
    [400, 'illegal_argument_exception', 'reject'],
    [404, 'index_not_found_exception', 'reject'],
  ])('item %i %s -> %s', (status, type, verdict) => {
    expect(classifyItem(status, type)).toBe(verdict);
  });

  it.each<[BulkRequestFailure, RequestVerdict]>([
    [{ unreachable: true }, 'retry'],
    [{ malformed: true }, 'malformed'],
    [{ malformed: true, status: 200 }, 'malformed'],
    [{ status: 408 }, 'retry'],
    [{ status: 429 }, 'retry'],
    [{ status: 502 }, 'retry'],
    [{ status: 403, type: 'cluster_block_exception' }, 'blocked'],
    [{ status: 429, type: 'cluster_block_exception' }, 'blocked'],
    [{ status: 401, type: 'security_exception' }, 'auth'],
    [{ status: 403, type: 'security_exception' }, 'auth'],
    [{ status: 400, type: 'illegal_argument_exception' }, 'reject'],
    [{}, 'reject'],
  ])('request %j -> %s', (f, verdict) => {
    expect(classifyRequest(f)).toBe(verdict);
  });
});

describe('SearchBulkSink over a fake transport', () => {
  it('stores documents as `create` actions with their ids; 409 counts as a duplicate', async () => {
    const transport = new FakeTransport((r) =>
      r.docs.map((_, i) => (i === 0 ? item(409, 'version_conflict_engine_exception') : ok())),
    );
    const { sink } = newSink(transport);
    const batch = docs(3);
    const unit = await writeAll(sink, batch);
    expect(await unit.end()).toEqual({ written: 2, duplicates: 1, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests).toHaveLength(1);
    expect(transport.requests[0]!.lines).toEqual(
      batch.flatMap((d) => [`{"create":{"_index":"${d._index}","_id":"${d._id}"}}`, sourceJson(d)]),
    );
    expect(sink.stats).toMatchObject({ written: 2, duplicates: 1, queued: 0, requests: 1 });
  });

  it('per-item 429 and 5xx are retried, then written; only those documents are resent', async () => {
    const transport = new FakeTransport(
      onFirst((r) =>
        r.docs.map((_, i) => (i === 1 ? item(429, 'es_rejected_execution_exception') : i === 3 ? item(503) : ok())),
      ),
    );
    const { sink, log } = newSink(transport);
    const unit = await writeAll(sink, docs(5));
    expect(await unit.end()).toEqual({ written: 5, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests.map((r) => r.docs.map((d) => d.id))).toEqual([
      ['id-0', 'id-1', 'id-2', 'id-3', 'id-4'],
      ['id-1', 'id-3'],
    ]);
    expect(sink.stats.retries).toBe(1);
    expect(log.some((l) => l.level === 'warn' && /asked to retry some documents/.test(l.message))).toBe(true);
  });

  it.each([
    [401, /^Elasticsearch rejected the credentials \(401\)$/],
    [403, /^Elasticsearch denied writing to logs-encedo_hem\.audit-test \(403 security_exception\): .*create_doc/],
  ])('per-item %i fails only the unit it belongs to, with auth; nothing is dead-lettered', async (status, message) => {
    const transport = new FakeTransport((r) =>
      r.docs.map((d) => (d.id === 'id-1' ? item(status, 'security_exception', 'unauthorized') : ok())),
    );
    const { sink, deadLetterFile } = newSink(transport, { flushCount: 100, flushIntervalMs: 60_000 });
    const all = docs(6);
    const a = await writeAll(sink, all.slice(0, 3), 'a');
    const b = await writeAll(sink, all.slice(3), 'b');
    const [ea, sb] = [failure(a.end()), b.end()];
    const error = await ea;
    expect(error.code).toBe('auth');
    expect(error.message).toMatch(message);
    expect(await sb).toEqual({ written: 3, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests).toHaveLength(1);
    expect(sink.stats).toMatchObject({ deadLettered: 0, queued: 0 });
    expect(existsSync(deadLetterFile)).toBe(false);
  });

  it('per-item cluster blocks are retried until lifted, with one warning and one "accepts again"', async () => {
    const reason = 'index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark];';
    const blocked: FakeHandler = (r) =>
      r.docs.map((_, i) => item(i % 2 ? 403 : 429, 'cluster_block_exception', reason));
    const transport = new FakeTransport(onFirst(blocked, acceptAll, 3));
    const { sink, deadLetterFile, log } = newSink(transport);
    const unit = await writeAll(sink, docs(4));
    expect(await unit.end()).toEqual({ written: 4, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests).toHaveLength(4);
    expect(sink.stats.retries).toBe(3);
    const warnings = log.filter((l) => l.level === 'warn' && /cluster block/.test(l.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(reason);
    expect(log.filter((l) => l.level === 'info' && /accepts writes again/.test(l.message))).toHaveLength(1);
    expect(existsSync(deadLetterFile)).toBe(false);
  });

  it('a whole-request cluster block (403) is retried, not taken for a denial', async () => {
    const reason = 'blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];';
    const block = requestError('HTTP 403: cluster_block_exception', {
      status: 403,
      type: 'cluster_block_exception',
      reason,
    });
    const transport = new FakeTransport(onFirst(() => block, acceptAll, 2));
    const { sink, log } = newSink(transport);
    const unit = await writeAll(sink, docs(3));
    expect(await unit.end()).toEqual({ written: 3, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests).toHaveLength(3);
    expect(log.filter((l) => l.level === 'warn' && l.message.includes(reason))).toHaveLength(1);
  });

  it('a mapping rejection is dead-lettered with the original document; the dead-letter stream accepts', async () => {
    const transport = new FakeTransport((r) =>
      r.deadLetter
        ? r.docs.map(ok)
        : r.docs.map((d) => (d.id === 'id-2' ? item(400, 'mapper_parsing_exception', 'bad field') : ok())),
    );
    const { sink, deadLetterFile } = newSink(transport);
    const batch = docs(4, 'ns1');
    const unit = await writeAll(sink, batch);
    const summary = await unit.end();
    expect(summary).toMatchObject({ written: 3, duplicates: 0, deadLettered: 1 });
    // The unit names each refused document and where it went: custody digests list them.
    expect(summary.deadLetters).toEqual([
      {
        id: 'id-2',
        index: 'logs-encedo_hem.audit-ns1',
        source: sourceJson(batch[2]!),
        status: 400,
        reason: 'bad field',
        to: 'logs-encedo_hem.deadletter-ns1',
      },
    ]);
    await sink.close();
    const letters = transport.requests.filter((r) => r.deadLetter);
    expect(letters).toHaveLength(1);
    const [letter] = letters[0]!.docs;
    expect(letter).toMatchObject({
      index: 'logs-encedo_hem.deadletter-ns1',
      id: 'id-2',
      source: {
        message: 'logs-encedo_hem.audit-ns1 rejected document id-2: mapper_parsing_exception: bad field',
        event: {
          kind: 'pipeline_error',
          original: sourceJson(batch[2]!),
          module: 'encedo_hem',
          dataset: 'encedo_hem.deadletter',
        },
        error: { type: 'mapper_parsing_exception', message: 'bad field' },
        data_stream: { type: 'logs', dataset: 'encedo_hem.deadletter', namespace: 'ns1' },
        encedo_hem: { deadletter: { index: 'logs-encedo_hem.audit-ns1', id: 'id-2', status: 400 } },
      },
    });
    expect(sink.stats).toMatchObject({ written: 3, deadLettered: 1, queued: 0 });
    expect(existsSync(deadLetterFile)).toBe(false);
  });

  it('what the dead-letter stream refuses too goes to the local file', async () => {
    const transport = new FakeTransport((r) =>
      r.deadLetter
        ? r.docs.map(() => item(400, 'illegal_argument_exception'))
        : [item(400, 'mapper_parsing_exception', 'x')],
    );
    const { sink, deadLetterFile, log } = newSink(transport);
    const unit = await writeAll(sink, docs(1));
    const summary = await unit.end();
    expect(summary).toMatchObject({ written: 0, duplicates: 0, deadLettered: 1 });
    expect(summary.deadLetters.map((l) => [l.id, l.to])).toEqual([['id-0', deadLetterFile]]);
    await sink.close();
    const lines = readFileSync(deadLetterFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(Object.keys(JSON.parse(lines[0]!) as object)).toEqual(['_id', '_index', '_source']);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      _id: 'id-0',
      _index: 'logs-encedo_hem.deadletter-test',
      _source: { encedo_hem: { deadletter: { index: 'logs-encedo_hem.audit-test', id: 'id-0', status: 400 } } },
    });
    expect(log.some((l) => l.level === 'error' && /in the local dead-letter file/.test(l.message))).toBe(true);
  });

  it('a dead-letter stream that stays unreachable: a few attempts, then the local file', async () => {
    const down = requestError('connect ECONNREFUSED', { unreachable: true });
    const transport = new FakeTransport((r) => (r.deadLetter ? down : [item(400, 'mapper_parsing_exception')]));
    const { sink, deadLetterFile } = newSink(transport);
    const unit = await writeAll(sink, docs(1));
    expect(await unit.end()).toMatchObject({ written: 0, duplicates: 0, deadLettered: 1 });
    await sink.close();
    expect(transport.requests.filter((r) => r.deadLetter)).toHaveLength(4);
    expect(readFileSync(deadLetterFile, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('an unwritable dead-letter file fails the unit with io', async () => {
    const transport = new FakeTransport((r) => r.docs.map(() => item(400, 'mapper_parsing_exception')));
    const { sink } = newSink(transport, { deadLetterFile: '/proc/hemfwd-nope/x.ndjson' });
    const unit = await writeAll(sink, docs(1));
    const error = await failure(unit.end());
    expect(error.code).toBe('io');
    expect(error.message).toMatch(/^cannot write the dead-letter file \/proc\/hemfwd-nope\/x\.ndjson: ENOENT/);
    await sink.close();
    expect(sink.stats.queued).toBe(0);
  });

  it('a short response every time: resent a few times, then the unit fails', async () => {
    const transport = new FakeTransport((r) => r.docs.slice(1).map(ok));
    const { sink, log } = newSink(transport);
    const unit = await writeAll(sink, docs(3));
    const error = await failure(unit.end());
    expect(error.code).toBe('rejected');
    const short = 'Elasticsearch answered a bulk request of 3 documents with 2 item results';
    expect(error.message).toBe(`${short} (5 times in a row); giving up on the batch`);
    await sink.close();
    expect(transport.requests).toHaveLength(5);
    expect(sink.stats.queued).toBe(0);
    expect(log.filter((l) => l.level === 'error' && /resending the batch/.test(l.message))).toHaveLength(4);
  });

  it('a short response once: the resent batch is acknowledged', async () => {
    const transport = new FakeTransport(onFirst((r) => r.docs.slice(1).map(ok)));
    const { sink } = newSink(transport);
    const unit = await writeAll(sink, docs(3));
    expect(await unit.end()).toEqual({ written: 3, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests).toHaveLength(2);
  });

  it('a malformed answer reported by the transport is resent like a short one', async () => {
    const transport = new FakeTransport(
      onFirst(() => requestError('Elasticsearch answered a bulk item without a status', { malformed: true })),
    );
    const { sink } = newSink(transport);
    const unit = await writeAll(sink, docs(2));
    expect(await unit.end()).toEqual({ written: 2, duplicates: 0, deadLettered: 0, deadLetters: [] });
    expect(transport.requests).toHaveLength(2);
  });

  it.each([
    [401, /^Elasticsearch rejected the credentials \(401\)$/],
    [403, /^Elasticsearch denied the bulk request \(403\): .*create_doc/],
  ])('a whole-request %i fails the unit with auth at once', async (status, message) => {
    const transport = new FakeTransport(() =>
      requestError(`HTTP ${status}: security_exception`, { status, type: 'security_exception' }),
    );
    const { sink, log } = newSink(transport);
    const unit = await writeAll(sink, docs(2));
    const error = await failure(unit.end());
    expect(error.code).toBe('auth');
    expect(error.message).toMatch(message);
    await sink.close();
    expect(transport.requests).toHaveLength(1);
    expect(sink.stats).toMatchObject({ retries: 0, queued: 0 });
    expect(log.some((l) => l.level === 'error' && l.message === 'Elasticsearch refused the bulk request')).toBe(true);
  });

  it('a whole-request 400, or a transport bug, fails the unit as rejected without retrying', async () => {
    for (const answer of [
      () => requestError('HTTP 400: illegal_argument_exception', { status: 400, type: 'illegal_argument_exception' }),
      () => {
        throw new TypeError('a bug');
      },
    ]) {
      const transport = new FakeTransport(answer);
      const { sink } = newSink(transport);
      const unit = await writeAll(sink, docs(1));
      const error = await failure(unit.end());
      expect(error.code).toBe('rejected');
      expect(error.message).toMatch(/^Elasticsearch refused the bulk request: (HTTP 400|a bug)/);
      expect(transport.requests).toHaveLength(1);
    }
  });

  it('whole-request connection errors and 5xx are retried until the engine answers', async () => {
    const failures = [
      requestError('connect ECONNREFUSED 127.0.0.1:9200', { unreachable: true }),
      requestError('HTTP 503: unavailable', { status: 503 }),
      requestError('Request timed out', { unreachable: true }),
    ];
    const transport = new FakeTransport((r) => failures[r.n - 1] ?? acceptAll(r));
    const { sink, log } = newSink(transport);
    const unit = await writeAll(sink, docs(3));
    expect(await unit.end()).toEqual({ written: 3, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests).toHaveLength(4);
    expect(sink.stats.retries).toBe(3);
    const warned = log.filter((l) => l.level === 'warn' && l.message === 'bulk request failed; retrying');
    expect(warned.map((l) => (l.fields as { err: string }).err)).toEqual(failures.map((f) => f.message));
  });

  it('backpressure: write() waits while every request slot is busy and the buffer is full', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const transport = new FakeTransport(async (r) => {
      await gate;
      return r.docs.map(ok);
    });
    const { sink } = newSink(transport, { concurrency: 1, flushCount: 2, flushIntervalMs: 60_000 });
    const unit = sink.open('f');
    const batch = docs(4);
    await unit.write(batch[0]!);
    await unit.write(batch[1]!); // a full buffer takes the only slot
    await unit.write(batch[2]!);
    let fourth = false;
    const waiting = unit.write(batch[3]!).then(() => (fourth = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(fourth).toBe(false);
    expect(transport.requests).toHaveLength(1);
    expect(sink.stats.queued).toBe(4);
    release();
    await waiting;
    expect(await unit.end()).toEqual({ written: 4, duplicates: 0, deadLettered: 0, deadLetters: [] });
    await sink.close();
    expect(transport.requests.map((r) => r.docs.length)).toEqual([2, 2]);
  });

  it.each([
    [2, [8, 2]],
    [1, [8]],
  ])(
    'a slot that frees takes %i buffered documents at once only if they are a quarter of a request',
    async (more, sent) => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const transport = new FakeTransport(async (r) => {
        if (r.n === 1) await gate;
        return r.docs.map(ok);
      });
      const { sink } = newSink(transport, { concurrency: 1, flushCount: 8, flushIntervalMs: 60_000 });
      const unit = sink.open('f');
      for (const d of docs(8 + more)) await unit.write(d); // the first 8 fill a request, the rest wait in the buffer
      expect(transport.requests.map((r) => r.docs.length)).toEqual([8]);
      release();
      await new Promise((r) => setTimeout(r, 30));
      // No end() and no interval yet: only a slot that freed can have sent them.
      expect(transport.requests.map((r) => r.docs.length)).toEqual(sent);
      expect(await unit.end()).toEqual({ written: 8 + more, duplicates: 0, deadLettered: 0, deadLetters: [] });
      await sink.close();
      expect(transport.requests.map((r) => r.docs.length)).toEqual([8, more]);
    },
  );

  it('an immediate unit goes at end() in a request of its own while every slot is busy, and is retried alike', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const transport = new FakeTransport(async (r) => {
      if (r.n === 1) await gate; // the bulk data holds the only slot
      if (r.n === 2) return r.docs.map(() => item(503, 'unavailable_shards_exception'));
      return r.docs.map(ok);
    });
    const { sink } = newSink(transport, { concurrency: 1, flushCount: 2, flushIntervalMs: 60_000 });
    const data = await writeAll(sink, docs(2));
    const digest = sink.open('digest', { immediate: true });
    await digest.write(doc(7));
    expect(transport.requests).toHaveLength(1); // nothing goes before end()
    expect(await digest.end()).toEqual({ written: 1, duplicates: 0, deadLettered: 0, deadLetters: [] });
    expect(transport.requests.map((r) => r.docs.map((d) => d.id))).toEqual([['id-0', 'id-1'], ['id-7'], ['id-7']]);
    release();
    expect((await data.end()).written).toBe(2);
    await sink.close();
    expect(sink.stats).toMatchObject({ written: 3, retries: 1, queued: 0 });
  });

  it('flush() waits for an immediate unit too; abort fails it', async () => {
    const transport = new FakeTransport(() => new Promise<never>(() => undefined));
    const { sink } = newSink(transport);
    const digest = sink.open('digest', { immediate: true });
    await digest.write(doc(1));
    const ended = failure(digest.end());
    let flushed = false;
    const flushing = sink.flush().then(() => (flushed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(flushed).toBe(false);
    sink.abort('stopping');
    expect((await ended).code).toBe('aborted');
    await flushing;
  });

  it('the byte budget counts UTF-8 bytes, not UTF-16 code units', async () => {
    const wide = doc(1, 'test', '€'.repeat(300)); // 300 code units, 900 bytes
    const narrow = doc(2, 'test', 'e'.repeat(300));
    const flushBytes = 700;
    expect(sourceJson(wide).length + 60).toBeLessThan(flushBytes);
    for (const [d, flushed] of [
      [narrow, false],
      [wide, true],
    ] as const) {
      const transport = new FakeTransport();
      const { sink } = newSink(transport, { flushBytes, flushCount: 1000, flushIntervalMs: 60_000 });
      const unit = sink.open('f');
      await unit.write(d);
      expect(transport.requests.length).toBe(flushed ? 1 : 0);
      expect(await unit.end()).toEqual({ written: 1, duplicates: 0, deadLettered: 0, deadLetters: [] });
      await sink.close();
    }
  });

  it('flushes on the interval without end()', async () => {
    const transport = new FakeTransport();
    const { sink } = newSink(transport, { flushCount: 1000, flushIntervalMs: 5 });
    const unit = await writeAll(sink, docs(2));
    await new Promise((r) => setTimeout(r, 40));
    expect(transport.requests).toHaveLength(1);
    expect(sink.stats.written).toBe(2);
    await unit.end();
    await sink.close();
  });

  it('abort fails pending units and stops the request in flight; later writes are refused', async () => {
    const transport = new FakeTransport(() => new Promise<never>(() => undefined));
    const { sink } = newSink(transport, { flushCount: 1 });
    const unit = await writeAll(sink, docs(1));
    const ended = failure(unit.end());
    sink.abort('shutting down');
    const error = await ended;
    expect(error.code).toBe('aborted');
    expect(error.message).toMatch(/stopped before the file was acknowledged: shutting down$/);
    await sink.flush();
    expect((await failure(sink.open('g').write(doc(9)))).code).toBe('aborted');
  });
});
