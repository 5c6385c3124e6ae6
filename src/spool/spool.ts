// The disk spool: a durable, segmented, append-only log of records waiting for Kafka.
//
// Files in the spool directory: segments `<id, 20 digits>.seg` (ids increase) and `acked`, the
// position "<segment id> <byte offset>" of the first record not yet acknowledged, padded to a
// fixed 41 bytes and overwritten in place (one positional write per acknowledgement: writing a
// new file and renaming it was 14 % of the CPU when every event went through the spool). A
// position that does not parse (a torn write) replays the spool from its first segment: duplicates,
// never loss. Records are appended in order and read back in the same order; a
// segment is deleted only when every record in it has been acknowledged. At open, each segment is
// scanned: a torn or corrupt tail is cut at the last whole record and reported; every record from
// the `acked` position on is replayed.
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes of the `acked` file: the position, padded with spaces, and a newline. */
const ACKED_LINE = 41;
import { decodeAt, DecodeStatus, encodedSize, encodeInto, type SpoolRecord } from './codec.ts';

export const FSYNC_POLICIES = ['always', 'interval', 'never'] as const;
export type FsyncPolicy = (typeof FSYNC_POLICIES)[number];

export interface SpoolOptions {
  dir: string;
  /** A new segment is started once the current one reaches this size. */
  segmentBytes: number;
  /** Appends beyond this many unacknowledged bytes are refused (`full`). */
  maxBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
}

export interface Recovery {
  segments: number;
  /** Records found after the last acknowledgement: they are replayed. */
  records: number;
  /** Torn or corrupt tails cut off: where and why. */
  cut: Array<{ segment: string; offset: number; bytes: number; problem: string }>;
}

interface Segment {
  id: number;
  path: string;
  /** Open for the segment being appended to. */
  fd: number | undefined;
  bytes: number;
}

interface Position {
  seg: number; // index into #segments
  offset: number;
}

const SEG = /^(\d{20})\.seg$/;

export class Spool {
  readonly options: SpoolOptions;
  #segments: Segment[] = [];
  #read: Position = { seg: 0, offset: 0 };
  #acked: Position = { seg: 0, offset: 0 };
  #ackedFd: number | undefined;
  /** Records appended and not acknowledged; of them, read and waiting for their ack (sizes). */
  #size = 0;
  /** Sizes of the records read and not yet acknowledged, oldest at #inflightHead. */
  #inflight: number[] = [];
  #inflightHead = 0;
  /** Reused by read(): records of a batch are views into it, and a batch is read only after the previous one was acknowledged. */
  #readBuf: Buffer = Buffer.alloc(0);
  #bytes = 0;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #scratch = Buffer.allocUnsafe(1 << 20);

  private constructor(o: SpoolOptions) {
    this.options = o;
  }

  /** Opens (creating if needed) the spool directory and recovers what a previous run left. */
  static open(o: SpoolOptions): { spool: Spool; recovery: Recovery } {
    mkdirSync(o.dir, { recursive: true });
    const s = new Spool(o);
    const recovery = s.#recover();
    if (o.fsync === 'interval') {
      s.#timer = setInterval(() => s.sync(), o.fsyncIntervalMs);
      s.#timer.unref();
    }
    return { spool: s, recovery };
  }

  /** Unacknowledged bytes on disk. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Records appended and not yet acknowledged. */
  get size(): number {
    return this.#size;
  }

  /** Records appended and not yet read for sending. */
  get unread(): number {
    return this.#size - (this.#inflight.length - this.#inflightHead);
  }

  get full(): boolean {
    return this.#bytes >= this.options.maxBytes;
  }

  /** Appends records in order; returns how many fit under maxBytes (the rest were not written). */
  append(records: readonly SpoolRecord[]): number {
    let written = 0;
    let fill = 0;
    let seg = this.#active();
    const flush = () => {
      if (fill === 0) return;
      writeSync(seg.fd!, this.#scratch, 0, fill, seg.bytes);
      seg.bytes += fill;
      fill = 0;
    };
    for (const r of records) {
      const size = encodedSize(r);
      if (this.#bytes + size > this.options.maxBytes) break;
      if (seg.bytes + fill > 0 && seg.bytes + fill + size > this.options.segmentBytes) {
        flush();
        seg = this.#roll();
      }
      if (fill + size > this.#scratch.length) {
        flush();
        if (size > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(size);
      }
      encodeInto(r, this.#scratch, fill);
      fill += size;
      this.#size++;
      this.#bytes += size;
      written++;
    }
    flush();
    if (written > 0) {
      this.#dirty = true;
      if (this.options.fsync === 'always') this.sync();
    }
    return written;
  }

  /** The next unread records, oldest first, up to about maxBytes (at least one if any). */
  read(maxBytes: number): SpoolRecord[] {
    const out: SpoolRecord[] = [];
    let total = 0;
    while (this.unread > 0 && total < maxBytes) {
      const seg = this.#segments[this.#read.seg]!;
      if (this.#read.offset >= seg.bytes) {
        this.#read = { seg: this.#read.seg + 1, offset: 0 };
        continue;
      }
      let want = Math.min(seg.bytes - this.#read.offset, Math.max(maxBytes - total, 64 * 1024));
      let view = this.#readAt(seg, want, total === 0);
      if (view.length >= 8 && 8 + view.readUInt32LE(0) > view.length && view.length < seg.bytes - this.#read.offset) {
        // One record larger than the chunk (a big dead-lettered frame): read exactly it.
        want = Math.min(seg.bytes - this.#read.offset, 8 + view.readUInt32LE(0));
        view = this.#readAt(seg, want, false);
      }
      let o = 0;
      while (o < view.length && total < maxBytes) {
        // Every record here was verified by the recovery scan at open, or written by this process.
        const d = decodeAt(view, o, false);
        if (d.status !== DecodeStatus.OK) break; // the rest of this record is in the next chunk
        out.push(d.record!);
        this.#inflight.push(d.next - o);
        total += d.next - o;
        o = d.next;
      }
      if (o === 0) throw new Error(`spool: cannot decode the record at ${seg.path}:${this.#read.offset}`);
      this.#read = { seg: this.#read.seg, offset: this.#read.offset + o };
    }
    return out;
  }

  /**
   * `want` bytes of `seg` at the read position. The first chunk of a batch goes into a buffer
   * kept for reuse (the records are views into it, and the next batch is read only once this one
   * is acknowledged); any further chunk of the same batch gets a buffer of its own.
   */
  #readAt(seg: Segment, want: number, reuse: boolean): Buffer {
    let chunk: Buffer;
    if (reuse) {
      if (this.#readBuf.length < want) this.#readBuf = Buffer.allocUnsafe(want);
      chunk = this.#readBuf;
    } else chunk = Buffer.allocUnsafe(want);
    const fd = seg.fd ?? openSync(seg.path, 'r');
    const n = readSync(fd, chunk, 0, want, this.#read.offset);
    if (seg.fd === undefined) closeSync(fd);
    return chunk.subarray(0, n);
  }

  /** The receive time stored with the oldest unacknowledged record (wall ms; negative: a control record), if any. */
  oldestReceivedAt(): number | undefined {
    if (this.#size === 0) return undefined;
    let { seg, offset } = this.#acked;
    let s = this.#segments[seg];
    while (s !== undefined && offset >= s.bytes) {
      s = this.#segments[++seg];
      offset = 0;
    }
    if (s === undefined) return undefined;
    const head = Buffer.allocUnsafe(8 + 1 + 8);
    const fd = s.fd ?? openSync(s.path, 'r');
    const n = readSync(fd, head, 0, head.length, offset);
    if (s.fd === undefined) closeSync(fd);
    return n === head.length ? head.readDoubleLE(9) : undefined;
  }

  /** Marks the oldest n records read as acknowledged by Kafka; deletes segments no longer needed. */
  ack(n: number): void {
    this.#advance(n);
    const at = this.#segments[this.#acked.seg];
    if (at) this.#writeAcked(at.id, this.#acked.offset);
  }

  #writeAcked(id: number, offset: number): void {
    if (this.#ackedFd === undefined) {
      const path = join(this.options.dir, 'acked');
      try {
        this.#ackedFd = openSync(path, 'r+');
      } catch {
        this.#ackedFd = openSync(path, 'w+');
      }
    }
    const line = Buffer.from(`${id} ${offset}`.padEnd(ACKED_LINE - 1) + '\n');
    writeSync(this.#ackedFd, line, 0, line.length, 0);
  }

  #advance(n: number): void {
    for (let i = 0; i < n; i++) {
      const size = this.#inflight[this.#inflightHead++];
      if (size === undefined) throw new Error('spool: more acknowledgements than records read');
      this.#bytes -= size;
      this.#size--;
      let { seg, offset } = this.#acked;
      offset += size;
      while (offset >= this.#segments[seg]!.bytes && seg < this.#segments.length - 1) {
        seg++;
        offset = 0;
      }
      this.#acked = { seg, offset };
    }
    if (this.#inflightHead === this.#inflight.length) {
      this.#inflight.length = 0;
      this.#inflightHead = 0;
    }
    while (this.#acked.seg > 0) {
      const first = this.#segments.shift()!;
      if (first.fd !== undefined) closeSync(first.fd);
      rmSync(first.path, { force: true });
      this.#acked = { seg: this.#acked.seg - 1, offset: this.#acked.offset };
      this.#read = { seg: this.#read.seg - 1, offset: this.#read.offset };
    }
  }

  /** Records read but not acknowledged are read again next (after a failed send). */
  rewind(): void {
    this.#inflight = [];
    this.#inflightHead = 0;
    this.#read = { ...this.#acked };
  }

  sync(): void {
    if (!this.#dirty) return;
    const fd = this.#segments.at(-1)?.fd;
    if (fd !== undefined) fdatasyncSync(fd);
    this.#dirty = false;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.sync();
    for (const s of this.#segments) if (s.fd !== undefined) closeSync(s.fd);
    this.#segments = [];
    if (this.#ackedFd !== undefined) closeSync(this.#ackedFd);
    this.#ackedFd = undefined;
  }

  #active(): Segment {
    return this.#segments.at(-1) ?? this.#roll();
  }

  #roll(): Segment {
    const last = this.#segments.at(-1);
    if (last?.fd !== undefined) {
      fdatasyncSync(last.fd);
      closeSync(last.fd);
      last.fd = undefined;
    }
    const id = (last?.id ?? 0) + 1;
    const path = join(this.options.dir, `${String(id).padStart(20, '0')}.seg`);
    const seg: Segment = { id, path, fd: openSync(path, 'w+'), bytes: 0 };
    this.#segments.push(seg);
    return seg;
  }

  #recover(): Recovery {
    const dir = this.options.dir;
    let ackedId = 0;
    let ackedOffset = 0;
    try {
      const [id = '0', offset = '0'] = readFileSync(join(dir, 'acked'), 'utf8').trim().split(/\s+/);
      ackedId = Number(id);
      ackedOffset = Number(offset);
      if (!Number.isSafeInteger(ackedId) || !Number.isSafeInteger(ackedOffset) || ackedId < 0 || ackedOffset < 0) {
        // Torn or garbled: replay from the first segment (duplicates, never loss).
        ackedId = 0;
        ackedOffset = 0;
      }
    } catch {
      // a new spool
    }
    const recovery: Recovery = { segments: 0, records: 0, cut: [] };
    for (const f of readdirSync(dir).filter((x) => SEG.test(x)).sort()) {
      const id = Number(SEG.exec(f)![1]);
      const path = join(dir, f);
      if (id < ackedId) {
        rmSync(path, { force: true }); // fully acknowledged before the stop
        continue;
      }
      const buf = readFileSync(path);
      let o = 0;
      const start = id === ackedId ? ackedOffset : 0;
      while (o < buf.length) {
        const d = decodeAt(buf, o);
        if (d.status !== DecodeStatus.OK) {
          recovery.cut.push({ segment: f, offset: o, bytes: buf.length - o, problem: d.problem ?? 'unreadable' });
          const fd = openSync(path, 'r+');
          ftruncateSync(fd, o);
          closeSync(fd);
          break;
        }
        if (o >= start) {
          recovery.records++;
          this.#bytes += d.next - o;
        }
        o = d.next;
      }
      this.#segments.push({ id, path, fd: undefined, bytes: o });
    }
    const first = this.#segments[0];
    const firstOffset = first && first.id === ackedId ? Math.min(ackedOffset, first.bytes) : 0;
    this.#acked = { seg: 0, offset: firstOffset };
    this.#read = { ...this.#acked };
    this.#size = recovery.records;
    recovery.segments = this.#segments.length;
    const last = this.#segments.at(-1);
    if (last) last.fd = openSync(last.path, 'r+');
    return recovery;
  }
}
