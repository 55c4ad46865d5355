import { createHash } from 'node:crypto';
import { ed25519PublicKey } from '../../src/shared/ed25519.js';
import { LogWriter, type RecordInput } from '../../src/logfile/write.js';

/** Deterministic 32-byte values from a label, so generated files are the same on every run. */
export function bytesFor(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

export const LOGGER_SECRET = bytesFor('test logger key');
export const LOGGER_PUBLIC = ed25519PublicKey(LOGGER_SECRET);
export const FOREIGN_SECRET = bytesFor('another device');

export interface GeneratedFile {
  readonly text: string;
  /** The record lines without terminators, in order. Line n of the file is records[n - 2]. */
  readonly records: string[];
}

const BODY: RecordInput[] = [
  { time: 0x62310ba5, event: 1, result: 0 },
  { time: 0x62310ba5, event: 7, result: 0 },
  { time: 0x62310ba5, event: 0x13, result: 0, data: Buffer.from([0x35, 0x0b, 0x31, 0x62]).toString('base64url') },
  { time: 0x62310ba6, event: 0x1d, result: 0, subject: 'M' },
  { time: 0x62310bdd, event: 0xd, result: 0, subject: 'U', data: Buffer.from('logger:get').toString('base64url') },
  {
    time: 0x62310bde,
    event: 0x14,
    result: 0,
    subject: 'U',
    data: Buffer.from(bytesFor('kid').subarray(0, 16)).toString('base64url'),
  },
  { time: 0x62310bdf, event: 0xc, result: 1, subject: 'U', data: Buffer.from('keymgmt:gen').toString('base64url') },
];

/**
 * A valid file: header, then `segments` key segments of `perSegment` records each (KEY_INIT included).
 * The seq counter runs on across segments unless `restartSeq`.
 */
export function validFile(
  options: {
    segments?: number;
    perSegment?: number;
    signingKey?: Uint8Array;
    eol?: '\r\n' | '\n' | '\r';
    restartSeq?: boolean;
  } = {},
): GeneratedFile {
  const { segments = 2, perSegment = 6, signingKey = LOGGER_SECRET, eol = '\r\n', restartSeq = false } = options;
  const writer = new LogWriter({ signingKey, lineEnding: eol });
  let text = LogWriter.header('Encedo nGINE FW v1.2.2', eol);
  for (let s = 0; s < segments; s++) {
    text += writer.keyInit(bytesFor(`segment ${s}`), 0x62310ba5 + s, { restartSeq: restartSeq && s > 0 });
    for (let i = 1; i < perSegment; i++) text += writer.append(BODY[(i - 1) % BODY.length]!);
  }
  return { text, records: text.split(eol).slice(1, -1) };
}

export function joinFile(records: string[], eol = '\r\n'): string {
  return `# Encedo nGINE FW v1.2.2${eol}${records.join(eol)}${eol}`;
}
