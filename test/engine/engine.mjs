#!/usr/bin/env node
// Starts/stops the single-node search engine (embedded OpenSearch 2.19 + Elasticsearch-client shims) that the
// integration tests run against. Dependency-free: Node >= 20 built-ins only.
//
//   node test/engine/engine.mjs start   [--port N]   prints exactly one stdout line ENGINE_URL=http://127.0.0.1:N
//   node test/engine/engine.mjs stop    [--port N]
//   node test/engine/engine.mjs status  [--port N]   exit 0 when it answers, 3 when not
//
// Environment: ENGINE_PORT (default 9250), ENGINE_JAVA (default `java` on PATH; OpenSearch 2.19 wants Java 17),
// ENGINE_JAVA_OPTS (extra JVM flags), ENGINE_START_TIMEOUT_S (default 120), ENGINE_CLUSTER_NAME (default
// forwarder-it), ENGINE_MVN (default `mvn`). Maven honours MAVEN_OPTS as usual (e.g. -Dmaven.repo.local=...).
//
// Files (all under test/engine/target/, git-ignored): engine-<port>.log (engine stdout/stderr),
// engine-<port>.pid, engine-home-<port>/ (path.home, wiped on start, removed on stop), maven.log,
// classpath.txt + build.stamp (Maven result cache: Maven is skipped while pom.xml and src/ are unchanged).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
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
const HOST = '127.0.0.1';
const MAIN_CLASS = 'forwarder.engine.EngineMain';
const JAR = join(TARGET_DIR, 'test-engine.jar');
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

/** 'ours' | 'foreign' (something listens that is not our engine) | 'free' */
async function probePort(port) {
  try {
    const { res, body } = await getJson(`http://${HOST}:${port}/`, 3000);
    const ours =
      res.ok &&
      res.headers.get('x-elastic-product') === 'Elasticsearch' &&
      body?.version?.distribution === 'opensearch' &&
      body?.cluster_name === clusterName();
    return ours ? 'ours' : 'foreign';
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
    return listening ? 'foreign' : 'free';
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

/** Returns the full classpath (launcher jar first), running Maven only when the inputs changed or jars vanished. */
export function ensureBuilt({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const hash = sourceHash();
  let deps = readClasspath();
  const stampOk = existsSync(STAMP_FILE) && readFileSync(STAMP_FILE, 'utf8').trim() === hash;
  if (!(stampOk && existsSync(JAR) && deps?.every((p) => existsSync(p)))) {
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
    if (!deps || !existsSync(JAR)) throw new Error(`Maven finished but ${CLASSPATH_FILE} or ${JAR} is missing`);
    writeFileSync(STAMP_FILE, `${hash}\n`);
  }
  return [JAR, ...deps];
}

// ---------------------------------------------------------------------------------------------------------------
// start / stop / status

function jvmArgs(home) {
  return [
    '-Xms512m',
    '-Xmx512m',
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

/**
 * Starts the engine (or reuses one of ours already answering on the port).
 * Resolves to { url, pid, reused }; rejects with an Error whose `logTail` holds the last lines of the log.
 */
export async function startEngine({
  port,
  timeoutMs,
  keepData = false,
  log = (m) => process.stderr.write(`${m}\n`),
} = {}) {
  const paths = enginePaths(port);
  timeoutMs ??= Number(process.env.ENGINE_START_TIMEOUT_S || 120) * 1000;

  const state = await probePort(paths.port);
  if (state === 'ours' && (await healthy(paths.url))) {
    log(`engine: already running on ${paths.url}`);
    return { url: paths.url, pid: readPid(paths.pidFile), reused: true };
  }

  const oldPid = readPid(paths.pidFile);
  if (oldPid && isEngineProcess(oldPid)) {
    // Ours, but not healthy yet (another start is in progress) or hung: wait for it, then give up on it.
    log(`engine: pid ${oldPid} from ${paths.pidFile} is running; waiting for it to become healthy ...`);
    const r = await waitUntilHealthy(paths, oldPid, timeoutMs);
    if (r === 'ok') return { url: paths.url, pid: oldPid, reused: true };
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
      [...jvmArgs(paths.home), '-cp', classpath.join(delimiter), MAIN_CLASS],
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
  if (r === 'ok') return { url: paths.url, pid, reused: false };

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

/** { running, url, pid, health } without side effects. */
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
  return {
    running: health != null && (await probePort(paths.port)) === 'ours',
    url: paths.url,
    pid: alive ? pid : null,
    health,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  let port;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--port') port = rest[++i];
    else if (rest[i].startsWith('--port=')) port = rest[i].slice(7);
    else throw new Error(`unknown argument: ${rest[i]}`);
  }
  return { cmd, port };
}

async function cli() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
  const { cmd, port } = args;
  try {
    if (cmd === 'start') {
      const { url } = await startEngine({ port });
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
          ? `running url=${s.url} pid=${s.pid ?? 'unknown'} health=${s.health}\n`
          : `not running (port ${enginePaths(port).port})${s.pid ? `, but pid ${s.pid} is alive` : ''}\n`,
      );
      return s.running ? 0 : 3;
    }
    process.stderr.write('usage: node test/engine/engine.mjs start|stop|status [--port N]\n');
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
