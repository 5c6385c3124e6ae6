// The spool's record framing (pure). Little-endian:
//
//   u32 bodyLength | u32 crc32c(body) | body
//   body = u8 version(1) | f64 receivedAt (ms since epoch) | u16 topicLength | topic
//        | i32 keyLength (-1: null key) | key | u32 valueLength | value
//        | u16 headerCount | { u16 keyLength | key | u32 valueLength | value } * headerCount
//
// The CRC covers topic, key, value and headers. A reader stops at the first record that is
// incomplete (a torn tail after a crash) or whose CRC does not match, and says which.
import { crc32c } from './crc32c.ts';

export const RECORD_VERSION = 1;
const HEAD = 8;
/** A body larger than this is corruption, not a record (Kafka's default max is 1 MB). */
export const MAX_BODY = 64 * 1024 * 1024;

export interface SpoolRecord {
  topic: string;
  key: Buffer | undefined;
  value: Buffer;
  headers: Array<[Buffer, Buffer]>;
  receivedAt: number;
}

/** The headers of a record without any (shared: never modified). */
export const NO_HEADERS: Array<[Buffer, Buffer]> = Object.freeze([]) as unknown as Array<[Buffer, Buffer]>;

/** The last topic decoded, to reuse its string while consecutive records share a topic. */
let lastTopic = '';
let lastTopicBytes = Buffer.alloc(0);

function topicAt(buf: Buffer, o: number, length: number): string {
  if (length === lastTopicBytes.length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (buf[o + i] !== lastTopicBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastTopic;
  }
  lastTopicBytes = Buffer.from(buf.subarray(o, o + length));
  lastTopic = lastTopicBytes.toString('utf8');
  return lastTopic;
}

export function encodedSize(r: Omit<SpoolRecord, 'receivedAt'>): number {
  let n = HEAD + 1 + 8 + 2 + Buffer.byteLength(r.topic) + 4 + (r.key?.length ?? 0) + 4 + r.value.length + 2;
  for (const [k, v] of r.headers) n += 2 + k.length + 4 + v.length;
  return n;
}

/** Writes one record at `offset` of `out` (which must have encodedSize bytes free); returns the end. */
export function encodeInto(r: SpoolRecord, out: Buffer, offset: number): number {
  let o = offset + HEAD;
  const body = o;
  o = out.writeUInt8(RECORD_VERSION, o);
  o = out.writeDoubleLE(r.receivedAt, o);
  const topicLength = out.write(r.topic, o + 2, 'utf8');
  o = out.writeUInt16LE(topicLength, o) + topicLength;
  if (r.key === undefined) o = out.writeInt32LE(-1, o);
  else {
    o = out.writeInt32LE(r.key.length, o);
    o += r.key.copy(out, o);
  }
  o = out.writeUInt32LE(r.value.length, o);
  o += r.value.copy(out, o);
  o = out.writeUInt16LE(r.headers.length, o);
  for (const [k, v] of r.headers) {
    o = out.writeUInt16LE(k.length, o);
    o += k.copy(out, o);
    o = out.writeUInt32LE(v.length, o);
    o += v.copy(out, o);
  }
  out.writeUInt32LE(o - body, offset);
  out.writeUInt32LE(crc32c(out.subarray(body, o)), offset + 4);
  return o;
}

export function encodeRecord(r: SpoolRecord): Buffer {
  const out = Buffer.allocUnsafe(encodedSize(r));
  encodeInto(r, out, 0);
  return out;
}

export const DecodeStatus = { OK: 0, INCOMPLETE: 1, CORRUPT: 2 } as const;

export interface Decoded {
  status: (typeof DecodeStatus)[keyof typeof DecodeStatus];
  record?: SpoolRecord;
  /** Offset just after the record (OK), or where the bad bytes begin. */
  next: number;
  problem?: string;
}

/**
 * Decodes the record at `offset`. Keys, values and headers are views of `buf` (no copy).
 * `verify` false skips the CRC: for records already verified (the recovery scan at open) or
 * written by this process.
 */
export function decodeAt(buf: Buffer, offset: number, verify = true): Decoded {
  if (buf.length - offset < HEAD) return { status: DecodeStatus.INCOMPLETE, next: offset, problem: 'a partial record header' };
  const length = buf.readUInt32LE(offset);
  if (length < 1 + 8 + 2 + 4 + 4 + 2 || length > MAX_BODY) return { status: DecodeStatus.CORRUPT, next: offset, problem: `an impossible record length ${length}` };
  const body = offset + HEAD;
  const end = body + length;
  if (end > buf.length) return { status: DecodeStatus.INCOMPLETE, next: offset, problem: `a record of ${length} bytes cut after ${buf.length - body}` };
  if (verify && crc32c(buf.subarray(body, end)) !== buf.readUInt32LE(offset + 4)) return { status: DecodeStatus.CORRUPT, next: offset, problem: 'a CRC32C mismatch' };
  try {
    let o = body;
    if (buf.readUInt8(o) !== RECORD_VERSION) return { status: DecodeStatus.CORRUPT, next: offset, problem: `unknown record version ${buf.readUInt8(o)}` };
    o += 1;
    const receivedAt = buf.readDoubleLE(o);
    o += 8;
    const topicLength = buf.readUInt16LE(o);
    o += 2;
    const topic = topicAt(buf, o, topicLength);
    o += topicLength;
    const keyLength = buf.readInt32LE(o);
    o += 4;
    const key = keyLength < 0 ? undefined : buf.subarray(o, o + keyLength);
    o += Math.max(0, keyLength);
    const valueLength = buf.readUInt32LE(o);
    o += 4;
    const value = buf.subarray(o, o + valueLength);
    o += valueLength;
    const count = buf.readUInt16LE(o);
    o += 2;
    const headers: Array<[Buffer, Buffer]> = count === 0 ? NO_HEADERS : [];
    for (let h = 0; h < count; h++) {
      const kl = buf.readUInt16LE(o);
      const k = buf.subarray(o + 2, o + 2 + kl);
      o += 2 + kl;
      const vl = buf.readUInt32LE(o);
      const v = buf.subarray(o + 4, o + 4 + vl);
      o += 4 + vl;
      headers.push([k, v]);
    }
    if (o !== end) return { status: DecodeStatus.CORRUPT, next: offset, problem: 'fields do not fill the record' };
    return { status: DecodeStatus.OK, record: { topic, key, value, headers, receivedAt }, next: end };
  } catch {
    return { status: DecodeStatus.CORRUPT, next: offset, problem: 'fields run past the record' };
  }
}
