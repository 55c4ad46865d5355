// The installed command as one bundle (npm run build): dist/cli/main.js, the code of each command in a chunk
// of its own, still loaded only when that command runs. Resolving and reading hundreds of modules one by one
// (the clients, zod, pino, the forwarder's own) took a third of every start on 2 cores (check-config 0.46 s,
// bundled 0.30 s).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { PACKAGE_ROOT } from '../src/shared/package-info.js';

const outdir = join(PACKAGE_ROOT, 'dist', 'cli');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  // The dependencies are CommonJS modules inside an ES module: they get the require and paths they expect.
  banner: {
    js: [
      "import { createRequire as __hemRequire } from 'node:module';",
      "import { fileURLToPath as __hemFile } from 'node:url';",
      "import { dirname as __hemDir } from 'node:path';",
      'const require = __hemRequire(import.meta.url);',
      'const __filename = __hemFile(import.meta.url);',
      'const __dirname = __hemDir(__filename);',
    ].join(' '),
  },
});
