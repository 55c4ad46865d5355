import type { TestProject } from 'vitest/node';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../engine/engine.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    elasticsearchUrl: string;
  }
}

/**
 * Starts the search engine once per test run unless ELASTICSEARCH_URL points at one. An engine that
 * cannot start fails the run: integration tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.ELASTICSEARCH_URL;
  if (given) {
    project.provide('elasticsearchUrl', given);
    return async () => {};
  }
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const engine = (await startEngine({ log })) as { url: string; reused: boolean };
  project.provide('elasticsearchUrl', engine.url);
  return async () => {
    if (!engine.reused) await stopEngine({ log });
  };
}
