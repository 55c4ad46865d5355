/** How long synchronous work may hold the event loop before it lets timers and I/O run. */
export const DEFAULT_YIELD_BUDGET_MS = 20;

/**
 * Returns a function to await between units of CPU-bound work: once `budgetMs` has passed since the last
 * turn it waits for setImmediate, so pending I/O and timers run; otherwise it resolves at once. Without
 * it a big file keeps /metrics and SIGTERM waiting until the whole file is done.
 */
export function cooperativeYielder(budgetMs: number = DEFAULT_YIELD_BUDGET_MS): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < budgetMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
