import { ecsFormat } from '@elastic/ecs-pino-format';
import { type Logger, pino } from 'pino';
import { ECS_VERSION } from '../ecs/audit-shape.js';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../shared/package-info.js';

export type LogFormat = 'auto' | 'ecs' | 'pretty';

/** Keys whose values never reach a log line, wherever they appear. */
export const REDACTED_PATHS = [
  'passphrase',
  'password',
  'api_key',
  'apiKey',
  'token',
  'authorization',
  'bearer',
  '*.passphrase',
  '*.password',
  '*.api_key',
  '*.apiKey',
  '*.token',
  '*.authorization',
  '*.bearer',
];

/**
 * The root logger: ECS JSON (one object per line) for machines, pretty text on a terminal. Logs go to
 * stderr so that stdout stays free for the stdout output and command results.
 */
export async function createLogger(options: {
  level: string;
  format: LogFormat;
  destination?: NodeJS.WritableStream;
}): Promise<Logger> {
  const destination = options.destination ?? process.stderr;
  const usePretty =
    options.format === 'pretty' || (options.format === 'auto' && (destination as { isTTY?: boolean }).isTTY === true);
  const redact = { paths: REDACTED_PATHS, censor: '[redacted]' };
  if (usePretty) {
    // Loaded only for a terminal: a service logs ECS JSON and need not load the pretty printer at every start.
    const { default: pretty } = await import('pino-pretty');
    return pino(
      { level: options.level, redact, base: undefined },
      pretty({ destination, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' }),
    );
  }
  const ecs = ecsFormat({
    convertErr: true,
    serviceName: PACKAGE_NAME,
    serviceVersion: PACKAGE_VERSION,
    eventDataset: LOG_DATASET,
  });
  return pino({ ...ecs, level: options.level, redact, hooks: { streamWrite: ecsLine } }, destination as never);
}

/** The dataset of the forwarder's own logs, so that Filebeat or Elastic Agent can ship them beside its data. */
export const LOG_DATASET = 'encedo_hem.forwarder';

/** Top-level fields the ECS formatter writes; everything else is the forwarder's own. */
const ECS_ROOTS = new Set(['@timestamp', 'log', 'message', 'ecs', 'process', 'host', 'service', 'event', 'error']);

/**
 * One log line as ECS: the forwarder's own fields (device, file, counts) move under `encedo_hem`, where they
 * cannot collide with ECS objects of the same name (`file`, `device`) in a cluster that indexes these logs, and
 * `ecs.version` says the version the line conforms to (a test checks every field against it). Logs are few
 * (per file, never per record), so parsing each line once more costs nothing that matters.
 */
function ecsLine(line: string): string {
  const record = JSON.parse(line) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  let own: Record<string, unknown> | null = null;
  // The formatter writes dotted keys (`log.level`, `ecs.version`): a key's field set is what precedes the dot.
  for (const [key, value] of Object.entries(record)) {
    if (ECS_ROOTS.has(key.split('.', 1)[0]!)) out[key] = value;
    else (own ??= {})[key] = value;
  }
  if (own) out.encedo_hem = own;
  out['ecs.version'] = ECS_VERSION;
  return `${JSON.stringify(out)}\n`;
}
