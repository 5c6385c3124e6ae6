// GET /stats: what the mock's timeline held and exactly what each connection was written.
//
// GET /stats          summary (below, without the `sent` bitmaps and `detail`)
// GET /stats?detail=1 also, per connection, `sent: { base, bitmap }` and the timeline's `detail`
//
// {
//   mode: 'synthetic' | 'replay', url, rate, batch, running, startedAt (ms | null), stoppedAt,
//   evNames: ['T','Q','A','AM','XT'],
//   timeline: { firstQ, lastQ, events, frames, byEv: { T: n, ... } },       // what was generated
//   pacing: { emitted, skipped, maxBehindMs },                               // rate keeping
//   sent: { events, frames, byEv, firstQ, lastQ },                           // summed over connections
//   connections: [{ id, remote, state, subscriptions: ['T.*'], openedAt, closedAt, frames, events,
//                   byEv, firstQ, lastQ, malformedFrames, closeReason, unsentBytes,
//                   sent?: { base, bitmap } }],
//   detail?: { count, complete, symbols: [...], pairs: [...], ev: base64, sym: base64 }
// }
// `sent.bitmap` is base64 of a bitmap over q = base, base+1, ...: bit (q - base) is bit
// ((q - base) & 7) of byte ((q - base) >> 3), least significant first; set = that q was written to
// that connection's socket. `detail.ev` is base64 of one byte per timeline q (q = 1, 2, ...,
// `count` of them): the index of its ev in evNames. `detail.sym` is base64 of one little-endian
// uint16 per q: its index in `symbols` (or in `pairs` for XT). Replay mode has no q: the bitmaps
// and detail are absent and events are counted from each frame's JSON array.
// API keys are never part of it.
import { EV_NAMES, type EventBatch } from './generator.ts';
import type { PacerStats } from './pacer.ts';
import type { Recipient } from './recipient.ts';

export type ByEv = Record<string, number>;

export interface ConnectionStats {
  id: number;
  remote: string;
  state: string;
  subscriptions: string[];
  openedAt: number;
  closedAt: number | null;
  frames: number;
  events: number;
  byEv: ByEv;
  firstQ: number | null;
  lastQ: number | null;
  malformedFrames: number;
  closeReason: string | null;
  unsentBytes: number;
  sent?: { base: number; bitmap: string };
}

export interface TimelineDetailStats {
  count: number;
  complete: boolean;
  symbols: string[];
  pairs: string[];
  ev: string;
  sym: string;
}

export interface MockStats {
  mode: 'synthetic' | 'replay';
  url: string;
  rate: number;
  batch: number;
  running: boolean;
  startedAt: number | null;
  stoppedAt: number | null;
  evNames: string[];
  timeline: { firstQ: number | null; lastQ: number | null; events: number; frames: number; byEv: ByEv };
  pacing: PacerStats;
  sent: { events: number; frames: number; byEv: ByEv; firstQ: number | null; lastQ: number | null };
  connections: ConnectionStats[];
  detail?: TimelineDetailStats;
}

export function byEvObject(counts: Float64Array): ByEv {
  const out: ByEv = {};
  EV_NAMES.forEach((e, i) => {
    out[e] = counts[i] ?? 0;
  });
  return out;
}

/** The ev code and symbol index of every timeline q, up to `limit` events. */
export class TimelineDetail {
  #ev = new Uint8Array(1 << 16);
  #sym = new Uint16Array(1 << 16);
  #count = 0;
  #complete = true;
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Appends a batch whose first q is count + 1. */
  record(batch: EventBatch): void {
    const n = batch.n;
    if (this.#count + n > this.limit) {
      this.#complete = false;
      return;
    }
    if (this.#count + n > this.#ev.length) {
      let size = this.#ev.length * 2;
      while (size < this.#count + n) size *= 2;
      const ev = new Uint8Array(size);
      ev.set(this.#ev.subarray(0, this.#count));
      const sym = new Uint16Array(size);
      sym.set(this.#sym.subarray(0, this.#count));
      this.#ev = ev;
      this.#sym = sym;
    }
    this.#ev.set(batch.ev.subarray(0, n), this.#count);
    this.#sym.set(batch.sym.subarray(0, n), this.#count);
    this.#count += n;
  }

  toStats(symbols: string[], pairs: string[]): TimelineDetailStats {
    const sym = this.#sym.subarray(0, this.#count);
    const symBytes = Buffer.alloc(sym.length * 2);
    for (let i = 0; i < sym.length; i++) symBytes.writeUInt16LE(sym[i] ?? 0, i * 2);
    return {
      count: this.#count,
      complete: this.#complete,
      symbols,
      pairs,
      ev: Buffer.from(this.#ev.buffer, this.#ev.byteOffset, this.#count).toString('base64'),
      sym: symBytes.toString('base64'),
    };
  }
}

export function connectionStats(r: Recipient, detail: boolean): ConnectionStats {
  const c = r.client;
  const out: ConnectionStats = {
    id: c.id,
    remote: c.remote,
    state: c.state,
    subscriptions: c.subscriptions.list(),
    openedAt: c.openedAt,
    closedAt: c.closedAt ?? null,
    frames: r.frames,
    events: r.events,
    byEv: byEvObject(r.byEv),
    firstQ: r.firstQ ?? null,
    lastQ: r.lastQ ?? null,
    malformedFrames: r.malformedFrames,
    closeReason: c.closeReason ?? null,
    unsentBytes: c.state === 'closed' ? 0 : c.unsentBytes,
  };
  if (detail && r.sent !== undefined) {
    const bytes = r.sent.toBytes();
    out.sent = { base: r.sent.base, bitmap: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
  return out;
}

/** Sums over connections. */
export function sentTotals(conns: ConnectionStats[]): MockStats['sent'] {
  const byEv: ByEv = {};
  for (const e of EV_NAMES) byEv[e] = 0;
  let events = 0;
  let frames = 0;
  let firstQ: number | null = null;
  let lastQ: number | null = null;
  for (const c of conns) {
    events += c.events;
    frames += c.frames;
    for (const e of EV_NAMES) byEv[e] = (byEv[e] ?? 0) + (c.byEv[e] ?? 0);
    if (c.firstQ !== null && (firstQ === null || c.firstQ < firstQ)) firstQ = c.firstQ;
    if (c.lastQ !== null && (lastQ === null || c.lastQ > lastQ)) lastQ = c.lastQ;
  }
  return { events, frames, byEv, firstQ, lastQ };
}
