import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../dist/scripts/gen-mappings.js', import.meta.url));

describe('mappings/', () => {
  it('is what npm run gen:mappings generates from src/ecs/fields.ts and @elastic/ecs', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
