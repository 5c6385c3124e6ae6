// Kafka record batches (magic 2) and produce requests (v9–v11), written straight into one buffer.
//
// Why by hand: the client's send() builds every record from small buffers (two Maps, a BigInt and
// a DynamicBuffer per record, then Buffer.concat), which was about half of the bridge's CPU
// (docs/benchmarks.md, "Own record batches"). Here a record costs a few varints and two copies.
// The formats are Kafka's (KIP-98 record batch, flexible Produce request); the connection,
// metadata, producer ids and compression codecs stay the client's.
import { compressionsAlgorithms, crc32c } from '@platformatic/kafka';

export type Compression = 'lz4' | 'snappy' | 'zstd' | 'gzip' | 'none';

/** What a record batch needs of a record. */
export interface BatchRecord {
  key?: Buffer | undefined;
  value?: Buffer | undefined;
  /** A Map, or [key, value] pairs (as the spool gives them). */
  headers?: Iterable<[Buffer, Buffer]> | undefined;
}

/** The record batch header is 61 bytes; these are the offsets of its fields. */
const HEADER_BYTES = 61;
const AT_LENGTH = 8;
const AT_CRC = 17;
const AT_ATTRIBUTES = 21;
const AT_PRODUCER_ID = 43;
const AT_PRODUCER_EPOCH = 51;
const AT_BASE_SEQUENCE = 53;
/**
 * The most a record adds besides its key, value and headers: its length (5), attributes (1),
 * timestamp delta (8, up to 2^52 ms), offset delta (5), key and value lengths (5 each), header count (5).
 */
const RECORD_OVERHEAD = 34;
const COMPRESSION_BITS: Record<Compression, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

/** Kafka's murmur2 of the key bytes, as the Java client's default partitioner computes it. */
export function murmur2(key: Uint8Array, start = 0, end = key.length): number {
  const m = 0x5bd1e995;
  const length = end - start;
  let h = (0x9747b28c ^ length) | 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = end - i;
  if (tail > 0) {
    if (tail === 3) h ^= key[i + 2]! << 16;
    if (tail >= 2) h ^= key[i + 1]! << 8;
    h ^= key[i]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition the Java client's default partitioner gives a key (toPositive(murmur2) % n). */
export function partitionOf(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

function unsignedVarIntSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Size of a zigzag varint of a 32-bit signed value. */
function varIntSize(v: number): number {
  return unsignedVarIntSize(((v << 1) ^ (v >> 31)) >>> 0);
}

function writeUnsignedVarInt(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

/** Size of an unsigned varint of a whole number below 2^53 (a zigzag varlong already zigzagged). */
function unsignedVarLongSize(v: number): number {
  if (v < 0x100000000) return unsignedVarIntSize(v);
  let size = 5;
  for (v = Math.floor(v / 0x800000000); v > 0; v = Math.floor(v / 0x80)) size++;
  return size;
}

/** writeUnsignedVarInt for whole numbers up to 2^53 (with arithmetic: bit operators stop at 32 bits). */
function writeUnsignedVarLong(buf: Buffer, at: number, v: number): number {
  if (v < 0x100000000) return writeUnsignedVarInt(buf, at, v);
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

/** The largest timestamp taken (ms, about the year 142,000): deltas stay exact in a double. */
const MAX_TIMESTAMP = 2 ** 52;

/** A record's timestamp in whole ms: `now` when it has none (negative, as Kafka's -1, NaN, or absurdly large). */
function timestampOf(t: number, now: number): number {
  return t >= 0 && t <= MAX_TIMESTAMP ? Math.floor(t) : now;
}

function writeVarInt(buf: Buffer, at: number, v: number): number {
  return writeUnsignedVarInt(buf, at, ((v << 1) ^ (v >> 31)) >>> 0);
}

function writeBytes(buf: Buffer, at: number, bytes: Buffer | undefined): number {
  if (bytes === undefined) return writeVarInt(buf, at, -1);
  at = writeVarInt(buf, at, bytes.length);
  return at + bytes.copy(buf, at);
}

function bytesSize(bytes: Buffer | undefined): number {
  return bytes === undefined ? 1 : varIntSize(bytes.length) + bytes.length;
}

export interface BatchIds {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

/**
 * Writes record batches. One encoder is reused for every batch: its scratch buffer only grows.
 * Timestamps are create time (ms since the epoch), one per record: the batch's firstTimestamp is
 * the smallest, maxTimestamp the largest, and each record carries its distance from the first
 * (a zigzag varlong, never negative here), as Kafka's v2 record format has it.
 */
export class RecordBatchEncoder {
  #scratch = Buffer.allocUnsafe(1 << 20);
  #compression: Compression;

  constructor(compression: Compression) {
    this.#compression = compression;
  }

  /**
   * A record batch of records[order[from..to)], in that order. `timestamps[i]` is the timestamp of
   * records[i] (aligned with the records, not with `order`); a record without one (no array, or a
   * negative value such as Kafka's -1, NaN, or one over 2^52) gets `now`. Fractions of a
   * millisecond are dropped.
   */
  encode(records: readonly BatchRecord[], order: Int32Array | number[], from: number, to: number, ids: BatchIds, now: number, timestamps?: ArrayLike<number>): Buffer {
    now = Math.floor(now);
    let room = 0;
    let first = Infinity;
    let last = -Infinity;
    for (let k = from; k < to; k++) {
      const i = order[k]!;
      const r = records[i]!;
      room += RECORD_OVERHEAD + (r.key?.length ?? 0) + (r.value?.length ?? 0);
      if (r.headers !== undefined) for (const [hk, hv] of r.headers) room += 10 + hk.length + hv.length;
      const ts = timestamps === undefined ? now : timestampOf(timestamps[i]!, now);
      if (ts < first) first = ts;
      if (ts > last) last = ts;
    }
    // Uncompressed, the records are written after room for the header, so the batch is one buffer.
    const plain = this.#compression === 'none';
    if (this.#scratch.length < room + HEADER_BYTES) this.#scratch = Buffer.allocUnsafe(Math.max(room + HEADER_BYTES, this.#scratch.length * 2));
    const buf = this.#scratch;
    const start = plain ? HEADER_BYTES : 0;
    let at = start;
    for (let k = from; k < to; k++) {
      const i = order[k]!;
      const r = records[i]!;
      const delta = k - from;
      // Zigzag of a delta that is never negative: twice it (exact up to 2^53 in a double).
      const zz = timestamps === undefined ? 0 : 2 * (timestampOf(timestamps[i]!, now) - first);
      let headersSize = 1;
      let headerCount = 0;
      if (r.headers !== undefined) {
        for (const [hk, hv] of r.headers) {
          headersSize += varIntSize(hk.length) + hk.length + bytesSize(hv);
          headerCount++;
        }
        headersSize += varIntSize(headerCount) - 1;
      }
      // attributes, timestamp delta, offset delta, key, value, headers
      const size = 1 + unsignedVarLongSize(zz) + varIntSize(delta) + bytesSize(r.key) + bytesSize(r.value) + headersSize;
      at = writeVarInt(buf, at, size);
      buf[at++] = 0;
      if (zz < 0x80) buf[at++] = zz;
      else at = writeUnsignedVarLong(buf, at, zz);
      at = writeVarInt(buf, at, delta);
      at = writeBytes(buf, at, r.key);
      at = writeBytes(buf, at, r.value);
      at = writeVarInt(buf, at, headerCount);
      if (r.headers !== undefined) {
        for (const [hk, hv] of r.headers) {
          at = writeVarInt(buf, at, hk.length);
          at += hk.copy(buf, at);
          at = writeBytes(buf, at, hv);
        }
      }
    }
    let batch: Buffer;
    if (plain) {
      batch = Buffer.from(buf.subarray(0, at));
    } else {
      const body = compressionsAlgorithms[this.#compression].compressSync(buf.subarray(0, at));
      batch = Buffer.allocUnsafe(HEADER_BYTES + body.length);
      body.copy(batch, HEADER_BYTES);
    }
    const count = to - from;
    batch.writeBigInt64BE(0n, 0);
    batch.writeInt32BE(batch.length - 12, AT_LENGTH);
    batch.writeInt32BE(-1, 12); // partition leader epoch: unknown to a producer
    batch[16] = 2; // magic
    batch.writeInt16BE(COMPRESSION_BITS[this.#compression], AT_ATTRIBUTES);
    batch.writeInt32BE(count - 1, 23); // last offset delta
    if (to === from) first = last = now;
    batch.writeBigInt64BE(BigInt(first), 27); // firstTimestamp: the smallest
    batch.writeBigInt64BE(BigInt(last), 35); // maxTimestamp: the largest
    batch.writeInt32BE(count, 57);
    stampBatch(batch, ids);
    return batch;
  }
}

/** Sets a batch's producer id, epoch and base sequence, and its CRC (which covers them). */
export function stampBatch(batch: Buffer, ids: BatchIds): void {
  batch.writeBigInt64BE(ids.producerId, AT_PRODUCER_ID);
  batch.writeInt16BE(ids.producerEpoch, AT_PRODUCER_EPOCH);
  batch.writeInt32BE(ids.baseSequence, AT_BASE_SEQUENCE);
  batch.writeUInt32BE(crc32c(batch.subarray(AT_ATTRIBUTES)), AT_CRC);
}

/** Records in a batch written by RecordBatchEncoder. */
export function batchCount(batch: Buffer): number {
  return batch.readInt32BE(57);
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  batch: Buffer;
}

/**
 * The body of a Produce request, versions 9 to 11 (flexible; the same bytes for all three):
 * no transactional id, acks, timeout, then the batches grouped by topic (in first-seen order).
 */
export function produceRequestBody(acks: number, timeoutMs: number, batches: readonly PartitionBatch[]): Buffer {
  const byTopic = new Map<string, PartitionBatch[]>();
  for (const b of batches) {
    const list = byTopic.get(b.topic);
    if (list === undefined) byTopic.set(b.topic, [b]);
    else list.push(b);
  }
  let size = 1 + 2 + 4 + unsignedVarIntSize(byTopic.size + 1) + 1;
  const names = new Map<string, Buffer>();
  for (const [topic, list] of byTopic) {
    const name = Buffer.from(topic);
    names.set(topic, name);
    size += unsignedVarIntSize(name.length + 1) + name.length + unsignedVarIntSize(list.length + 1) + 1;
    for (const b of list) size += 4 + unsignedVarIntSize(b.batch.length + 1) + b.batch.length + 1;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  buf[at++] = 0; // transactional_id: null
  at = buf.writeInt16BE(acks, at);
  at = buf.writeInt32BE(timeoutMs, at);
  at = writeUnsignedVarInt(buf, at, byTopic.size + 1);
  for (const [topic, list] of byTopic) {
    const name = names.get(topic)!;
    at = writeUnsignedVarInt(buf, at, name.length + 1);
    at += name.copy(buf, at);
    at = writeUnsignedVarInt(buf, at, list.length + 1);
    for (const b of list) {
      at = buf.writeInt32BE(b.partition, at);
      at = writeUnsignedVarInt(buf, at, b.batch.length + 1);
      at += b.batch.copy(buf, at);
      buf[at++] = 0; // partition tagged fields
    }
    buf[at++] = 0; // topic tagged fields
  }
  buf[at++] = 0; // request tagged fields
  return buf;
}
