import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { SignedDigest } from '../custody/digest.js';
import { ForwarderError } from '../shared/errors.js';

/**
 * The auditor's copy of the digests outside the cluster: one NDJSON file per device and day (UTC, of the
 * digest's time), `<device>.<YYYY-MM-DD>.ndjson`, appended and synced before the file is checkpointed.
 * Lines are the signed digests as they are in the cluster; a retried collection may append an identical line
 * (audit counts a digest once by its hash).
 */
export async function appendDigest(dir: string, device: string, digest: SignedDigest): Promise<string> {
  const body = digest.body;
  const day = (body.kind === 'file' ? body.collected_at : body.rotated_at).slice(0, 10);
  const path = join(dir, `${device}.${day}.ndjson`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(path, 'a', 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(digest)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new DigestFileError(path, err);
  }
  return path;
}

export class DigestFileError extends ForwarderError {
  override readonly name = 'DigestFileError';
  readonly code = 'digest_file';
  readonly transient = false;
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    const why = (cause as NodeJS.ErrnoException).code ?? (cause instanceof Error ? cause.message : String(cause));
    super(`cannot append to the local digest file ${path} (${why}); set custody.digest_dir to a writable directory`, {
      cause,
    });
  }
}
