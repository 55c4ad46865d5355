/**
 * Tasks that run one after another in the order they were added, while the caller goes on with the next
 * piece of work; the caller waits only when `limit` tasks are already waiting. The first failure stops the
 * tasks after it (their turn never comes) and is kept for `settle`.
 */
export class InOrder {
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;
  #failure: { error: unknown } | null = null;
  readonly #room: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get failed(): boolean {
    return this.#failure !== null;
  }

  /** Queues `task` after the ones before it; resolves once there is room for another. */
  async add(task: () => Promise<void>): Promise<void> {
    this.#waiting++;
    this.#tail = this.#tail
      .then(() => (this.#failure === null ? task() : undefined))
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => {
        this.#waiting--;
        this.#room.shift()?.();
      });
    if (this.#waiting > this.limit) await new Promise<void>((resolve) => this.#room.push(resolve));
  }

  /** Waits for every queued task; never rejects. */
  async idle(): Promise<void> {
    await this.#tail;
  }

  /** Waits for every queued task, then throws the first failure, if any. */
  async settle(): Promise<void> {
    await this.#tail;
    if (this.#failure) throw this.#failure.error;
  }
}
