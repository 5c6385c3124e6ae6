// @ts-check
// The reading thread's overflow on disk: batches of frames, as the thread posts them, appended to
// segment files and read back in order. Used when the main thread takes frames more slowly than
// the feed sends them (a burst, a cold start, a rate above what the pipeline sustains) and more
// than --read-ahead-bytes already wait in memory: the socket goes on being read at its own rate,
// the excess waits on disk as raw frames (one write per batch, in this thread), and the main
// thread goes on working through frames at its own full rate, as it would from memory.
//
// Not a record of what Kafka has: nothing here is replayed after a restart. A batch is kept from
// the moment the socket delivered it until the main thread took it; a crash loses what waits here
// as it loses what waits in memory, and the next start's gap record covers it (the run state says
// up to which frame the main thread had taken events). A graceful stop hands it all to the main
// thread first. Files left by an earlier process are removed when a spill is opened.
//
// One batch on disk: count (u32), data bytes (u32), then count frame lengths (u32 each), count
// receive times (f64 each), count binary flags (u8 each), then the frames' bytes. Native byte
// order: a spill is only read by the process that wrote it.
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writevSync } from 'node:fs';
import { join } from 'node:path';

/** A new segment file is started once the current one holds this many bytes. */
export const SPILL_SEGMENT_BYTES = 64 * 1024 * 1024;

const HEADER = 8;

/**
 * @typedef {{ data: ArrayBuffer, lengths: Uint32Array<ArrayBuffer>, binary: Uint8Array<ArrayBuffer>, times: Float64Array<ArrayBuffer> }} FrameBatch
 */

export class FrameSpill {
  /** @type {string} */
  dir;
  /** @type {number} */
  segmentBytes;
  /** Segment numbers on disk, oldest first; the last is written to. @type {number[]} */
  #segments = [];
  /** @type {Map<number, number>} */
  #sizes = new Map();
  #writeFd = -1;
  #readFd = -1;
  /** The segment being read, and where. */
  #readSeg = -1;
  #readAt = 0;
  #next = 0;
  /** Bytes appended and not yet read back. */
  #bytes = 0;
  #batches = 0;

  /**
   * @param {string} dir
   * @param {number} [segmentBytes]
   */
  constructor(dir, segmentBytes = SPILL_SEGMENT_BYTES) {
    this.dir = dir;
    this.segmentBytes = segmentBytes;
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) if (/^frames-\d+\.bin$/.test(name)) rmSync(join(dir, name), { force: true });
  }

  /** Bytes waiting on disk (appended, not yet read back). */
  get bytes() {
    return this.#bytes;
  }

  /** Batches waiting on disk. */
  get batches() {
    return this.#batches;
  }

  get empty() {
    return this.#batches === 0;
  }

  /** @param {number} n */
  #path(n) {
    return join(this.dir, `frames-${n}.bin`);
  }

  /**
   * Appends one batch. Throws when the file system refuses (ENOSPC, EIO): nothing of the batch
   * counts as written then, and the caller keeps it.
   * @param {Uint8Array} data the frames, concatenated
   * @param {Uint32Array} lengths
   * @param {Uint8Array} binary
   * @param {Float64Array} times
   */
  append(data, lengths, binary, times) {
    const count = lengths.length;
    const size = HEADER + count * 13 + data.byteLength;
    const last = this.#segments.at(-1);
    if (last === undefined || this.#writeFd < 0 || (this.#sizes.get(last) ?? 0) >= this.segmentBytes) this.#startSegment();
    const seg = /** @type {number} */ (this.#segments.at(-1));
    const header = new Uint32Array([count, data.byteLength]);
    const parts = [header, lengths, times, binary, data].map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    const at = this.#sizes.get(seg) ?? 0;
    // Positional writes: a batch torn by a failure is overwritten by the next append, never read.
    let written = 0;
    while (written < size) written += writevSync(this.#writeFd, sliceParts(parts, written), at + written);
    this.#sizes.set(seg, at + size);
    this.#bytes += size;
    this.#batches++;
  }

  #startSegment() {
    const previous = this.#writeFd;
    this.#writeFd = -1;
    if (previous >= 0 && previous !== this.#readFd) closeSync(previous);
    const n = this.#next++;
    this.#writeFd = openSync(this.#path(n), 'w+');
    this.#segments.push(n);
    this.#sizes.set(n, 0);
  }

  /**
   * The oldest batch waiting, read back into buffers of its own (transferable), or undefined when
   * none waits. Throws when the file cannot be read.
   * @returns {FrameBatch | undefined}
   */
  next() {
    if (this.#batches === 0) return undefined;
    let seg = this.#segments[0];
    if (seg === undefined) return undefined;
    if (this.#readSeg !== seg) {
      this.#openRead(seg);
    }
    if (this.#readAt >= (this.#sizes.get(seg) ?? 0)) {
      // This segment is read to its end, and a later one holds the next batch.
      this.#dropSegment(seg);
      seg = /** @type {number} */ (this.#segments[0]);
      this.#openRead(seg);
    }
    const header = new Uint32Array(2);
    this.#readFully(new Uint8Array(header.buffer), this.#readAt);
    const count = /** @type {number} */ (header[0]);
    const dataBytes = /** @type {number} */ (header[1]);
    const meta = new ArrayBuffer(count * 13);
    this.#readFully(new Uint8Array(meta), this.#readAt + HEADER);
    const data = new ArrayBuffer(dataBytes);
    this.#readFully(new Uint8Array(data), this.#readAt + HEADER + count * 13);
    const lengths = new Uint32Array(meta.slice(0, count * 4));
    const times = new Float64Array(meta.slice(count * 4, count * 12));
    const binary = new Uint8Array(meta.slice(count * 12, count * 13));
    const size = HEADER + count * 13 + dataBytes;
    this.#readAt += size;
    this.#bytes -= size;
    this.#batches--;
    if (this.#batches === 0) this.#reset();
    return { data, lengths, binary, times };
  }

  /** @param {number} seg */
  #openRead(seg) {
    if (this.#readFd >= 0 && this.#readFd !== this.#writeFd) closeSync(this.#readFd);
    this.#readFd = seg === this.#segments.at(-1) && this.#writeFd >= 0 ? this.#writeFd : openSync(this.#path(seg), 'r');
    this.#readSeg = seg;
    this.#readAt = 0;
  }

  /** @param {number} seg */
  #dropSegment(seg) {
    if (this.#readFd >= 0 && this.#readFd !== this.#writeFd) closeSync(this.#readFd);
    this.#readFd = -1;
    this.#readSeg = -1;
    this.#segments.shift();
    this.#sizes.delete(seg);
    rmSync(this.#path(seg), { force: true });
  }

  /**
   * @param {Uint8Array} into
   * @param {number} at
   */
  #readFully(into, at) {
    let got = 0;
    while (got < into.byteLength) {
      const n = readSync(this.#readFd, into, got, into.byteLength - got, at + got);
      if (n === 0) throw new Error(`the read-ahead spill ${this.#path(this.#readSeg)} ends early (at byte ${at + got})`);
      got += n;
    }
  }

  /** Everything was read back: the files go, and the next batch starts a new segment. */
  #reset() {
    this.close();
  }

  /** Closes and removes every file (what waits is forgotten). */
  close() {
    const fds = new Set([this.#readFd, this.#writeFd].filter((fd) => fd >= 0));
    this.#readFd = -1;
    this.#writeFd = -1;
    for (const fd of fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed: nothing more to release
      }
    }
    this.#readSeg = -1;
    this.#readAt = 0;
    for (const seg of this.#segments) rmSync(this.#path(seg), { force: true });
    this.#segments = [];
    this.#sizes.clear();
    this.#bytes = 0;
    this.#batches = 0;
  }
}

/**
 * The parts from byte `skip` on (after a short write).
 * @param {Uint8Array[]} parts
 * @param {number} skip
 */
function sliceParts(parts, skip) {
  if (skip === 0) return parts;
  /** @type {Uint8Array[]} */
  const out = [];
  for (const p of parts) {
    if (skip >= p.byteLength) {
      skip -= p.byteLength;
      continue;
    }
    out.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return out;
}
