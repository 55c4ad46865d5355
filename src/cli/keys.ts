import { readFile } from 'node:fs/promises';
import { decodeBase64 } from '../shared/base64.js';
import { UsageError } from './errors.js';

/**
 * The pinned logger public key, from `--key BASE64` or `--key-file PATH`. The file may hold the bare
 * base64 key or the JSON answer of GET /api/logger/key (its `key` member).
 */
export async function loadLoggerKey(options: {
  key?: string | undefined;
  'key-file'?: string | undefined;
}): Promise<Uint8Array> {
  if (options.key !== undefined && options['key-file'] !== undefined)
    throw new UsageError('give either --key or --key-file, not both');
  let text: string;
  let origin: string;
  if (options.key !== undefined) {
    text = options.key;
    origin = '--key';
  } else if (options['key-file'] !== undefined) {
    origin = `--key-file ${options['key-file']}`;
    try {
      text = (await readFile(options['key-file'], 'utf8')).trim();
    } catch (err) {
      throw new UsageError(`cannot read ${origin}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    if (text.startsWith('{')) {
      try {
        const parsed = JSON.parse(text) as { key?: unknown };
        text = typeof parsed.key === 'string' ? parsed.key : '';
      } catch {
        throw new UsageError(`${origin} is neither a base64 key nor JSON with a "key" member`);
      }
    }
  } else {
    throw new UsageError('the logger public key is required: --key BASE64 or --key-file PATH');
  }
  const key = decodeBase64(text.trim());
  if (key === null || key.length !== 32)
    throw new UsageError(`${origin} is not a 32-byte Ed25519 public key in standard base64`);
  return key;
}
