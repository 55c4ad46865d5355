import type { DeviceState, FileRecord, StateStore } from './store.js';

/** Every way the collector changes a device's state: one writer applies them (and, later, fences them). */
export type StateChange =
  | { readonly kind: 'serial'; readonly serial: string }
  | { readonly kind: 'logger_key'; readonly next: Pick<DeviceState, 'loggerKey' | 'knownKeys' | 'halted'> }
  /** Only after the output acknowledged every document of the file. */
  | { readonly kind: 'file_ingested'; readonly record: FileRecord }
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

  async flush(): Promise<void> {
    if (!this.#dirty) return;
    this.#state.revision = await this.#store.save(this.#state, { ifRevision: this.#state.revision });
    this.#dirty = false;
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
    case 'file_ingested':
      state.files.set(change.record.id, change.record);
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
