import type { TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';
import type { Log } from '../shared/log.js';

export interface DeviceTls {
  /** PEM text of the CA(s) to trust instead of the system store. */
  readonly ca?: string;
  /** SHA-256 of the device certificate (hex, colons optional): trusted even if expired or self-signed. */
  readonly fingerprint?: string;
  /** Accept any certificate. Logged as a warning at every start. */
  readonly insecure?: boolean;
}

export class PinMismatchError extends Error {
  override readonly name = 'PinMismatchError';
  readonly code = 'ERR_TLS_PIN_MISMATCH';
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/^sha256[:/]/i, '').replaceAll(':', '').toLowerCase();
}

/**
 * The TLS policy as an undici connector. With a pinned fingerprint the chain is not checked by CAs (so
 * an expired or self-signed device certificate works) but the certificate must be exactly the pinned one.
 */
export function deviceConnector(tls: DeviceTls, connectTimeoutMs: number, device: string, log: Log): buildConnector.connector {
  if (tls.fingerprint === undefined) {
    return buildConnector({ timeout: connectTimeoutMs, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.insecure ? { rejectUnauthorized: false } : {}) });
  }
  const pinned = normalizeFingerprint(tls.fingerprint);
  // No session resumption: a resumed TLS 1.3 session carries no certificate to compare with the pin.
  const connect = buildConnector({ timeout: connectTimeoutMs, rejectUnauthorized: false, maxCachedSessions: 0 });
  let toldOnce = false;
  return (options, callback) => {
    connect(options, (err, socket) => {
      if (err || !socket) return callback(err ?? new Error('no socket'), null);
      if (!('getPeerCertificate' in socket)) return callback(null, socket); // plain http: nothing to pin
      const tlsSocket = socket as TLSSocket;
      const actual = normalizeFingerprint(tlsSocket.getPeerCertificate().fingerprint256 ?? '');
      if (actual !== pinned) {
        socket.destroy();
        return callback(new PinMismatchError(`${device}: the device certificate (sha256 ${actual}) does not match the pinned fingerprint ${pinned}`), null);
      }
      if (!tlsSocket.authorized && !toldOnce) {
        toldOnce = true;
        log.info({ device, reason: String(tlsSocket.authorizationError) }, 'device certificate is not trusted by any CA but matches the pinned fingerprint; accepting it');
      }
      callback(null, socket);
    });
  };
}
