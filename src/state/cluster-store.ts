// The state of every device as one document in the cluster, shared by several forwarder instances. Each
// device's document also carries its lease: who collects it, until when. Every write is conditional on the
// sequence number and primary term this instance last saw, so a writer that lost the document to another
// (a lease taken over while it was paused, a `state` command) gets a conflict and never overwrites it.
import { type RestAnswer, type RestClient, type RestOptions, refusal } from '../sinks/search/rest.js';
import { ForwarderError } from '../shared/errors.js';
import {
  type DeviceState,
  StateConflictError,
  type StateInspection,
  type StateStore,
  decodeState,
  emptyState,
  encodeState,
} from './store.js';

export interface Lease {
  /** The instance holding it; null once released. */
  readonly owner: string | null;
  /** ISO time after which another instance may take it (by its own clock: keep the clocks in sync). */
  readonly expires: string;
  readonly acquired: string;
}

interface DeviceDocument {
  readonly kind: 'device';
  readonly fleet: string;
  readonly device: string;
  readonly lease: Lease | null;
  /** The encoded DeviceState; null before the first checkpoint or after `state reset`. */
  readonly state: Record<string, unknown> | null;
  readonly updated: string;
}

interface Seen {
  readonly seqNo: number;
  readonly primaryTerm: number;
  readonly doc: DeviceDocument;
}

/** This instance no longer holds the device's lease: its work on the device stops, nothing of it is saved. */
export class LeaseLostError extends StateConflictError {
  readonly code = 'lease_lost';
}

/** The cluster could not be read or written (not a conflict): transient, the cycle is retried. */
export class ClusterStateError extends ForwarderError {
  override readonly name = 'ClusterStateError';
  readonly code = 'state_cluster';
  readonly transient = true;
}

export interface ClusterStoreOptions {
  /** Either engine's REST seam (Elasticsearch or OpenSearch: both have the same conditional writes). */
  readonly rest: RestClient;
  readonly index: string;
  /** The fleet (config state.fleet): the same device name in another fleet is another document. */
  readonly fleet: string;
  /** The instance writing as the devices' lease holder; null for commands that hold no lease (`state`). */
  readonly instance: string | null;
  readonly leaseTtlMs: number;
  readonly now?: () => number;
}

interface GetAnswer {
  readonly found?: boolean;
  readonly _seq_no?: number;
  readonly _primary_term?: number;
  readonly _source?: DeviceDocument;
}

export class ClusterStateStore implements StateStore {
  readonly #o: ClusterStoreOptions;
  readonly #now: () => number;
  /** Per device: the document as this instance last read or wrote it. */
  readonly #seen = new Map<string, Seen | null>();
  /**
   * Per device: until when this instance may act as the lease holder. Counted from when its last lease write
   * was sent, so never later than the `expires` the others read.
   */
  readonly #validUntil = new Map<string, number>();
  /** Per device: writes of one document never overlap within this process. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: ClusterStoreOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get index(): string {
    return this.#o.index;
  }

  get fleet(): string {
    return this.#o.fleet;
  }

  #id(device: string): string {
    return `device:${this.#o.fleet}:${device}`;
  }

  #serial<T>(device: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#queues.get(device) ?? Promise.resolve()).then(fn);
    this.#queues.set(
      device,
      run.catch(() => undefined),
    );
    return run;
  }

  /**
   * One request; an answer with a status in `expected` is returned, anything else (no answer, a refusal) is a
   * ClusterStateError naming what could not be done.
   */
  async #call(
    what: string,
    request: { method: 'GET' | 'PUT' | 'POST'; path: string; body?: unknown; options?: RestOptions },
    expected: readonly number[] = [200, 201],
  ): Promise<RestAnswer> {
    let answer: RestAnswer;
    try {
      answer = await this.#o.rest.request(request.method, request.path, request.body, request.options);
    } catch (err) {
      throw new ClusterStateError(`cannot ${what} in ${this.#o.index}: ${(err as Error).message}`, { cause: err });
    }
    if (expected.includes(answer.status)) return answer;
    throw new ClusterStateError(`cannot ${what} in ${this.#o.index}: ${refusal(answer)}`);
  }

  #docPath(id: string): string {
    return `/${this.#o.index}/_doc/${encodeURIComponent(id)}`;
  }

  /** The device's document as stored now (realtime get), remembered for the next conditional write. */
  async #read(device: string): Promise<Seen | null> {
    const r = await this.#call(
      `read the state of ${device}`,
      { method: 'GET', path: this.#docPath(this.#id(device)) },
      [200, 404],
    );
    const got = r.body as GetAnswer;
    const seen =
      r.status === 200 && got.found && got._source
        ? { seqNo: got._seq_no!, primaryTerm: got._primary_term!, doc: got._source }
        : null;
    this.#seen.set(device, seen);
    return seen;
  }

  /** Writes `doc` if the stored document is still the one last seen (or, with none seen, if there is none). */
  async #write(device: string, doc: DeviceDocument): Promise<'written' | 'conflict'> {
    const seen = this.#seen.get(device) ?? null;
    const sent = this.#now();
    const condition = seen ? `if_seq_no=${seen.seqNo}&if_primary_term=${seen.primaryTerm}` : 'op_type=create';
    const r = await this.#call(
      `write the state of ${device}`,
      {
        method: 'PUT',
        path: `${this.#docPath(this.#id(device))}?${condition}`,
        body: doc,
        // A lease write that takes longer than a renewal interval is as good as lost: fail it and judge.
        options: { timeoutMs: Math.max(1000, Math.floor(this.#o.leaseTtlMs / 3)) },
      },
      [200, 201, 409],
    );
    if (r.status === 409) {
      this.#seen.delete(device); // unknown now: the next step reads it again
      return 'conflict';
    }
    const written = r.body as { _seq_no: number; _primary_term: number };
    this.#seen.set(device, { seqNo: written._seq_no, primaryTerm: written._primary_term, doc });
    if (doc.lease?.owner === this.#o.instance && this.#o.instance !== null)
      this.#validUntil.set(device, sent + this.#o.leaseTtlMs);
    else this.#validUntil.delete(device);
    return 'written';
  }

  #stamp(): { now: string; expires: string } {
    const now = this.#now();
    return { now: new Date(now).toISOString(), expires: new Date(now + this.#o.leaseTtlMs).toISOString() };
  }

  /** Whether this instance holds the device's lease for at least `marginMs` more, by its own clock. */
  holds(device: string, marginMs = 0): boolean {
    return (this.#validUntil.get(device) ?? 0) > this.#now() + marginMs;
  }

  /** The leases of `devices` as stored now (one request), for balancing and metrics. */
  async leases(devices: readonly string[]): Promise<Map<string, Lease | null>> {
    const result = new Map<string, Lease | null>();
    if (devices.length === 0) return result;
    const r = await this.#call('read the leases', {
      method: 'POST',
      path: `/${this.#o.index}/_mget?_source_includes=lease`,
      body: { ids: devices.map((d) => this.#id(d)) },
    });
    (r.body as { docs: GetAnswer[] }).docs.forEach((d, i) => {
      result.set(devices[i]!, d.found ? (d._source?.lease ?? null) : null);
    });
    return result;
  }

  /** Takes the device's lease if it is free or lapsed; false if another instance holds it or won the race. */
  claim(device: string): Promise<boolean> {
    const me = this.#o.instance;
    if (me === null) throw new Error('a store without an instance cannot hold leases');
    return this.#serial(device, async () => {
      const seen = await this.#read(device);
      const lease = seen?.doc.lease ?? null;
      if (lease?.owner && lease.owner !== me && Date.parse(lease.expires) > this.#now()) return false;
      const { now, expires } = this.#stamp();
      const doc: DeviceDocument = {
        kind: 'device',
        fleet: this.#o.fleet,
        device,
        state: seen?.doc.state ?? null,
        lease: { owner: me, expires, acquired: now },
        updated: now,
      };
      return (await this.#write(device, doc)) === 'written';
    });
  }

  /**
   * Extends the lease. False when it was lost: another instance took it. A write by a `state` command
   * meanwhile does not lose it (the lease is still ours): it is read again and renewed.
   */
  renew(device: string): Promise<boolean> {
    return this.#serial(device, () => this.#renew(device));
  }

  async #renew(device: string): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const seen = this.#seen.get(device) ?? (await this.#read(device));
      const lease = seen?.doc.lease;
      if (!seen || !lease || lease.owner !== this.#o.instance) return false;
      const { now, expires } = this.#stamp();
      const doc = { ...seen.doc, lease: { ...lease, expires }, updated: now };
      if ((await this.#write(device, doc)) === 'written') return true;
    }
    return false;
  }

  /** The lease is ours for at least half its time, renewed if need be; else LeaseLostError. */
  confirm(device: string): Promise<void> {
    return this.#serial(device, async () => {
      if (this.holds(device, this.#o.leaseTtlMs / 2)) return;
      if (!(await this.#renew(device))) throw this.#lost(device);
    });
  }

  /** Gives the lease up (another instance may take it at once); a lease already lost is left alone. */
  release(device: string): Promise<void> {
    return this.#serial(device, async () => {
      const seen = this.#seen.get(device);
      if (!seen || seen.doc.lease?.owner !== this.#o.instance) return;
      const { now } = this.#stamp();
      await this.#write(device, { ...seen.doc, lease: { ...seen.doc.lease, owner: null, expires: now }, updated: now });
    });
  }

  #lost(device: string): LeaseLostError {
    return new LeaseLostError(
      `${device}: instance ${this.#o.instance} no longer holds the lease (another instance took it over, ` +
        'or it was not renewed in time); its state was not written',
    );
  }

  async load(device: string): Promise<{ state: DeviceState; recovered: string | null }> {
    const found = await this.inspect(device);
    if (found.verdict === 'ok') return { state: found.state, recovered: null };
    if (found.verdict === 'none') return { state: emptyState(device), recovered: null };
    if (found.verdict === 'unreadable') throw found.error;
    // A state that does not decode is kept beside, like the file store's `.corrupt-*` file, and started over.
    const aside = `corrupt:${this.#o.fleet}:${device}:${new Date(this.#now()).toISOString()}`;
    const seen = this.#seen.get(device)!;
    await this.#call(`keep the corrupt state of ${device}`, {
      method: 'PUT',
      path: this.#docPath(aside),
      body: { ...seen.doc, kind: 'corrupt' },
    });
    return { state: emptyState(device), recovered: `${this.#o.index}/${aside}` };
  }

  async inspect(device: string): Promise<StateInspection> {
    const path = `${this.#o.index}/${this.#id(device)}`;
    const seen = await this.#read(device);
    if (!seen || seen.doc.state === null) return { verdict: 'none', path };
    const decoded = decodeState(JSON.stringify(seen.doc.state), device);
    if ('corrupt' in decoded) return { verdict: 'corrupt', path, reason: decoded.corrupt };
    return { verdict: 'ok', path, state: decoded.state };
  }

  /**
   * Writes the state, conditional on the document last seen: a conflict means another writer was there.
   * A lease holder must still hold the device's lease (renewed by the write); `ifRevision` is checked against
   * the stored state.
   */
  save(state: DeviceState, options: { ifRevision?: number } = {}): Promise<number> {
    const device = state.device;
    return this.#serial(device, async () => {
      const me = this.#o.instance;
      const seen = this.#seen.has(device) ? this.#seen.get(device)! : await this.#read(device);
      if (me !== null && seen?.doc.lease?.owner !== me) throw this.#lost(device);
      const stored = seen?.doc.state ? Number(seen.doc.state.revision ?? 0) : 0;
      if (options.ifRevision !== undefined && seen?.doc.state && stored !== options.ifRevision)
        throw new StateConflictError(
          `${this.#o.index}/${this.#id(device)} changed underneath (revision ${stored}, expected ` +
            `${options.ifRevision}); not overwritten`,
        );
      const next = { ...state, revision: state.revision + 1 };
      const { now, expires } = this.#stamp();
      const lease = me !== null && seen?.doc.lease ? { ...seen.doc.lease, expires } : (seen?.doc.lease ?? null);
      const doc: DeviceDocument = {
        kind: 'device',
        fleet: this.#o.fleet,
        device,
        lease,
        state: JSON.parse(encodeState(next)) as Record<string, unknown>,
        updated: now,
      };
      if ((await this.#write(device, doc)) === 'written') return next.revision;
      throw me !== null
        ? this.#lost(device)
        : new StateConflictError(`${this.#o.index}/${this.#id(device)} changed underneath; not overwritten`);
    });
  }

  async devices(): Promise<string[]> {
    const r = await this.#call(
      'list the devices',
      {
        method: 'POST',
        path: `/${this.#o.index}/_search`,
        body: {
          size: 10_000,
          query: { bool: { filter: [{ term: { kind: 'device' } }, { term: { fleet: this.#o.fleet } }] } },
          _source: ['device', 'state.revision'],
          sort: [{ device: 'asc' }],
        },
      },
      [200, 404],
    );
    const hits = (r.body as { hits?: { hits: { _source?: Partial<DeviceDocument> }[] } }).hits?.hits ?? [];
    return hits.filter((h) => h._source?.state).map((h) => h._source!.device!);
  }

  /** Removes the device's state (its lease stays as it is). */
  reset(device: string): Promise<boolean> {
    return this.#serial(device, async () => {
      const seen = await this.#read(device);
      if (!seen?.doc.state) return false;
      return (await this.#write(device, { ...seen.doc, state: null, updated: this.#stamp().now })) === 'written';
    });
  }
}
