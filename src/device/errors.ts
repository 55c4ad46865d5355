import { ForwarderError } from '../shared/errors.js';

/** Why a device request failed; each code has one actionable explanation. */
export type DeviceErrorCode =
  | 'unauthorized' // 401: passphrase rejected, or the token was refused twice
  | 'forbidden' // 403 on an endpoint: the token's scope or role does not allow it
  | 'clock_not_set' // 403 at login: the device RTC is unset (trusted-time option)
  | 'not_found' // 404: no such file, or an EPA build without log storage
  | 'locked' // 406: the file of the current boot, or a bad offset
  | 'fault' // 409: the device is in a fault state or not initialised
  | 'server_error' // 5xx
  | 'timeout'
  | 'connection'
  | 'tls'
  | 'closed' // the forwarder is shutting down: the client was closed
  | 'too_large' // an answer longer than the forwarder accepts (max_file_bytes for log files)
  | 'protocol'; // an answer that is not what the API documents

export class DeviceError extends ForwarderError {
  override readonly name = 'DeviceError';
  readonly code: DeviceErrorCode;
  readonly status: number | undefined;
  /** Worth retrying later (the same request may succeed). */
  readonly transient: boolean;

  constructor(code: DeviceErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.transient = code === 'timeout' || code === 'connection' || code === 'server_error';
  }
}

/** The error for an HTTP status, with what the user can do about it. */
export function statusError(status: number, what: string, device: string): DeviceError {
  switch (status) {
    case 401:
      return new DeviceError(
        'unauthorized',
        `${device}: ${what} refused the token (401); it expired, the device rebooted, or the passphrase is wrong`,
        { status },
      );
    case 403:
      return new DeviceError(
        'forbidden',
        `${device}: ${what} denied (403): the token's scope or role does not allow it; the ` +
          `forwarder needs a User login with scope logger:get`,
        { status },
      );
    case 404:
      return new DeviceError(
        'not_found',
        `${device}: ${what} not found (404); EPA devices keep no log files (their log goes out over MQTT)`,
        { status },
      );
    case 406:
      return new DeviceError(
        'locked',
        `${device}: ${what} not available (406): the file is locked by the logger (the ` +
          `current boot's file) or the offset is invalid`,
        { status },
      );
    case 409:
      return new DeviceError(
        'fault',
        `${device}: ${what} refused (409): the device is in a fault state or not initialised;` +
          ` check /api/system/status fls_state`,
        { status },
      );
    default:
      if (status >= 500)
        return new DeviceError('server_error', `${device}: ${what} failed with HTTP ${status}`, { status });
      return new DeviceError(
        'protocol',
        `${device}: ${what} answered HTTP ${status}, which the API does not document here`,
        { status },
      );
  }
}
