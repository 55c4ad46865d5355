import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { custodyKeyFromPem, generateCustodyKeyPem } from '../../src/custody/signing.js';
import { runCli } from '../helpers/cli.js';

function config(extra = ''): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-custody-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, `state_dir: ${dir}/state\n${extra}devices:\n  - name: a\n    simulator: {}\n`);
  return { dir, path };
}

describe('hem-forwarder custody key', () => {
  it('creates the key in state_dir (mode 0600) on first use and prints the same public key every time', () => {
    const { dir, path } = config();
    const first = runCli(['custody', 'key', '--config', path, '--json']);
    expect(first.status).toBe(0);
    const made = JSON.parse(first.stdout) as { publicKey: string; fingerprint: string; path: string; created: boolean };
    expect(made).toMatchObject({ path: join(dir, 'state', 'custody-key.pem'), created: true });
    expect(Buffer.from(made.publicKey, 'base64')).toHaveLength(32);
    expect(made.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(made.path).mode & 0o777).toBe(0o600);
    const again = runCli(['custody', 'key', '--config', path]);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`custody public key (Ed25519): ${made.publicKey}`);
    expect(again.stdout).toContain(`fingerprint (SHA-256): ${made.fingerprint}`);
    expect(again.stdout).not.toContain('created now');
  });

  it('uses custody.signing_key when configured, and a bad key is one line, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-custody-'));
    const pem = generateCustodyKeyPem();
    writeFileSync(join(dir, 'key.pem'), pem);
    const { path } = config(`custody: { signing_key: "\${file:${join(dir, 'key.pem')}}" }\n`);
    const r = runCli(['custody', 'key', '--config', path, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      path: null,
      publicKey: custodyKeyFromPem(pem).publicKey.toString('base64'),
    });
    writeFileSync(join(dir, 'key.pem'), 'not a key');
    const bad = runCli(['custody', 'key', '--config', path]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'hem-forwarder: custody: custody.signing_key: the custody signing key is not a PEM private key',
    );
  });
});
