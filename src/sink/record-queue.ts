// The in-memory buffer between the socket and Kafka: a ring of records in arrival order with
// their receive times (for latency, and the records' timestamps). Bounded by `capacity` for
// events and by `capacityBytes` for the memory they keep alive; control records (dead letters,
// gaps) may exceed both (`force`), so they are never dropped.
//
// Retained bytes: a record's value and key are views into the frame `ws` handed over, so what the
// queue keeps alive is the frame's whole underlying ArrayBuffer (`ws` gives a view of a socket
// read of up to 64 KiB, often shared by several frames, or a copy for a frame that spans reads;
// small copies come from Node's 8 KiB pool slab), not the sum of the values. Each run of
// consecutive records on the same ArrayBuffer counts its byteLength once, on the run's first record
// in the queue (moved to the next record of the run when that one leaves first), plus, per record,
// RECORD_BYTES for its JS objects and KEY_BYTES for a key view (measured, see below). A buffer that
// comes back after another (a pool slab) is counted again: an overcount, never an undercount.
// The head of the ring may be `taken`: handed to the producer, not yet acknowledged. take() hands
// out the next records after those, release(n) removes the first n once Kafka has them.
/** A record on its way to Kafka: the event's bytes as value, its symbol as key (or none). */
export interface OutRecord {
  topic: string;
  key?: Buffer | undefined;
  value: Buffer;
  headers?: Map<Buffer, Buffer> | undefined;
}

/**
 * Heap bytes of one record's objects (the OutRecord and its value view), and of a key view: on
 * Node 24, 200,000 records of subarray views measured 144 bytes each without a key, 240 with one.
 */
export const RECORD_BYTES = 144;
export const KEY_BYTES = 96;

export class RecordQueue {
  readonly capacity: number;
  /** Most bytes the queue keeps alive (see retainedBytes); 0: no byte bound. */
  readonly capacityBytes: number;
  #byteLimit: number;
  #records: Array<OutRecord | undefined>;
  #times: Float64Array;
  #bytes: Float64Array;
  /** Bytes each record keeps alive: its objects, plus its frame's buffer when `#first`. */
  #held: Float64Array;
  /** 1 on the first record of a run of records on the same ArrayBuffer (it counts the buffer). */
  #first: Uint8Array;
  #retained = 0;
  #mask: number;
  #head = 0;
  #size = 0;
  #byteSize = 0;
  #taken = 0;
  #takenBytes = 0;

  constructor(capacity: number, capacityBytes = 0) {
    this.capacity = capacity;
    this.capacityBytes = capacityBytes > 0 ? capacityBytes : 0;
    this.#byteLimit = capacityBytes > 0 ? capacityBytes : Infinity;
    const slots = 2 ** Math.ceil(Math.log2(capacity + 1024));
    this.#records = new Array<OutRecord | undefined>(slots);
    this.#times = new Float64Array(slots);
    this.#bytes = new Float64Array(slots);
    this.#held = new Float64Array(slots);
    this.#first = new Uint8Array(slots);
    this.#mask = slots - 1;
  }

  /**
   * Bytes the queue keeps alive: each distinct frame buffer its records are views of (counted
   * once per run of records on it), and RECORD_BYTES (+ KEY_BYTES with a key) per record.
   */
  get retainedBytes(): number {
    return this.#retained;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes of the values (and keys) waiting. */
  get bytes(): number {
    return this.#byteSize;
  }

  /** Records at the head handed to the producer and not released yet. */
  get taken(): number {
    return this.#taken;
  }

  /** Bytes of the records not taken yet. */
  get untakenBytes(): number {
    return this.#byteSize - this.#takenBytes;
  }

  /**
   * Hands out the next records after those taken, as many as fit in maxBytes (at least one), with
   * their receive times (a copy): they stay in the queue, taken, until released.
   */
  take(maxBytes: number): { records: OutRecord[]; times: Float64Array } {
    let total = 0;
    let n = 0;
    const left = this.#size - this.#taken;
    while (n < left) {
      const size = this.#bytes[(this.#head + this.#taken + n) & this.#mask]!;
      if (total + size > maxBytes && n > 0) break;
      total += size;
      n++;
    }
    const records = new Array<OutRecord>(n);
    const times = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const i = (this.#head + this.#taken + k) & this.#mask;
      records[k] = this.#records[i]!;
      times[k] = this.#times[i]!;
    }
    this.#taken += n;
    this.#takenBytes += total;
    return { records, times };
  }

  /** Removes the first n taken records (Kafka has them, or they went elsewhere). */
  release(n: number): void {
    let bytes = 0;
    for (let k = 0; k < n; k++) bytes += this.#bytes[(this.#head + k) & this.#mask]!;
    this.#takenBytes -= bytes;
    this.#taken -= n;
    this.shift(n, noop);
  }

  /** At capacity: `capacity` events, or `capacityBytes` retained. */
  get full(): boolean {
    return this.#size >= this.capacity || this.#retained >= this.#byteLimit;
  }

  /** Which bound makes the queue full ('events' first when both do), or undefined. */
  get fullBound(): 'events' | 'bytes' | undefined {
    return this.#size >= this.capacity ? 'events' : this.#retained >= this.#byteLimit ? 'bytes' : undefined;
  }

  /** Below `fraction` of both bounds (e.g. 0.9: room enough to resume reading). */
  below(fraction: number): boolean {
    return this.#size < this.capacity * fraction && this.#retained < this.#byteLimit * fraction;
  }

  /**
   * How many records after the first `keep` to remove (oldest first) to bring the queue below
   * `fraction` of both bounds (whole runs of a frame's records); at least one when there is one.
   */
  countToFree(keep: number, fraction: number): number {
    const events = this.#size - Math.floor(this.capacity * fraction);
    let n = Math.max(1, events);
    const over = this.#retained - this.#byteLimit * fraction;
    if (over > 0) {
      // Whole runs: a run cut short stays counted on its next record.
      let freed = 0;
      let k = keep;
      while (k < this.#size) {
        freed += this.#held[(this.#head + k++) & this.#mask]!;
        if (freed >= over && (k === this.#size || this.#first[(this.#head + k) & this.#mask] === 1)) break;
      }
      n = Math.max(n, k - keep);
    }
    return Math.min(n, Math.max(0, this.#size - keep));
  }

  /** Appends a record; false when the queue is at either bound (unless forced). */
  push(record: OutRecord, receivedAt: number, force = false): boolean {
    if ((this.#size >= this.capacity || this.#retained >= this.#byteLimit) && !force) return false;
    if (this.#size === this.#records.length) this.#grow();
    const i = (this.#head + this.#size) & this.#mask;
    const value = record.value;
    const key = record.key;
    const buffer = value.buffer;
    let held = RECORD_BYTES;
    if (key !== undefined) held += key.buffer === buffer ? KEY_BYTES : KEY_BYTES + key.length;
    // A new run when the record before it in the queue is a view of another buffer.
    const first = this.#size === 0 || this.#records[(i - 1) & this.#mask]!.value.buffer !== buffer;
    if (first) held += buffer.byteLength;
    this.#first[i] = first ? 1 : 0;
    this.#held[i] = held;
    this.#retained += held;
    this.#records[i] = record;
    this.#times[i] = receivedAt;
    const size = value.length + (key?.length ?? 0);
    this.#bytes[i] = size;
    this.#byteSize += size;
    this.#size++;
    return true;
  }

  /** The receive time of the oldest record, if any. */
  oldestTime(): number | undefined {
    return this.#size === 0 ? undefined : this.#times[this.#head]!;
  }

  /** The receive time of the record `index` places after the head (index < size). */
  timeAt(index: number): number {
    return this.#times[(this.#head + index) & this.#mask]!;
  }

  /** The first n records (n ≤ size), oldest first, without removing them. */
  peek(n: number): OutRecord[] {
    const out = new Array<OutRecord>(n);
    for (let k = 0; k < n; k++) out[k] = this.#records[(this.#head + k) & this.#mask]!;
    return out;
  }

  /**
   * The record timestamps of the first n records (n ≤ size): each receive time as wall-clock ms
   * (`origin`, performance.timeOrigin, plus its performance.now() time); -1 for a control record
   * (a negative tag), which is stamped when it is sent. A copy: the queue may move on meanwhile.
   */
  timestamps(n: number, origin: number): Float64Array {
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const t = this.#times[(this.#head + k) & this.#mask]!;
      out[k] = t < 0 ? -1 : origin + t;
    }
    return out;
  }

  /** How many records from the head fit in `maxBytes` (at least one when not empty). */
  countWithin(maxBytes: number): number {
    let total = 0;
    let k = 0;
    while (k < this.#size) {
      total += this.#bytes[(this.#head + k) & this.#mask]!;
      if (total > maxBytes && k > 0) break;
      k++;
    }
    return k;
  }

  /** Removes the first n records, calling onRecord with each one's receive time. */
  shift(n: number, onRecord: (receivedAt: number) => void): void {
    for (let k = 0; k < n; k++) {
      const i = this.#head;
      onRecord(this.#times[i]!);
      this.#byteSize -= this.#bytes[i]!;
      this.#retained -= this.#held[i]!;
      this.#records[i] = undefined;
      this.#head = (this.#head + 1) & this.#mask;
    }
    this.#size -= n;
    // The new head may continue a run whose first record left: it counts the buffer now.
    if (n > 0 && this.#size > 0) this.#startRun(this.#head);
  }

  /**
   * Removes every record after the first `keep` (keep ≥ taken, or 0: everything, taken or not),
   * calling onRecord with each and its place from the head, oldest first.
   */
  takeAfter(keep: number, onRecord: (record: OutRecord, receivedAt: number, index: number) => void): void {
    for (let k = keep; k < this.#size; k++) {
      const i = (this.#head + k) & this.#mask;
      onRecord(this.#records[i]!, this.#times[i]!, k);
      this.#byteSize -= this.#bytes[i]!;
      this.#retained -= this.#held[i]!;
      this.#records[i] = undefined;
    }
    this.#size = Math.min(this.#size, keep);
    if (keep < this.#taken) {
      this.#taken = 0;
      this.#takenBytes = 0;
    }
  }

  /**
   * Removes `count` records that follow the first `keep` (the batch in flight stays at the head),
   * calling onRecord with each, oldest first. Returns how many were removed.
   */
  takeRange(keep: number, count: number, onRecord: (record: OutRecord, receivedAt: number) => void): number {
    const n = Math.max(0, Math.min(count, this.#size - keep));
    for (let k = keep; k < keep + n; k++) {
      const i = (this.#head + k) & this.#mask;
      onRecord(this.#records[i]!, this.#times[i]!);
      this.#byteSize -= this.#bytes[i]!;
      this.#retained -= this.#held[i]!;
    }
    // The first `keep` records move up by n slots, into the place of those removed.
    for (let k = keep - 1; k >= 0; k--) {
      const from = (this.#head + k) & this.#mask;
      const to = (this.#head + k + n) & this.#mask;
      this.#records[to] = this.#records[from];
      this.#times[to] = this.#times[from]!;
      this.#bytes[to] = this.#bytes[from]!;
      this.#held[to] = this.#held[from]!;
      this.#first[to] = this.#first[from]!;
    }
    for (let k = 0; k < n; k++) this.#records[(this.#head + k) & this.#mask] = undefined;
    this.#head = (this.#head + n) & this.#mask;
    this.#size -= n;
    // The record after the gap now follows the last one kept: one run, or two, as their buffers say.
    if (n > 0 && keep < this.#size) this.#startRun((this.#head + keep) & this.#mask);
    return n;
  }

  /**
   * Makes the record in slot i count its buffer exactly when it starts a run: when it is the head
   * or the record before it is a view of another buffer.
   */
  #startRun(i: number): void {
    const buffer = this.#records[i]!.value.buffer;
    const first = i === this.#head || this.#records[(i - 1) & this.#mask]!.value.buffer !== buffer;
    if (first === (this.#first[i] === 1)) return;
    const delta = first ? buffer.byteLength : -buffer.byteLength;
    this.#first[i] = first ? 1 : 0;
    this.#held[i] = this.#held[i]! + delta;
    this.#retained += delta;
  }

  #grow(): void {
    const n = this.#records.length;
    const records = new Array<OutRecord | undefined>(n * 2);
    const times = new Float64Array(n * 2);
    const bytes = new Float64Array(n * 2);
    const held = new Float64Array(n * 2);
    const first = new Uint8Array(n * 2);
    for (let k = 0; k < this.#size; k++) {
      const i = (this.#head + k) & this.#mask;
      records[k] = this.#records[i];
      times[k] = this.#times[i]!;
      bytes[k] = this.#bytes[i]!;
      held[k] = this.#held[i]!;
      first[k] = this.#first[i]!;
    }
    this.#records = records;
    this.#times = times;
    this.#bytes = bytes;
    this.#held = held;
    this.#first = first;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }
}

function noop(): void {}
