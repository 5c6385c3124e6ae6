// The WebSocket side: connect, authenticate, subscribe, keep the connection alive, reconnect with
// backoff and jitter, and report every disconnect window as a gap. Frames are handed on as the
// Buffers ws delivers: never converted to strings here. The socket is read in a thread of its own
// (reader.ts), so that the main thread's work never slows the reading down.
//
// States: connecting → authenticating → subscribing → streaming → (closed → waiting → connecting).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { redactUrl } from '../config/parse.ts';
import { Ws2kError } from '../errors.ts';
import { Backoff } from './backoff.ts';
import { ReaderSocket, ReaderThread, type SpillOptions } from './reader.ts';

/** What the source uses of a connection: a `ws` WebSocket, or one read in a thread (ReaderSocket). */
interface FeedSocket {
  readonly readyState: number;
  on(event: 'open' | 'pong', listener: () => void): unknown;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean, receivedAt?: number) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  /** A reading thread's backlog grew while paused (ReaderSocket only). */
  on(event: 'backlog', listener: (bytes: number) => void): unknown;
  /** The reading thread could not keep frames on disk (ReaderSocket only). */
  on(event: 'warn', listener: (code: string, message: string) => void): unknown;
  removeAllListeners(event: 'message'): unknown;
  send(data: string): void;
  ping(): void;
  pause(): void;
  resume(): void;
  close(code: number, reason: string): void;
  terminate(): void;
}

/** The log says that frames wait on disk at most this often. */
const SPILL_LOG_EVERY_MS = 60_000;

/** --read-ahead-bytes by default: frames read and not yet taken by the main thread. */
export const DEFAULT_READ_AHEAD_BYTES = 256 * 1024 * 1024;

export const SourceStates = {
  CONNECTING: 'connecting',
  AUTHENTICATING: 'authenticating',
  SUBSCRIBING: 'subscribing',
  STREAMING: 'streaming',
  WAITING: 'waiting',
  STOPPED: 'stopped',
} as const;
export type SourceState = (typeof SourceStates)[keyof typeof SourceStates];

export interface Gap {
  type: 'gap';
  /** The connection whose data stopped, and the one it resumed on. */
  connection_id: string;
  /** null when the bridge stopped before it could reconnect. */
  resumed_connection_id: string | null;
  /** When data stopped (the last frame received) and when the feed was subscribed again (ms). */
  from: number;
  to: number;
  from_iso: string;
  to_iso: string;
  duration_ms: number;
  reason: string;
  reconnect_attempts: number;
  subscriptions: string;
  url: string;
}

export interface SourceOptions {
  url: string;
  apiKey: string | undefined;
  /** PEM CA bundle trusted for a wss:// feed (a private CA); undefined: the system store. */
  ca?: string | undefined;
  subscribe: string;
  log: Logger;
  /**
   * A frame as it came (text frames are not checked for UTF-8 here: the splitter does, so a bad
   * frame costs only itself instead of a 1007 close); receivedAt is performance.now().
   */
  onFrame: (frame: Buffer, receivedAt: number, isBinary: boolean) => void;
  onGap: (gap: Gap) => void;
  onReconnect: () => void;
  /** Authentication failed: the bridge must stop (no retry loop). */
  onFatal: (err: Ws2kError) => void;
  pingIntervalMs?: number;
  silenceTimeoutMs?: number;
  /** Minimum wait after a max_connections status (another client holds the key's connection). */
  maxConnectionsBackoffMs?: number;
  backoff?: Backoff;
  /** Largest frame accepted, bytes. */
  maxFrameBytes?: number;
  /** Read the socket in a thread of its own (default true); false: on the main thread. */
  readThread?: boolean;
  /** With readThread: frames read and not yet taken before the socket is paused (0: no bound). */
  readAheadBytes?: number;
  /**
   * With readThread: frames beyond readAheadBytes wait on disk here (raw, as read) instead of the
   * socket being paused, up to maxBytes; the bridge gives one with a spool.
   */
  spill?: SpillOptions | undefined;
}

export class PolygonSource {
  #o: SourceOptions;
  #ws: FeedSocket | undefined;
  #reader: ReaderThread | undefined;
  #state: SourceState = SourceStates.WAITING;
  #backoff: Backoff;
  #connectionId = '';
  #lastFrameAt = 0;
  #lastSeenAt = 0;
  #pingTimer: NodeJS.Timeout | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** An open disconnect window, waiting for the next subscription to close it. */
  #openGap: { connectionId: string; from: number; reason: string; attempts: number } | undefined;
  #closeReason = '';
  #floorMs = 0;
  #paused = false;
  /** The pause is the pipeline waiting (pause(true)): lifted when the reading thread's backlog reaches half its bound. */
  #softPause = false;
  /** Ends a stop that is handing over the reading thread's frames (see forgetUnread). */
  #stopping: (() => void) | undefined;
  /** When the log last said that frames wait on disk (at most every SPILL_LOG_EVERY_MS). */
  #spillSaidAt = 0;
  #stopped = false;
  #urlForLogs: string;
  /** The current subscription params (changed at run time by the proxy). */
  #subscribe: string;

  constructor(o: SourceOptions) {
    this.#o = o;
    this.#subscribe = o.subscribe;
    this.#backoff = o.backoff ?? new Backoff();
    this.#urlForLogs = redactUrl(o.url);
  }

  get state(): SourceState {
    return this.#state;
  }

  /** The current (or last) connection's id, and when its last data frame arrived (wall ms, 0: none). */
  get connectionId(): string {
    return this.#connectionId;
  }

  get lastFrameAt(): number {
    return this.#lastFrameAt;
  }

  /**
   * A window that opened before this process started (the previous run died after reading data
   * on `connectionId` at `from`): reported like any other gap once this run streams.
   */
  carryGap(connectionId: string, from: number, reason: string): void {
    this.#openGap = { connectionId, from, reason, attempts: 0 };
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /**
   * Stops reading and closes the connection. A chosen stop is no gap; but a window still open
   * (disconnected, not yet resumed) is reported now, with `resumed_connection_id: null` and
   * `why` in its reason.
   */
  stop(why = 'the bridge stopped'): Promise<void> {
    if (this.#openGap && !this.#stopped) this.#closeGap(null, `; not resumed: ${why}`);
    this.#stopped = true;
    this.#state = SourceStates.STOPPED;
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = undefined;
    const reader = this.#reader;
    this.#reader = undefined;
    if (ws instanceof ReaderSocket) {
      // Frames the reading thread had read and the pipeline had not taken (waiting here, in the
      // thread, or on disk) are delivered, not dropped with the connection: resolved once they
      // all were (the thread's close follows the last of them).
      const delivered = new Promise<void>((resolve) => {
        const done = () => {
          this.#stopping = undefined;
          ws.removeAllListeners('message');
          reader?.stop();
          resolve();
        };
        this.#stopping = () => {
          ws.forget();
          done();
        };
        ws.once('close', done);
      });
      ws.stopping();
      ws.close(1000, 'bridge shutting down');
      setTimeout(() => ws.terminate(), 1000).unref();
      return delivered;
    }
    if (ws) {
      ws.removeAllListeners('message');
      ws.close(1000, 'bridge shutting down');
      setTimeout(() => {
        ws.terminate();
        reader?.stop();
      }, 1000).unref();
    } else reader?.stop();
    return Promise.resolve();
  }

  /**
   * A stop is handing over what the reading thread had read (stop()): what has not come yet is
   * forgotten instead (an HA member whose role another member took: its takeover gap covers them).
   */
  forgetUnread(): void {
    this.#stopping?.();
  }

  /**
   * Backpressure: stop taking frames. For --overflow block (or a full spool) the socket is then no
   * longer read and TCP pushes back. `soft`: the pipeline is only slower than the feed for now; the
   * reading thread goes on reading, and once its backlog reaches half --read-ahead-bytes (or, with
   * a spill on disk, half the spill's bound) frames are taken again (the pipeline then keeps them
   * in the spool) rather than the feed see a slow reader.
   */
  pause(soft = false): void {
    if (this.#paused) {
      if (!soft) this.#softPause = false;
      return;
    }
    if (soft && !this.canWait()) return;
    this.#paused = true;
    this.#softPause = soft;
    this.#ws?.pause();
  }

  /**
   * Whether frames can wait unread in the reading thread: its backlog under half its bound. (Half
   * the default bound, 128 MiB, measured better than --buffer-bytes, 64 MiB, in every figure of a
   * 2,000,000-event burst: what does not wait goes through the spool, which held 265 MB and took
   * the RSS to 835 MB instead of 649, and the drain to 5.1 s instead of 1.5; docs/benchmarks.md.)
   */
  canWait(): boolean {
    const ws = this.#ws;
    if (!(ws instanceof ReaderSocket)) return false;
    // With a spill, frames wait as they came, on disk, read back at the pipeline's full rate: far
    // cheaper than taking them now and keeping every record in the spool (which is what made the
    // bridge collapse to a third of its rate once behind).
    if (ws.canSpill) return ws.spilledBytes < (this.#o.spill?.maxBytes ?? 0) / 2;
    const bound = this.#o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES;
    return bound === 0 || ws.backlogBytes < bound / 2;
  }

  /** Bytes read by the reading thread and not yet taken, in memory (0 without a thread). */
  get readAhead(): number {
    return this.#ws instanceof ReaderSocket ? this.#ws.backlogBytes : 0;
  }

  /** Bytes read by the reading thread and waiting on disk (its spill). */
  get readAheadSpilled(): number {
    return this.#ws instanceof ReaderSocket ? this.#ws.spilledBytes : 0;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#softPause = false;
    this.#lastSeenAt = Date.now();
    this.#ws?.resume();
  }

  /** A status event from a frame (the bridge splits frames; status events come back here). */
  status(status: string, message: string): void {
    const log = this.#o.log;
    switch (status) {
      case 'connected':
        return;
      case 'auth_success':
        this.#state = SourceStates.SUBSCRIBING;
        if (this.#subscribe === '') {
          this.#streaming();
          return;
        }
        this.#send({ action: 'subscribe', params: this.#subscribe });
        return;
      case 'auth_failed':
        this.#o.onFatal(new Ws2kError('AUTH_FAILED', `authentication failed at ${this.#urlForLogs}: the feed said "${message}". Check POLYGON_API_KEY / --api-key`));
        void this.stop();
        return;
      case 'success':
        if (this.#state === SourceStates.SUBSCRIBING) this.#streaming();
        log.debug({ message }, 'subscription acknowledged');
        return;
      case 'max_connections':
        this.#floorMs = this.#o.maxConnectionsBackoffMs ?? 60_000;
        this.#closeReason = 'max_connections';
        log.warn(
          { url: this.#urlForLogs, waitMs: this.#floorMs, message },
          'the feed refused this connection: max_connections (another client is connected with the same API key); waiting before reconnecting so as not to evict it',
        );
        return;
      case 'auth_timeout':
      case 'force_disconnect':
      case 'slow_consumer':
        this.#closeReason = status;
        log.warn({ status, message }, `the feed sent ${status}`);
        return;
      default:
        log.info({ status, message }, 'status from the feed');
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#state = SourceStates.CONNECTING;
    this.#closeReason = '';
    this.#connectionId = randomUUID();
    const options = { maxPayload: this.#o.maxFrameBytes ?? 16 * 1024 * 1024, perMessageDeflate: false, skipUTF8Validation: true, ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : {}) };
    const ws: FeedSocket =
      this.#o.readThread === false ? new WebSocket(this.#o.url, options) : (this.#reader ??= new ReaderThread()).connect(this.#o.url, options, this.#o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES, this.#o.spill);
    this.#ws = ws;
    ws.on('open', () => {
      this.#state = SourceStates.AUTHENTICATING;
      this.#lastSeenAt = Date.now();
      this.#o.log.info({ url: this.#urlForLogs, connection: this.#connectionId }, 'connected; authenticating');
      this.#send({ action: 'auth', params: this.#o.apiKey ?? '' });
      this.#startLiveness(ws);
      if (this.#paused) ws.pause();
    });
    ws.on('message', (data: Buffer, isBinary: boolean, receivedAt?: number) => {
      // The reading thread's own receive time, when it read the frame.
      const now = receivedAt ?? performance.now();
      this.#lastSeenAt = Date.now();
      // The gap a crash leaves starts at the last frame handled; its receive time, since frames
      // received after it (waiting in the reading thread, maybe on disk) were never handled.
      this.#lastFrameAt = Math.round(performance.timeOrigin + now);
      this.#o.onFrame(data, now, isBinary);
    });
    ws.on('pong', () => {
      this.#lastSeenAt = Date.now();
    });
    ws.on('backlog', () => {
      if (this.#softPause && !this.canWait()) this.resume();
      if (ws instanceof ReaderSocket && ws.spilledBytes > 0 && Date.now() - this.#spillSaidAt >= SPILL_LOG_EVERY_MS && this.#o.spill !== undefined) {
        this.#spillSaidAt = Date.now();
        this.#o.log.info(
          { readAheadBytes: this.#o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES, dir: this.#o.spill.dir },
          `the pipeline is behind the feed: frames beyond --read-ahead-bytes (${this.#o.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES}) wait on disk in ${this.#o.spill.dir}, read back in order (ws2kafka_read_ahead_spilled_bytes)`,
        );
      }
    });
    ws.on('warn', (code: string, message: string) => {
      this.#o.log.warn({ code }, `[${code}] ${message}`);
    });
    ws.on('error', (err) => {
      if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        const limit = this.#o.maxFrameBytes ?? 16 * 1024 * 1024;
        this.#closeReason = `[FRAME_TOO_LARGE] the feed sent a frame larger than --max-frame-bytes ${limit}`;
        this.#o.log.error({ code: 'FRAME_TOO_LARGE', maxFrameBytes: limit }, `[FRAME_TOO_LARGE] a frame larger than --max-frame-bytes ${limit}: the connection is closed (1009) and reopened; the window becomes a gap record`);
      }
      if (!this.#closeReason) this.#closeReason = `error: ${err.message}`;
    });
    ws.on('close', (code, reasonBuf) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#clearTimers();
      if (this.#stopped) return;
      const reason = this.#closeReason || `closed by the server (code ${code}${reasonBuf.length ? `: ${reasonBuf.toString()}` : ''})`;
      // A window opens when a connection that had streamed goes down; failed attempts extend it.
      if (this.#openGap === undefined && this.#state === SourceStates.STREAMING) {
        this.#openGap = { connectionId: this.#connectionId, from: this.#lastFrameAt || Date.now(), reason, attempts: 0 };
      }
      if (this.#openGap) this.#openGap.attempts++;
      this.#state = SourceStates.WAITING;
      const delay = this.#backoff.next(this.#floorMs);
      this.#floorMs = 0;
      this.#o.log.warn({ url: this.#urlForLogs, reason, reconnectInMs: delay, attempt: this.#backoff.attempt }, 'disconnected from the feed; reconnecting');
      this.#reconnectTimer = setTimeout(() => {
        this.#reconnectTimer = undefined;
        this.#o.onReconnect();
        this.#connect();
      }, delay);
    });
  }

  get subscriptions(): string {
    return this.#subscribe;
  }

  /**
   * Replaces the subscription set. While connected, sends the difference (subscribe the new
   * params, unsubscribe the dropped ones); after a reconnect the whole current set is subscribed.
   */
  setSubscriptions(params: string): void {
    const split = (p: string) => new Set(p.split(',').map((x) => x.trim()).filter(Boolean));
    const before = split(this.#subscribe);
    const after = split(params);
    this.#subscribe = [...after].join(',');
    if (this.#state !== SourceStates.STREAMING && this.#state !== SourceStates.SUBSCRIBING) return;
    const added = [...after].filter((x) => !before.has(x));
    const removed = [...before].filter((x) => !after.has(x));
    if (added.length > 0) this.#send({ action: 'subscribe', params: added.join(',') });
    if (removed.length > 0) this.#send({ action: 'unsubscribe', params: removed.join(',') });
  }

  /** The bridge saw a data event: data flows even if the subscription's ack has not come yet. */
  dataSeen(): void {
    if (this.#state === SourceStates.SUBSCRIBING) this.#streaming();
  }

  #streaming(): void {
    this.#state = SourceStates.STREAMING;
    this.#backoff.reset();
    this.#o.log.info({ subscriptions: this.#subscribe, connection: this.#connectionId }, 'subscribed; streaming');
    if (this.#openGap) this.#closeGap(this.#connectionId, '');
  }

  #closeGap(resumedOn: string | null, note: string): void {
    const gap = this.#openGap;
    if (gap) {
      this.#openGap = undefined;
      const to = Date.now();
      this.#o.onGap({
        type: 'gap',
        connection_id: gap.connectionId,
        resumed_connection_id: resumedOn,
        from: gap.from,
        to,
        from_iso: new Date(gap.from).toISOString(),
        to_iso: new Date(to).toISOString(),
        duration_ms: to - gap.from,
        reason: gap.reason + note,
        reconnect_attempts: gap.attempts,
        subscriptions: this.#subscribe,
        url: this.#urlForLogs,
      });
    }
  }

  #send(message: { action: string; params: string }): void {
    const ws = this.#ws;
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  #startLiveness(ws: FeedSocket): void {
    const interval = this.#o.pingIntervalMs ?? 20_000;
    const silence = this.#o.silenceTimeoutMs ?? 30_000;
    this.#pingTimer = setInterval(() => {
      if (this.#paused) {
        // We are not reading (block policy): silence is ours, not the feed's.
        this.#lastSeenAt = Date.now();
        return;
      }
      if (Date.now() - this.#lastSeenAt > silence) {
        this.#closeReason = `no data or pong for ${silence} ms`;
        ws.terminate();
        return;
      }
      ws.ping();
    }, Math.min(interval, silence / 2));
  }

  #clearTimers(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#pingTimer = undefined;
    this.#reconnectTimer = undefined;
  }
}
