// The in-memory buffer between the socket and Kafka: a ring of records in arrival order with
// their receive times (for latency, and the records' timestamps). Bounded by `capacity` for
// events; control records (dead letters, gaps) may exceed it (`force`), so they are never dropped.
// The head of the ring may be `taken`: handed to the producer, not yet acknowledged. take() hands
// out the next records after those, release(n) removes the first n once Kafka has them.
/** A record on its way to Kafka: the event's bytes as value, its symbol as key (or none). */
export interface OutRecord {
  topic: string;
  key?: Buffer | undefined;
  value: Buffer;
  headers?: Map<Buffer, Buffer> | undefined;
}

export class RecordQueue {
  readonly capacity: number;
  #records: Array<OutRecord | undefined>;
  #times: Float64Array;
  #bytes: Float64Array;
  #mask: number;
  #head = 0;
  #size = 0;
  #byteSize = 0;
  #taken = 0;
  #takenBytes = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    const slots = 2 ** Math.ceil(Math.log2(capacity + 1024));
    this.#records = new Array<OutRecord | undefined>(slots);
    this.#times = new Float64Array(slots);
    this.#bytes = new Float64Array(slots);
    this.#mask = slots - 1;
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
    this.shift(n, () => undefined);
  }

  get full(): boolean {
    return this.#size >= this.capacity;
  }

  /** Appends a record; false when the queue is at capacity (unless forced). */
  push(record: OutRecord, receivedAt: number, force = false): boolean {
    if (this.#size >= this.capacity && !force) return false;
    if (this.#size === this.#records.length) this.#grow();
    const i = (this.#head + this.#size) & this.#mask;
    this.#records[i] = record;
    this.#times[i] = receivedAt;
    const size = record.value.length + (record.key?.length ?? 0);
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
      this.#records[i] = undefined;
      this.#head = (this.#head + 1) & this.#mask;
    }
    this.#size -= n;
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
    }
    // The first `keep` records move up by n slots, into the place of those removed.
    for (let k = keep - 1; k >= 0; k--) {
      const from = (this.#head + k) & this.#mask;
      const to = (this.#head + k + n) & this.#mask;
      this.#records[to] = this.#records[from];
      this.#times[to] = this.#times[from]!;
      this.#bytes[to] = this.#bytes[from]!;
    }
    for (let k = 0; k < n; k++) this.#records[(this.#head + k) & this.#mask] = undefined;
    this.#head = (this.#head + n) & this.#mask;
    this.#size -= n;
    return n;
  }

  #grow(): void {
    const n = this.#records.length;
    const records = new Array<OutRecord | undefined>(n * 2);
    const times = new Float64Array(n * 2);
    const bytes = new Float64Array(n * 2);
    for (let k = 0; k < this.#size; k++) {
      const i = (this.#head + k) & this.#mask;
      records[k] = this.#records[i];
      times[k] = this.#times[i]!;
      bytes[k] = this.#bytes[i]!;
    }
    this.#records = records;
    this.#times = times;
    this.#bytes = bytes;
    this.#mask = n * 2 - 1;
    this.#head = 0;
  }
}
