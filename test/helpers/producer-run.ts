// A BatchProducer on a FakeKafka (fake-kafka.ts), and what its logs must hold: records with
// unique values, the producer with short retry backoffs and its onFailure reports collected, and
// assertLogs (no violation, every acknowledged record once, in order per partition, byte for byte).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { BatchProducer, type SendOutcome, type SendRecord } from '../../src/sink/producer.ts';
import { partitionOf, type Compression } from '../../src/sink/record-batch.ts';
import { tpOf, type FakeKafka, type StoredRecord } from './fake-kafka.ts';

export const SYMBOLS = ['AAPL', 'MSFT', 'TSLA', 'NVDA', 'AMZN', 'META', 'GOOG', 'NFLX'];
let serial = 0;

/** n records of a topic, keys cycling over `keys`, each value unique; some with headers (one binary). */
export function records(topic: string, n: number, keys = SYMBOLS, pad = 0): SendRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const sym = keys[i % keys.length]!;
    const value = Buffer.from(`{"ev":"T","sym":"${sym}","n":${serial++}${pad > 0 ? `,"pad":"${'x'.repeat(pad)}"` : ''}}`);
    const headers: Array<[Buffer, Buffer]> | undefined = i % 5 === 2 ? [[Buffer.from('ws2kafka.conn'), Buffer.from([0, 0xff, 0x80, i & 0xff])]] : undefined;
    return { topic, key: Buffer.from(sym), value, headers };
  });
}

/** The symbols whose records go to these partitions of a topic of n partitions. */
export function keysOn(n: number, ...partitions: number[]): string[] {
  const keys = SYMBOLS.filter((s) => partitions.includes(partitionOf(Buffer.from(s), n)));
  assert.ok(keys.length > 0, `a symbol for partitions ${partitions.join(',')} of ${n}`);
  return keys;
}

/** The lists merged one record of each at a time (topics interleaved, as a feed sends them). */
export function interleave(...lists: SendRecord[][]): SendRecord[] {
  const out: SendRecord[] = [];
  const longest = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}

/** Indices of the messages that go to a topic's partition. */
export function indicesOf(fake: FakeKafka, messages: readonly SendRecord[], topic: string, partition: number): number[] {
  const n = fake.leaders.get(topic)!.length;
  return messages.flatMap((m, i) => (m.topic === topic && partitionOf(m.key!, n) === partition ? [i] : []));
}

export const NOTHING: SendOutcome = { refused: [], held: [] };

/** A failed attempt as onFailure reported it. */
export interface Failure {
  codes: string[];
  broker: number;
  message: string;
}

/** A producer on the fake, and what it reported. */
export interface Run {
  producer: BatchProducer;
  failures: Failure[];
  /** Answers reported through onAnswer (ok or not). */
  answers: boolean[];
  /** Called with each failure as it is reported, before the producer acts on it (to change the fake meanwhile). */
  onFailure: ((f: Failure) => void) | undefined;
}

export interface RunOptions {
  topics?: string[];
  compression?: Compression;
  maxInflight?: number;
  /** The first retry's backoff (2 ms unless given), doubling up to 5 ms (or this, if more). */
  retryMinMs?: number;
}

/** A producer with short retry backoffs (2 ms doubling to 5 ms unless given). */
export async function producerFor(t: TestContext, fake: FakeKafka, o: RunOptions = {}): Promise<Run> {
  const failures: Failure[] = [];
  const answers: boolean[] = [];
  const run: Run = {
    failures,
    answers,
    onFailure: undefined,
    producer: new BatchProducer({
      brokers: [],
      compression: o.compression ?? 'none',
      log: pino({ level: 'silent' }),
      client: fake,
      maxInflight: o.maxInflight ?? 5,
      retryMinMs: o.retryMinMs ?? 2,
      retryMaxMs: Math.max(5, o.retryMinMs ?? 0),
      onFailure: (err, broker) => {
        const f = { codes: err.codes, broker, message: err.message };
        failures.push(f);
        run.onFailure?.(f);
      },
      onAnswer: (ok) => answers.push(ok),
    }),
  };
  t.after(() => run.producer.close());
  await run.producer.prepare(o.topics ?? [...fake.leaders.keys()]);
  return run;
}

/** Every code reported through onFailure. */
export const codesOf = (run: Run) => new Set(run.failures.flatMap((f) => f.codes));

/** Resolves once check() holds (polled every millisecond), or fails the test after timeoutMs. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1);
  }
}

/** A promise's outcome once it settles, and whether it has. */
export function watch<T>(p: Promise<T>): { done: boolean; value: T | undefined; promise: Promise<T> } {
  const w: { done: boolean; value: T | undefined; promise: Promise<T> } = { done: false, value: undefined, promise: p };
  void p.then((v) => {
    w.done = true;
    w.value = v;
  });
  return w;
}

/** What the fake's logs must hold: the records acknowledged so far, per partition, in order. */
export class Expected {
  readonly byTp = new Map<string, SendRecord[]>();
  #fake: FakeKafka;

  constructor(fake: FakeKafka) {
    this.#fake = fake;
  }

  /** The messages the outcome does not name (refused or held) were acknowledged. */
  acked(messages: readonly SendRecord[], outcome: SendOutcome = NOTHING): void {
    const skip = new Set([...outcome.refused, ...outcome.held].map((x) => x.index));
    messages.forEach((m, i) => {
      if (skip.has(i)) return;
      const tp = tpOf(m.topic, partitionOf(m.key!, this.#fake.leaders.get(m.topic)!.length));
      const list = this.byTp.get(tp);
      if (list === undefined) this.byTp.set(tp, [m]);
      else list.push(m);
    });
  }
}

const stored = (r: StoredRecord) => ({ key: r.key, value: r.value, headers: r.headers });
const sentAs = (m: SendRecord) => ({ key: m.key ?? null, value: m.value ?? null, headers: m.headers === undefined ? [] : [...m.headers] });

/** No violation, and each partition's log is exactly the acknowledged records, in order, byte for byte. */
export function assertLogs(fake: FakeKafka, expected: Expected): void {
  assert.deepEqual(fake.violations, [], 'the broker saw no malformed batch, no sequence gap, no sequence reused for other bytes, never more than 5 batches of a partition in flight');
  for (const tp of new Set([...fake.logs.keys(), ...expected.byTp.keys()])) {
    assert.deepEqual((fake.logs.get(tp) ?? []).map(stored), (expected.byTp.get(tp) ?? []).map(sentAs), `${tp}: every acknowledged record once, in order, byte for byte`);
  }
}

/** Each sequence a partition's batches were sent with always carried the same bytes (a resend is byte for byte). */
export function assertResentAsIs(fake: FakeKafka, topic: string, partition: number): void {
  const first = new Map<string, Buffer>();
  for (const r of fake.sent(topic, partition)) {
    const key = `${r.producerId}/${r.baseSequence}`;
    const before = first.get(key);
    if (before === undefined) first.set(key, r.bytes);
    else assert.ok(before.equals(r.bytes), `${tpOf(topic, partition)}: sequence ${r.baseSequence} resent byte for byte`);
  }
}

export const sortedIndices = (list: Array<{ index: number }>) => list.map((x) => x.index).sort((a, b) => a - b);
