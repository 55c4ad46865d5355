import { X509Certificate, randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { generate } from 'selfsigned';
import { type DeviceOptions, type DeviceReply, SimulatedDevice } from './device.js';

export interface SimulatorOptions extends Partial<DeviceOptions> {
  readonly host?: string;
  readonly port?: number;
  /** Plain HTTP instead of HTTPS with a generated self-signed certificate. */
  readonly http?: boolean;
  /** Base minimum answer time of POST /api/auth/token (the device: 500 ms; three times that after 3 failures). */
  readonly authDelayMs?: number;
  /** Exposes /sim/* fault-injection endpoints. Never on by default. */
  readonly control?: boolean;
  /** A certificate to serve instead of generating one (devices of one fleet share one). */
  readonly tls?: SimulatorTls;
}

export interface SimulatorTls {
  readonly key: string;
  readonly cert: string;
  /** SHA-256 of the certificate, hex. */
  readonly sha256: string;
}

/** What clients did: `sessions` logins that issued a token, `requests` API requests answered. */
export interface SimulatorStats {
  readonly sessions: number;
  readonly requests: number;
  /** The most sessions active at one instant over the recorded windows. */
  readonly maxConcurrentSessions: number;
}

/** A session's activity (performance.now() ms): from its login to the end of its last request. */
interface SessionWindow {
  readonly start: number;
  end: number;
  /** Its requests still being answered: until they are, the window reaches up to now. */
  open: number;
}

const MAX_SESSION_WINDOWS = 10_000;

const MAX_JSON_BODY = 7300;
const SLOW_AFTER_FAILURES = 3;
const SLOW_MODE_MS = 15_000;

/** Transport-level faults a test or demo can switch on (a hostile or broken device). */
interface Faults {
  latencyMs: number;
  hang: number;
  drop: number;
  error: number;
  errorStatus: number;
  /** Only requests whose path starts with this get the error (all when empty). */
  errorPath: string;
  /** Log file reads answered with a body that never ends. */
  endless: number;
  /** Log file reads answered a few bytes at a time, `trickleMs` apart (slow-loris). */
  trickle: number;
  trickleMs: number;
  /** Log file reads answered 200 with an empty body. */
  empty: number;
  /** Ids added to every listing page (ids with odd characters, names of Object.prototype members). */
  listExtra: string[];
  /** `new`: every page brings 128 ids never seen; `repeat`: every offset answers the first page again. */
  listFlood: '' | 'new' | 'repeat';
  /** Characters added to the serial and hostname the device reports. */
  identityPad: number;
  /** The login challenge carries an all-zero session key (a protocol fault). */
  zeroSpk: boolean;
}

const NO_FAULTS: Faults = {
  latencyMs: 0,
  hang: 0,
  drop: 0,
  error: 0,
  errorStatus: 500,
  errorPath: '',
  endless: 0,
  trickle: 0,
  trickleMs: 200,
  empty: 0,
  listExtra: [],
  listFlood: '',
  identityPad: 0,
  zeroSpk: false,
};

/**
 * An Encedo HEM on a socket: HTTPS (or HTTP) answering the documented API like the device does (one
 * response per connection, empty error bodies, slow answers to logins), driven by SimulatedDevice.
 */
export class HemSimulator {
  readonly device: SimulatedDevice;
  readonly url: string;
  /** SHA-256 of the certificate (hex, lower case), or null over plain HTTP. */
  readonly certSha256: string | null;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #authDelayMs: number;
  readonly #control: boolean;
  readonly faults: Faults = { ...NO_FAULTS, listExtra: [] };
  #authFailures = 0;
  #lastAuthFailure = 0;
  /** By token jti, oldest first; only the most recent MAX_SESSION_WINDOWS are kept. */
  readonly #sessions = new Map<string, SessionWindow>();
  #sessionCount = 0;
  #requests = 0;

  private constructor(
    device: SimulatedDevice,
    server: Server,
    url: string,
    certSha256: string | null,
    options: SimulatorOptions,
  ) {
    this.device = device;
    this.#server = server;
    this.url = url;
    this.certSha256 = certSha256;
    this.#authDelayMs = options.authDelayMs ?? 500;
    this.#control = options.control ?? false;
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(options: SimulatorOptions = {}): Promise<HemSimulator> {
    const passphrase = options.passphrase ?? randomBytes(12).toString('base64url');
    const masterPassphrase = options.masterPassphrase ?? randomBytes(12).toString('base64url');
    const [device, tls] = await Promise.all([
      SimulatedDevice.create({ ...options, passphrase, masterPassphrase }),
      options.http ? Promise.resolve(null) : (options.tls ?? selfSignedCertificate()),
    ]);
    let sim: HemSimulator | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse) => void sim!.#handle(req, res);
    const server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, handler) : createHttpServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    sim = new HemSimulator(
      device,
      server,
      `${tls ? 'https' : 'http'}://${host}:${address.port}`,
      tls?.sha256 ?? null,
      options,
    );
    return sim;
  }

  stats(): SimulatorStats {
    return {
      sessions: this.#sessionCount,
      requests: this.#requests,
      maxConcurrentSessions: maxOverlap(this.#sessions),
    };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    if (path.startsWith('/sim/')) {
      if (!this.#control) return send(res, { status: 404 });
      return send(res, this.#controlRequest(req.method ?? 'GET', path, body));
    }
    if (this.faults.hang > 0) {
      this.faults.hang--;
      return; // never answers; the client's timeout must fire
    }
    const arrived = performance.now();
    this.#requests++;
    this.#track(this.#sessions.get(this.device.session(req.headers.authorization) ?? ''), res);
    if (this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);
    if (this.faults.error > 0 && path.startsWith(this.faults.errorPath)) {
      this.faults.error--;
      return send(res, { status: this.faults.errorStatus });
    }
    if (req.headers.origin !== undefined) return send(res, { status: 412 }); // no CORS origins configured
    const login = req.method === 'POST' && path === '/api/auth/token';
    const reply = login ? await this.#login(req, body) : this.#route(req, path);
    if (login && reply.status === 200) this.#openSession(reply, arrived, res);
    if (reply.bytes && reply.status === 200 && this.#hostileBody(res, reply.bytes)) return;
    if (reply.bytes && this.faults.drop > 0) {
      this.faults.drop--;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': reply.bytes.length });
      res.write(reply.bytes.subarray(0, Math.floor(reply.bytes.length / 2)), () => res.destroy());
      return;
    }
    send(res, reply);
  }

  #openSession(login: DeviceReply, arrived: number, res: ServerResponse): void {
    const jti = this.device.session(`Bearer ${(login.json as { token: string }).token}`)!;
    const window = { start: arrived, end: arrived, open: 0 };
    this.#sessions.set(jti, window);
    this.#sessionCount++;
    if (this.#sessions.size > MAX_SESSION_WINDOWS) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#track(window, res);
  }

  /** The session's window lasts until this response is over (sent, or the connection gone). */
  #track(window: SessionWindow | undefined, res: ServerResponse): void {
    if (!window) return;
    // A response already over (a client that gave up while the answer was computed) closes nothing later.
    if (res.closed) {
      window.end = Math.max(window.end, performance.now());
      return;
    }
    window.open++;
    res.once('close', () => {
      window.open--;
      window.end = Math.max(window.end, performance.now());
    });
  }

  /** Answers a log file read the way a hostile device would, if such a fault is armed. */
  #hostileBody(res: ServerResponse, bytes: Buffer): boolean {
    const f = this.faults;
    if (f.empty > 0) {
      f.empty--;
      send(res, { status: 200, bytes: Buffer.alloc(0) });
      return true;
    }
    if (f.endless > 0) {
      f.endless--;
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }); // no length: chunked
      // Lines of junk, so a forwarder that streams sees (malformed) records flow before it gives up.
      const chunk = Buffer.from(`${'A'.repeat(1022)}\r\n`.repeat(64), 'latin1');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
      return true;
    }
    if (f.trickle > 0) {
      f.trickle--;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': bytes.length, connection: 'close' });
      let at = 0;
      const timer = setInterval(() => {
        if (res.destroyed || at >= bytes.length) {
          clearInterval(timer);
          if (!res.destroyed) res.end();
          return;
        }
        res.write(bytes.subarray(at, at + 16));
        at += 16;
      }, f.trickleMs);
      res.on('close', () => clearInterval(timer));
      return true;
    }
    return false;
  }

  #route(req: IncomingMessage, path: string): DeviceReply {
    const d = this.device;
    const auth = req.headers.authorization;
    if (req.method !== 'GET') return { status: 404 };
    if (path === '/api/auth/token') return this.#withFaults(d.challenge());
    if (path === '/api/system/version') return d.version();
    if (path === '/api/system/status') return d.status();
    if (path === '/api/system/config') return this.#withFaults(d.config(auth));
    if (path === '/api/logger/key') return d.loggerKey(auth);
    const list = /^\/api\/logger\/list(?:\/([^/]*))?$/.exec(path);
    if (list)
      return this.#withFaults(d.list(auth, this.faults.listFlood === 'repeat' ? '0' : (list[1] ?? '')), list[1]);
    const file = /^\/api\/logger\/([^/]+)$/.exec(path);
    if (file) return d.read(auth, decodeURIComponent(file[1]!));
    return { status: 404 };
  }

  /** Rewrites a JSON answer as a broken or hostile device would send it. */
  #withFaults(reply: DeviceReply, listOffset?: string): DeviceReply {
    const f = this.faults;
    if (reply.status !== 200 || typeof reply.json !== 'object' || reply.json === null) return reply;
    const json = { ...(reply.json as Record<string, unknown>) };
    if ('spk' in json && f.zeroSpk) json.spk = Buffer.alloc(32).toString('base64');
    if ('devid' in json && f.identityPad > 0) {
      json.devid = `${String(json.devid)}${'9'.repeat(f.identityPad)}`;
      json.hostname = `${String(json.hostname)}${'h'.repeat(f.identityPad)}`;
    }
    if (Array.isArray(json.id)) {
      const offset = Number(listOffset || 0);
      if (f.listFlood === 'new') {
        json.id = Array.from({ length: 128 }, (_, i) => (0x10000000 + offset + i).toString(16));
        json.total = offset + 1000;
      } else if (offset === 0 && f.listExtra.length > 0) {
        json.id = [...(json.id as string[]), ...f.listExtra];
      }
    }
    return { ...reply, json };
  }

  /** Logins answer no sooner than the device would: 500 ms, or 1500 ms after three failures in a row. */
  async #login(req: IncomingMessage, body: Buffer): Promise<DeviceReply> {
    const started = Date.now();
    let reply: DeviceReply;
    if (req.headers['content-length'] === undefined) reply = { status: 411 };
    else if (body.length > MAX_JSON_BODY) reply = { status: 413 };
    else reply = await this.device.login(body);
    if (started - this.#lastAuthFailure > SLOW_MODE_MS) this.#authFailures = 0;
    const slow = this.#authFailures >= SLOW_AFTER_FAILURES;
    if (reply.status === 200) this.#authFailures = 0;
    else {
      this.#authFailures++;
      this.#lastAuthFailure = started;
    }
    await sleep(Math.max(0, (slow ? 3 : 1) * this.#authDelayMs - (Date.now() - started)));
    return reply;
  }

  #controlRequest(method: string, path: string, body: Buffer): DeviceReply {
    if (method === 'GET' && path === '/sim/stats') return { status: 200, json: this.stats() };
    if (method === 'GET' && path === '/sim/state') {
      return {
        status: 200,
        json: {
          serial: this.device.serial,
          loggerKey: this.device.loggerPublicKey.toString('base64'),
          files: this.device.fileIds(),
          current: this.device.currentFileId,
          faults: this.faults,
          fls_state: this.device.faultState,
        },
      };
    }
    if (method !== 'POST') return { status: 404 };
    let args: Record<string, unknown> = {};
    try {
      if (body.length > 0) args = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return { status: 400 };
    }
    const count = typeof args.count === 'number' ? args.count : 1;
    try {
      switch (path) {
        case '/sim/reboot':
          return { status: 200, json: { current: this.device.reboot() } };
        case '/sim/append':
          this.device.appendEvents(count);
          return { status: 200, json: {} };
        case '/sim/tamper':
          this.device.tamper(
            String(args.file),
            args.kind as 'edit' | 'drop' | 'truncate' | 'delete',
            typeof args.line === 'number' ? args.line : undefined,
          );
          return { status: 200, json: {} };
        case '/sim/replace-logger-key':
          return { status: 200, json: { loggerKey: this.device.replaceLoggerKey() } };
        case '/sim/fault':
          this.device.faultState = typeof args.state === 'number' ? args.state : 0x02;
          return { status: 200, json: { fls_state: this.device.faultState } };
        case '/sim/rtc':
          this.device.rtcSet = args.set !== false;
          return { status: 200, json: { rtc_set: this.device.rtcSet } };
        case '/sim/latency':
          this.faults.latencyMs = typeof args.ms === 'number' ? args.ms : 0;
          return { status: 200, json: {} };
        case '/sim/hang':
          this.faults.hang = count;
          return { status: 200, json: {} };
        case '/sim/drop':
          this.faults.drop = count;
          return { status: 200, json: {} };
        case '/sim/error':
          this.faults.error = count;
          this.faults.errorStatus = typeof args.status === 'number' ? args.status : 500;
          this.faults.errorPath = typeof args.path === 'string' ? args.path : '';
          return { status: 200, json: {} };
        case '/sim/endless':
          this.faults.endless = count;
          return { status: 200, json: {} };
        case '/sim/trickle':
          this.faults.trickle = count;
          this.faults.trickleMs = typeof args.ms === 'number' ? args.ms : 200;
          return { status: 200, json: {} };
        case '/sim/empty':
          this.faults.empty = count;
          return { status: 200, json: {} };
        case '/sim/list':
          this.faults.listExtra = Array.isArray(args.extra) ? args.extra.map(String) : [];
          this.faults.listFlood = args.flood === 'new' || args.flood === 'repeat' ? args.flood : '';
          return { status: 200, json: {} };
        case '/sim/identity':
          this.faults.identityPad = typeof args.pad === 'number' ? args.pad : 0;
          this.faults.zeroSpk = args.zeroSpk === true;
          return { status: 200, json: {} };
        case '/sim/reset-faults':
          Object.assign(this.faults, { ...NO_FAULTS, listExtra: [] });
          this.device.faultState = 0;
          this.device.rtcSet = true;
          return { status: 200, json: {} };
        default:
          return { status: 404 };
      }
    } catch (err) {
      return { status: 400, json: { error: (err as Error).message } };
    }
  }
}

/** The most windows open at one instant; one that ends as another starts does not overlap it. */
function maxOverlap(windows: Map<string, SessionWindow>): number {
  const now = performance.now();
  const edges: [number, number][] = [];
  for (const w of windows.values()) edges.push([w.start, 1], [w.open > 0 ? now : w.end, -1]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, step] of edges) max = Math.max(max, (open += step));
  return max;
}

function send(res: ServerResponse, reply: DeviceReply): void {
  // The device closes the connection after every response and sends empty bodies with errors.
  const headers: Record<string, string | number> = { connection: 'close' };
  let body: Buffer = Buffer.alloc(0);
  if (reply.status === 200 && reply.bytes) {
    body = reply.bytes;
    headers['content-type'] = 'text/plain';
  } else if (reply.json !== undefined) {
    body = Buffer.from(JSON.stringify(reply.json));
    headers['content-type'] = 'application/json';
  }
  headers['content-length'] = body.length;
  res.writeHead(reply.status, headers);
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_JSON_BODY + 1) chunks.push(chunk); // more is never needed, only noticed
  }
  return Buffer.concat(chunks);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function selfSignedCertificate(): Promise<SimulatorTls> {
  const pem = await generate([{ name: 'commonName', value: 'my.ence.do' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 90 * 86400_000),
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'my.ence.do' },
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  const sha256 = new X509Certificate(pem.cert).fingerprint256.replaceAll(':', '').toLowerCase();
  return { key: pem.private, cert: pem.cert, sha256 };
}
