import { parseArgs } from 'node:util';
import { loadOrCreateCustodyKey } from '../state/custody-key.js';
import { loadOrReport } from './config-commands.js';
import { EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import type { Output } from './output.js';

export const CUSTODY_USAGE = 'hem-forwarder custody key --config FILE [--json]';

/**
 * `custody key`: the forwarder's custody public key and its fingerprint, for an auditor to pin. The key is
 * created on first use (here or at the first `run`), so it can be pinned before anything is collected.
 */
export async function custodyCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals[0] !== 'key' || positionals.length !== 1) throw new UsageError(`usage: ${CUSTODY_USAGE}`);
  const loaded = loadOrReport(values.config, out, CUSTODY_USAGE);
  if (!loaded) return EXIT_USAGE;
  const { config } = loaded;
  const { key, path, created } = await loadOrCreateCustodyKey(config.state_dir, config.custody?.signing_key);
  const publicKey = key.publicKey.toString('base64');
  if (values.json) {
    await out.line(JSON.stringify({ publicKey, fingerprint: key.fingerprint, path, created }));
    return EXIT_OK;
  }
  await out.line(`custody public key (Ed25519): ${publicKey}`);
  await out.line(`fingerprint (SHA-256): ${key.fingerprint}`);
  await out.line(path ? `private key: ${path}${created ? ' (created now)' : ''}` : 'private key: custody.signing_key');
  return EXIT_OK;
}
