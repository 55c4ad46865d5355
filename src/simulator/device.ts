import type { RenderedFiles } from './file-cache.js';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeBase64 } from '../shared/base64.js';
import { ed25519PublicKey, ed25519Sign } from '../shared/ed25519.js';
import { LogWriter, type RecordInput } from '../logfile/write.js';
import {
  decodeJwt,
  derivePassphraseKey,
  jwtSignatureValid,
  signJwt,
  x25519PublicKey,
  x25519SharedSecret,
} from '../device/ejwt.js';
import { MAX_EVENT_GAP_S, activity, bootPreamble } from './history.js';
import { SeededRandom } from './random.js';

/** What the simulated device is, and how much history it has. */
export interface DeviceOptions {
  readonly seed?: number | string;
  readonly boots?: number;
  readonly eventsPerBoot?: number;
  readonly passphrase: string;
  readonly masterPassphrase: string;
  /** EPA build: no mass storage, so logger list/get answer 404. */
  readonly epa?: boolean;
  /** A new KEY_INIT every this many records within a file (0: never). */
  readonly segmentEvery?: number;
  /** Seconds since the epoch; the device RTC. */
  readonly clock?: () => number;
  /** Keeps rendered history files for the next read (shared by a fleet's devices); without it, rebuilt each time. */
  readonly fileCache?: RenderedFiles;
}

export const SIM_FIRMWARE = 'Encedo nGINE FW v1.2.2';
const LOG_SCOPE = 'logger:get';
const CONFIG_SCOPES = ['system:config', 'logger:get', 'auth:ext:pair'];
const CHALLENGE_TTL_S = 60;
/** History starts here (2025-01-01), so a seed always gives the same file ids. */
const HISTORY_EPOCH = 1735689600;
const EVENT_READ_LOG = 11;

/** A device answer: the HTTP status and, for 200, a JSON body or raw bytes. */
export type DeviceReply = { status: number; json?: unknown; bytes?: Buffer };

interface Boot {
  readonly fileId: string;
  readonly sessionPrivate: Buffer;
  readonly spk: string;
  readonly bearerKey: Buffer;
  readonly log: BootLog;
  readonly startedAt: number;
}

interface LogFile {
  text: string;
  closed: boolean;
  /** Set for an unchanged history file: its text is rebuilt from its seed at each read, never kept. */
  rebuild?: () => string;
}

/**
 * The device's state and behaviour (spec §3.3, §4, §5), free of sockets: the HTTP server in
 * `server.ts` turns requests into these calls.
 */
export class SimulatedDevice {
  readonly serial: string;
  readonly hostname: string;
  readonly instanceId: string;
  readonly eid: string;
  readonly label = 'hem-user';
  readonly epa: boolean;
  faultState = 0;
  /** With the trusted-time option on, an unset RTC makes the login challenge answer 403. */
  rtcSet = true;

  readonly #rng: SeededRandom;
  readonly #clock: () => number;
  readonly #passphrase: string;
  readonly #masterPassphrase: string;
  /** Public keys of the passphrases, derived on first need: PBKDF2 costs ~0.1 s per key and device. */
  #userKey?: Promise<Buffer>;
  #masterKey?: Promise<Buffer>;
  readonly #kids: Buffer[];
  readonly #segmentEvery: number;
  #loggerSecret: Buffer;
  #boot!: Boot;
  readonly #files = new Map<string, LogFile>();
  readonly #fileCache: RenderedFiles | undefined;
  readonly #challenges = new Map<string, number>();

  private constructor(options: DeviceOptions) {
    const seed = options.seed ?? 1;
    const rng = new SeededRandom(seed);
    this.#rng = rng;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#passphrase = options.passphrase;
    this.#masterPassphrase = options.masterPassphrase;
    this.epa = options.epa ?? false;
    this.#segmentEvery = options.segmentEvery ?? 0;
    this.#fileCache = options.fileCache;
    const identity = rng.bytes(32, 'identity');
    this.eid = x25519PublicKey(identity).toString('base64');
    this.#loggerSecret = rng.bytes(32, 'logger');
    this.serial = rng.bytes(8, 'serial').toString('hex');
    this.hostname = `hem-${this.serial.slice(0, 6)}.local`;
    this.instanceId = formatUuid(rng.bytes(16, 'instance'));
    this.#kids = Array.from({ length: 4 }, (_, i) => rng.bytes(16, `kid${i}`));
    this.#planHistory(seed, options.boots ?? 3, options.eventsPerBoot ?? 50);
  }

  static async create(options: DeviceOptions): Promise<SimulatedDevice> {
    return new SimulatedDevice(options);
  }

  get now(): number {
    return this.#clock();
  }

  get loggerPublicKey(): Buffer {
    return Buffer.from(ed25519PublicKey(this.#loggerSecret));
  }

  get currentFileId(): string {
    return this.#boot.fileId;
  }

  /** Every file id, oldest first; closed ones can be read. */
  fileIds(): string[] {
    return [...this.#files.keys()].sort();
  }

  fileText(id: string): string | undefined {
    const file = this.#files.get(id);
    return file?.rebuild ? file.rebuild() : file?.text;
  }

  // ---- history and boots -------------------------------------------------------------------------

  /**
   * The closed files of past boots. Each is rebuilt from a seed of its own when read instead of being kept
   * (100 devices of 11 boots x 2000 records would hold ~150 MB of text), so boots start far enough apart
   * that their file ids are known without writing them.
   */
  #planHistory(seed: number | string, boots: number, eventsPerBoot: number): void {
    let time = HISTORY_EPOCH + this.#rng.int(86400);
    const starts: number[] = [];
    for (let i = 0; i < boots; i++) {
      starts.push(time);
      time += 95 + eventsPerBoot * MAX_EVENT_GAP_S + this.#rng.int(86400); // past the last record and REBOOT
    }
    const ids = starts.map(fileIdOf);
    const signingKey = this.#loggerSecret; // a later key replacement leaves these files signed by this one
    starts.forEach((start, i) => {
      const recent = ids.slice(Math.max(0, i - 4), i + 1);
      const rebuild = () => this.#historyFile(`${seed}#boot${i}`, start, eventsPerBoot, signingKey, recent);
      this.#files.set(ids[i]!, { text: '', closed: true, rebuild });
    });
    this.#startBoot(Math.max(this.now, time), randomBytes(32));
  }

  #historyFile(seed: string, start: number, count: number, signingKey: Buffer, recentIds: string[]): string {
    const rng = new SeededRandom(seed);
    const log = new BootLog(signingKey, this.#segmentEvery, () => rng.bytes(32, 'segment'));
    const parts = [LogWriter.header(SIM_FIRMWARE), log.start(start)];
    const { records, end } = activity(rng, { start: start + 5, count, kids: this.#kids, fileIds: recentIds });
    for (const r of records) parts.push(log.append(r));
    parts.push(log.append({ time: end + 30, event: 2, result: 0, subject: 'U' })); // REBOOT
    return parts.join('');
  }

  #startBoot(time: number, sessionPrivate: Buffer): void {
    if (this.#boot) this.#files.get(this.#boot.fileId)!.closed = true;
    let fileId = fileIdOf(time);
    while (this.#files.has(fileId)) fileId = fileIdOf(parseInt(fileId, 16) + 1);
    const log = new BootLog(this.#loggerSecret, this.#segmentEvery, () => randomBytes(32));
    this.#boot = {
      fileId,
      sessionPrivate,
      spk: x25519PublicKey(sessionPrivate).toString('base64'),
      bearerKey: randomBytes(32),
      log,
      startedAt: time,
    };
    this.#files.set(fileId, { text: LogWriter.header(SIM_FIRMWARE) + log.start(time), closed: false });
    this.#challenges.clear();
  }

  #append(record: RecordInput): void {
    this.#files.get(this.#boot.fileId)!.text += this.#boot.log.append(record);
  }

  #appendActivity(count: number, start: number): { end: number } {
    const { records, end } = activity(this.#rng, { start, count, kids: this.#kids, fileIds: this.fileIds().slice(-5) });
    for (const r of records) this.#append(r);
    return { end };
  }

  /** Reboot: the current file closes and becomes readable; new session key, so every bearer dies. */
  reboot(): string {
    this.#append({ time: this.now, event: 2, result: 0, subject: 'U' });
    this.#startBoot(this.now, randomBytes(32));
    return this.#boot.fileId;
  }

  /** Adds `count` events of ordinary device activity to the current file. */
  appendEvents(count: number): void {
    this.#appendActivity(count, this.now);
  }

  /** A wipe: new logger key pair; files written before no longer verify against the new key. */
  replaceLoggerKey(): string {
    this.#loggerSecret = randomBytes(32);
    this.reboot();
    return this.loggerPublicKey.toString('base64');
  }

  /** Damages a stored file the way an attacker or a faulty card would. */
  tamper(fileId: string, kind: 'edit' | 'drop' | 'truncate' | 'delete', line?: number): void {
    const file = this.#files.get(fileId);
    if (!file) throw new Error(`no file ${fileId}`);
    if (file.rebuild) {
      file.text = file.rebuild();
      file.rebuild = undefined;
    }
    if (kind === 'delete') {
      this.#files.delete(fileId);
      return;
    }
    const lines = file.text.split('\r\n');
    const at = line ?? Math.floor(lines.length / 2);
    if (at < 2 || at > lines.length - 1) throw new Error(`line ${at} is not a record line of ${fileId}`);
    if (kind === 'edit') {
      const f = lines[at - 1]!.split('|');
      f[3] = f[3] === '0' ? '1' : '0'; // flip the result without recomputing the tag
      lines[at - 1] = f.join('|');
    } else if (kind === 'drop') {
      lines.splice(at - 1, 1);
    }
    file.text = lines.join('\r\n');
    if (kind === 'truncate') file.text = file.text.slice(0, file.text.length - 12);
  }

  // ---- auth ---------------------------------------------------------------------------------------

  challenge(): DeviceReply {
    if (this.faultState !== 0) return { status: 409 };
    if (!this.rtcSet) return { status: 403 };
    this.#userKey ??= passphraseKey(this.#passphrase, this.eid); // while the client derives its own
    const now = this.now;
    const nonce = Buffer.concat([le32(now), randomBytes(28)]).toString('base64');
    this.#challenges.set(nonce, now + CHALLENGE_TTL_S);
    for (const [jti, exp] of this.#challenges) if (exp < now) this.#challenges.delete(jti);
    return {
      status: 200,
      json: { exp: now + CHALLENGE_TTL_S, spk: this.#boot.spk, jti: nonce, lbl: this.label, eid: this.eid },
    };
  }

  /** POST /api/auth/token with the raw body; the HTTP layer already enforced Content-Length and size. */
  async login(body: Buffer): Promise<DeviceReply> {
    if (this.faultState !== 0) return { status: 409 };
    let auth: unknown;
    try {
      auth = (JSON.parse(body.toString('utf8')) as { auth?: unknown }).auth;
    } catch {
      return { status: 400 };
    }
    if (typeof auth !== 'string') return { status: 400 };
    const jws = decodeJwt(auth);
    if (jws?.header.ecdh !== 'x25519') return { status: 400 };
    const { jti, iss, exp, scope } = jws.claims;
    if (
      typeof iss !== 'string' ||
      typeof jti !== 'string' ||
      typeof exp !== 'number' ||
      typeof scope !== 'string' ||
      scope.length > 127
    )
      return { status: 400 };
    const issuer = decodeBase64(iss);
    if (issuer === null || issuer.length !== 32) return { status: 401 };
    if (!jwtSignatureValid(auth, x25519SharedSecret(this.#boot.sessionPrivate, issuer))) return { status: 401 };
    const now = this.now;
    const challengeExp = this.#challenges.get(jti);
    if (challengeExp === undefined || challengeExp < now) return { status: 401 };
    this.#challenges.delete(jti); // single use
    const { bearerKey } = this.#boot; // the boot that issued the challenge, should it reboot meanwhile
    const sub = await this.#role(issuer);
    if (sub === null) return { status: 401 };
    if (exp <= now) return { status: 401 }; // 0 and past expiries are refused, as observed on fw 1.2.2
    const token = signJwt(
      { typ: 'JWT', alg: 'HS256' },
      { scope, sub, iat: now, exp, jti: Buffer.concat([le32(now), randomBytes(28)]).toString('base64') },
      bearerKey,
    );
    this.#append({ time: now, event: 13, result: 0, subject: sub, data: Buffer.from(scope).toString('base64url') });
    return { status: 200, json: { token } };
  }

  async #role(issuer: Buffer): Promise<'U' | 'M' | null> {
    this.#userKey ??= passphraseKey(this.#passphrase, this.eid);
    if (timingSafeEqual(issuer, await this.#userKey)) return 'U';
    this.#masterKey ??= passphraseKey(this.#masterPassphrase, this.eid);
    return timingSafeEqual(issuer, await this.#masterKey) ? 'M' : null;
  }

  /** The claims of a bearer token this boot issued that has not expired, else null. */
  #bearer(authorization: string | undefined): Record<string, unknown> | null {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token || !jwtSignatureValid(token, this.#boot.bearerKey)) return null;
    const claims = decodeJwt(token)?.claims;
    if (!claims || typeof claims.exp !== 'number' || claims.exp <= this.now || typeof claims.scope !== 'string')
      return null;
    return claims;
  }

  /** The session (the token's jti) a request with this Authorization header is authenticated in, if any. */
  session(authorization: string | undefined): string | null {
    const jti = this.faultState === 0 ? this.#bearer(authorization)?.jti : undefined;
    return typeof jti === 'string' ? jti : null;
  }

  /** Bearer check for a protected endpoint: 401 bad or expired token; 403 (audited) wrong scope. */
  authorize(
    authorization: string | undefined,
    scopes: readonly string[],
  ): { status: 200; sub: string } | { status: 401 | 403 | 409 } {
    if (this.faultState !== 0) return { status: 409 };
    const claims = this.#bearer(authorization);
    if (!claims) return { status: 401 };
    const sub = String(claims.sub);
    if (!scopes.some((s) => (claims.scope as string).startsWith(s))) {
      this.#append({
        time: this.now,
        event: 12,
        result: 1,
        subject: sub,
        data: Buffer.from(scopes[0]!).toString('base64url'),
      });
      return { status: 403 };
    }
    return { status: 200, sub };
  }

  // ---- endpoints ----------------------------------------------------------------------------------

  version(): DeviceReply {
    return {
      status: 200,
      json: {
        hwv: this.epa ? 'EPA rev 1.0 @1' : 'PPA rev 2.2',
        fwv: SIM_FIRMWARE,
        blv: 'Encedo Secure Bootloader v2.0.1',
      },
    };
  }

  status(): DeviceReply {
    return {
      status: 200,
      json: {
        uptime: this.now - this.#boot.startedAt,
        temp: 31,
        fls_state: this.faultState,
        ts: this.now,
        https: true,
      },
    };
  }

  config(authorization: string | undefined): DeviceReply {
    const auth = this.authorize(authorization, CONFIG_SCOPES);
    if (auth.status !== 200) return auth;
    return {
      status: 200,
      json: {
        devid: this.serial,
        instanceid: this.instanceId,
        hostname: this.hostname,
        eid: this.eid,
        eid_sign: this.loggerPublicKey.toString('base64'),
        user: this.label,
        iat: this.#boot.startedAt,
        uts: this.#boot.startedAt,
      },
    };
  }

  loggerKey(authorization: string | undefined): DeviceReply {
    const auth = this.authorize(authorization, [LOG_SCOPE]);
    if (auth.status !== 200) return auth;
    const nonce = Buffer.concat([le32(this.now), randomBytes(28)]);
    return {
      status: 200,
      json: {
        key: this.loggerPublicKey.toString('base64'),
        nonce: nonce.toString('base64'),
        nonce_signed: Buffer.from(ed25519Sign(nonce, this.#loggerSecret)).toString('base64'),
      },
    };
  }

  /** One page of the log directory. `total` counts every directory entry, not just log files. */
  list(authorization: string | undefined, offset: string): DeviceReply {
    const auth = this.authorize(authorization, [LOG_SCOPE]);
    if (auth.status !== 200) return auth;
    if (this.epa) {
      this.#append({ time: this.now, event: 9, result: 1, subject: auth.sub });
      return { status: 404 };
    }
    if (!/^\d*$/.test(offset)) return { status: 406 };
    const entries = ['SYSTEM~1', ...this.fileIds(), 'INDEX.DAT'];
    const start = offset === '' ? 0 : Number(offset);
    const ids = entries.slice(start, start + 128).filter((e) => /^[0-9a-f]{8}$/.test(e));
    this.#append({ time: this.now, event: 9, result: 0, subject: auth.sub });
    return { status: 200, json: { total: entries.length, id: ids } };
  }

  read(authorization: string | undefined, id: string): DeviceReply {
    const auth = this.authorize(authorization, [LOG_SCOPE]);
    if (auth.status !== 200) return auth;
    const file = this.epa ? undefined : this.#files.get(id);
    if (!file) {
      this.#append({
        time: this.now,
        event: EVENT_READ_LOG,
        result: 1,
        subject: auth.sub,
        data: Buffer.from(id.slice(0, 64)).toString('base64url'),
      });
      return { status: 404 };
    }
    if (!file.closed) return { status: 406 }; // locked by the logger task
    this.#append({
      time: this.now,
      event: EVENT_READ_LOG,
      result: 0,
      subject: auth.sub,
      data: Buffer.from(id).toString('base64url'),
    });
    return { status: 200, bytes: this.#fileBytes(id, file) };
  }

  #fileBytes(id: string, file: LogFile): Buffer {
    if (!file.rebuild || !this.#fileCache) return Buffer.from(this.fileText(id)!, 'latin1');
    const key = `${this.serial}/${id}`;
    let bytes = this.#fileCache.get(key);
    if (!bytes) {
      bytes = Buffer.from(file.rebuild(), 'latin1');
      this.#fileCache.set(key, bytes);
    }
    return bytes;
  }
}

/**
 * One boot's records as text: a KEY_INIT opens the file and, with `segmentEvery`, a new key segment every
 * that many records (spec §2).
 */
class BootLog {
  readonly #writer: LogWriter;
  readonly #segmentEvery: number;
  readonly #nextKey: () => Buffer;
  #inSegment = 0;

  constructor(signingKey: Buffer, segmentEvery: number, nextKey: () => Buffer) {
    this.#writer = new LogWriter({ signingKey });
    this.#segmentEvery = segmentEvery;
    this.#nextKey = nextKey;
  }

  /** The KEY_INIT and the boot preamble. */
  start(time: number): string {
    return (
      this.#keyInit(time) +
      bootPreamble(time)
        .map((r) => this.append(r))
        .join('')
    );
  }

  append(record: RecordInput): string {
    const keyInit = this.#segmentEvery > 0 && this.#inSegment >= this.#segmentEvery ? this.#keyInit(record.time) : '';
    this.#inSegment++;
    return keyInit + this.#writer.append(record);
  }

  #keyInit(time: number): string {
    this.#inSegment = 1;
    return this.#writer.keyInit(this.#nextKey(), time);
  }
}

async function passphraseKey(passphrase: string, eid: string): Promise<Buffer> {
  return x25519PublicKey(await derivePassphraseKey(passphrase, eid));
}

function fileIdOf(time: number): string {
  return time.toString(16).padStart(8, '0');
}

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
