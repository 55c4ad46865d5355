import { type Stats, closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ForwarderError } from '../shared/errors.js';
import { redactUrls } from '../shared/redact.js';
import { type Config, configSchema } from './schema.js';

export class ConfigError extends ForwarderError {
  override readonly name = 'ConfigError';
  readonly code = 'config';
  readonly transient = false;
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(
      `${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`,
    );
  }
}

export interface LoadedConfig {
  readonly config: Config;
  /** Things that work but should not be so (e.g. a passphrase written in the file). */
  readonly warnings: readonly string[];
}

/** Keys whose values are secrets: never shown in errors, a warning when written in the file. */
export const SECRET_KEYS: readonly string[] = ['passphrase', 'api_key', 'password', 'bearer', 'signing_key'];
/**
 * The only keys where `${env:..}`/`${file:..}` are expanded: the secrets, and `hosts` (an Elasticsearch
 * URL may carry user:password, and is printed with it redacted). Anywhere else a reference is an error,
 * so that a reference cannot copy a file into documents (`tags`) or into output (`state_dir`).
 */
export const REFERENCE_KEYS: readonly string[] = [...SECRET_KEYS, 'hosts'];
/** What a `${file:PATH}` reference may read at most: a secret, not a data file. */
export const FILE_REFERENCE_MAX_BYTES = 64 * 1024;
/** YAML aliases expanded at most; a "billion laughs" document fails fast instead of filling memory. */
const MAX_ALIASES = 100;
const REFERENCE = /\$\{(env|file):([^}]*)\}/g;
const SHOWN_MAX = 200;

type Path = (string | number)[];

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)),
    '',
  );
}

/**
 * Reads, resolves and validates the YAML config. Secrets may be given by reference, `${env:NAME}`,
 * `${env:NAME:-default}` or `${file:PATH}`; every error names the key path, what was expected and
 * what was found (never the value of a secret).
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map(
        (e) => `line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0]}`,
      ),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const why = /alias/i.test(message)
      ? `more than ${MAX_ALIASES} alias (*name) expansions; refused as a possible "billion laughs" document`
      : message.split('\n')[0];
    throw new ConfigError(file, [`cannot load the YAML: ${why}`]);
  }
  const problems: string[] = [];
  const warnings: string[] = [];
  const resolved = resolveReferences(raw, [], env, problems, warnings);
  if (problems.length > 0) throw new ConfigError(file, problems);
  const result = configSchema.safeParse(resolved ?? {});
  if (!result.success)
    throw new ConfigError(
      file,
      result.error.issues.map((i) => describeIssue(i, raw)),
    );
  return { config: result.data, warnings };
}

function resolveReferences(
  value: unknown,
  path: Path,
  env: NodeJS.ProcessEnv,
  problems: string[],
  warnings: string[],
): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(v, [...path, i], env, problems, warnings));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveReferences(v, [...path, k], env, problems, warnings)]),
    );
  }
  if (typeof value !== 'string') return value;
  // The key that owns the value: `hosts` for `hosts[0]`.
  const key = String(path.findLast((p) => typeof p === 'string'));
  const where = formatPath(path);
  if (SECRET_KEYS.includes(key) && !value.includes('${')) {
    const prefer = 'prefer ${env:NAME} or ${file:PATH} so the secret stays out of the file';
    warnings.push(`${where} is written in the config file; ${prefer}`);
  }
  if (!REFERENCE_KEYS.includes(key)) {
    if (new RegExp(REFERENCE.source).test(value)) {
      const keys = REFERENCE_KEYS.join(', ');
      problems.push(`${where}: references are only expanded in secret keys: ${keys}; write the value itself`);
    }
    return value;
  }
  return value.replace(REFERENCE, (_m, kind: string, ref: string) => {
    if (kind === 'env') {
      const [name, fallback] = ref.split(':-', 2) as [string, string | undefined];
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${where}: environment variable ${name} is not set (referenced as \${env:${name}})`);
      return '';
    }
    const read = readSecretFile(ref);
    if ('problem' in read) {
      problems.push(`${where}: ${ref} (referenced as \${file:${ref}}) ${read.problem}`);
      return '';
    }
    return read.text.replace(/\r?\n$/, '');
  });
}

function notRegular(s: Stats): string | null {
  if (s.isFile()) return null;
  if (s.isDirectory()) return 'a directory';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A secret file: a regular file of at most FILE_REFERENCE_MAX_BYTES (not /dev/zero, a FIFO, a log). */
function readSecretFile(ref: string): { text: string } | { problem: string } {
  const regularOnly = (kind: string) => ({ problem: `is ${kind}; expected a regular file` });
  const limit = `${FILE_REFERENCE_MAX_BYTES / 1024} KiB`;
  const tooLarge = { problem: `is larger than ${limit}, the most a \${file:} reference reads` };
  let fd: number;
  try {
    // Stat first: opening a FIFO would block until a writer comes.
    const kind = notRegular(statSync(ref));
    if (kind) return regularOnly(kind);
    fd = openSync(ref, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    return { problem: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  try {
    // What was opened may not be what was stat'ed (a swapped path): check again, and read at most the cap + 1.
    const stat = fstatSync(fd);
    const kind = notRegular(stat);
    if (kind) return regularOnly(kind);
    if (stat.size > FILE_REFERENCE_MAX_BYTES) return tooLarge;
    const buffer = Buffer.alloc(FILE_REFERENCE_MAX_BYTES + 1);
    let length = 0;
    let n: number;
    do {
      n = readSync(fd, buffer, length, buffer.length - length, null);
      length += n;
    } while (n > 0 && length < buffer.length);
    if (length > FILE_REFERENCE_MAX_BYTES) return tooLarge;
    return { text: buffer.subarray(0, length).toString('utf8') };
  } catch (err) {
    return { problem: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  } finally {
    closeSync(fd);
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

/** A found value as shown in an error: secrets hidden (also inside objects), URL passwords redacted, short. */
function show(found: unknown, path: readonly PropertyKey[]): string {
  if (found === undefined) return 'nothing';
  if (path.some((p) => SECRET_KEYS.includes(String(p)))) return 'a value (not shown)';
  const hide = (k: string, v: unknown) => (SECRET_KEYS.includes(k) && v !== undefined ? '(not shown)' : v);
  const hidden = JSON.stringify(found, hide) ?? String(found);
  const text = redactUrls(hidden);
  return text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}…` : text;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((k) => `${path ? `${path}.` : ''}${k}: unknown key`).join('; ');
  const found = valueAt(raw, issue.path);
  const shown = show(found, issue.path);
  let expected = issue.message.replace(/^Invalid input: /, '');
  if (issue.code === 'invalid_type') expected = `${issue.expected}`;
  if (issue.code === 'invalid_value' && 'values' in issue)
    expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'custom') {
    return redactUrls(`${path || '(top level)'}: ${issue.message}${found === undefined ? '' : ` (found ${shown})`}`);
  }
  return redactUrls(`${path || '(top level)'}: expected ${expected}, found ${shown}`);
}
