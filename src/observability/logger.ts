import { ecsFormat } from '@elastic/ecs-pino-format';
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

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
export function createLogger(options: {
  level: string;
  format: LogFormat;
  destination?: NodeJS.WritableStream;
}): Logger {
  const destination = options.destination ?? process.stderr;
  const usePretty =
    options.format === 'pretty' || (options.format === 'auto' && (destination as { isTTY?: boolean }).isTTY === true);
  const redact = { paths: REDACTED_PATHS, censor: '[redacted]' };
  if (usePretty) {
    return pino(
      { level: options.level, redact, base: undefined },
      pretty({ destination, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' }),
    );
  }
  return pino({ ...ecsFormat({ convertErr: true }), level: options.level, redact }, destination as never);
}
