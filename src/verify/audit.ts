// The audit: reads every record of the topics and compares them with what the mock sent.
//
//   audit(options: AuditOptions): Promise<AuditReport>
//
// `bench` and the tests call it in-process; `ws2kafka verify` prints its report. The report's
// first fields are exactly those the issue names: records, lost, duplicated, reordered, corrupted,
// latency_ms, not_sent. `ok` is true only when lost, duplicated, reordered and corrupted are 0.
// With a gap topic, the tail of a connection that ended inside a recorded gap is `cut`, not lost
// (src/verify/gaps.ts; docs/verify.md).
import { Consumer } from '@platformatic/kafka';
import { randomUUID } from 'node:crypto';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError } from '../errors.ts';
import { diagnoseKafkaError } from '../kafka/connection-errors.ts';
import { readToEnd } from '../kafka/read.ts';
import type { MockStats } from '../mock/stats.ts';
import { seconds, type Progress } from '../progress.ts';
import { checkRecord, DEFAULT_ROUTES } from './events.ts';
import { expectedFromStats, statsProblem, type Expected } from './expected.ts';
import { classifyMissing, parseGapRecord, type GapWindow } from './gaps.ts';
import { ReadProgress } from './read-progress.ts';

export interface AuditOptions {
  brokers: string[];
  /** TLS and SASL towards Kafka (plaintext when undefined). */
  security?: KafkaSecurity | undefined;
  /** Default: trades, aggregates. */
  topics?: string[];
  /** ev → topic; default DEFAULT_ROUTES (T→trades, A and AM→aggregates). */
  routes?: Readonly<Record<string, string>>;
  /** The mock's stats URL (`http://host:port/stats`; detail is asked for), or its detailed stats. */
  mockStats?: string | MockStats;
  /** Instead of mockStats: the number of distinct events expected. */
  expect?: number;
  /** Wait until the topics' end offsets have not moved for this long (0: do not wait). */
  settleMs?: number;
  /** Give up settling or reading after this long. Default 5 minutes. */
  timeoutMs?: number;
  /** The bridge's gap topic: the tails of connections that ended inside a gap are `cut`, not lost. */
  gapTopic?: string;
  /**
   * Of a gap topic several feeds share, only the records of this feed (by their `feed` field; a
   * record without one, from a bridge before feeds, counts for any).
   */
  gapFeed?: string;
  /** Progress lines (settling, reading). */
  log?: (line: string) => void;
  /**
   * While the topics are read: records read per topic against their end offsets, and the rate, as
   * often as the Progress allows; then one final line (`read N records (...) in S s, R records/s`).
   */
  progress?: Progress;
}

export interface AuditReport {
  records: Record<string, number>;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  latency_ms: { p50: number | null; p99: number | null; max: number | null };
  not_sent: number;
  ok: boolean;
  /** Events that had to be in Kafka (sent and routed to an audited topic, or --expect). */
  expected: number | null;
  /** Distinct q values found. */
  delivered: number;
  /** Records whose q the mock never sent to any connection (or outside its timeline). */
  unexpected: number;
  /** Sent q values the mock kept no ev for (past its detail limit): not audited for loss. */
  unaudited: number;
  /** Missing events cut off with a connection that ended inside a recorded gap (0 without gapTopic). */
  cut: number;
  /** The gap topic's records; null without gapTopic. */
  gaps: { records: number; unreadable: number; covered_connections: number } | null;
  samples: {
    lost: number[];
    cut: number[];
    duplicated: number[];
    reordered: { topic: string; partition: number; key: string; q: number; after: number }[];
    corrupted: { topic: string; partition: number; offset: string; problem: string }[];
    not_sent: number[];
  };
}

const SAMPLES = 10;

async function fetchStats(url: string): Promise<MockStats> {
  const u = new URL(url);
  u.searchParams.set('detail', '1');
  let body: unknown;
  try {
    const res = await fetch(u);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new Ws2kError('MOCK_STATS_FAILED', `--mock-stats ${url}: ${(err as Error).message}`, { cause: err });
  }
  const problem = statsProblem(body);
  if (problem !== undefined) throw new Ws2kError('MOCK_STATS_FAILED', `--mock-stats ${url}: ${problem}`);
  return body as MockStats;
}

/** Resolves once the topics' end offsets have stayed the same for `settleMs`. */
async function settle(brokers: string[], security: KafkaSecurity | undefined, topics: string[], settleMs: number, timeoutMs: number, log: (l: string) => void, progress: Progress | undefined): Promise<void> {
  const consumer = new Consumer({ groupId: `ws2kafka-verify-${randomUUID()}`, clientId: 'ws2kafka-verify', bootstrapBrokers: brokers, ...kafkaClientOptions(security, brokers) });
  try {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    let since = Date.now();
    log(`waiting until ${topics.join(', ')} stop growing for ${settleMs} ms`);
    const started = Date.now();
    for (;;) {
      progress?.update(() => `settling: the topics last grew ${seconds(Date.now() - since)} ago (${(settleMs / 1000).toFixed(1)} s needed), ${seconds(Date.now() - started)}`);
      let now: string;
      try {
        const ends = await consumer.listOffsets({ topics });
        now = JSON.stringify([...ends].map(([t, o]) => [t, o.map(String)]));
      } catch (err) {
        throw (await diagnoseKafkaError(err, security, brokers)) ?? new Ws2kError('VERIFY_READ_FAILED', `listing the end offsets of ${topics.join(', ')}: ${(err as Error).message}`, { cause: err });
      }
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= settleMs) {
        return;
      }
      if (Date.now() > deadline) throw new Ws2kError('VERIFY_SETTLE_TIMEOUT', `${topics.join(', ')} were still growing after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, Math.min(250, settleMs)));
    }
  } finally {
    await consumer.close(true);
  }
}

/** Counts per q: a byte array over the timeline, a map for anything outside it. */
class SeenCounter {
  #inRange: Uint8Array;
  #other = new Map<number, number>();
  distinct = 0;
  constructor(lastQ: number) {
    this.#inRange = new Uint8Array(lastQ + 1);
  }
  /** Returns how many times q has now been seen. */
  add(q: number): number {
    if (Number.isInteger(q) && q >= 1 && q < this.#inRange.length) {
      const n = (this.#inRange[q] ?? 0) + 1;
      this.#inRange[q] = Math.min(n, 255);
      if (n === 1) this.distinct++;
      return n;
    }
    const n = (this.#other.get(q) ?? 0) + 1;
    this.#other.set(q, n);
    if (n === 1) this.distinct++;
    return n;
  }
  has(q: number): boolean {
    return (this.#inRange[q] ?? 0) > 0;
  }
  outside(): number {
    return this.#other.size;
  }
}

function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))] ?? null;
}

export async function audit(o: AuditOptions): Promise<AuditReport> {
  // Copies: the Kafka client may reorder the arrays it is given.
  const topics = [...(o.topics ?? ['trades', 'aggregates'])];
  const brokers = [...o.brokers];
  const routes = o.routes ?? DEFAULT_ROUTES;
  const timeoutMs = o.timeoutMs ?? 300_000;
  const log = o.log ?? (() => {});
  const gapTopic = o.gapTopic;
  if ((o.settleMs ?? 0) > 0) await settle(brokers, o.security, gapTopic === undefined ? [...topics] : [...topics, gapTopic], o.settleMs ?? 0, timeoutMs, log, o.progress);

  let expected: Expected | undefined;
  if (o.mockStats !== undefined) {
    const stats = typeof o.mockStats === 'string' ? await fetchStats(o.mockStats) : o.mockStats;
    const problem = statsProblem(stats);
    if (problem !== undefined) throw new Ws2kError('MOCK_STATS_FAILED', `mock stats: ${problem}`);
    expected = expectedFromStats(stats, routes, topics);
  }

  const seen = new SeenCounter(expected?.lastQ ?? 0);
  const lastByKey = new Map<string, number>();
  let latencies = new Float64Array(1 << 16);
  let nLatencies = 0;
  const r: AuditReport = {
    records: {},
    lost: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    latency_ms: { p50: null, p99: null, max: null },
    not_sent: expected?.notSent ?? 0,
    ok: false,
    expected: expected?.expectedCount ?? o.expect ?? null,
    delivered: 0,
    unexpected: 0,
    unaudited: expected?.unknown ?? 0,
    cut: 0,
    gaps: null,
    samples: { lost: [], cut: [], duplicated: [], reordered: [], corrupted: [], not_sent: expected?.notSentSample ?? [] },
  };

  log(`reading ${topics.join(', ')}`);
  const reading = o.progress === undefined ? undefined : new ReadProgress(o.progress, topics);
  reading?.start();
  let counts: Map<string, number>;
  try {
    counts = await readToEnd({
      brokers,
      security: o.security,
      topics: [...topics],
      timeoutMs,
      ...(reading === undefined ? {} : { onEnds: (ends: Map<string, bigint>) => reading.ends(ends) }),
      onRecord: (rec) => {
        reading?.record(rec.topic);
        const { problem, event } = checkRecord(rec.topic, rec.key, rec.value, routes);
        if (problem !== undefined) {
          r.corrupted++;
          if (r.samples.corrupted.length < SAMPLES) r.samples.corrupted.push({ topic: rec.topic, partition: rec.partition, offset: String(rec.offset), problem });
        }
        const q = event?.['q'];
        if (typeof q !== 'number') return;
        if (seen.add(q) > 1) {
          // A second copy (a batch sent again after a crash): counted as duplicated, not also as
          // reordered; order is judged on each event's first copy.
          r.duplicated++;
          if (r.samples.duplicated.length < SAMPLES) r.samples.duplicated.push(q);
          return;
        }
        const k = `${rec.topic}\u0000${rec.partition}\u0000${rec.key?.toString('utf8') ?? ''}`;
        const before = lastByKey.get(k);
        if (before !== undefined && q < before) {
          r.reordered++;
          if (r.samples.reordered.length < SAMPLES) r.samples.reordered.push({ topic: rec.topic, partition: rec.partition, key: rec.key?.toString('utf8') ?? '', q, after: before });
        }
        lastByKey.set(k, q);
        const t = event?.['t'];
        if (typeof t === 'number') {
          if (nLatencies === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[nLatencies++] = Number(rec.timestamp) - t;
        }
      },
    });
  } catch (err) {
    reading?.stop();
    throw (await diagnoseKafkaError(err, o.security, brokers)) ?? new Ws2kError('VERIFY_READ_FAILED', `reading ${topics.join(', ')} from ${brokers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
  reading?.finish();
  for (const t of topics) r.records[t] = counts.get(t) ?? 0;
  r.delivered = seen.distinct;

  let windows: GapWindow[] | undefined;
  if (gapTopic !== undefined) {
    const gaps = { records: 0, unreadable: 0, covered_connections: 0 };
    windows = [];
    log(`reading gap records from ${gapTopic}`);
    try {
      await readToEnd({
        brokers,
        security: o.security,
        topics: [gapTopic],
        timeoutMs,
        onRecord: (rec) => {
          gaps.records++;
          const w = parseGapRecord(rec.value);
          if (w === undefined) gaps.unreadable++;
          else if (o.gapFeed !== undefined && w.feed !== undefined && w.feed !== o.gapFeed) gaps.records--;
          else windows?.push(w);
        },
      });
    } catch (err) {
      throw (await diagnoseKafkaError(err, o.security, brokers)) ?? new Ws2kError('VERIFY_READ_FAILED', `reading the gap topic ${gapTopic} from ${brokers.join(',')}: ${(err as Error).message}`, { cause: err });
    }
    r.gaps = gaps;
  }

  if (expected !== undefined) {
    const missing = classifyMissing(expected.connections, expected.expected, seen, windows);
    r.lost = missing.lost;
    r.cut = missing.cut;
    r.samples.lost = missing.lostSample;
    r.samples.cut = missing.cutSample;
    if (r.gaps !== null) r.gaps.covered_connections = missing.coveredConnections;
    let unexpected = seen.outside();
    for (let q = 1; q <= expected.lastQ; q++) if (seen.has(q) && expected.expected[q] !== 1) unexpected++;
    r.unexpected = unexpected;
  } else if (o.expect !== undefined) {
    r.lost = Math.max(0, o.expect - seen.distinct);
  }

  const sorted = latencies.subarray(0, nLatencies).sort();
  r.latency_ms = { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: percentile(sorted, 1) };
  r.ok = r.lost === 0 && r.duplicated === 0 && r.reordered === 0 && r.corrupted === 0;
  return r;
}
