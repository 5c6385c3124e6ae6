// Paces emission at a steady rate: on each tick, emits what is due since the start (elapsed × rate),
// so timer jitter never accumulates. Catches up after a stall (a GC pause, a busy socket) for up to
// one second's worth of events; beyond that it skips the backlog and reports falling behind.
import type { FeedLogger } from '../feed/server.ts';

export interface PacerOptions {
  /** Units (events or frames) per second. */
  rate: number;
  /** Stop after this many units. */
  limit: number;
  /** Emits `n` units now; called with n >= 1. */
  emit: (n: number) => void;
  /** Called once when `limit` units have been emitted or stop() was called. */
  onDone?: () => void;
  logger: FeedLogger;
  unit: string;
}

export interface PacerStats {
  emitted: number;
  /** Units that fell due but were given up because the mock was over a second behind. */
  skipped: number;
  /** The largest backlog seen, in ms of the rate. */
  maxBehindMs: number;
}

const REPORT_EVERY_MS = 5000;
/** At most this many units per tick when behind: bigger bursts only fill the socket and the heap. */
const MAX_PER_TICK = 2000;

export class Pacer {
  #o: PacerOptions;
  #t0 = 0;
  #emitted = 0;
  #skipped = 0;
  #maxBehindMs = 0;
  #maxPerTick: number;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #running = false;
  #lastReport = 0;

  constructor(o: PacerOptions) {
    this.#o = o;
    // Each tick emits at most 10 ms worth, so sockets and timers get their turn.
    this.#maxPerTick = Math.max(1, Math.min(MAX_PER_TICK, Math.ceil(o.rate / 100)));
  }

  get running(): boolean {
    return this.#running;
  }

  stats(): PacerStats {
    return { emitted: this.#emitted, skipped: this.#skipped, maxBehindMs: Math.round(this.#maxBehindMs) };
  }

  start(): void {
    if (this.#running || this.#emitted >= this.#o.limit) return;
    this.#running = true;
    this.#t0 = performance.now();
    this.#tick();
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = this.#immediate = undefined;
    this.#o.onDone?.();
  }

  #tick = (): void => {
    this.#timer = this.#immediate = undefined;
    if (!this.#running) return;
    const { rate, limit } = this.#o;
    const now = performance.now();
    const target = Math.min(limit, Math.floor(((now - this.#t0) * rate) / 1000));
    let backlog = target - this.#emitted;
    // How late the oldest unsent unit is (0 when none is due).
    const behindMs = backlog > 0 ? now - (this.#t0 + ((this.#emitted + 1) * 1000) / rate) : 0;
    if (behindMs > this.#maxBehindMs) this.#maxBehindMs = behindMs;
    if (backlog > rate && backlog > this.#maxPerTick) {
      const skip = backlog - this.#maxPerTick;
      this.#t0 += (skip * 1000) / rate;
      this.#skipped += skip;
      backlog -= skip;
      this.#report(now, `falling behind: gave up ${skip} ${this.#o.unit} that were over a second late (${this.#skipped} in all)`);
    } else if (behindMs > 100) {
      this.#report(now, `falling behind: ${backlog} ${this.#o.unit} (${Math.round(behindMs)} ms) due but not yet sent`);
    }
    const n = Math.min(backlog, this.#maxPerTick);
    if (n > 0) {
      this.#emitted += n;
      this.#o.emit(n);
    }
    if (this.#emitted >= limit) {
      this.stop();
      return;
    }
    if (!this.#running) return;
    if (backlog > n) {
      this.#immediate = setImmediate(this.#tick);
    } else {
      const next = this.#t0 + ((this.#emitted + 1) * 1000) / rate;
      this.#timer = setTimeout(this.#tick, Math.max(0, next - performance.now()));
    }
  };

  #report(now: number, msg: string): void {
    if (now - this.#lastReport < REPORT_EVERY_MS) return;
    this.#lastReport = now;
    this.#o.logger.warn({ rate: this.#o.rate, emitted: this.#emitted }, msg);
  }
}
