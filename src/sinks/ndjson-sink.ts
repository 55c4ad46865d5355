import { once } from 'node:events';
import { type WriteStream, createWriteStream, fsync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { type IndexDocument, documentLine } from '../ecs/map.js';
import {
  type Sink,
  SinkError,
  type SinkStats,
  type SinkUnit,
  emptySinkStats,
  UnitTracker,
  type UnitSummary,
} from './sink.js';

const fsyncFd = promisify(fsync);

type NdjsonTarget =
  | { kind: 'stream'; stream: Writable }
  | { kind: 'files'; dir: string; maxBytes: number; prefix: string };

/**
 * Documents as NDJSON lines, `{"_id","_index","_source"}`, to a stream (stdout) or to files rotated by
 * size. A unit is acknowledged once its lines are written (and, for files, fsynced). NDJSON outputs
 * cannot see duplicates: collecting a file again writes its documents again, with the same ids.
 */
export class NdjsonSink implements Sink {
  readonly stats: SinkStats = emptySinkStats();
  readonly #target: NdjsonTarget;
  #file: WriteStream | null = null;
  #fileBytes = 0;
  #fileSeq = 0;
  #closed = false;
  readonly #units = new Set<UnitTracker>();

  private constructor(target: NdjsonTarget) {
    this.#target = target;
  }

  static toStream(stream: Writable): NdjsonSink {
    return new NdjsonSink({ kind: 'stream', stream });
  }

  static toFiles(options: { dir: string; maxBytes?: number; prefix?: string }): NdjsonSink {
    mkdirSync(options.dir, { recursive: true });
    return new NdjsonSink({
      kind: 'files',
      dir: options.dir,
      maxBytes: options.maxBytes ?? 100 * 1024 * 1024,
      prefix: options.prefix ?? 'encedo_hem',
    });
  }

  open(unitId: string): SinkUnit {
    const unit = new UnitTracker(unitId);
    this.#units.add(unit);
    return {
      write: (doc) => this.#write(doc, unit),
      end: async (): Promise<UnitSummary> => {
        unit.ended = true;
        try {
          await this.#sync();
        } catch (err) {
          unit.fail(new SinkError('io', `cannot write the NDJSON output: ${(err as Error).message}`, { cause: err }));
        }
        unit.settleIfDone();
        this.#units.delete(unit);
        return unit.done;
      },
    };
  }

  async #write(doc: IndexDocument, unit: UnitTracker): Promise<void> {
    if (this.#closed) throw new SinkError('aborted', 'the NDJSON output is closed');
    const line = `${documentLine(doc)}\n`;
    const stream = this.#stream(line.length);
    unit.outstanding++;
    if (!stream.write(line)) await once(stream, 'drain');
    this.#fileBytes += line.length;
    this.stats.written++;
    unit.ack('written');
  }

  #stream(nextBytes: number): Writable {
    if (this.#target.kind === 'stream') return this.#target.stream;
    if (this.#file === null || (this.#fileBytes > 0 && this.#fileBytes + nextBytes > this.#target.maxBytes)) {
      this.#file?.end();
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      this.#file = createWriteStream(
        join(this.#target.dir, `${this.#target.prefix}-${stamp}-${String(this.#fileSeq++).padStart(4, '0')}.ndjson`),
        { flags: 'a' },
      );
      this.#fileBytes = 0;
    }
    return this.#file;
  }

  async #sync(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    if (file.writableNeedDrain) await once(file, 'drain');
    if (file.pending) await once(file, 'ready');
    await new Promise<void>((resolve, reject) => file.write('', (err) => (err ? reject(err) : resolve())));
    await fsyncFd((file as unknown as { fd: number }).fd);
  }

  async flush(): Promise<void> {
    await this.#sync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#file) {
      this.#file.end();
      await once(this.#file, 'close');
    }
  }

  abort(reason = 'aborted'): void {
    this.#closed = true;
    for (const unit of this.#units) unit.fail(new SinkError('aborted', `the NDJSON output stopped: ${reason}`));
    this.#file?.destroy();
  }
}
