#!/usr/bin/env node
// Starts/stops the single-node search engine (embedded OpenSearch 2.19 + Elasticsearch-client shims) that the
// integration tests run against. Dependency-free: Node >= 20 built-ins only.
//
//   node test/engine/engine.mjs start   [--port N] [--plain] [--heap SIZE]
//                                        prints exactly one stdout line ENGINE_URL=http://127.0.0.1:N
//   node test/engine/engine.mjs stop    [--port N]
//   node test/engine/engine.mjs status  [--port N]   exit 0 when it answers, 3 when not
//
// Two modes, chosen at start:
//   shimmed (default)  stock OpenSearch + the two shims the official Elasticsearch client needs: the
//                      `X-elastic-product: Elasticsearch` response header (EsCompatPlugin) and the
//                      `application/vnd.elasticsearch+json|x-ndjson` media types (EsMediaTypeProvider).
//   plain (--plain)    stock OpenSearch without either shim (for clients made for OpenSearch). The launcher gets
//                      -Dforwarder.engine.plain=true, which is also how a running plain engine is recognised
//                      as ours (it has no product header): GET _nodes/_local/jvm shows the flag.
// `start` reuses an engine of ours already answering on the port only when it runs in the mode asked for.
//
// Environment: ENGINE_PORT (default 9250), ENGINE_PLAIN=1 (CLI only: same as --plain), ENGINE_HEAP (CLI only:
// same as --heap; default 512m, used for -Xms and -Xmx), ENGINE_JAVA (default `java` on PATH; OpenSearch 2.19
// wants Java 17), ENGINE_JAVA_OPTS (extra JVM flags, after ours, so they win), ENGINE_START_TIMEOUT_S (default
// 120), ENGINE_CLUSTER_NAME (default forwarder-it), ENGINE_MVN (default `mvn`). Maven honours MAVEN_OPTS as
// usual (e.g. -Dmaven.repo.local=...).
//
// Files (all under test/engine/target/, git-ignored): engine-<port>.log (engine stdout/stderr),
// engine-<port>.pid, engine-home-<port>/ (path.home, wiped on start, removed on stop), maven.log,
// classpath.txt + build.stamp (Maven result cache: Maven is skipped while pom.xml and src/ are unchanged),
// launcher-<hash>.jar (a copy of Maven's test-engine-build.jar named after the sources: engines run from the
// copy, so a rebuild never rewrites a jar that a running JVM reads; older copies are unlinked, which Linux
// allows under a running JVM).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ENGINE_DIR = dirname(fileURLToPath(import.meta.url));
export const TARGET_DIR = join(ENGINE_DIR, 'target');
export const DEFAULT_PORT = 9250;
export const DEFAULT_HEAP = '512m';
const HOST = '127.0.0.1';
const MAIN_CLASS = 'forwarder.engine.EngineMain';
const PLAIN_FLAG = '-Dforwarder.engine.plain=true';
const MAVEN_JAR = join(TARGET_DIR, 'test-engine-build.jar'); // <finalName> in pom.xml
const LAUNCHER_PREFIX = 'launcher-';
const CLASSPATH_FILE = join(TARGET_DIR, 'classpath.txt');
const STAMP_FILE = join(TARGET_DIR, 'build.stamp');
const MAVEN_LOG = join(TARGET_DIR, 'maven.log');
const LOG_TAIL_LINES = 40;

function clusterName() {
  return process.env.ENGINE_CLUSTER_NAME || 'forwarder-it';
}

function resolvePort(port) {
  const raw = port ?? process.env.ENGINE_PORT ?? DEFAULT_PORT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1024 || n > 65535) throw new Error(`invalid engine port: ${raw}`);
  return n;
}

export function enginePaths(port) {
  const p = resolvePort(port);
  return {
    port: p,
    url: `http://${HOST}:${p}`,
    pidFile: join(TARGET_DIR, `engine-${p}.pid`),
    logFile: join(TARGET_DIR, `engine-${p}.log`),
    home: join(TARGET_DIR, `engine-home-${p}`),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// process helpers

function readPid(pidFile) {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** True while `pid` is a live (non-zombie) process running our launcher. */
function isEngineProcess(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(MAIN_CLASS);
  } catch {
    // No /proc (not Linux): fall back to "the pid exists".
    if (process.platform === 'linux') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, lines = LOG_TAIL_LINES) {
  try {
    const all = readFileSync(file, 'utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP probes (plain fetch, never the Elasticsearch client)

async function getJson(url, timeoutMs) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { res, body };
}

/**
 * True when the node answering on `port` runs with the launcher's plain-mode flag on its java command line: the
 * process in the port's pid file (no HTTP needed), else what the node itself reports.
 */
async function hasPlainFlag(port) {
  const pid = readPid(enginePaths(port).pidFile);
  if (pid && isEngineProcess(pid)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(PLAIN_FLAG)) return true;
    } catch {
      /* no /proc: ask the node */
    }
  }
  try {
    const { res, body } = await getJson(
      `http://${HOST}:${port}/_nodes/_local/jvm?filter_path=nodes.*.jvm.input_arguments`,
      3000,
    );
    if (!res.ok || !body?.nodes) return false;
    return Object.values(body.nodes).some((n) => n?.jvm?.input_arguments?.includes(PLAIN_FLAG));
  } catch {
    return false;
  }
}

/**
 * { state: 'ours' | 'foreign' (something listens that is not our engine) | 'free', mode: 'shimmed' | 'plain' | null }.
 * Ours: OpenSearch with our cluster name, and either the product header (shimmed) or, without it, the plain-mode
 * flag on the engine's JVM command line (plain; see hasPlainFlag).
 */
async function identify(port) {
  try {
    const { res, body } = await getJson(`http://${HOST}:${port}/`, 3000);
    if (!(res.ok && body?.version?.distribution === 'opensearch' && body?.cluster_name === clusterName())) {
      return { state: 'foreign', mode: null };
    }
    if (res.headers.get('x-elastic-product') === 'Elasticsearch') return { state: 'ours', mode: 'shimmed' };
    if (!res.headers.has('x-elastic-product') && (await hasPlainFlag(port))) return { state: 'ours', mode: 'plain' };
    return { state: 'foreign', mode: null };
  } catch {
    // Not HTTP (or not answering in time): is anything listening at all?
    const listening = await new Promise((resolve) => {
      const sock = connect({ host: HOST, port });
      sock.setTimeout(1000);
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('timeout', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    return { state: listening ? 'foreign' : 'free', mode: null };
  }
}

async function healthy(url) {
  try {
    const { res, body } = await getJson(`${url}/_cluster/health?wait_for_status=yellow&timeout=5s`, 8000);
    return res.ok && body?.timed_out === false && (body.status === 'yellow' || body.status === 'green');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Maven build, cached on the content of pom.xml + src/

function listFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

function sourceHash() {
  const h = createHash('sha256');
  const files = [join(ENGINE_DIR, 'pom.xml'), ...listFiles(join(ENGINE_DIR, 'src'))].sort();
  for (const f of files) {
    h.update(relative(ENGINE_DIR, f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return h.digest('hex');
}

function readClasspath() {
  try {
    const entries = readFileSync(CLASSPATH_FILE, 'utf8').trim().split(delimiter).filter(Boolean);
    return entries.length > 0 ? entries : null;
  } catch {
    return null;
  }
}

/** Unlinks launcher copies other than `keep`; a running JVM keeps reading its (unlinked) jar. */
function pruneLaunchers(keep) {
  for (const name of readdirSync(TARGET_DIR)) {
    if (name.startsWith(LAUNCHER_PREFIX) && name !== keep) rmSync(join(TARGET_DIR, name), { force: true });
  }
}

/** Returns the full classpath (launcher jar first), running Maven only when the inputs changed or jars vanished. */
export function ensureBuilt({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const hash = sourceHash();
  const launcherName = `${LAUNCHER_PREFIX}${hash.slice(0, 16)}.jar`;
  const launcher = join(TARGET_DIR, launcherName);
  let deps = readClasspath();
  const stampOk = existsSync(STAMP_FILE) && readFileSync(STAMP_FILE, 'utf8').trim() === hash;
  if (!(stampOk && existsSync(launcher) && deps?.every((p) => existsSync(p)))) {
    mkdirSync(TARGET_DIR, { recursive: true });
    log('engine: building launcher and resolving its classpath with Maven (first run downloads ~90 MB) ...');
    const mvn = process.env.ENGINE_MVN || 'mvn';
    const logFd = openSync(MAVEN_LOG, 'w');
    let r;
    try {
      r = spawnSync(
        mvn,
        [
          '-q',
          '-B',
          '-f',
          join(ENGINE_DIR, 'pom.xml'),
          'package',
          'dependency:build-classpath',
          `-Dmdep.outputFile=${CLASSPATH_FILE}`,
        ],
        { cwd: ENGINE_DIR, stdio: ['ignore', logFd, logFd] },
      );
    } finally {
      closeSync(logFd);
    }
    if (r.error || r.status !== 0) {
      const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`;
      const err = new Error(`Maven build of the test engine failed (${why}); log: ${MAVEN_LOG}`);
      err.logTail = tail(MAVEN_LOG);
      throw err;
    }
    deps = readClasspath();
    if (!deps || !existsSync(MAVEN_JAR)) {
      throw new Error(`Maven finished but ${CLASSPATH_FILE} or ${MAVEN_JAR} is missing`);
    }
    copyFileSync(MAVEN_JAR, `${launcher}.${process.pid}.tmp`);
    renameSync(`${launcher}.${process.pid}.tmp`, launcher);
    writeFileSync(STAMP_FILE, `${hash}\n`);
    pruneLaunchers(launcherName);
  }
  return [launcher, ...deps];
}

// ---------------------------------------------------------------------------------------------------------------
// start / stop / status

function resolveHeap(heap) {
  const h = String(heap ?? DEFAULT_HEAP).trim();
  if (!/^[1-9][0-9]*[kKmMgG]$/.test(h)) throw new Error(`invalid engine heap size: ${heap} (e.g. 256m, 1g)`);
  return h;
}

function jvmArgs(home, { plain, heap, javaOpts }) {
  return [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:-OmitStackTraceInFastThrow',
    '-Dfile.encoding=UTF-8',
    '-Djava.awt.headless=true',
    '-Djava.locale.providers=SPI,COMPAT', // OpenSearch 2.x date handling expects this on JDK 9+
    '-Djna.nosys=true',
    '-Dio.netty.noUnsafe=true',
    '-Dio.netty.noKeySetOptimization=true',
    '-Dio.netty.recycler.maxCapacityPerThread=0',
    `-Djava.io.tmpdir=${join(home, 'tmp')}`,
    // Always explicit, so nothing inherited can flip the mode; also how a plain engine is recognised (identify).
    plain ? PLAIN_FLAG : '-Dforwarder.engine.plain=false',
    ...javaOpts,
    ...(process.env.ENGINE_JAVA_OPTS || '').split(/\s+/).filter(Boolean),
  ];
}

async function waitUntilHealthy(paths, pid, timeoutMs, exited) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited?.done || !isEngineProcess(pid)) return 'exited';
    if (await healthy(paths.url)) return 'ok';
    await sleep(300);
  }
  return 'timeout';
}

function killHard(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function modeMismatch(paths, running, wanted) {
  return new Error(
    `engine on ${paths.url} runs in ${running} mode, not ${wanted}; stop it first ('stop --port ${paths.port}')` +
      ' or use another port',
  );
}

/**
 * Starts the engine (or reuses one of ours already answering on the port in the same mode).
 * `plain`: stock OpenSearch without the Elasticsearch-client shims. `heap`: -Xms/-Xmx (default 512m). `javaOpts`:
 * extra JVM flags for this engine (ENGINE_JAVA_OPTS still comes after them).
 * Resolves to { url, pid, reused, mode }; rejects with an Error whose `logTail` holds the last lines of the log.
 */
export async function startEngine({
  port,
  timeoutMs,
  keepData = false,
  plain = false,
  heap = DEFAULT_HEAP,
  javaOpts = [],
  log = (m) => process.stderr.write(`${m}\n`),
} = {}) {
  const paths = enginePaths(port);
  const mode = plain ? 'plain' : 'shimmed';
  heap = resolveHeap(heap);
  timeoutMs ??= Number(process.env.ENGINE_START_TIMEOUT_S || 120) * 1000;

  const probe = await identify(paths.port);
  const state = probe.state;
  if (state === 'ours' && (await healthy(paths.url))) {
    if (probe.mode !== mode) throw modeMismatch(paths, probe.mode, mode);
    log(`engine: already running on ${paths.url} (${mode})`);
    return { url: paths.url, pid: readPid(paths.pidFile), reused: true, mode };
  }

  const oldPid = readPid(paths.pidFile);
  if (oldPid && isEngineProcess(oldPid)) {
    // Ours, but not healthy yet (another start is in progress) or hung: wait for it, then give up on it.
    log(`engine: pid ${oldPid} from ${paths.pidFile} is running; waiting for it to become healthy ...`);
    const r = await waitUntilHealthy(paths, oldPid, timeoutMs);
    if (r === 'ok') {
      const now = await identify(paths.port);
      if (now.state === 'ours' && now.mode !== mode) throw modeMismatch(paths, now.mode, mode);
      return { url: paths.url, pid: oldPid, reused: true, mode };
    }
    const err = new Error(`engine pid ${oldPid} on ${paths.url} did not become healthy (${r}); try 'stop' first`);
    err.logTail = tail(paths.logFile);
    throw err;
  }
  if (existsSync(paths.pidFile)) unlinkSync(paths.pidFile); // stale

  if (state !== 'free') {
    throw new Error(`port ${HOST}:${paths.port} is already in use by something that is not the test engine`);
  }

  const classpath = ensureBuilt({ log });

  mkdirSync(TARGET_DIR, { recursive: true });
  const logFd = openSync(paths.logFile, 'w');
  let child;
  try {
    child = spawn(
      process.env.ENGINE_JAVA || 'java',
      [...jvmArgs(paths.home, { plain, heap, javaOpts }), '-cp', classpath.join(delimiter), MAIN_CLASS],
      {
        cwd: ENGINE_DIR,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: {
          ...process.env,
          ENGINE_PORT: String(paths.port),
          ENGINE_HOME: paths.home,
          ENGINE_CLUSTER_NAME: clusterName(),
          ENGINE_KEEP_DATA: keepData ? '1' : '0',
          ENGINE_PLAIN: plain ? '1' : '0', // informational: the Java side reads -Dforwarder.engine.plain
        },
      },
    );
  } finally {
    closeSync(logFd);
  }
  const exited = { done: false };
  const spawnError = await new Promise((resolve) => {
    child.once('error', (e) => resolve(e));
    child.once('spawn', () => resolve(null));
  });
  if (spawnError) throw new Error(`cannot run java: ${spawnError.message}`);
  child.once('exit', () => {
    exited.done = true;
  });
  child.unref();
  const pid = child.pid;
  writeFileSync(paths.pidFile, `${pid}\n`);

  const r = await waitUntilHealthy(paths, pid, timeoutMs, exited);
  if (r === 'ok') return { url: paths.url, pid, reused: false, mode };

  killHard(pid);
  try {
    unlinkSync(paths.pidFile);
  } catch {
    /* gone */
  }
  const err = new Error(
    r === 'exited'
      ? `engine exited during startup; log: ${paths.logFile}`
      : `engine not healthy within ${Math.round(timeoutMs / 1000)} s; killed it; log: ${paths.logFile}`,
  );
  err.logTail = tail(paths.logFile);
  throw err;
}

/** Stops the engine started from the PID file: SIGTERM, then SIGKILL after 10 s. Resolves to { stopped, pid }. */
export async function stopEngine({
  port,
  graceMs = 10_000,
  keepData = false,
  log = (m) => process.stderr.write(`${m}\n`),
} = {}) {
  const paths = enginePaths(port);
  const pid = readPid(paths.pidFile);
  let stopped = false;
  if (pid && isEngineProcess(pid)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && isEngineProcess(pid)) await sleep(200);
    if (isEngineProcess(pid)) {
      log(`engine: pid ${pid} ignored SIGTERM for ${graceMs / 1000} s; sending SIGKILL`);
      killHard(pid);
      for (let i = 0; i < 50 && isEngineProcess(pid); i++) await sleep(100);
    }
    stopped = true;
  } else {
    log(`engine: not running on port ${paths.port} (no live pid in ${paths.pidFile})`);
  }
  try {
    unlinkSync(paths.pidFile);
  } catch {
    /* gone */
  }
  if (!keepData) rmSync(paths.home, { recursive: true, force: true });
  return { stopped, pid };
}

/** { running, url, pid, health, mode ('shimmed' | 'plain' | null) } without side effects. */
export async function engineStatus({ port } = {}) {
  const paths = enginePaths(port);
  const pid = readPid(paths.pidFile);
  const alive = pid != null && isEngineProcess(pid);
  let health = null;
  try {
    const { body } = await getJson(`${paths.url}/_cluster/health`, 3000);
    health = body?.status ?? null;
  } catch {
    /* not answering */
  }
  const probe = health != null ? await identify(paths.port) : { state: 'free', mode: null };
  const running = probe.state === 'ours';
  return { running, url: paths.url, pid: alive ? pid : null, health, mode: running ? probe.mode : null };
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  let port;
  let plain = /^(1|true|yes)$/i.test(process.env.ENGINE_PLAIN ?? '');
  let heap = process.env.ENGINE_HEAP || undefined;
  let startOnly = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--port') port = rest[++i];
    else if (arg.startsWith('--port=')) port = arg.slice(7);
    else if (arg === '--plain') plain = true;
    else if (arg === '--heap') heap = rest[++i];
    else if (arg.startsWith('--heap=')) heap = arg.slice(7);
    else throw new Error(`unknown argument: ${arg}`);
    if (arg === '--plain' || arg.startsWith('--heap')) startOnly = true;
  }
  if (startOnly && cmd !== 'start') {
    throw new Error(`--plain and --heap are options of 'start' (stop and status work for either mode)`);
  }
  return { cmd, port, plain, heap };
}

async function cli() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
  const { cmd, port, plain, heap } = args;
  try {
    if (cmd === 'start') {
      const { url } = await startEngine({ port, plain, heap });
      process.stdout.write(`ENGINE_URL=${url}\n`);
      return 0;
    }
    if (cmd === 'stop') {
      await stopEngine({ port });
      return 0;
    }
    if (cmd === 'status') {
      const s = await engineStatus({ port });
      process.stdout.write(
        s.running
          ? `running url=${s.url} pid=${s.pid ?? 'unknown'} health=${s.health} mode=${s.mode}\n`
          : `not running (port ${enginePaths(port).port})${s.pid ? `, but pid ${s.pid} is alive` : ''}\n`,
      );
      return s.running ? 0 : 3;
    }
    process.stderr.write(
      'usage: node test/engine/engine.mjs start [--port N] [--plain] [--heap SIZE] | stop [--port N] | status [--port N]\n',
    );
    return 2;
  } catch (e) {
    process.stderr.write(`engine: ${e.message}\n`);
    if (e.logTail) process.stderr.write(`----- last ${LOG_TAIL_LINES} log lines -----\n${e.logTail}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await cli();
}
