import type { TestProject } from 'vitest/node';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../engine/engine.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The engine with the Elasticsearch-client shims (or ELASTICSEARCH_URL). */
    elasticsearchUrl: string;
    /** A plain engine: stock OpenSearch without the shims, for the OpenSearch client (or OPENSEARCH_URL). */
    opensearchUrl: string;
  }
}

/**
 * The plain engine's port. Not 9251: engine-outage.test.ts stops and restarts the engine on 9251. Two suites at
 * once on one machine need OPENSEARCH_ENGINE_PORT apart (like OUTAGE_ENGINE_PORT).
 */
const PLAIN_PORT = Number(process.env.OPENSEARCH_ENGINE_PORT || 9253);
/**
 * Small: the plain engine only serves a few documents. C1 only and the serial GC halve its start (5-6 s instead
 * of 10-11 s on the 2-core machines) and its memory; it never sees enough load for C2 to matter.
 */
const PLAIN_HEAP = process.env.OPENSEARCH_ENGINE_HEAP || '256m';
const PLAIN_JAVA_OPTS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];

interface Started {
  url: string;
  reused: boolean;
}

/**
 * Starts the search engines once per test run, side by side (faster than one after the other): the shimmed engine
 * unless ELASTICSEARCH_URL points at one, and the plain engine unless OPENSEARCH_URL points at one. An engine that
 * cannot start fails the run: integration tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const givenEs = process.env.ELASTICSEARCH_URL;
  const givenOs = process.env.OPENSEARCH_URL;

  const starts: Array<Promise<Started>> = [
    givenEs ? Promise.resolve({ url: givenEs, reused: true }) : startEngine({ plain: false, log }),
    givenOs
      ? Promise.resolve({ url: givenOs, reused: true })
      : startEngine({ port: PLAIN_PORT, plain: true, heap: PLAIN_HEAP, javaOpts: PLAIN_JAVA_OPTS, log }),
  ];
  const ports: Array<number | undefined> = [undefined, PLAIN_PORT];
  const results = await Promise.allSettled(starts);

  // Stop only what this run started; an engine that was already answering is left running.
  const startedPorts = results.flatMap((r, i) => (r.status === 'fulfilled' && !r.value.reused ? [ports[i]] : []));
  const stopAll = async () => {
    await Promise.all(startedPorts.map((port) => stopEngine({ port, log })));
  };

  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopAll(); // the other one, when it came up
    throw failed.reason;
  }
  const [es, os] = results.map((r) => (r as PromiseFulfilledResult<Started>).value) as [Started, Started];
  project.provide('elasticsearchUrl', es.url);
  project.provide('opensearchUrl', os.url);
  return stopAll;
}
