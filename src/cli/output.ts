import { once } from 'node:events';

/** Where a command writes: stdout lines (with backpressure) and one-line errors on stderr. */
export interface Output {
  line(text: string): void | Promise<void>;
  /** Writes `data` as it is (whole lines, each ending in a newline): one write for many lines. */
  write(data: string | Uint8Array): void | Promise<void>;
  error(text: string): void;
}

export const processOutput: Output = {
  async line(text: string) {
    if (!process.stdout.write(`${text}\n`)) await once(process.stdout, 'drain');
  },
  async write(data: string | Uint8Array) {
    // Backpressure without a wait per call: only a full buffer is waited for.
    if (!process.stdout.write(data)) await once(process.stdout, 'drain');
  },
  error(text: string) {
    process.stderr.write(`hem-forwarder: ${text}\n`);
  },
};
