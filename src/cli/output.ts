import { once } from 'node:events';

/** Where a command writes: stdout lines (with backpressure) and one-line errors on stderr. */
export interface Output {
  line(text: string): void | Promise<void>;
  error(text: string): void;
}

export const processOutput: Output = {
  async line(text: string) {
    if (!process.stdout.write(`${text}\n`)) await once(process.stdout, 'drain');
  },
  error(text: string) {
    process.stderr.write(`hem-forwarder: ${text}\n`);
  },
};
