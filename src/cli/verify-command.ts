import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseLog } from '../logfile/parse.js';
import { type FileVerdict, LogVerifier } from '../logfile/verify.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { loadLoggerKey } from './keys.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';

export const VERIFY_USAGE = COMMANDS.verify.usage;
const SHOWN_PROBLEMS = 10;

export async function verifyCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: COMMANDS.verify.options,
  });
  if (positionals.length === 0) throw new UsageError(`no FILE given; usage: ${VERIFY_USAGE}`);
  const key = await loadLoggerKey(values);
  let exit = EXIT_OK;
  let validFiles = 0;
  let unreadable = 0;
  let total = 0;
  let verified = 0;
  for (const file of positionals) {
    let verdict: FileVerdict;
    try {
      verdict = await verifyFile(file, key);
    } catch (err) {
      out.error(`cannot read ${file}: ${describeIoError(err)}`);
      exit = EXIT_USAGE;
      unreadable++;
      continue;
    }
    if (verdict.valid) validFiles++;
    else if (exit === EXIT_OK) exit = EXIT_INVALID;
    total += verdict.lines.total;
    verified += verdict.lines.verified;
    await out.line(values.json ? JSON.stringify(verdictJson(file, verdict)) : humanVerdict(file, verdict));
  }
  if (!values.json) {
    const n = (x: number) => x.toLocaleString('en-US');
    const invalid = positionals.length - validFiles - unreadable;
    const notes = [
      invalid > 0 ? `, ${n(invalid)} INVALID` : '',
      unreadable > 0 ? `, ${n(unreadable)} unreadable` : '',
    ].join('');
    await out.line(
      `Results: ${n(validFiles)}/${n(positionals.length)} files valid${notes}; ` +
        `${n(verified)}/${n(total)} records verified`,
    );
  }
  return exit;
}

export async function verifyFile(file: string, key: Uint8Array): Promise<FileVerdict> {
  const verifier = new LogVerifier(key);
  for await (const line of parseLog(createReadStream(file, { highWaterMark: 64 * 1024 }))) verifier.check(line);
  return verifier.verdict();
}

export function verdictJson(file: string, v: FileVerdict): Record<string, unknown> {
  return {
    file,
    valid: v.valid,
    header: v.header,
    lines: v.lines,
    segment_count: v.segmentCount,
    segments: v.segments.map((s) => ({
      line: s.line,
      seq: s.seq,
      signature: s.signature,
      key_fingerprint: s.keyFingerprint,
    })),
    problems: v.problems.map((p) => ({ line: p.line, seq: p.seq, kind: p.kind, message: p.message })),
    problem_counts: Object.fromEntries(Object.entries(v.problemCounts).filter(([, n]) => n > 0)),
  };
}

function humanVerdict(file: string, v: FileVerdict): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const records =
    `${n(v.lines.verified)}/${n(v.lines.total)} records verified, ${n(v.segmentCount)} ` +
    `key segment${v.segmentCount === 1 ? '' : 's'}`;
  if (v.valid) return `${file}: valid (${records})`;
  const counts = Object.entries(v.problemCounts).filter(([, c]) => c > 0);
  const totalProblems = counts.reduce((a, [, c]) => a + c, 0);
  const reason =
    v.lines.total === 0
      ? 'no records'
      : `${n(totalProblems)} problem${totalProblems === 1 ? '' : 's'} ` +
        `(${counts.map(([k, c]) => `${k} ${n(c)}`).join(', ')})`;
  const lines = [`${file}: INVALID: ${reason}; ${records}`];
  for (const p of v.problems.slice(0, SHOWN_PROBLEMS))
    lines.push(`  line ${p.line}${p.seq === null ? '' : ` (seq ${p.seq.toString(16)})`}: ${p.kind}: ${p.message}`);
  if (totalProblems > SHOWN_PROBLEMS)
    lines.push(`  … and ${n(totalProblems - SHOWN_PROBLEMS)} more (use --json for the first ${v.problems.length})`);
  return lines.join('\n');
}

export function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory';
  return e.code ?? e.message ?? String(err);
}
