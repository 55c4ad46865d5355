import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Secret } from '../config/secret.js';
import { type CustodyKey, custodyKeyFromPem, generateCustodyKeyPem } from '../custody/signing.js';
import { ForwarderError } from '../shared/errors.js';

/** The custody signing key cannot be had: a reason the operator can act on, never the key itself. */
export class CustodyKeyError extends ForwarderError {
  override readonly name = 'CustodyKeyError';
  readonly code = 'custody_key';
  readonly transient = false;
}

export const CUSTODY_KEY_FILE = 'custody-key.pem';

/**
 * The forwarder's signing key: `custody.signing_key` when configured (a PEM, by `${file:...}`), else
 * `state_dir/custody-key.pem`, created on first use with mode 0600.
 */
/** The custody key if there is one, never creating it (for `audit`, which only reads). */
export async function readCustodyKey(stateDir: string, configured?: Secret): Promise<CustodyKey | null> {
  if (configured) return parse(configured.reveal(), 'custody.signing_key');
  const path = join(stateDir, CUSTODY_KEY_FILE);
  const pem = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw ioError(path, err);
  });
  return pem === null ? null : parse(pem, path);
}

export async function loadOrCreateCustodyKey(
  stateDir: string,
  configured?: Secret,
): Promise<{ key: CustodyKey; path: string | null; created: boolean }> {
  if (configured) return { key: parse(configured.reveal(), 'custody.signing_key'), path: null, created: false };
  const path = join(stateDir, CUSTODY_KEY_FILE);
  const existing = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw ioError(path, err);
  });
  if (existing !== null) return { key: parse(existing, path), path, created: false };
  let created = false;
  // Written whole under a temporary name, then linked into place: a reader never sees half a key, and of
  // two processes creating it at once, one key wins for both.
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(stateDir, { recursive: true });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(generateCustodyKeyPem());
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, path);
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(path, err);
  } finally {
    await rm(temp, { force: true });
  }
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw ioError(path, err);
  }
  return { key: parse(pem, path), path, created };
}

function parse(pem: string, where: string): CustodyKey {
  try {
    return custodyKeyFromPem(pem);
  } catch (err) {
    throw new CustodyKeyError(`${where}: the custody signing key is ${(err as Error).message}`);
  }
}

function ioError(path: string, err: unknown): CustodyKeyError {
  return new CustodyKeyError(`cannot use the custody signing key ${path}: ${(err as NodeJS.ErrnoException).code}`);
}

/**
 * Makes `pem` the state_dir signing key after a rotation: the current key is kept beside it as
 * `custody-key.<fingerprint prefix>.retired.pem` (old digests stay verifiable from its public half), and the
 * new key is written whole and renamed into place. Returns the retired key's path.
 */
export async function installCustodyKey(stateDir: string, pem: string, currentFingerprint: string): Promise<string> {
  const path = join(stateDir, CUSTODY_KEY_FILE);
  const retired = join(stateDir, `custody-key.${currentFingerprint.slice(0, 16)}.retired.pem`);
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await link(path, retired).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(pem);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw ioError(path, err);
  }
  return retired;
}
