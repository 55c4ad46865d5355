import type { BulkRequestFailure } from './transport.js';

export type ItemVerdict = 'written' | 'duplicate' | 'blocked' | 'retry' | 'auth' | 'reject';

/** What to do with one bulk item. A cluster block comes as 403 or 429 (or 503), so its type decides first. */
export function classifyItem(status: number, errorType?: string): ItemVerdict {
  if (status >= 200 && status < 300) return 'written';
  if (status === 409) return 'duplicate';
  if (errorType === 'cluster_block_exception') return 'blocked';
  if (status === 429 || status >= 500) return 'retry';
  if (status === 401 || status === 403) return 'auth';
  return 'reject';
}

/** `malformed`: resent a bounded number of times; `reject`: the batch fails (a bug or a refused request). */
export type RequestVerdict = 'retry' | 'blocked' | 'auth' | 'malformed' | 'reject';

/** What to do with a bulk request that failed as a whole. A block is a block whatever its status. */
export function classifyRequest(f: BulkRequestFailure): RequestVerdict {
  if (f.malformed) return 'malformed';
  if (f.unreachable) return 'retry';
  if (f.type === 'cluster_block_exception') return 'blocked';
  const status = f.status ?? 0;
  if (status === 429 || status === 408 || status >= 500) return 'retry';
  if (status === 401 || status === 403) return 'auth';
  return 'reject';
}
