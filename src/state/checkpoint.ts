import { type DeviceState, type FileRecord, MAX_COLLECTING, type StateStore } from './store.js';

export interface ChainHead {
  readonly output: string;
  readonly position: number;
  readonly hash: string;
}

/** Every way the collector changes a device's state: one writer applies them (and, later, fences them). */
export type StateChange =
  | { readonly kind: 'serial'; readonly serial: string }
  | { readonly kind: 'logger_key'; readonly next: Pick<DeviceState, 'loggerKey' | 'knownKeys' | 'halted'> }
  /** The collection of a file began at `at` (its documents' event.created until it is ingested). */
  | { readonly kind: 'file_collecting'; readonly id: string; readonly at: string }
  /**
   * Only after the output acknowledged every document of the file, and its custody digest (`chain`: the
   * output's new chain head) when custody is on.
   */
  | { readonly kind: 'file_ingested'; readonly record: FileRecord; readonly chain?: ChainHead }
  /** A digest that is not a file's (a key rotation) became the output's chain head. */
  | { readonly kind: 'chain_advanced'; readonly chain: ChainHead }
  | { readonly kind: 'file_vanished'; readonly id: string }
  | { readonly kind: 'file_checked'; readonly id: string; readonly at: string; readonly changedSha256?: string };

/**
 * The one writer of a device's state. Changes are applied in memory at once and written with `commit`
 * (every change is durable when its promise resolves); `stage` collects changes that may wait for the
 * next commit. Writes are conditional on the revision this checkpoint last saw: a store that changed
 * underneath (another writer) is an error, never a silent overwrite.
 */
export class Checkpoint {
  readonly #store: StateStore;
  #state: DeviceState;
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();

  private constructor(store: StateStore, state: DeviceState) {
    this.#store = store;
    this.#state = state;
  }

  static async load(store: StateStore, device: string): Promise<{ checkpoint: Checkpoint; recovered: string | null }> {
    const { state, recovered } = await store.load(device);
    return { checkpoint: new Checkpoint(store, state), recovered };
  }

  get state(): Readonly<DeviceState> {
    return this.#state;
  }

  /** Applies the changes and writes the state before resolving. */
  async commit(...changes: StateChange[]): Promise<void> {
    this.stage(...changes);
    await this.flush();
  }

  /** Applies the changes now; they are written by the next commit or flush. */
  stage(...changes: StateChange[]): void {
    for (const change of changes) apply(this.#state, change);
    if (changes.length > 0) this.#dirty = true;
  }

  /** Writes what is staged. Writes queue: a file completing while the next one starts never races it. */
  flush(): Promise<void> {
    const write = this.#writing.then(() => this.#write());
    this.#writing = write.catch(() => undefined);
    return write;
  }

  async #write(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    try {
      this.#state.revision = await this.#store.save(this.#state, { ifRevision: this.#state.revision });
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
  }
}

function apply(state: DeviceState, change: StateChange): void {
  switch (change.kind) {
    case 'serial':
      state.serial = change.serial;
      return;
    case 'logger_key':
      Object.assign(state, change.next);
      return;
    case 'file_collecting': {
      const collecting = state.custody.collecting.filter((c) => c.id !== change.id);
      collecting.push({ id: change.id, at: change.at });
      state.custody.collecting = collecting.slice(-MAX_COLLECTING);
      return;
    }
    case 'file_ingested':
      state.files.set(change.record.id, change.record);
      state.custody.collecting = state.custody.collecting.filter((c) => c.id !== change.record.id);
      if (change.chain) setHead(state, change.chain);
      return;
    case 'chain_advanced':
      setHead(state, change.chain);
      return;
    case 'file_vanished': {
      const record = state.files.get(change.id);
      if (record) record.status = 'vanished';
      return;
    }
    case 'file_checked': {
      const record = state.files.get(change.id);
      if (!record) return;
      record.checkedAt = change.at;
      if (change.changedSha256 !== undefined) {
        record.status = 'changed';
        record.changedSha256 = change.changedSha256;
      }
      return;
    }
  }
}

function setHead(state: DeviceState, head: ChainHead): void {
  state.custody.chains = [...state.custody.chains.filter((c) => c.output !== head.output), { ...head }];
}

/** The newest digest of the device's chain for `output`, or null before the first. */
export function chainHead(state: Readonly<DeviceState>, output: string): ChainHead | null {
  return state.custody.chains.find((c) => c.output === output) ?? null;
}

/** When the collection of `id` began, if an earlier attempt was interrupted. */
export function collectingSince(state: Readonly<DeviceState>, id: string): string | null {
  return state.custody.collecting.find((c) => c.id === id)?.at ?? null;
}
