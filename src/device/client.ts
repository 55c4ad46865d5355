import { Client, errors } from 'undici';
import { z } from 'zod';
import { decodeBase64 } from '../shared/base64.js';
import { backoffDelay, sleep } from '../shared/backoff.js';
import { ed25519Verify } from '../shared/ed25519.js';
import { type Log, silentLog } from '../shared/log.js';
import { EJWT_HEADER, derivePassphraseKey, signJwt, x25519PublicKey, x25519SharedSecret } from './ejwt.js';
import { DeviceError, statusError } from './errors.js';
import { type DeviceTls, PinMismatchError, deviceConnector } from './tls.js';

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
  readonly scope?: string;
  readonly log?: Log;
}

export const DEFAULTS = {
  connectTimeoutMs: 10_000,
  responseTimeoutMs: 30_000,
  pacingMs: 0,
  retries: 3,
  retryBaseMs: 500,
  retryMaxMs: 10_000,
  tokenLifetimeS: 8 * 3600,
  scope: 'logger:get',
} as const;

const LIST_PAGE_MAX = 128;
/** Renew the bearer this long before its expiry. */
const TOKEN_MARGIN_S = 60;

const Challenge = z.object({ exp: z.number().int(), spk: z.string(), jti: z.string(), eid: z.string(), lbl: z.string().optional() });
const TokenAnswer = z.object({ token: z.string() });
const Version = z.object({ hwv: z.string(), fwv: z.string(), blv: z.string().optional() });
const Status = z.object({ uptime: z.number().optional(), fls_state: z.number().optional(), ts: z.number().optional() });
const Config = z.object({ devid: z.string(), hostname: z.string().optional(), eid: z.string().optional(), eid_sign: z.string().optional(), instanceid: z.string().optional() });
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

interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

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
  readonly #http: Client;
  #queue: Promise<unknown> = Promise.resolve();
  #lastRequestEnd = 0;
  #session: Session | null = null;
  #login: Promise<Session> | null = null;
  /** eid → derived X25519 private key: PBKDF2 runs once per device identity per process. */
  readonly #derived = new Map<string, Buffer>();

  constructor(options: DeviceClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`device url must be https:// (or http://), got ${url.protocol}`);
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
    };
    const tls = options.tls ?? {};
    if (tls.insecure) this.#log.warn({ device: this.name }, 'TLS verification is OFF for this device (tls.insecure): anyone on the path can read the token and the log');
    this.#http = new Client(this.#origin, { connect: deviceConnector(tls, this.#o.connectTimeoutMs, this.name, this.#log), pipelining: 1 });
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  /** Closes at once, failing whatever is in flight (shutdown with a hung device). */
  async destroy(): Promise<void> {
    await this.#http.destroy();
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
    if (key === null || key.length !== 32) throw new DeviceError('protocol', `${this.name}: /api/logger/key returned a key that is not 32 bytes of base64`);
    return { key, nonceSignatureValid: nonce !== null && signature !== null && ed25519Verify(signature, nonce, key) };
  }

  /**
   * Every log file id, sorted. Pages through /api/logger/list/{offset} by the number of ids each page
   * returned, dedupes, and stops at an empty page: `total` counts every directory entry, so it is only
   * a guard against a device that never returns an empty page.
   */
  async listLogFiles(): Promise<string[]> {
    const ids = new Set<string>();
    let offset = 0;
    for (let page = 0; ; page++) {
      const answer = parse(LogList, await this.#authed(`/api/logger/list/${offset}`, 'log file list'), this.name, 'log file list');
      if (answer.id.length === 0) break;
      if (answer.id.length > LIST_PAGE_MAX) throw new DeviceError('protocol', `${this.name}: log list page has ${answer.id.length} ids, more than ${LIST_PAGE_MAX}`);
      for (const id of answer.id) ids.add(id);
      offset += answer.id.length;
      if (page > 100_000 || (answer.total !== undefined && offset >= answer.total + LIST_PAGE_MAX)) break;
    }
    return [...ids].sort();
  }

  /** The raw bytes of one log file. 406 (locked: the current boot) and 404 throw typed errors. */
  async fetchLogFile(id: string): Promise<Buffer> {
    if (!/^[0-9A-Za-z._-]{1,64}$/.test(id)) throw new DeviceError('protocol', `${this.name}: refusing to request a log file id with unexpected characters: ${JSON.stringify(id)}`);
    return this.#authed(`/api/logger/${id}`, `log file ${id}`);
  }

  // ---- auth ---------------------------------------------------------------------------------------

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

  async #loginOnce(): Promise<Session> {
    const started = Date.now();
    const challengeReply = await this.#request('GET', '/api/auth/token', {});
    if (challengeReply.status === 403) {
      throw new DeviceError('clock_not_set', `${this.name}: login refused (403): the device clock is not set; run a check-in (or power-cycle with network) so the RTC is set, then try again`, { status: 403 });
    }
    if (challengeReply.status !== 200) throw statusError(challengeReply.status, 'login challenge', this.name);
    const challenge = parse(Challenge, challengeReply.body, this.name, 'login challenge');
    const seed = await this.#seedFor(challenge.eid);
    const spk = decodeBase64(challenge.spk);
    if (spk === null || spk.length !== 32) throw new DeviceError('protocol', `${this.name}: login challenge spk is not a 32-byte key`);
    const deviceNow = challenge.exp - 60; // drift-safe: follow the device clock, not ours
    const exp = deviceNow + this.#o.tokenLifetimeS;
    const claims = { jti: challenge.jti, aud: challenge.spk, exp, iat: deviceNow, iss: x25519PublicKey(seed).toString('base64'), scope: this.#o.scope };
    const ejwt = signJwt(EJWT_HEADER, claims, x25519SharedSecret(seed, spk));
    const reply = await this.#request('POST', '/api/auth/token', { json: { auth: ejwt }, retry: false });
    if (reply.status === 401) throw new DeviceError('unauthorized', `${this.name}: login refused (401): wrong passphrase, or the device is not initialised with it (the forwarder logs in as the User)`, { status: 401 });
    if (reply.status === 403) throw new DeviceError('clock_not_set', `${this.name}: login refused (403): the device clock is not set`, { status: 403 });
    if (reply.status !== 200) throw statusError(reply.status, 'login', this.name);
    const { token } = parse(TokenAnswer, reply.body, this.name, 'login');
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
  async #authed(path: string, what: string): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const reply = await this.#request('GET', path, { bearer: await this.#bearer() });
      if (reply.status === 200) return reply.body;
      if (reply.status === 401 && attempt === 0) {
        this.#log.info({ device: this.name }, 'token refused (401); logging in again');
        this.#session = null;
        continue;
      }
      throw statusError(reply.status, what, this.name);
    }
  }

  async #expect200(method: 'GET', path: string, what: string): Promise<Buffer> {
    const reply = await this.#request(method, path, {});
    if (reply.status !== 200) throw statusError(reply.status, what, this.name);
    return reply.body;
  }

  // ---- transport ----------------------------------------------------------------------------------

  /** One request at a time; transient failures are retried with backoff, everything else returned. */
  #request(method: 'GET' | 'POST', path: string, options: { bearer?: string; json?: unknown; retry?: boolean }): Promise<Reply> {
    const retries = options.retry === false ? 0 : this.#o.retries;
    const run = async (): Promise<Reply> => {
      for (let attempt = 0; ; attempt++) {
        const wait = this.#lastRequestEnd + this.#o.pacingMs - Date.now();
        if (wait > 0) await sleep(wait);
        try {
          const reply = await this.#once(method, path, options);
          if (reply.status < 500 || attempt >= retries) return reply;
          this.#log.warn({ device: this.name, path, status: reply.status, attempt }, 'device answered 5xx; retrying');
        } catch (err) {
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

  async #once(method: 'GET' | 'POST', path: string, options: { bearer?: string; json?: unknown }): Promise<Reply> {
    const headers: Record<string, string> = { accept: '*/*' };
    let body: Buffer | undefined;
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
    const res = await this.#http.request({
      method,
      path,
      headers,
      body,
      reset: true, // the device closes every connection: never try to reuse one
      headersTimeout: this.#o.responseTimeoutMs,
      bodyTimeout: this.#o.responseTimeoutMs,
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const declared = res.headers['content-length'];
    if (declared !== undefined && Number(declared) !== bytes.length) {
      throw new DeviceError('connection', `${this.name}: ${path} body ended after ${bytes.length} of ${declared} bytes (device I/O error or dropped connection)`);
    }
    return { status: res.statusCode, body: bytes };
  }
}

function parse<T>(schema: z.ZodType<T>, body: Buffer, device: string, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new DeviceError('protocol', `${device}: ${what} answer is not JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw new DeviceError('protocol', `${device}: ${what} answer is not as documented: ${z.prettifyError(result.error).replaceAll('\n', '; ')}`);
  return result.data;
}

const TLS_CODES = /^(ERR_TLS_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|ERR_SSL)/;

function toDeviceError(err: unknown, device: string, path: string): DeviceError {
  if (err instanceof DeviceError) return err;
  if (err instanceof PinMismatchError) return new DeviceError('tls', err.message, { cause: err });
  const e = err as NodeJS.ErrnoException;
  if (err instanceof errors.ConnectTimeoutError) return new DeviceError('timeout', `${device}: connect timed out`, { cause: err });
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return new DeviceError('timeout', `${device}: no answer to ${path} in time (the device may be hung; it has no watchdog)`, { cause: err });
  }
  if (typeof e.code === 'string' && TLS_CODES.test(e.code)) {
    return new DeviceError('tls', `${device}: TLS failed (${e.code}): trust the device with tls.ca or pin it with tls.fingerprint`, { cause: err });
  }
  return new DeviceError('connection', `${device}: ${path}: ${e.code ?? e.message}`, { cause: err });
}
