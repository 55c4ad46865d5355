/** The slice of a pino logger the components use; `pino()` satisfies it, tests can pass `silentLog`. */
export interface Log {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const noop = () => {};
export const silentLog: Log = { debug: noop, info: noop, warn: noop, error: noop };
