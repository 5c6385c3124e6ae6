// What the mock knows about one connection: which events match its subscriptions, and exactly which
// q values were written to its socket (a bitmap, filled when the socket write completes, so events
// dropped with a cut connection are not counted as sent).
import type { FeedClient } from '../feed/server.ts';
import { QBitmap } from './bitmap.ts';
import { EV_NAMES, isCryptoEv, type EventBatch } from './generator.ts';

/** Frames that are not JSON, or not arrays of objects: sent by --malformed-ratio. */
export const MALFORMED_FRAMES = [
  '[{"ev":"T","sym":"AAPL","p":1',
  'not json at all',
  '{"ev":"T","sym":"AAPL","q":0}',
  '[1,2,3]',
  '["T","AAPL"]',
  '[{"ev":"T"},null]',
] as const;

export class Recipient {
  readonly client: FeedClient;
  /** Written to the socket: data frames, events, per ev, and the q values. */
  frames = 0;
  events = 0;
  malformedFrames = 0;
  readonly byEv = new Float64Array(EV_NAMES.length);
  sent: QBitmap | undefined;
  firstQ: number | undefined;
  lastQ: number | undefined;
  disconnectTimer: NodeJS.Timeout | undefined;
  #version = -1;
  #everything = false;
  #all = new Uint8Array(EV_NAMES.length);
  #some: (Set<number> | undefined)[] = [];

  constructor(client: FeedClient) {
    this.client = client;
  }

  /** Rebuilds the matcher when the client's subscriptions changed. */
  #refresh(stocks: readonly string[], pairs: readonly string[]): void {
    const subs = this.client.subscriptions;
    if (subs.version === this.#version) return;
    this.#version = subs.version;
    let everything = true;
    for (let ev = 0; ev < EV_NAMES.length; ev++) {
      const name = EV_NAMES[ev] ?? '';
      const all = subs.hasAll(name);
      this.#all[ev] = all ? 1 : 0;
      if (!all) everything = false;
      const names = subs.symbols(name);
      if (names.size === 0) {
        this.#some[ev] = undefined;
        continue;
      }
      const universe = isCryptoEv(ev) ? pairs : stocks;
      const set = new Set<number>();
      universe.forEach((s, i) => {
        if (names.has(s)) set.add(i);
      });
      this.#some[ev] = set;
    }
    this.#everything = everything;
  }

  /**
   * Sends the events of `batch` that match, in frames of at most `maxPerFrame`, each followed by a
   * malformed frame with probability `malformedRatio` (`random` draws in [0, 1)).
   */
  sendBatch(batch: EventBatch, maxPerFrame: number, stocks: readonly string[], pairs: readonly string[], malformedRatio: number, random: () => number): void {
    this.#refresh(stocks, pairs);
    const { ev, sym, json, n, firstQ } = batch;
    let frame = '';
    let codes: number[] = [];
    for (let k = 0; k < n; k++) {
      const e = ev[k] ?? 0;
      if (!this.#everything && this.#all[e] !== 1 && this.#some[e]?.has(sym[k] ?? 0) !== true) continue;
      frame += codes.length === 0 ? '[' + (json[k] ?? '') : ',' + (json[k] ?? '');
      codes.push((firstQ + k) * 8 + e);
      if (codes.length === maxPerFrame) {
        if (!this.#flush(frame, codes, malformedRatio, random)) return;
        frame = '';
        codes = [];
      }
    }
    if (codes.length > 0) this.#flush(frame, codes, malformedRatio, random);
  }

  #flush(frame: string, codes: number[], malformedRatio: number, random: () => number): boolean {
    if (!this.client.send(frame + ']', (err) => this.#written(codes, err))) return false;
    if (malformedRatio > 0 && random() < malformedRatio) this.sendMalformed(random);
    return true;
  }

  sendMalformed(random: () => number): void {
    const bad = MALFORMED_FRAMES[Math.floor(random() * MALFORMED_FRAMES.length)] ?? MALFORMED_FRAMES[0];
    this.client.send(bad, (err) => {
      if (err == null) this.malformedFrames++;
    });
  }

  /** A raw frame (replay) holding `events` events; counted once written. */
  sendRaw(frame: Buffer, events: number): boolean {
    return this.client.send(frame, (err) => {
      if (err != null) return;
      this.frames++;
      this.events += events;
    });
  }

  #written(codes: number[], err: Error | null | undefined): void {
    if (err != null) return;
    this.frames++;
    this.events += codes.length;
    const first = Math.floor((codes[0] ?? 0) / 8);
    this.sent ??= new QBitmap(first, 4096);
    this.firstQ ??= first;
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i] ?? 0;
      const q = Math.floor(c / 8);
      this.sent.set(q);
      const e = c - q * 8;
      this.byEv[e] = (this.byEv[e] ?? 0) + 1;
    }
    this.lastQ = Math.floor((codes[codes.length - 1] ?? 0) / 8);
  }
}
