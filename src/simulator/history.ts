import { EVENT_CODES, type EventCode } from '../ecs/catalogue.js';
import type { ResultCode } from '../logfile/types.js';
import type { RecordInput } from '../logfile/write.js';
import type { SeededRandom } from './random.js';

const SCOPES = [
  'keymgmt:gen',
  'keymgmt:list',
  'keymgmt:del',
  'system:config',
  'storage:disk0',
  'logger:get',
  'keymgmt:use:',
];
const TLS_ERRORS = ['handshake failure', 'no shared cipher', 'certificate expired'];
/** Records of one boot are 1 to this many seconds apart. */
export const MAX_EVENT_GAP_S = 90;

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export function timeData(unixSeconds: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(unixSeconds >>> 0);
  return b.toString('base64url');
}

/** The records every boot starts with after its KEY_INIT (spec §2.3, initialisation.mdx). */
export function bootPreamble(time: number): RecordInput[] {
  return [
    { time, event: 1, result: 0 },
    { time, event: 7, result: 0 },
    { time, event: 0x13, result: 0, data: timeData(time - 112) },
  ];
}

/**
 * Realistic activity for one boot: `count` records that cycle through every event code (shuffled per
 * boot) with plausible subjects, results and data, seconds to minutes apart.
 */
export function activity(
  rng: SeededRandom,
  options: { start: number; count: number; kids: readonly Buffer[]; fileIds: readonly string[] },
): { records: RecordInput[]; end: number } {
  const codes = [...EVENT_CODES.values()].filter((c) => c.code !== 0);
  const records: RecordInput[] = [];
  let time = options.start;
  let order: EventCode[] = [];
  for (let i = 0; i < options.count; i++) {
    if (order.length === 0) order = shuffle(rng, codes);
    const info = order.pop()!;
    time += 1 + rng.int(MAX_EVENT_GAP_S);
    records.push(eventRecord(rng, info, time, options.kids, options.fileIds));
  }
  return { records, end: time };
}

function eventRecord(
  rng: SeededRandom,
  info: EventCode,
  time: number,
  kids: readonly Buffer[],
  fileIds: readonly string[],
): RecordInput {
  const roll = rng.int(100);
  const result: ResultCode = info.code === 12 ? 1 : roll < 85 ? 0 : roll < 95 ? 1 : 2;
  const kid = rng.pick(kids);
  const actor = rng.int(10) === 0 ? 'M' : rng.int(5) === 0 ? kid.toString('base64url') : 'U';
  switch (info.data) {
    case 'kid':
      return {
        time,
        event: info.code,
        result,
        subject: actor === 'M' ? 'U' : actor,
        data: b64url(info.code === 15 ? kid : rng.pick(kids.slice(1))),
      };
    case 'raw':
      if (info.code === 6) return { time, event: info.code, result: 1, data: b64url(rng.pick(TLS_ERRORS)) };
      if (info.code === 14)
        return {
          time,
          event: info.code,
          result: 0,
          subject: kid.toString('base64url'),
          data: b64url(rng.pick(SCOPES)),
        };
      if (info.code === 13)
        return {
          time,
          event: info.code,
          result: 0,
          subject: rng.int(10) === 0 ? 'M' : 'U',
          data: b64url(rng.pick(SCOPES)),
        };
      return { time, event: info.code, result, subject: actor, data: b64url(rng.pick(SCOPES)) };
    case 'log':
      return {
        time,
        event: info.code,
        result,
        subject: 'U',
        data: b64url(fileIds.length > 0 ? rng.pick(fileIds) : '00000000'),
      };
    case 'time':
      return { time, event: info.code, result, data: timeData(time - rng.int(300)) };
    case 'code':
      return { time, event: info.code, result: rng.int(4) === 0 ? 1 : 0, data: b64url(`E${rng.int(100)}`) };
    default:
      return {
        time,
        event: info.code,
        result,
        subject: [4, 18, 29].includes(info.code) ? (info.code === 29 ? 'M' : 'U') : '',
      };
  }
}

function shuffle<T>(rng: SeededRandom, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
