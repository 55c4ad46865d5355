// The installed command as one bundle (npm run build): dist/cli/main.js, the code of each command in a chunk
// of its own, still loaded only when that command runs. Resolving and reading hundreds of modules one by one
// (the clients, zod, pino, the forwarder's own) took most of every start on 2 cores: check-config 0.46 s as
// separate modules, 0.18 s bundled with the stand-ins below.
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Plugin, build } from 'esbuild';
import { PACKAGE_ROOT } from '../src/shared/package-info.js';

/**
 * Stand-ins for what the clients load at start but the forwarder never uses (0.1 s of every start together):
 * Apache Arrow (some 300 modules) for the ES client's ES|QL Arrow helpers, and the OpenTelemetry SDK core,
 * which the transport calls only with suppressInternalInstrumentation, never set here (its spans go to the
 * no-op tracer of @opentelemetry/api, which stays). Anything that did call them would fail saying so.
 */
const STAND_INS: Record<string, string> = {
  'apache-arrow': [
    "const missing = () => { throw new Error('the ES|QL Arrow helpers are not part of hem-forwarder'); };",
    'module.exports = { tableFromIPC: missing, AsyncRecordBatchStreamReader: { from: missing } };',
  ].join('\n'),
  '@opentelemetry/core': [
    "const missing = () => { throw new Error('the OpenTelemetry SDK core is not part of hem-forwarder'); };",
    'module.exports = { suppressTracing: missing };',
  ].join('\n'),
};
const STANDS_IN_FOR = /^(apache-arrow|@opentelemetry\/core)(\/.*)?$/;
const standIns: Plugin = {
  name: 'stand-ins',
  setup(b) {
    // Any module of either package (`apache-arrow/Arrow.node`) resolves to the package's stand-in.
    b.onResolve({ filter: STANDS_IN_FOR }, (args) => ({
      path: STANDS_IN_FOR.exec(args.path)![1]!,
      namespace: 'stand-in',
    }));
    b.onLoad({ filter: /.*/, namespace: 'stand-in' }, (args) => ({ loader: 'js', contents: STAND_INS[args.path]! }));
  },
};

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
  // Less to parse at every start; names stay, so stack traces still name the forwarder's functions.
  minifyWhitespace: true,
  minifySyntax: true,
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  plugins: [standIns],
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
// Executable, so that npm start runs it through its #! line, with the node flags written there alone.
chmodSync(join(outdir, 'main.js'), 0o755);
