import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Log } from '../shared/log.js';
import { type DeviceTls, checkPin, tlsOptions } from './tls.js';

/** No answer in time: while connecting, while waiting for the headers, or between two pieces of the body. */
export class TransportTimeout extends Error {
  override readonly name = 'TransportTimeout';
  constructor(readonly phase: 'connect' | 'answer') {
    super(`${phase} timed out`);
  }
}

/** The client was shut down: not a device fault, never retried. */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
}

export interface TransportOptions {
  readonly origin: URL;
  readonly tls: DeviceTls;
  readonly connectTimeoutMs: number;
  /** Time allowed for the headers (the client times the pieces of a body itself, see boundedBody). */
  readonly responseTimeoutMs: number;
  readonly device: string;
  readonly log: Log;
}

/**
 * HTTP(S) to one device on node:http, a new connection per request (the device closes every one).
 *
 * Why not undici, which the rest of the project uses: undici 7 (the last line for Node 20) crashes the
 * process with an uncatchable assertion when a response body is paused by backpressure and the server then
 * closes the connection (nodejs/undici#5360, fixed only in undici 8). Streaming a large log file into a
 * slower output does exactly that, on every file.
 */
export class DeviceTransport {
  readonly #o: TransportOptions;
  readonly #inFlight = new Set<ClientRequest>();
  #toldUnauthorized = false;
  #destroyed = false;

  constructor(options: TransportOptions) {
    this.#o = options;
  }

  /** Resolves with the response once its headers are in; its body then streams with backpressure. */
  request(r: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: Buffer;
    signal: AbortSignal;
  }): Promise<IncomingMessage> {
    if (this.#destroyed)
      return Promise.reject(new ClientClosedError(`${this.#o.device}: the device client was closed`));
    const { origin, tls, device } = this.#o;
    const secure = origin.protocol === 'https:';
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)({
        host: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: origin.port || (secure ? 443 : 80),
        method: r.method,
        path: r.path,
        headers: { ...r.headers, connection: 'close' },
        agent: false,
        signal: r.signal,
        ...(secure ? tlsOptions(tls) : {}),
      });
      this.#inFlight.add(req);
      let timer = setTimeout(() => req.destroy(new TransportTimeout('connect')), this.#o.connectTimeoutMs);
      const waitForAnswer = () => {
        clearTimeout(timer);
        timer = setTimeout(() => req.destroy(new TransportTimeout('answer')), this.#o.responseTimeoutMs);
      };
      req.on('socket', (socket) => {
        if (!secure) return void socket.once('connect', waitForAnswer);
        socket.once('secureConnect', () => {
          const tlsSocket = socket as TLSSocket;
          const mismatch = checkPin(tls, tlsSocket, device);
          if (mismatch) return void req.destroy(mismatch);
          if (tls.fingerprint !== undefined && !tlsSocket.authorized && !this.#toldUnauthorized) {
            this.#toldUnauthorized = true;
            const reason = String(tlsSocket.authorizationError);
            this.#o.log.info(
              { device, reason },
              'device certificate is not trusted by any CA but matches the pinned fingerprint; accepting it',
            );
          }
          waitForAnswer();
        });
      });
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on('close', () => {
        clearTimeout(timer);
        this.#inFlight.delete(req);
      });
      req.end(r.body);
    });
  }

  /** Fails whatever is in flight at once (shutdown with a hung device). */
  destroy(): void {
    this.#destroyed = true;
    for (const req of this.#inFlight)
      req.destroy(new ClientClosedError(`${this.#o.device}: the device client was closed`));
  }
}
