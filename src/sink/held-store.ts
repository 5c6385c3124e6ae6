// Records of topics Kafka refuses for now (authorization, unknown or invalid topic, a cluster
// setting): kept per topic, in arrival order, apart from the main spool so that the other topics
// keep flowing. With a spool directory each held topic has a spool of its own under
// <spool-dir>/held/<topic>, so held records survive a restart; without one (--overflow block or
// drop with --durability memory) they wait in memory, at most --buffer-size of them (beyond
// that they are dropped and counted).
//
// The sink probes each held topic now and then (HELD_PROBE_MIN_MS doubling to HELD_PROBE_MAX_MS):
// one batch of its oldest records. Acknowledged: the next batch goes at once, and when nothing
// is left the topic flows normally again. Refused again: the batch waits for the next probe.
//
// The same store keeps the records of parked partitions (their leader away: producer.ts), keyed
// "topic#partition" under <spool-dir>/parked, probed once their leader answers.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SpoolRecord } from '../spool/codec.ts';
import { Spool, type SpoolOptions } from '../spool/spool.ts';

export const HELD_PROBE_MIN_MS = 1000;
export const HELD_PROBE_MAX_MS = 30_000;

interface HeldTopic {
  /** Kafka's error code that holds the topic. */
  code: number;
  since: number;
  spool: Spool | undefined;
  /** Records that found no room in the spool (or no spool): newer than the spool's. */
  memory: SpoolRecord[];
  /** The batch being probed (read, not yet acknowledged): what is left of it. */
  probe: SpoolRecord[] | undefined;
  /** How many records the probe took from the spool (acknowledged there when it is done). */
  probeFromSpool: number;
  probeFromMemory: number;
  nextProbeAt: number;
  delay: number;
}

export interface HeldStoreOptions {
  /** The main spool's options: held spools live in <dir>/held/<topic>; none: memory only. */
  spool: SpoolOptions | undefined;
  /** Most records kept in memory per store without a spool. */
  memoryCapacity: number;
  /** The directory under the spool's (default 'held'). */
  dirName?: string;
}

export class HeldStore {
  #o: HeldStoreOptions;
  #topics = new Map<string, HeldTopic>();
  /** Records dropped because a memory-only store was full. */
  dropped = 0;

  constructor(o: HeldStoreOptions) {
    this.#o = o;
  }

  /** Topics whose records an earlier run left in held spools (each must be held again). */
  recover(): string[] {
    const base = this.#base();
    if (base === undefined) return [];
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      return [];
    }
    const found: string[] = [];
    for (const name of names) {
      const topic = decodeURIComponent(name);
      const held = this.#open(topic, -1);
      if ((held.spool?.size ?? 0) > 0) found.push(topic);
      else this.remove(topic);
    }
    return found;
  }

  #base(): string | undefined {
    return this.#o.spool === undefined ? undefined : join(this.#o.spool.dir, this.#o.dirName ?? 'held');
  }

  #open(topic: string, code: number): HeldTopic {
    let held = this.#topics.get(topic);
    if (held !== undefined) return held;
    const base = this.#base();
    let spool: Spool | undefined;
    if (base !== undefined) {
      const dir = join(base, encodeURIComponent(topic));
      mkdirSync(dir, { recursive: true });
      spool = Spool.open({ ...this.#o.spool!, dir }).spool;
    }
    held = { code, since: Date.now(), spool, memory: [], probe: undefined, probeFromSpool: 0, probeFromMemory: 0, nextProbeAt: Date.now() + HELD_PROBE_MIN_MS, delay: HELD_PROBE_MIN_MS };
    this.#topics.set(topic, held);
    return held;
  }

  get topics(): ReadonlyMap<string, { code: number; since: number }> {
    return this.#topics;
  }

  /** Records held in all topics. */
  get size(): number {
    let n = 0;
    for (const t of this.#topics.values()) n += this.sizeOf(t);
    return n;
  }

  /** Records held only in memory (lost by a stop). */
  get inMemory(): number {
    let n = 0;
    for (const t of this.#topics.values()) n += t.memory.length;
    return n;
  }

  sizeOf(held: HeldTopic): number {
    return (held.spool?.size ?? 0) + held.memory.length - held.probeFromMemory;
  }

  /** Keeps records of a held topic, after those it holds already. */
  add(topic: string, code: number, records: readonly SpoolRecord[]): void {
    const held = this.#open(topic, code);
    held.code = code;
    let rest = records;
    if (held.spool !== undefined && held.memory.length === 0) {
      const written = held.spool.append(records);
      rest = written === records.length ? [] : records.slice(written);
    }
    if (rest.length === 0) return;
    const room = Math.max(0, this.#o.memoryCapacity - held.memory.length);
    for (let i = 0; i < rest.length; i++) {
      if (i < room || rest[i]!.receivedAt < 0) held.memory.push(rest[i]!);
      else this.dropped++;
    }
  }

  /** A held topic whose probe is due (none probing now) and that is `ready`, or undefined. */
  due(now: number, ready?: (topic: string) => boolean): string | undefined {
    for (const [topic, held] of this.#topics) {
      if (held.nextProbeAt <= now && this.sizeOf(held) + (held.probe?.length ?? 0) > 0 && (ready === undefined || ready(topic))) return topic;
    }
    return undefined;
  }

  /** The batch to probe a topic with: what is left of the last one, or its oldest records. */
  takeProbe(topic: string, maxBytes: number): SpoolRecord[] {
    const held = this.#topics.get(topic)!;
    if (held.probe !== undefined && held.probe.length > 0) return held.probe;
    let records: SpoolRecord[] = [];
    if (held.spool !== undefined && held.spool.unread > 0) {
      records = held.spool.read(maxBytes);
      held.probeFromSpool = records.length;
    } else if (held.memory.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < held.memory.length && (n === 0 || bytes < maxBytes)) bytes += held.memory[n++]!.value.length;
      records = held.memory.slice(0, n);
      held.probeFromMemory = n;
    }
    held.probe = records;
    return records;
  }

  /**
   * The probe's result: `left` are the records still refused (a subset of the batch, in order).
   * Returns true when the topic holds nothing any more (it may flow normally again).
   */
  probed(topic: string, left: SpoolRecord[], now: number): boolean {
    const held = this.#topics.get(topic)!;
    if (left.length > 0) {
      held.probe = left;
      held.nextProbeAt = now + held.delay;
      held.delay = Math.min(held.delay * 2, HELD_PROBE_MAX_MS);
      return false;
    }
    // Everything of the batch is settled: it leaves the store.
    held.spool?.ack(held.probeFromSpool);
    held.memory.splice(0, held.probeFromMemory);
    held.probe = undefined;
    held.probeFromSpool = 0;
    held.probeFromMemory = 0;
    held.delay = HELD_PROBE_MIN_MS;
    held.nextProbeAt = now;
    return this.sizeOf(held) === 0;
  }

  /** The receive time (wall ms) of the oldest event kept, over all stores; undefined: none known. */
  oldestReceivedAt(): number | undefined {
    let oldest: number | undefined;
    for (const held of this.#topics.values()) {
      const first = held.probe?.find((r) => r.receivedAt >= 0) ?? (held.spool?.oldestReceivedAt() !== undefined ? undefined : held.memory.find((r) => r.receivedAt >= 0));
      const t = first?.receivedAt ?? held.spool?.oldestReceivedAt();
      if (t !== undefined && t >= 0 && (oldest === undefined || t < oldest)) oldest = t;
    }
    return oldest;
  }

  /** Records kept for one store (0 when it has none). */
  sizeOfKey(topic: string): number {
    const held = this.#topics.get(topic);
    return held === undefined ? 0 : this.sizeOf(held);
  }

  /** True when a topic's store holds nothing (or it is not held). */
  isEmpty(topic: string): boolean {
    const held = this.#topics.get(topic);
    return held === undefined || this.sizeOf(held) + (held.probe?.length ?? 0) === 0;
  }

  /** Forgets everything a store keeps (its spool acknowledged to the end); returns how many records. */
  clear(topic: string): number {
    const held = this.#topics.get(topic);
    if (held === undefined) return 0;
    // A probe's records are still in memory or in the spool (read again after the rewind).
    let n = held.memory.length;
    const spool = held.spool;
    if (spool !== undefined) {
      spool.rewind();
      while (spool.unread > 0) {
        const records = spool.read(8 << 20);
        if (records.length === 0) break;
        spool.ack(records.length);
        n += records.length;
      }
    }
    this.remove(topic);
    return n;
  }

  remove(topic: string): void {
    const held = this.#topics.get(topic);
    if (held === undefined) return;
    this.#topics.delete(topic);
    held.spool?.close();
  }

  close(): void {
    for (const held of this.#topics.values()) held.spool?.close();
  }
}
