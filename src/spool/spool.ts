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
//
// Write errors (a full disk, a failing device, a file system remounted read-only) never throw out
// of append, ack, sync or close: each is recorded (`writeError`, `writeErrors`), and append returns
// how many records it wrote, as it does at the byte limit; the caller treats a short count as no
// room. A write cut short is cut back to the end of its last whole record, so reads, later appends
// and the scan at the next open see only whole records; once the disk takes writes again, appending
// goes on after the last record written.
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { decodeAt, DecodeStatus, encodedSize, encodeInto, type SpoolRecord } from './codec.ts';

/** Bytes of the `acked` file: the position, padded with spaces, and a newline. */
const ACKED_LINE = 41;

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

/** What the spool was doing when a write failed. */
export const SPOOL_WRITE_OPS = ['append', 'roll', 'fsync', 'ack', 'delete', 'close'] as const;
export type SpoolWriteOp = (typeof SPOOL_WRITE_OPS)[number];

export interface SpoolWriteError {
  /** The errno code ('ENOSPC', 'EIO', 'EROFS', ...), 'EUNKNOWN' when the error carried none. */
  code: string;
  message: string;
  /** When it happened (wall ms). */
  at: number;
  op: SpoolWriteOp;
}

interface Segment {
  id: number;
  path: string;
  /** Open for the segment being appended to. */
  fd: number | undefined;
  /** Bytes of whole records: everything read, acknowledged and appended is counted in these. */
  bytes: number;
  /** The file may hold bytes past `bytes` (a cut-short write that could not be truncated): truncate before the next write. */
  torn: boolean;
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
  #bytes = 0;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #scratch = Buffer.allocUnsafe(1 << 20);
  #writeError: SpoolWriteError | undefined;
  #writeErrors = 0;

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

  /** At the byte limit (maxBytes): appends are refused until acknowledgements make room. */
  get full(): boolean {
    return this.#bytes >= this.options.maxBytes;
  }

  /** The last write that failed, until an append succeeds again (an ack or fsync error also until the next ack or fsync that succeeds). */
  get writeError(): SpoolWriteError | undefined {
    return this.#writeError;
  }

  /** Failed writes since open, one per operation that failed: an append (its write or the open of its segment), a new segment, an fsync, an acked position, a deletion, a close. */
  get writeErrors(): number {
    return this.#writeErrors;
  }

  /** The last write failed (see writeError): appends are likely to be refused until the disk recovers. */
  get failing(): boolean {
    return this.#writeError !== undefined;
  }

  /**
   * Appends records in order; returns how many were written: all of them, or fewer when maxBytes
   * was reached (`full`) or a write failed (`writeError`). Never throws for an I/O error; the
   * records not written left no trace on disk.
   */
  append(records: readonly SpoolRecord[]): number {
    const errorsBefore = this.#writeErrors;
    const sizeBefore = this.#size;
    let seg = this.#active();
    let fill = 0; // encoded bytes in #scratch, not yet written
    let count = 0; // records in them
    let ok = seg !== undefined;
    for (let i = 0; ok && i < records.length; i++) {
      const r = records[i]!;
      const size = encodedSize(r);
      if (this.#bytes + fill + size > this.options.maxBytes) break;
      if (seg!.bytes + fill > 0 && seg!.bytes + fill + size > this.options.segmentBytes) {
        ok = this.#flush(seg!, fill, count);
        fill = count = 0;
        if (ok) ok = (seg = this.#roll()) !== undefined;
        if (!ok) break;
      }
      if (fill + size > this.#scratch.length) {
        ok = this.#flush(seg!, fill, count);
        fill = count = 0;
        if (!ok) break;
        if (size > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(size);
      }
      encodeInto(r, this.#scratch, fill);
      fill += size;
      count++;
    }
    if (ok) this.#flush(seg!, fill, count);
    const written = this.#size - sizeBefore;
    if (written > 0) {
      this.#dirty = true;
      if (this.#writeErrors === errorsBefore) this.#writeError = undefined;
      if (this.options.fsync === 'always') this.sync();
    }
    return written;
  }

  /**
   * Writes the `fill` bytes of `count` records in #scratch at the end of `seg` and counts them.
   * A write cut short (no space left) keeps the records it wrote whole and truncates the file after
   * the last of them. Returns whether everything was written.
   */
  #flush(seg: Segment, fill: number, count: number): boolean {
    if (fill === 0) return true;
    let done = 0;
    try {
      if (seg.torn) {
        ftruncateSync(seg.fd!, seg.bytes);
        seg.torn = false;
      }
      while (done < fill) {
        const n = writeSync(seg.fd!, this.#scratch, done, fill - done, seg.bytes + done);
        if (n <= 0) throw new Error(`spool: writing ${seg.path} wrote nothing`);
        done += n;
      }
    } catch (e) {
      this.#fail('append', e);
      // The whole records among the bytes written are kept; a record cut in two is cut off.
      let whole = 0;
      let records = 0;
      while (whole + 8 <= done && whole + 8 + this.#scratch.readUInt32LE(whole) <= done) {
        whole += 8 + this.#scratch.readUInt32LE(whole);
        records++;
      }
      if (whole < done) {
        try {
          ftruncateSync(seg.fd!, seg.bytes + whole);
        } catch {
          // Counted as part of the failure above. Reads stop at `bytes`; the next write truncates
          // first (and fails until it can); a restart would cut the partial record as a torn tail.
          seg.torn = true;
        }
      }
      this.#count(seg, whole, records);
      return false;
    }
    this.#count(seg, fill, count);
    return true;
  }

  #count(seg: Segment, bytes: number, records: number): void {
    seg.bytes += bytes;
    this.#bytes += bytes;
    this.#size += records;
  }

  /** Records a failed write: the latest is `writeError`, all are counted in `writeErrors`. */
  #fail(op: SpoolWriteOp, e: unknown): void {
    const code = (e as { code?: unknown } | null)?.code;
    this.#writeError = {
      code: typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EUNKNOWN',
      message: e instanceof Error ? e.message : String(e),
      at: Date.now(),
      op,
    };
    this.#writeErrors++;
  }

  /** Clears the last error if it came from `op` (an ack or fsync that worked again). */
  #recovered(op: SpoolWriteOp): void {
    if (this.#writeError?.op === op) this.#writeError = undefined;
  }

  #closeQuietly(fd: number): void {
    try {
      closeSync(fd);
    } catch (e) {
      this.#fail('close', e);
    }
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
      let view = this.#readAt(seg, want);
      if (view.length >= 8 && 8 + view.readUInt32LE(0) > view.length && view.length < seg.bytes - this.#read.offset) {
        // One record larger than the chunk (a big dead-lettered frame): read exactly it.
        want = Math.min(seg.bytes - this.#read.offset, 8 + view.readUInt32LE(0));
        view = this.#readAt(seg, want);
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
   * `want` bytes of `seg` at the read position, in a buffer of their own: the records read are
   * views into it, and they live on after the next read (several batches in flight, records
   * parked or held later), so a buffer is never reused.
   */
  #readAt(seg: Segment, want: number): Buffer {
    const chunk = Buffer.allocUnsafe(want);
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

  /**
   * Marks the oldest n records read as acknowledged by Kafka; deletes segments no longer needed
   * (before writing the position: on a full disk that makes room for it). Never throws for an I/O
   * error: a position that could not be written only means that a restart replays more (records
   * Kafka already has: duplicates, never loss); the next ack writes the position again.
   */
  ack(n: number): void {
    this.#advance(n);
    const at = this.#segments[this.#acked.seg];
    if (at) this.#writeAcked(at.id, this.#acked.offset);
  }

  #writeAcked(id: number, offset: number): void {
    const line = Buffer.from(`${id} ${offset}`.padEnd(ACKED_LINE - 1) + '\n');
    try {
      if (this.#ackedFd === undefined) {
        const path = join(this.options.dir, 'acked');
        try {
          this.#ackedFd = openSync(path, 'r+');
        } catch {
          this.#ackedFd = openSync(path, 'w+');
        }
      }
      let done = 0;
      while (done < line.length) {
        const n = writeSync(this.#ackedFd, line, done, line.length - done, done);
        if (n <= 0) throw new Error('spool: writing the acked position wrote nothing');
        done += n;
      }
    } catch (e) {
      this.#fail('ack', e);
      return;
    }
    this.#recovered('ack');
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
      if (first.fd !== undefined) this.#closeQuietly(first.fd);
      try {
        rmSync(first.path, { force: true });
      } catch (e) {
        // Left behind: the next open deletes it, as it is before the acked position.
        this.#fail('delete', e);
      }
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

  /** Flushes appended records to the disk (fdatasync); a failure is recorded, not thrown. */
  sync(): void {
    if (!this.#dirty) return;
    const fd = this.#segments.at(-1)?.fd;
    // Not retried after a failure: Linux may already have dropped the pages it could not write,
    // and a second fsync would report success without them.
    this.#dirty = false;
    if (fd !== undefined && this.#fsync(fd)) this.#recovered('fsync');
  }

  #fsync(fd: number): boolean {
    try {
      fdatasyncSync(fd);
      return true;
    } catch (e) {
      this.#fail('fsync', e);
      return false;
    }
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.sync();
    for (const s of this.#segments) if (s.fd !== undefined) this.#closeQuietly(s.fd);
    this.#segments = [];
    if (this.#ackedFd !== undefined) this.#closeQuietly(this.#ackedFd);
    this.#ackedFd = undefined;
  }

  /** The segment being appended to, opened if needed; undefined (recorded) if it cannot be. */
  #active(): Segment | undefined {
    const last = this.#segments.at(-1);
    if (last === undefined) return this.#roll();
    if (last.fd === undefined) {
      try {
        last.fd = openSync(last.path, 'r+');
      } catch (e) {
        this.#fail('append', e);
        return undefined;
      }
    }
    return last;
  }

  /** Starts a new segment; undefined (recorded) if it cannot be created: the current one stays. */
  #roll(): Segment | undefined {
    const last = this.#segments.at(-1);
    const id = (last?.id ?? 0) + 1;
    const path = join(this.options.dir, `${String(id).padStart(20, '0')}.seg`);
    let fd: number;
    try {
      fd = openSync(path, 'w+');
    } catch (e) {
      this.#fail('roll', e);
      return undefined;
    }
    if (last?.fd !== undefined) {
      this.#fsync(last.fd);
      this.#closeQuietly(last.fd);
      last.fd = undefined;
    }
    const seg: Segment = { id, path, fd, bytes: 0, torn: false };
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
      this.#segments.push({ id, path, fd: undefined, bytes: o, torn: false });
    }
    const first = this.#segments[0];
    const firstOffset = first && first.id === ackedId ? Math.min(ackedOffset, first.bytes) : 0;
    this.#acked = { seg: 0, offset: firstOffset };
    this.#read = { ...this.#acked };
    this.#size = recovery.records;
    recovery.segments = this.#segments.length;
    // Opened for appending now if it can be (a read-only disk still replays; appends then fail
    // and are recorded, and each one tries to open it again).
    if (this.#segments.length > 0) this.#active();
    return recovery;
  }
}
