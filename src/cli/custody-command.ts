import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createOutput, createStore, digestDirOf } from '../app/wiring.js';
import type { Config } from '../config/schema.js';
import { type ChainContext, deviceOf, link, writeDigest } from '../collector/custody-digest.js';
import { DIGEST_VERSION } from '../custody/digest.js';
import { type CustodyKey, custodyKeyFromPem, generateCustodyKeyPem } from '../custody/signing.js';
import { createLogger } from '../observability/logger.js';
import { PACKAGE_VERSION } from '../shared/package-info.js';
import { Checkpoint, chainHead } from '../state/checkpoint.js';
import { installCustodyKey, loadOrCreateCustodyKey } from '../state/custody-key.js';
import { lockStateDir } from '../state/lock.js';
import { loadOrReport } from './config-commands.js';
import { EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';

export const CUSTODY_USAGE = COMMANDS.custody.usage;

/**
 * `custody key`: the forwarder's custody public key and its fingerprint, for an auditor to pin. The key is
 * created on first use (here or at the first `run`), so it can be pinned before anything is collected.
 * `custody rotate`: a rotation digest, signed by the current key and naming the next, at the head of every
 * device's chain; then the next key becomes the signing key.
 */
export async function custodyCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: COMMANDS.custody.options,
  });
  const verb = positionals[0];
  if ((verb !== 'key' && verb !== 'rotate') || positionals.length !== 1)
    throw new UsageError(`usage: ${CUSTODY_USAGE}`);
  const loaded = loadOrReport(values.config, out, CUSTODY_USAGE);
  if (!loaded) return EXIT_USAGE;
  const { config } = loaded;
  if (verb === 'rotate') return rotate(config, values['next-key'], out);
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

async function rotate(config: Config, nextKeyFile: string | undefined, out: Output): Promise<number> {
  const configured = config.custody?.signing_key;
  if (configured && !nextKeyFile) {
    throw new UsageError(
      'custody.signing_key is configured: create the next key yourself (openssl genpkey -algorithm ed25519), ' +
        'pass it with --next-key, then point custody.signing_key at it',
    );
  }
  let next: CustodyKey;
  let nextPem: string;
  try {
    nextPem = nextKeyFile ? readFileSync(nextKeyFile, 'utf8') : generateCustodyKeyPem();
    next = custodyKeyFromPem(nextPem);
  } catch (err) {
    throw new UsageError(`--next-key ${nextKeyFile}: ${(err as Error).message}`);
  }
  const lock = await lockStateDir(config.state_dir);
  const log = await createLogger({ level: config.log.level, format: config.log.format });
  try {
    const { key: current } = await loadOrCreateCustodyKey(config.state_dir, configured);
    if (current.fingerprint === next.fingerprint) throw new UsageError('the next key is the current key');
    const output = await createOutput(config, log);
    const store = await createStore(config, { rest: output.rest });
    const custody = { key: current, digestDir: digestDirOf(config), version: PACKAGE_VERSION };
    try {
      for (const device of config.devices) {
        const { checkpoint } = await Checkpoint.load(store, device.name);
        const serial = checkpoint.state.serial;
        if (serial === null) {
          await out.line(`${device.name}: never collected, no chain to rotate (its first digest uses the next key)`);
          continue;
        }
        const chain: ChainContext = {
          custody,
          sink: output.sink,
          outputId: output.id,
          deviceName: device.name,
          device: { serial, name: device.name },
          namespace: device.namespace,
          head: chainHead(checkpoint.state, output.id),
        };
        const { head } = await writeDigest(chain, {
          kind: 'rotation',
          version: DIGEST_VERSION,
          chain: link(chain),
          device: deviceOf(chain),
          rotated_at: new Date().toISOString(),
          next_key: { public_key: next.publicKey.toString('base64'), fingerprint: next.fingerprint },
          forwarder: { key: current.fingerprint, version: PACKAGE_VERSION },
        });
        await checkpoint.commit({ kind: 'chain_advanced', chain: head });
        await out.line(`${device.name}: rotation digest at chain position ${head.position}`);
      }
    } finally {
      await output.sink.close();
      await output.close?.();
    }
    if (!configured) {
      const retired = await installCustodyKey(config.state_dir, nextPem, current.fingerprint);
      await out.line(`previous key kept as ${retired}`);
    }
    await out.line(`next custody public key (Ed25519): ${next.publicKey.toString('base64')}`);
    await out.line(`fingerprint (SHA-256): ${next.fingerprint}`);
    if (configured) await out.line('now point custody.signing_key at the next key and restart the forwarder');
    return EXIT_OK;
  } finally {
    await lock.release();
  }
}
