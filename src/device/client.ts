import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { DEFAULTS as D } from '../config/defaults.js';
import { decodeBase64 } from '../shared/base64.js';
import { backoffDelay, sleep } from '../shared/backoff.js';
import { ed25519Verify } from '../shared/ed25519.js';
import { type Log, silentLog } from '../shared/log.js';
import { EJWT_HEADER, derivePassphraseKey, signJwt, x25519PublicKey, x25519SharedSecret } from './ejwt.js';
import { DeviceError, statusError } from './errors.js';
import { type DeviceTls, PinMismatchError } from './tls.js';
import { ClientClosedError, DeviceTransport, TransportTimeout } from './transport.js';

export interface DeviceClientOptions {
  readonly url: string;
  /** A name for messages and logs (the config's device name). */
  readonly name?: string;
  /** Called when a login needs the passphrase; the client keeps only the derived key. */
  readonly passphrase: () => string | Promise<string>;
  readonly tls?: DeviceTls;
  readonly connectTimeoutMs?: number;
  readonly responseTimeoutMs?: number;
  /** Minimum pause between two requests to the device. */
  readonly pacingMs?: number;
  /** Retries for connection errors, timeouts and 5xx (never for 4xx). */
  readonly retries?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Requested bearer lifetime, counted on the device clock. */
  readonly tokenLifetimeS?: number;
  /** Whole-request bound (connect to last byte): a body that trickles cannot hold a request longer. */
  readonly requestDeadlineMs?: number;
  /** Largest log file accepted; a longer body is cut off and the request fails (`too_large`). */
  readonly maxFileBytes?: number;
  /** Most log file ids a listing may return; a device listing more is cut off there. */
  readonly maxFiles?: number;
  readonly scope?: string;
  readonly log?: Log;
}

export const DEFAULTS = {
  connectTimeoutMs: D.device.connectTimeoutMs,
  responseTimeoutMs: D.device.requestTimeoutMs,
  pacingMs: D.device.pacingMs,
  retries: D.device.retries,
  retryBaseMs: D.device.retryBaseMs,
  retryMaxMs: D.device.retryMaxMs,
  tokenLifetimeS: D.device.tokenLifetimeS,
  scope: D.device.scope,
  requestDeadlineMs: D.device.requestDeadlineMs,
  maxFileBytes: D.device.maxFileBytes,
  maxFiles: D.device.maxFiles,
} as const;

const LIST_PAGE_MAX = 128;
/** Every JSON answer of the API is small (a list page of 128 ids is about 2 KB). */
const MAX_JSON_BYTES = 64 * 1024;
/** Renew the bearer this long before its expiry. */
const TOKEN_MARGIN_S = 60;
/** A prepared challenge is answered only this soon after it was fetched: the device allows 60 s (spec §3.3). */
const PREPARED_FRESH_MS = 30_000;

const Challenge = z.object({
  exp: z.number().int(),
  spk: z.string(),
  jti: z.string(),
  eid: z.string(),
  lbl: z.string().optional(),
});
const TokenAnswer = z.object({ token: z.string() });
// Identity strings go into every document: a device cannot make them arbitrarily long.
const short = z.string().max(128);
const Version = z.object({ hwv: short, fwv: short, blv: short.optional() });
const Status = z.object({ uptime: z.number().optional(), fls_state: z.number().optional(), ts: z.number().optional() });
const Config = z.object({
  devid: z.string().min(1).max(64),
  hostname: z.string().max(253).optional(),
  eid: short.optional(),
  eid_sign: short.optional(),
  instanceid: short.optional(),
});
const LoggerKey = z.object({ key: z.string(), nonce: z.string(), nonce_signed: z.string() });
const LogList = z.object({ total: z.number().optional(), id: z.array(z.string()) });

/** What the device says about itself, for `observer.*` and the logger-key check. */
export interface DeviceDescription {
  readonly serial: string;
  readonly hostname: string | null;
  readonly hardware: string;
  readonly firmware: string;
  /** `HEM PPA` or `HEM EPA`. */
  readonly product: string;
  readonly instanceId: string | null;
  /** `eid_sign` from the configuration: the logger public key the device says it signs with. */
  readonly loggerKey: Buffer | null;
  readonly faultState: number;
}

export interface LoggerKeyCheck {
  readonly key: Buffer;
  /** `nonce_signed` verifies under `key` (proves possession at some time; not a fresh challenge). */
  readonly nonceSignatureValid: boolean;
}

/** What a listing found: valid ids (sorted), ids refused for their characters, and whether it was cut off. */
export interface LogListing {
  readonly ids: string[];
  readonly rejected: string[];
  readonly truncated: boolean;
}

/** Reads a 200 answer's body; runs while the request holds the device (one request at a time). */
type BodyReader<T> = (body: AsyncIterable<Buffer>) => Promise<T>;

interface Reply<T> {
  readonly status: number;
  /** The reader's result, for 200 answers only. */
  readonly value: T | undefined;
}

/** A streamed body failed after its reader had consumed part of it: never resent by the client. */
class ConsumedBodyError extends Error {
  constructor(readonly error: unknown) {
    super('body consumed');
  }
}

const LOG_FILE_ID = /^[0-9A-Za-z._-]{1,64}$/;

interface Session {
  readonly token: string;
  /** Local monotonic-ish wall clock (ms) after which the token is renewed. */
  readonly renewAt: number;
}

/**
 * HEM REST client (spec §3, §4, §6): one request in flight at a time, a new connection per request,
 * passphrase login with a cached bearer, bounded retries with backoff for transient failures.
 */
export class DeviceClient {
  readonly name: string;
  readonly #origin: string;
  readonly #o: Required<Omit<DeviceClientOptions, 'tls' | 'name' | 'log' | 'passphrase' | 'url'>>;
  readonly #passphrase: () => string | Promise<string>;
  readonly #log: Log;
  readonly #http: DeviceTransport;
  #queue: Promise<unknown> = Promise.resolve();
  #lastRequestEnd = 0;
  #session: Session | null = null;
  #login: Promise<Session> | null = null;
  /** eid → derived X25519 private key: PBKDF2 runs once per device identity per process. */
  readonly #derived = new Map<string, Buffer>();
  /** From prepareLogin(): a challenge (with its seed derived) for the next login, or null if that failed. */
  #prepared: Promise<{ challenge: z.infer<typeof Challenge>; at: number } | null> | null = null;

  constructor(options: DeviceClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new TypeError(`device url must be https:// (or http://), got ${url.protocol}`);
    this.#origin = url.origin;
    this.name = options.name ?? url.host;
    this.#log = options.log ?? silentLog;
    this.#passphrase = options.passphrase;
    this.#o = {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      responseTimeoutMs: options.responseTimeoutMs ?? DEFAULTS.responseTimeoutMs,
      pacingMs: options.pacingMs ?? DEFAULTS.pacingMs,
      retries: options.retries ?? DEFAULTS.retries,
      retryBaseMs: options.retryBaseMs ?? DEFAULTS.retryBaseMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
      tokenLifetimeS: options.tokenLifetimeS ?? DEFAULTS.tokenLifetimeS,
      scope: options.scope ?? DEFAULTS.scope,
      requestDeadlineMs: options.requestDeadlineMs ?? DEFAULTS.requestDeadlineMs,
      maxFileBytes: options.maxFileBytes ?? DEFAULTS.maxFileBytes,
      maxFiles: options.maxFiles ?? DEFAULTS.maxFiles,
    };
    const tls = options.tls ?? {};
    if (tls.insecure)
      this.#log.warn(
        { device: this.name },
        'TLS verification is OFF for this device (tls.insecure): anyone on the path can read the token and the log',
      );
    this.#http = new DeviceTransport({
      origin: url,
      tls,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      responseTimeoutMs: this.#o.responseTimeoutMs,
      device: this.name,
      log: this.#log,
    });
  }

  /** Waits for the request in flight, if any (every connection is closed after its answer anyway). */
  async close(): Promise<void> {
    await this.#queue;
  }

  /** Closes at once, failing whatever is in flight (shutdown with a hung device). */
  async destroy(): Promise<void> {
    this.#http.destroy();
  }

  // ---- identity -----------------------------------------------------------------------------------

  async version(): Promise<z.infer<typeof Version>> {
    return parse(Version, await this.#expect200('GET', '/api/system/version', 'version'), this.name, 'version');
  }

  async status(): Promise<z.infer<typeof Status>> {
    return parse(Status, await this.#expect200('GET', '/api/system/status', 'status'), this.name, 'status');
  }

  async config(): Promise<z.infer<typeof Config>> {
    return parse(Config, await this.#authed('/api/system/config', 'configuration'), this.name, 'configuration');
  }

  async describe(): Promise<DeviceDescription> {
    const version = await this.version();
    const status = await this.status();
    const config = await this.config();
    const loggerKey = config.eid_sign ? decodeBase64(config.eid_sign) : null;
    return {
      serial: config.devid,
      hostname: config.hostname ?? null,
      hardware: version.hwv,
      firmware: version.fwv,
      product: /EPA/.test(version.hwv) ? 'HEM EPA' : 'HEM PPA',
      instanceId: config.instanceid ?? null,
      loggerKey,
      faultState: status.fls_state ?? 0,
    };
  }

  // ---- logger -------------------------------------------------------------------------------------

  async loggerKey(): Promise<LoggerKeyCheck> {
    const answer = parse(LoggerKey, await this.#authed('/api/logger/key', 'logger key'), this.name, 'logger key');
    const key = decodeBase64(answer.key);
    const nonce = decodeBase64(answer.nonce);
    const signature = decodeBase64(answer.nonce_signed);
    if (key === null || key.length !== 32)
      throw new DeviceError('protocol', `${this.name}: /api/logger/key returned a key that is not 32 bytes of base64`);
    return { key, nonceSignatureValid: nonce !== null && signature !== null && ed25519Verify(signature, nonce, key) };
  }

  /**
   * Every log file id, sorted. Pages through /api/logger/list/{offset} by the number of ids each page
   * returned, dedupes, and stops at an empty page or a page that adds no new id (`total` counts every
   * directory entry, so it is no stop condition). A hostile or broken device cannot make the list grow
   * past `maxFiles`, and ids with characters no file name has are returned apart, never requested.
   */
  async listLogFiles(): Promise<LogListing> {
    const ids = new Set<string>();
    const rejected = new Set<string>();
    let offset = 0;
    let truncated = false;
    for (;;) {
      const body = await this.#authed(`/api/logger/list/${offset}`, 'log file list', MAX_JSON_BYTES, collect);
      const answer = parse(LogList, body, this.name, 'log file list');
      if (answer.id.length > LIST_PAGE_MAX) {
        throw new DeviceError(
          'protocol',
          `${this.name}: log list page has ${answer.id.length} ids, more than ${LIST_PAGE_MAX}`,
        );
      }
      let added = 0;
      for (const id of answer.id) {
        if (ids.has(id) || rejected.has(id)) continue;
        added++;
        if (!LOG_FILE_ID.test(id)) rejected.add(id);
        else if (ids.size < this.#o.maxFiles) ids.add(id);
        else truncated = true;
      }
      if (added === 0 || truncated) break;
      offset += answer.id.length;
    }
    return { ids: [...ids].sort(), rejected: [...rejected].map((id) => id.slice(0, 80)), truncated };
  }

  /**
   * The raw bytes of one log file, at most `maxFileBytes`. 406 (locked: the current boot) and 404 throw typed
   * errors.
   */
  async fetchLogFile(id: string): Promise<Buffer> {
    return this.#readLogFile(id, collect, false); // nothing consumed yet on a failure: safe to retry
  }

  /**
   * Streams one log file through `read` while the request holds the device, so memory stays flat whatever the
   * file size. The body ends early with a `too_large` error past `maxFileBytes`, a `connection` error when it
   * is shorter than announced, and a `timeout` past the request deadline. Once `read` has started, a failure
   * is not retried here: the caller decides (its documents may be half sent).
   */
  async streamLogFile<T>(id: string, read: BodyReader<T>): Promise<T> {
    return this.#readLogFile(id, read, true);
  }

  async #readLogFile<T>(id: string, read: BodyReader<T>, stream: boolean): Promise<T> {
    if (!LOG_FILE_ID.test(id)) {
      throw new DeviceError(
        'protocol',
        `${this.name}: refusing to request a log file id with unexpected characters: ` +
          `${JSON.stringify(id.slice(0, 80))}`,
      );
    }
    return this.#authed(`/api/logger/${id}`, `log file ${id}`, this.#o.maxFileBytes, read, stream);
  }

  // ---- auth ---------------------------------------------------------------------------------------

  /**
   * Forgets the token: the next request logs in again. An instance that hands a device over to another ends
   * its session, so that one device never sees two collectors' sessions at once.
   */
  endSession(): void {
    this.#session = null;
  }

  async #bearer(): Promise<string> {
    if (this.#session && Date.now() < this.#session.renewAt) return this.#session.token;
    this.#login ??= this.#doLogin().finally(() => {
      this.#login = null;
    });
    this.#session = await this.#login;
    return this.#session.token;
  }

  /** A login is retried whole: the challenge nonce is single-use, so a POST is never resent alone. */
  async #doLogin(): Promise<Session> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#loginOnce();
      } catch (err) {
        if (!(err instanceof DeviceError) || !err.transient || attempt >= this.#o.retries) throw err;
        await sleep(backoffDelay(attempt, this.#o.retryBaseMs, this.#o.retryMaxMs));
      }
    }
  }

  /**
   * Starts the half of a login that leaves no trace in the device's audit log (spec §3.3 audits only a login
   * that succeeds): the challenge, and the PBKDF2 seed (600,000 rounds: about 0.18 s here, seconds on a small
   * host), so that they overlap the output's setup. The next login answers that challenge if it is still fresh.
   * Never fails: whatever went wrong is met again, and reported, by the first real request. Resolves once
   * prepared (no one needs to wait for it).
   */
  async prepareLogin(): Promise<void> {
    const at = Date.now();
    this.#prepared ??= this.#challenge(false)
      .then(async (challenge) => {
        await this.#seedFor(challenge.eid);
        return { challenge, at };
      })
      .catch(() => null);
    await this.#prepared;
  }

  async #challenge(retry = true): Promise<z.infer<typeof Challenge>> {
    const challengeReply = await this.#request('GET', '/api/auth/token', { retry }, collect, MAX_JSON_BYTES);
    if (challengeReply.status === 403) {
      throw new DeviceError(
        'clock_not_set',
        `${this.name}: login refused (403): the device clock is not set; run a check-in (or ` +
          `power-cycle with network) so the RTC is set, then try again`,
        { status: 403 },
      );
    }
    if (challengeReply.status !== 200) throw statusError(challengeReply.status, 'login challenge', this.name);
    return parse(Challenge, challengeReply.value!, this.name, 'login challenge');
  }

  async #loginOnce(): Promise<Session> {
    const prepared = await this.#prepared;
    this.#prepared = null;
    const fresh = prepared !== null && Date.now() - prepared.at < PREPARED_FRESH_MS;
    const started = fresh ? prepared.at : Date.now();
    const challenge = fresh ? prepared.challenge : await this.#challenge();
    const seed = await this.#seedFor(challenge.eid);
    const spk = decodeBase64(challenge.spk);
    if (spk === null || spk.length !== 32)
      throw new DeviceError('protocol', `${this.name}: login challenge spk is not a 32-byte key`);
    // An all-zero key would make the shared secret all zeros: anyone could forge the login.
    if (spk.every((b) => b === 0))
      throw new DeviceError('protocol', `${this.name}: login challenge spk is all zeros (not a session key)`);
    const deviceNow = challenge.exp - 60; // drift-safe: follow the device clock, not ours
    const exp = deviceNow + this.#o.tokenLifetimeS;
    const claims = {
      jti: challenge.jti,
      aud: challenge.spk,
      exp,
      iat: deviceNow,
      iss: x25519PublicKey(seed).toString('base64'),
      scope: this.#o.scope,
    };
    const ejwt = signJwt(EJWT_HEADER, claims, x25519SharedSecret(seed, spk));
    const reply = await this.#request(
      'POST',
      '/api/auth/token',
      { json: { auth: ejwt }, retry: false },
      collect,
      MAX_JSON_BYTES,
    );
    if (reply.status === 401)
      throw new DeviceError(
        'unauthorized',
        `${this.name}: login refused (401): wrong passphrase, or the device is not ` +
          `initialised with it (the forwarder logs in as the User)`,
        { status: 401 },
      );
    if (reply.status === 403)
      throw new DeviceError('clock_not_set', `${this.name}: login refused (403): the device clock is not set`, {
        status: 403,
      });
    if (reply.status !== 200) throw statusError(reply.status, 'login', this.name);
    const { token } = parse(TokenAnswer, reply.value!, this.name, 'login');
    this.#log.debug({ device: this.name, scope: this.#o.scope, lifetime_s: this.#o.tokenLifetimeS }, 'logged in');
    return { token, renewAt: started + (this.#o.tokenLifetimeS - TOKEN_MARGIN_S) * 1000 };
  }

  async #seedFor(eid: string): Promise<Buffer> {
    let seed = this.#derived.get(eid);
    if (!seed) {
      seed = await derivePassphraseKey(await this.#passphrase(), eid);
      this.#derived.set(eid, seed);
    }
    return seed;
  }

  /** GET a protected endpoint; on 401 log in again once (the device may have rebooted). */
  async #authed<T = Buffer>(
    path: string,
    what: string,
    limit = MAX_JSON_BYTES,
    read?: BodyReader<T>,
    stream = false,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const reply = await this.#request(
        'GET',
        path,
        { bearer: await this.#bearer() },
        read ?? (collect as BodyReader<T>),
        limit,
        stream,
      );
      if (reply.status === 200) return reply.value as T;
      if (reply.status === 401 && attempt === 0) {
        this.#log.info({ device: this.name }, 'token refused (401); logging in again');
        this.#session = null;
        continue;
      }
      throw statusError(reply.status, what, this.name);
    }
  }

  async #expect200(method: 'GET', path: string, what: string): Promise<Buffer> {
    const reply = await this.#request(method, path, {}, collect, MAX_JSON_BYTES);
    if (reply.status !== 200) throw statusError(reply.status, what, this.name);
    return reply.value!;
  }

  // ---- transport ----------------------------------------------------------------------------------

  /**
   * One request at a time; transient failures are retried with backoff, everything else returned. A
   * streamed body (`stream`) is not retried once its reader started.
   */
  #request<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { bearer?: string; json?: unknown; retry?: boolean },
    read: BodyReader<T>,
    limit: number,
    stream = false,
  ): Promise<Reply<T>> {
    const retries = options.retry === false ? 0 : this.#o.retries;
    const run = async (): Promise<Reply<T>> => {
      for (let attempt = 0; ; attempt++) {
        const wait = this.#lastRequestEnd + this.#o.pacingMs - Date.now();
        if (wait > 0) await sleep(wait);
        try {
          const reply = await this.#once(method, path, options, read, limit, stream);
          if (reply.status < 500 || attempt >= retries) return reply;
          this.#log.warn({ device: this.name, path, status: reply.status, attempt }, 'device answered 5xx; retrying');
        } catch (err) {
          if (err instanceof ConsumedBodyError) throw err.error;
          const error = toDeviceError(err, this.name, path);
          if (!error.transient || attempt >= retries) throw error;
          this.#log.warn({ device: this.name, path, code: error.code, attempt }, `${error.message}; retrying`);
        } finally {
          this.#lastRequestEnd = Date.now();
        }
        await sleep(backoffDelay(attempt, this.#o.retryBaseMs, this.#o.retryMaxMs));
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #once<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { bearer?: string; json?: unknown },
    read: BodyReader<T>,
    limit: number,
    stream: boolean,
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { accept: '*/*' };
    let body: Buffer | undefined;
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#o.requestDeadlineMs);
    const late = () =>
      new DeviceError(
        'timeout',
        `${this.name}: ${path} did not complete within ${this.#o.requestDeadlineMs} ms (request_deadline)`,
      );
    try {
      let res: IncomingMessage;
      try {
        res = await this.#http.request({ method, path, headers, ...(body ? { body } : {}), signal: deadline.signal });
      } catch (err) {
        throw deadline.signal.aborted ? late() : err;
      }
      const declared = res.headers['content-length'] === undefined ? null : Number(res.headers['content-length']);
      const what = path.startsWith('/api/logger/') && !path.startsWith('/api/logger/list') ? 'log file' : 'answer';
      const chunks = boundedBody(res, {
        limit,
        declared,
        device: this.name,
        path,
        what,
        late,
        deadline: deadline.signal,
        idleMs: this.#o.responseTimeoutMs,
      });
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        for await (const _ of chunks); // error answers are empty on the device; drained within the limit
        return { status, value: undefined };
      }
      try {
        return { status: 200, value: await read(chunks) };
      } catch (err) {
        res.destroy();
        const error = deadline.signal.aborted ? late() : err;
        throw stream ? new ConsumedBodyError(error) : error;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The body as it arrives, never more than `limit` bytes, failing (as a DeviceError) when it is longer, when
 * it ends short of its Content-Length (a dropped connection), or when the request deadline passes.
 */
async function* boundedBody(
  body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown },
  o: {
    limit: number;
    declared: number | null;
    device: string;
    path: string;
    what: string;
    late: () => DeviceError;
    deadline: AbortSignal;
    idleMs: number;
  },
): AsyncGenerator<Buffer> {
  const tooLarge = () =>
    new DeviceError(
      'too_large',
      `${o.device}: ${o.path}: the ${o.what} is larger than ${o.limit} bytes; it was cut off there`,
    );
  if (o.declared !== null && o.declared > o.limit) {
    body.destroy();
    throw tooLarge();
  }
  let received = 0;
  const chunks = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      // The idle timeout runs only while we wait for the device; a consumer that holds the body back
      // (a slow output, backpressure) is not the device hanging.
      const idle = setTimeout(() => body.destroy(new TransportTimeout('answer')), o.idleMs);
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } finally {
        clearTimeout(idle);
      }
      if (next.done) break;
      received += next.value.length;
      if (received > o.limit) throw tooLarge();
      yield next.value;
    }
  } catch (err) {
    body.destroy();
    if (err instanceof DeviceError) throw err;
    throw o.deadline.aborted ? o.late() : toDeviceError(err, o.device, o.path);
  }
  if (o.declared !== null && o.declared !== received) {
    throw new DeviceError(
      'connection',
      `${o.device}: ${o.path} body ended after ${received} of ${o.declared} bytes (device ` +
        `I/O error or dropped connection)`,
    );
  }
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function parse<T>(schema: z.ZodType<T>, body: Buffer, device: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new DeviceError('protocol', `${device}: ${what} answer is not JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success)
    throw new DeviceError(
      'protocol',
      `${device}: ${what} answer is not as documented: ${z.prettifyError(result.error).replaceAll('\n', '; ')}`,
    );
  return result.data;
}

const TLS_CODES = /^(ERR_TLS_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|ERR_SSL)/;

function toDeviceError(err: unknown, device: string, path: string): DeviceError {
  if (err instanceof DeviceError) return err;
  if (err instanceof PinMismatchError) return new DeviceError('tls', err.message, { cause: err });
  if (err instanceof ClientClosedError) return new DeviceError('closed', err.message, { cause: err });
  const e = err as NodeJS.ErrnoException;
  if (err instanceof TransportTimeout && err.phase === 'connect')
    return new DeviceError('timeout', `${device}: connect timed out`, { cause: err });
  if (err instanceof TransportTimeout) {
    return new DeviceError(
      'timeout',
      `${device}: no answer to ${path} in time (the device may be hung; it has no watchdog)`,
      { cause: err },
    );
  }
  if (typeof e.code === 'string' && TLS_CODES.test(e.code)) {
    return new DeviceError(
      'tls',
      `${device}: TLS failed (${e.code}): trust the device with tls.ca or pin it with tls.fingerprint`,
      { cause: err },
    );
  }
  return new DeviceError('connection', `${device}: ${path}: ${e.code ?? e.message}`, { cause: err });
}
