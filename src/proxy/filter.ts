// The proxy's pure half: the union of local subscriptions (what upstream must be subscribed to) and
// the per-client filter that picks, from an upstream frame already split into event slices, the
// events a client subscribed to and builds its frame from their bytes, unchanged and in order.
// No sockets, no timers: tested on bytes (test/unit/proxy-filter.test.ts).
//
// Matching (what the proxy must reproduce of the server's own subscription matching):
// - `EV.*` matches every event of that ev.
// - `EV.SYM` matches an event of that ev whose key field (`sym`, else `pair`, else `T`, as split.ts
//   finds it) equals SYM. Both sides are normalised first: a leading `X:` or `C:` market prefix is
//   dropped and `/` reads as `-`, so `XT.X:BTC-USD`, `XT.BTC-USD` and a `"pair":"BTC-USD"` event
//   agree, as do `CA.C:EUR-USD` and `"pair":"EUR/USD"`.
// - An event without a key field (e.g. forex `C` quotes, whose pair is in `p`) goes to every client
//   subscribed to its ev at all: the proxy cannot tell which symbol it is, and over-delivering a
//   few events is better than withholding data a client asked for.
// - An event without an `ev` goes to nobody (counted by the caller).
import type { Subscriptions } from '../feed/protocol.ts';
import { decodeJsonString, type Slices } from '../split/split.ts';

/**
 * The upstream subscription that covers every client: `EV.*` where any client wants the whole ev
 * (its single symbols are then implied), else each wanted `EV.SYM`. Sorted, comma separated; ''
 * when no client wants anything.
 */
export function unionParams(all: Iterable<Subscriptions>): string {
  const wildcard = new Set<string>();
  const some = new Map<string, Set<string>>();
  for (const subs of all) {
    for (const param of subs.list()) {
      const dot = param.indexOf('.');
      const ev = param.slice(0, dot);
      const sym = param.slice(dot + 1);
      if (sym === '*') wildcard.add(ev);
      else {
        let set = some.get(ev);
        if (set === undefined) some.set(ev, (set = new Set()));
        set.add(sym);
      }
    }
  }
  const out = [...wildcard].map((ev) => `${ev}.*`);
  for (const [ev, syms] of some) {
    if (wildcard.has(ev)) continue;
    for (const s of syms) out.push(`${ev}.${s}`);
  }
  return out.sort().join(',');
}

/** `X:BTC-USD` → `BTC-USD`, `EUR/USD` → `EUR-USD`; other symbols (`AAPL`, `O:SPY…`, `I:SPX`) as they are. */
export function normalizeSymbol(sym: string): string {
  let s = sym;
  if (s.length > 2 && s.charCodeAt(1) === 0x3a && (s.charCodeAt(0) === 0x58 || s.charCodeAt(0) === 0x43)) s = s.slice(2);
  return s.includes('/') ? s.replaceAll('/', '-') : s;
}

/** A client's subscriptions in the shape the hot path asks: rebuilt only when they change. */
export class ClientMatcher {
  readonly subscriptions: Subscriptions;
  #version = -1;
  #wildcard = new Set<string>();
  #some = new Map<string, Set<string>>();

  constructor(subscriptions: Subscriptions) {
    this.subscriptions = subscriptions;
  }

  #refresh(): void {
    const subs = this.subscriptions;
    if (subs.version === this.#version) return;
    this.#version = subs.version;
    this.#wildcard.clear();
    this.#some.clear();
    for (const param of subs.list()) {
      const dot = param.indexOf('.');
      const ev = param.slice(0, dot);
      const sym = param.slice(dot + 1);
      if (sym === '*') this.#wildcard.add(ev);
      else {
        let set = this.#some.get(ev);
        if (set === undefined) this.#some.set(ev, (set = new Set()));
        set.add(normalizeSymbol(sym));
      }
    }
  }

  /**
   * Marks in `picked` (1 or 0, per event) the events of `frame` this client wants; returns how
   * many. `events` holds each event's ev name (undefined: no ev, or a status event: never picked).
   */
  pick(frame: Buffer, slices: Slices, events: FrameEvents, picked: Uint8Array): number {
    this.#refresh();
    let n = 0;
    const wildcard = this.#wildcard;
    const some = this.#some;
    for (let e = 0; e < slices.count; e++) {
      const ev = events.ev[e];
      let want = false;
      if (ev !== undefined) {
        if (wildcard.has(ev)) want = true;
        else {
          const syms = some.get(ev);
          if (syms !== undefined) {
            const key = events.key(frame, slices, e);
            want = key === undefined || syms.has(key);
          }
        }
      }
      picked[e] = want ? 1 : 0;
      if (want) n++;
    }
    return n;
  }
}

/** Per frame: each event's ev name, and its normalised key decoded once, on first demand. */
export class FrameEvents {
  readonly ev: (string | undefined)[] = [];
  readonly #keys: (string | undefined)[] = [];
  /** 1 once #keys[e] holds the decoded key (undefined then means: no key field). */
  #keyDone: Uint8Array;
  #evCache = new Map<number, string>();

  constructor(capacity: number) {
    this.#keyDone = new Uint8Array(capacity);
  }

  /**
   * Reads the ev of every event of a frame split into `slices`. Returns the number of data events
   * (not status); status events get ev undefined and their indices are pushed to `statuses`.
   */
  load(frame: Buffer, slices: Slices, statuses: number[]): number {
    const n = slices.count;
    this.ev.length = n;
    this.#keys.length = n;
    this.#keyDone.fill(0, 0, n);
    statuses.length = 0;
    let data = 0;
    for (let e = 0; e < n; e++) {
      const s = slices.evStart[e]!;
      if (s < 0) {
        this.ev[e] = undefined;
        continue;
      }
      const end = slices.evEnd[e]!;
      const name = slices.escaped[e] === 1 ? decodeJsonString(frame, s, end) : this.#evName(frame, s, end);
      if (name === 'status') {
        this.ev[e] = undefined;
        statuses.push(e);
        continue;
      }
      this.ev[e] = name;
      data++;
    }
    return data;
  }

  /** The event's key, normalised (normalizeSymbol), or undefined when it has no key field. */
  key(frame: Buffer, slices: Slices, e: number): string | undefined {
    if (this.#keyDone[e] === 1) return this.#keys[e];
    this.#keyDone[e] = 1;
    const s = slices.keyStart[e]!;
    let key: string | undefined;
    if (s >= 0) {
      const end = slices.keyEnd[e]!;
      key = normalizeSymbol(slices.escaped[e] === 1 ? decodeJsonString(frame, s, end) : frame.toString('utf8', s, end));
    }
    this.#keys[e] = key;
    return key;
  }

  /** ev names of up to 4 bytes come from a cache keyed by their bytes: no string per event. */
  #evName(frame: Buffer, s: number, e: number): string {
    const len = e - s;
    if (len > 4 || len === 0) return frame.toString('utf8', s, e);
    let code = len;
    for (let i = s; i < e; i++) code = code * 256 + frame[i]!;
    let name = this.#evCache.get(code);
    if (name === undefined) {
      name = frame.toString('utf8', s, e);
      if (this.#evCache.size < 1024) this.#evCache.set(code, name);
    }
    return name;
  }
}

const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;

/**
 * The frame for one client: the whole upstream frame (the same Buffer, not a copy) when it wants
 * every event and the frame holds nothing else, else `[` + the picked events' bytes joined by `,`
 * + `]`, in upstream order.
 */
export function buildFrame(frame: Buffer, slices: Slices, picked: Uint8Array, count: number, whole: boolean): Buffer {
  if (whole && count === slices.count) return frame;
  let size = 1 + count; // `[`, the commas and `]`
  for (let e = 0; e < slices.count; e++) if (picked[e] === 1) size += slices.end[e]! - slices.start[e]!;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = OPEN;
  let first = true;
  for (let e = 0; e < slices.count; e++) {
    if (picked[e] !== 1) continue;
    if (!first) out[at++] = COMMA;
    first = false;
    at += frame.copy(out, at, slices.start[e], slices.end[e]);
  }
  out[at++] = CLOSE;
  return out;
}
