// Several forwarder instances share the devices through the cluster they write to, the way Kibana's task
// manager claims work: no coordinator, only documents written with optimistic concurrency. Each instance
// heartbeats, counts the live instances, holds at most its share of the devices (ceil(devices / live)), renews
// what it holds, sheds what is beyond its share, and claims free or lapsed devices, preferring those it ranks
// highest (rendezvous hashing, so instances seldom race for the same device).
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type RestAnswer, type RestClient, refusal } from '../sinks/search/rest.js';
import { ForwarderError } from '../shared/errors.js';
import type { ClusterStateStore, Lease } from '../state/cluster-store.js';

export interface InstanceInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
}

/** The default instance id: host and pid (config state.instance_id overrides it). */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`;
}

export interface FleetOptions {
  readonly rest: RestClient;
  readonly store: ClusterStateStore;
  readonly instance: InstanceInfo;
  readonly devices: readonly string[];
  readonly leaseTtlMs: number;
  readonly renewMs: number;
  readonly log: Logger;
  /** Called after each round with who holds each device (null: nobody), for /metrics. */
  readonly onHolders?: (holders: ReadonlyMap<string, string | null>) => void;
  readonly now?: () => number;
}

interface Held {
  /** Aborted when the lease is lost or given up: the device's work stops at the next file boundary. */
  readonly controller: AbortController;
  /** Being given up: released once the device's work has stopped. */
  releasing: boolean;
}

export class FleetSetupError extends ForwarderError {
  override readonly name = 'FleetSetupError';
  readonly code = 'state_index_missing';
  readonly transient = false;
}

/** The body of a 2xx answer; anything else fails the round (said once, retried next round). */
async function answered(what: string, answer: Promise<RestAnswer>): Promise<unknown> {
  const r = await answer;
  if (r.status >= 200 && r.status < 300) return r.body;
  throw new Error(`fleet: cannot ${what}: ${refusal(r)}`);
}

const rank = (instance: string, device: string) =>
  createHash('sha256').update(`${instance}\0${device}`).digest().readBigUInt64BE(0);

export class Fleet {
  readonly #o: FleetOptions;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  readonly #waiters = new Map<string, () => void>();
  readonly #started = new Date().toISOString();
  #timer: NodeJS.Timeout | null = null;
  #round: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Rounds failed in a row (the cluster away). */
  #failing = 0;

  constructor(options: FleetOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get instance(): string {
    return this.#o.instance.id;
  }

  /** Heartbeats and balances now, then every renew interval. */
  async start(): Promise<void> {
    const { rest, store } = this.#o;
    // Without its template (setup), the state would be mapped field by field: refuse rather than write so.
    if ((await rest.request('HEAD', `/${store.index}`)).status !== 200)
      throw new FleetSetupError(
        `the state index ${store.index} does not exist: run hem-forwarder setup, or let run install it ` +
          '(setup: true in the output)',
      );
    await this.#heartbeat();
    await this.balance();
    this.#timer = setInterval(() => void this.balance(), this.#o.renewMs);
  }

  /** One round (rounds never overlap): heartbeat, renew, shed beyond the share, claim up to it. */
  balance(): Promise<void> {
    this.#round = this.#round.then(() => this.#balance().catch((err: Error) => this.#roundFailed(err)));
    return this.#round;
  }

  #roundFailed(err: Error): void {
    // The cluster is away: leases lapse by themselves (and the work on them stops, see #balance). Said once.
    if (this.#failing++ === 0)
      this.#o.log.warn({ err: err.message }, 'fleet: could not renew or balance the leases; trying again each round');
  }

  async #balance(): Promise<void> {
    if (this.#stopped) return;
    const { store, devices } = this.#o;
    // Renew first, every lease at once. One that was not renewed (a cluster away, a late round) and would lapse
    // before the next round stops its work now: another instance may take it any moment. It is left to lapse,
    // never released while that work may still run; it is claimed again later like any free device. A lease
    // being given up is renewed too until its work has stopped: only then may another instance take it.
    const renewed = await Promise.all(
      [...this.#held.keys()].map((device) =>
        store.renew(device).then(
          (ok) => [device, ok] as const,
          () => [device, null] as const,
        ),
      ),
    );
    for (const [device, ok] of renewed) {
      if (ok === false) this.#lose(device, 'another instance took it over');
      else if (!store.holds(device, this.#o.renewMs)) this.#lose(device, 'not renewed in time');
    }
    await this.#heartbeat();
    const live = await this.#liveInstances();
    if (this.#failing > 0) this.#o.log.info({ rounds: this.#failing }, 'fleet: the leases are renewed again');
    this.#failing = 0;
    const share = Math.ceil(devices.length / Math.max(1, live.length));
    const keeping = [...this.#held].filter(([, h]) => !h.releasing).map(([d]) => d);
    const me = this.instance;
    if (keeping.length > share) {
      const extra = keeping.sort((a, b) => (rank(me, a) < rank(me, b) ? -1 : 1)).slice(0, keeping.length - share);
      for (const device of extra) this.#shed(device);
    }
    const leases = await store.leases(devices);
    const now = this.#now();
    let holding = Math.min(keeping.length, share);
    const free = devices
      .filter((d) => !this.#held.has(d) && (lapsed(leases.get(d) ?? null, now) || leases.get(d)?.owner === me))
      .sort((a, b) => (rank(me, a) > rank(me, b) ? -1 : 1));
    // As many claims at once as there are devices to take; those lost to another instance make way for the next.
    while (holding < share && free.length > 0 && !this.#stopped) {
      const batch = free.splice(0, share - holding);
      const claimed = await Promise.all(batch.map((device) => store.claim(device).catch(() => false)));
      batch.forEach((device, i) => {
        if (!claimed[i]) return;
        holding++;
        this.#held.set(device, { controller: new AbortController(), releasing: false });
        leases.set(device, { owner: me, expires: new Date(now + this.#o.leaseTtlMs).toISOString(), acquired: '' });
        this.#o.log.info({ device, instance: me, share, live: live.length }, 'fleet: lease taken');
        this.#waiters.get(device)?.();
      });
    }
    const holders = new Map<string, string | null>();
    for (const d of devices) {
      const lease = leases.get(d) ?? null;
      holders.set(d, lease?.owner && !lapsed(lease, now) ? lease.owner : null);
    }
    this.#o.onHolders?.(holders);
  }

  async #heartbeat(): Promise<void> {
    const now = this.#now();
    const { instance, rest, store } = this.#o;
    const id = encodeURIComponent(`instance:${store.fleet}:${instance.id}`);
    await answered(
      'write the heartbeat',
      rest.request('PUT', `/${store.index}/_doc/${id}`, {
        kind: 'instance',
        fleet: store.fleet,
        instance: {
          ...instance,
          started: this.#started,
          heartbeat: new Date(now).toISOString(),
          expires: new Date(now + this.#o.leaseTtlMs).toISOString(),
        },
        updated: new Date(now).toISOString(),
      }),
    );
  }

  async #liveInstances(): Promise<string[]> {
    const r = await answered(
      'count the live instances',
      this.#o.rest.request('POST', `/${this.#o.store.index}/_search`, {
        size: 1000,
        query: {
          bool: {
            filter: [
              { term: { kind: 'instance' } },
              { term: { fleet: this.#o.store.fleet } },
              { range: { 'instance.expires': { gt: new Date(this.#now()).toISOString() } } },
            ],
          },
        },
        _source: ['instance.id'],
      }),
    );
    const hits = (r as { hits: { hits: { _source: { instance: { id: string } } }[] } }).hits.hits;
    const ids = new Set(hits.map((h) => h._source.instance.id));
    ids.add(this.instance); // its own heartbeat may not be searchable yet
    return [...ids];
  }

  #lose(device: string, why: string): void {
    const held = this.#held.get(device);
    if (!held) return;
    this.#held.delete(device);
    held.controller.abort();
    this.#o.log.warn({ device, instance: this.instance }, `fleet: lease lost (${why}); work on it stops`);
  }

  #shed(device: string): void {
    const held = this.#held.get(device)!;
    held.releasing = true;
    held.controller.abort();
    this.#o.log.info({ device, instance: this.instance }, 'fleet: giving a lease up (more than this share)');
  }

  /** The signal of the device's lease while this instance holds it (and is not giving it up), else null. */
  holding(device: string): AbortSignal | null {
    const held = this.#held.get(device);
    return held && !held.releasing ? held.controller.signal : null;
  }

  /**
   * Waits until this instance holds the device's lease; returns a signal aborted when the lease is lost or
   * given up, or null when `signal` aborted first.
   */
  async acquire(device: string, signal: AbortSignal): Promise<AbortSignal | null> {
    while (!signal.aborted) {
      const held = this.holding(device);
      if (held) return held;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(device);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.set(device, done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return null;
  }

  /** The device's work stopped: a lease being given up is released now, so another instance can take it. */
  async stopped(device: string): Promise<void> {
    const held = this.#held.get(device);
    if (!held?.releasing && !this.#stopped) return;
    this.#held.delete(device);
    await this.#o.store.release(device).catch((err: Error) => this.#roundFailed(err));
  }

  /** Stops balancing; releases every lease and ends the heartbeat, so others take over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#round;
    const { store, rest, instance } = this.#o;
    await Promise.all([...this.#held.keys()].map((d) => store.release(d).catch(() => undefined)));
    this.#held.clear();
    const id = encodeURIComponent(`instance:${store.fleet}:${instance.id}`);
    await rest.request('DELETE', `/${store.index}/_doc/${id}`).catch(() => undefined);
  }
}

function lapsed(lease: Lease | null, now: number): boolean {
  return lease === null || lease.owner === null || Date.parse(lease.expires) <= now;
}
