import type { TLSSocket } from 'node:tls';

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
  return fp
    .replace(/^sha256[:/]/i, '')
    .replaceAll(':', '')
    .toLowerCase();
}

/** What the TLS policy asks of node:https for one connection (no agent, so no session is ever resumed). */
export function tlsOptions(tls: DeviceTls): { ca?: string; rejectUnauthorized: boolean } {
  // With a pin the chain is not checked by CAs (an expired or self-signed device certificate works), but the
  // certificate must be exactly the pinned one: checkPin, once the handshake is done.
  return { ...(tls.ca ? { ca: tls.ca } : {}), rejectUnauthorized: !(tls.insecure || tls.fingerprint !== undefined) };
}

/** Compares the peer certificate with the pin; null when it matches (or nothing is pinned). */
export function checkPin(tls: DeviceTls, socket: TLSSocket, device: string): PinMismatchError | null {
  if (tls.fingerprint === undefined) return null;
  const pinned = normalizeFingerprint(tls.fingerprint);
  const actual = normalizeFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
  if (actual === pinned) return null;
  return new PinMismatchError(
    `${device}: the device certificate (sha256 ${actual}) does not match the pinned fingerprint ${pinned}`,
  );
}
