// A feed connection read in a thread of its own (reader-worker.js), seen from the main thread as
// the part of a `ws` WebSocket the source uses: open, message, pong, error and close events;
// send, ping, pause, resume, close, terminate and readyState.
//
// Why: reading, splitting, keeping and producing on one event loop, the socket was read at the
// rate the loop had left after producing (about 330,000 events/s in a burst on this machine, with
// the feed and Kafka on the same two cores), and a burst overflowed the feed's send buffer: the
// feed dropped the bridge as a slow reader. The thread reads at the socket's rate whatever the
// main thread is doing; frames wait in memory, as raw bytes, until the main thread takes them
// (at most --read-ahead-bytes; beyond that the socket is paused, as before). Each frame keeps the
// time the thread received it, so latency counts from the socket, not from the main thread.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { ClientOptions } from 'ws';

/** Where frames beyond the read-ahead bound wait on disk (frame-spill.js), and how much of it. */
export interface SpillOptions {
  dir: string;
  maxBytes: number;
}

/** From the main thread to the reading thread, for the connection `id`. */
export type ReaderCommand =
  | { t: 'open'; id: number; url: string; options: ClientOptions; readAheadBytes: number; batchBytes: number; spill?: SpillOptions | undefined }
  | { t: 'drain'; id: number }
  | { t: 'forget'; id: number }
  | { t: 'taken'; id: number; bytes: number }
  | { t: 'send'; id: number; data: string }
  | { t: 'ping'; id: number }
  | { t: 'close'; id: number; code: number; reason: string }
  | { t: 'terminate'; id: number };

/** From the reading thread: frames are concatenated in `data`; times are ms since the epoch (high resolution). */
export type ReaderEvent =
  | { t: 'open'; id: number }
  | { t: 'frames'; id: number; data: ArrayBuffer; lengths: Uint32Array; binary: Uint8Array; times: Float64Array; outstanding: number; spilled: number }
  | { t: 'spill'; id: number; bytes: number }
  | { t: 'warn'; id: number; code: 'SPOOL_WRITE_FAILED'; message: string }
  | { t: 'pong'; id: number }
  | { t: 'error'; id: number; message: string; code?: string }
  | { t: 'close'; id: number; code: number; reason: string };

/**
 * The reading thread posts its frames once its loop turn ends, or as soon as they hold this many
 * bytes. The frames of one post share one ArrayBuffer, and an event is a view of its frame, so
 * the memory buffer may keep one post more than --buffer-bytes alive (a frame larger than this is
 * posted alone).
 */
export const READ_BATCH_BYTES = 256 * 1024;

/** The reading thread's young generation (V8's maxYoungGenerationSizeMb). */
const READER_YOUNG_MB = 12;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** The reading thread of one source: one connection at a time, started on first use. */
export class ReaderThread {
  #worker: Worker | undefined;
  #next = 0;
  #sockets = new Map<number, ReaderSocket>();

  /** A connection to `url`, read in the thread. */
  connect(url: string, options: ClientOptions, readAheadBytes: number, spill?: SpillOptions): ReaderSocket {
    const worker = this.#start();
    const id = ++this.#next;
    const socket = new ReaderSocket(id, spill !== undefined, (cmd) => worker.postMessage(cmd), () => {
      this.#sockets.delete(id);
      this.idle();
    });
    this.#sockets.set(id, socket);
    worker.ref();
    worker.postMessage({ t: 'open', id, url, options, readAheadBytes, batchBytes: READ_BATCH_BYTES, spill } satisfies ReaderCommand);
    return socket;
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    // A small young generation: the thread allocates little that lives (its frames leave in transferred buffers).
    const worker = new Worker(new URL('./reader-worker.js', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: READER_YOUNG_MB } });
    worker.on('message', (e: ReaderEvent) => this.#sockets.get(e.id)?.handle(e));
    worker.on('error', (err: Error) => {
      // The thread died (a bug, or out of memory): every connection it had is closed.
      for (const s of [...this.#sockets.values()]) {
        s.handle({ t: 'error', id: 0, message: `the reading thread failed: ${err.message}` });
        s.handle({ t: 'close', id: 0, code: 1006, reason: 'the reading thread failed' });
      }
      this.#worker = undefined;
    });
    this.#worker = worker;
    return worker;
  }

  /** Ends the thread (the source stopped for good). */
  stop(): void {
    void this.#worker?.terminate();
    this.#worker = undefined;
  }

  /** Lets the process exit while the thread idles (no connection). */
  idle(): void {
    if (this.#sockets.size === 0) this.#worker?.unref();
  }
}

/** One connection, read by the thread, as the source sees a `ws` WebSocket. */
/**
 * Most bytes of frames the main thread takes from a reading thread in one turn of the event loop;
 * what came beyond waits for the next turn. Frames arrive as messages, and a turn handles every
 * message that waits: after a stall (a cold start, a full GC) that was tens of MB of frames before
 * the turn read Kafka's acknowledgements, which then came late, and every record (and its frame)
 * lived until they did. 1 MiB is about 10 ms of a 300,000 events/s feed.
 */
export const TURN_BYTES = 1024 * 1024;

export class ReaderSocket extends EventEmitter {
  readonly id: number;
  /** Frames beyond the read-ahead bound wait on disk instead of the socket being paused. */
  readonly spills: boolean;
  readyState = CONNECTING;
  #post: (cmd: ReaderCommand) => void;
  #done: () => void;
  #paused = false;
  /** Batches that came while paused, and a close that came after them. */
  #queued: Array<Extract<ReaderEvent, { t: 'frames' }>> = [];
  #closeQueued: Extract<ReaderEvent, { t: 'close' }> | undefined;
  /** The thread's count of bytes posted and not taken, at its last batch; and what was taken since. */
  #reported = 0;
  #takenSince = 0;
  #spilled = 0;
  /** The thread said it could not keep frames on disk, and has not kept any since. */
  #spillFailing = false;
  /** stopping(): every frame is emitted as it comes. */
  #stopping = false;
  /** Bytes of frames emitted in this turn of the event loop, and whether the next turn is scheduled. */
  #turnBytes = 0;
  #turnScheduled = false;

  constructor(id: number, spills: boolean, post: (cmd: ReaderCommand) => void, done: () => void) {
    super();
    this.id = id;
    this.spills = spills;
    this.#post = post;
    this.#done = done;
  }

  handle(e: ReaderEvent): void {
    switch (e.t) {
      case 'open':
        this.readyState = OPEN;
        this.emit('open');
        return;
      case 'frames':
        this.#reported = e.outstanding;
        this.#takenSince = 0;
        if (this.#spilled > 0 && e.spilled === 0) {
          this.#spilled = 0;
          this.emit('backlog', this.backlogBytes);
        }
        this.#spilled = e.spilled;
        if (this.#paused || this.#queued.length > 0 || this.#turnBytes >= TURN_BYTES) {
          this.#queued.push(e);
          this.emit('backlog', this.backlogBytes);
          if (!this.#paused) this.#nextTurn();
        } else this.#take(e);
        return;
      case 'pong':
        this.emit('pong');
        return;
      case 'spill':
        this.#spilled = e.bytes;
        this.#spillFailing = false;
        this.emit('backlog', this.backlogBytes);
        return;
      case 'warn':
        this.#spillFailing = true;
        this.emit('warn', e.code, e.message);
        this.emit('backlog', this.backlogBytes);
        return;
      case 'error': {
        const err = Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {});
        this.emit('error', err);
        return;
      }
      case 'close':
        if (this.#queued.length > 0) this.#closeQueued = e;
        else this.#close(e);
        return;
    }
  }

  /** Emits a batch within this turn's budget. */
  #take(e: Extract<ReaderEvent, { t: 'frames' }>): void {
    this.#turnBytes += e.data.byteLength;
    this.#nextTurn();
    this.#frames(e);
  }

  /** The next turn of the event loop (after Kafka's answers read in this one) starts a new budget and goes on with what waits. */
  #nextTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => {
      this.#turnScheduled = false;
      this.#turnBytes = 0;
      this.#drainQueued();
    });
  }

  /** Emits what waits, within this turn's budget; then, once nothing waits, the close that came after it. */
  #drainQueued(): void {
    while (this.#queued.length > 0 && !this.#paused && this.#turnBytes < TURN_BYTES) this.#take(this.#queued.shift()!);
    if (this.#paused) return;
    if (this.#queued.length > 0) {
      this.#nextTurn();
      return;
    }
    const close = this.#closeQueued;
    this.#closeQueued = undefined;
    if (close !== undefined) this.#close(close);
  }

  /** Emits each frame of a batch as `message` (data, isBinary, receivedAt in performance.now() ms), then says they are taken. */
  #frames(e: Extract<ReaderEvent, { t: 'frames' }>): void {
    const origin = performance.timeOrigin;
    let at = 0;
    for (let i = 0; i < e.lengths.length; i++) {
      const n = e.lengths[i]!;
      this.emit('message', Buffer.from(e.data, at, n), e.binary[i] === 1, e.times[i]! - origin);
      at += n;
      // A listener paused the socket (backpressure): the rest waits for resume().
      if (this.#paused && i + 1 < e.lengths.length) {
        this.#queued.unshift({ ...e, data: e.data.slice(at), lengths: e.lengths.slice(i + 1), binary: e.binary.slice(i + 1), times: e.times.slice(i + 1) });
        break;
      }
    }
    this.#takenSince += at;
    if (this.readyState !== CLOSED) this.#post({ t: 'taken', id: this.id, bytes: at });
  }

  /** Bytes read by the thread that the main thread has not taken yet (on their way, or waiting here while paused). */
  get backlogBytes(): number {
    return Math.max(0, this.#reported - this.#takenSince);
  }

  #close(e: Extract<ReaderEvent, { t: 'close' }>): void {
    this.readyState = CLOSED;
    this.#done();
    this.emit('close', e.code, Buffer.from(e.reason));
  }

  /** Frames beyond the read-ahead bound can wait on disk now (a spill directory, and no failure since the last write). */
  get canSpill(): boolean {
    return this.spills && !this.#spillFailing;
  }

  /** Bytes of frames waiting on disk in the thread (not counted in backlogBytes). */
  get spilledBytes(): number {
    return this.#spilled;
  }

  /**
   * The source is stopping: what waits here is emitted at once, and so is everything the thread
   * still holds (in memory and on disk), whatever pause() says, then the `close` that follows
   * close() or terminate().
   */
  stopping(): void {
    this.#stopping = true;
    this.#paused = false;
    while (this.#queued.length > 0) this.#frames(this.#queued.shift()!);
    const close = this.#closeQueued;
    this.#closeQueued = undefined;
    if (close !== undefined) this.#close(close);
    else this.#post({ t: 'drain', id: this.id });
  }

  /** The thread forgets what it still holds for this connection (its files on disk go). */
  forget(): void {
    this.#post({ t: 'forget', id: this.id });
  }

  send(data: string): void {
    this.#post({ t: 'send', id: this.id, data });
  }

  ping(): void {
    this.#post({ t: 'ping', id: this.id });
  }

  /**
   * Stops emitting frames. The thread goes on reading until --read-ahead-bytes wait untaken; then
   * it pauses the socket itself (and TCP pushes back), so a pause costs no more than that bound.
   */
  pause(): void {
    if (!this.#stopping) this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#drainQueued();
  }

  close(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    this.#post({ t: 'close', id: this.id, code, reason });
  }

  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    this.#post({ t: 'terminate', id: this.id });
  }
}

export const ReaderStates = { CONNECTING, OPEN, CLOSING, CLOSED } as const;
