import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { type Config, configSchema } from './schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
}

export interface LoadedConfig {
  readonly config: Config;
  /** Things that work but should not be so (e.g. a passphrase written in the file). */
  readonly warnings: readonly string[];
}

const SECRET_KEYS = new Set(['passphrase', 'api_key', 'password', 'bearer']);
const REFERENCE = /\$\{(env|file):([^}]*)\}/g;

type Path = (string | number)[];

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)), '');
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
    throw new ConfigError(file, doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  const raw = doc.toJS() as unknown;
  const problems: string[] = [];
  const warnings: string[] = [];
  const resolved = resolveReferences(raw, [], env, problems, warnings);
  if (problems.length > 0) throw new ConfigError(file, problems);
  const result = configSchema.safeParse(resolved ?? {});
  if (!result.success) throw new ConfigError(file, result.error.issues.map((i) => describeIssue(i, raw)));
  return { config: result.data, warnings };
}

function resolveReferences(value: unknown, path: Path, env: NodeJS.ProcessEnv, problems: string[], warnings: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(v, [...path, i], env, problems, warnings));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveReferences(v, [...path, k], env, problems, warnings)]));
  }
  if (typeof value !== 'string') return value;
  const key = String(path.at(-1));
  if (SECRET_KEYS.has(key) && !value.includes('${')) {
    warnings.push(`${formatPath(path)} is written in the config file; prefer \${env:NAME} or \${file:PATH} so the secret stays out of the file`);
  }
  return value.replace(REFERENCE, (_m, kind: string, ref: string) => {
    if (kind === 'env') {
      const [name, fallback] = ref.split(':-', 2) as [string, string | undefined];
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set (referenced as \${env:${name}})`);
      return '';
    }
    try {
      return readFileSync(ref, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(`${formatPath(path)}: cannot read ${ref} (referenced as \${file:${ref}}): ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return '';
    }
  });
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let node = raw;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${path ? `${path}.` : ''}${k}: unknown key`).join('; ');
  const found = valueAt(raw, issue.path);
  const secret = SECRET_KEYS.has(String(issue.path.at(-1)));
  const shown = found === undefined ? 'nothing' : secret ? 'a value (not shown)' : JSON.stringify(found);
  let expected = issue.message.replace(/^Invalid input: /, '');
  if (issue.code === 'invalid_type') expected = `${issue.expected}`;
  if (issue.code === 'invalid_value' && 'values' in issue) expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'custom') return `${path || '(top level)'}: ${issue.message}${found === undefined ? '' : ` (found ${shown})`}`;
  return `${path || '(top level)'}: expected ${expected}, found ${shown}`;
}
