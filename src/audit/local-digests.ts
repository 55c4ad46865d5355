import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { SignedDigest } from '../custody/digest.js';
import type { LocalDigest } from './chain-audit.js';

export interface LocalDigests {
  /** Per chain (`serial\noutput`), its digests (one per hash), in file order. */
  readonly chains: Map<string, LocalDigest[]>;
  /** Names of chains' devices, by chain. */
  readonly devices: Map<string, string>;
  /** Lines that are not digests: `file:line: reason`. */
  readonly unreadable: string[];
}

export function chainKey(serial: string, output: string): string {
  return `${serial}\n${output}`;
}

/**
 * Reads the local digest files (`<device>.<day>.ndjson`) line by line, keeping per digest only what the
 * chain comparison needs: memory grows with the number of files ever collected, not with their size.
 */
export async function readLocalDigests(
  dir: string,
  window: { since?: string; until?: string; device?: string },
): Promise<LocalDigests> {
  const chains = new Map<string, LocalDigest[]>();
  const devices = new Map<string, string>();
  const unreadable: string[] = [];
  const seen = new Set<string>();
  const names = (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort();
  for (const name of names) {
    const path = join(dir, name);
    let n = 0;
    for await (const text of createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })) {
      n++;
      if (text.trim() === '') continue;
      let digest: SignedDigest;
      try {
        digest = JSON.parse(text) as SignedDigest;
        if (typeof digest.hash !== 'string' || typeof digest.body?.chain?.position !== 'number') throw new Error();
      } catch {
        unreadable.push(`${path}:${n}: not a signed digest`);
        continue;
      }
      if (seen.has(digest.hash)) continue; // a retried collection appends the same digest again
      seen.add(digest.hash);
      const { body } = digest;
      const at = body.kind === 'file' ? body.collected_at : body.rotated_at;
      if ((window.since && at < window.since) || (window.until && at > window.until)) continue;
      if (window.device && body.device?.name !== window.device) continue;
      const key = chainKey(body.chain.device, body.chain.output);
      const list = chains.get(key) ?? [];
      list.push({
        position: body.chain.position,
        hash: digest.hash,
        fileId: body.kind === 'file' ? body.file.id : null,
        at,
      });
      chains.set(key, list);
      devices.set(key, body.device?.name ?? body.chain.device);
    }
  }
  return { chains, devices, unreadable };
}
