// The options of `ws2kafka bench` and the parsers that turn its flags into them. Pure: every bad
// value is a USAGE error naming the flag, the value and what is accepted.
import { Ws2kError } from '../errors.ts';
import type { KafkaSecurity } from '../config/kafka-options.ts';
import { parseBrokers } from '../config/parse.ts';
import { parseDuration, parseInteger } from '../mock/options.ts';

export interface BenchOptions {
  /** Offered rates, events/s, in the order run (ascending). */
  rates: number[];
  /** How long the mock offers each rate. */
  durationMs: number;
  /** Events per frame. */
  batch: number;
  /** Undefined: 127.0.0.1:9092, started with `ws2kafka kafka start` when nothing answers. */
  brokers: string[] | undefined;
  /** TLS and SASL towards Kafka, for every client bench makes and every process it starts. */
  security: KafkaSecurity | undefined;
  /**
   * A peer measured beside `ws2kafka run` (each rung, or the burst, run for ws2kafka, then for the
   * peer): a shell command (reads ws://127.0.0.1:<mockPort>/mock, writes trades/aggregates), or a
   * short name of bench/peers/ (`benthos`).
   */
  peer: string | undefined;
  /** --peer-only: the peer instead of `ws2kafka run` (bench's behaviour before issue 15). */
  peerOnly: boolean;
  /** --burst N: N events once at the mock's full speed instead of the ladder. */
  burst: number | undefined;
  /** The mock's port with --peer (default 8081, the address a peer expects). */
  mockPort: number;
  /** Also measure the machine's ceiling (receive-only client, kafka-producer-perf-test). */
  ceiling: boolean;
  /** Records kafka-producer-perf-test sends for the ceiling. */
  ceilingRecords: number;
  /** Longest wait, after the feed stops, for the backlog to reach Kafka. */
  drainMs: number;
  json: boolean;
  /** Where the chart (bench.svg) and the result (bench.json) are written. */
  out: string | undefined;
  /**
   * --link-delay: ms added to every round trip between the pipeline and Kafka (half each way), by a
   * delay link in front of a broker bench starts for it; undefined: no link. 0 runs the link
   * without delay (its own cost).
   */
  linkDelayMs: number | undefined;
  /** `ws2kafka run --inflight N` (produce requests in flight per broker); run's default when absent. */
  inflight: number | undefined;
}

export const BENCH_DEFAULTS = {
  rates: [50_000, 100_000, 200_000, 300_000, 450_000, 700_000],
  durationMs: 20_000,
  batch: 100,
  mockPort: 8081,
  ceilingRecords: 2_000_000,
  drainMs: 30_000,
  /** --drain with --burst: a large burst takes longer than a rung's backlog to reach Kafka. */
  burstDrainMs: 120_000,
} as const;

/** --burst accepts this many events at most: the mock's pacer gives nothing up while its backlog stays within a second of its highest rate (10,000,000/s). */
export const MAX_BURST = 10_000_000;
export const MIN_BURST = 1000;

/** The flags as node's parseArgs returns them (strings and booleans). */
export interface BenchFlagValues {
  rates?: string | undefined;
  duration?: string | undefined;
  batch?: string | undefined;
  brokers?: string | undefined;
  peer?: string | undefined;
  'mock-port'?: string | undefined;
  ceiling?: boolean | undefined;
  'ceiling-records'?: string | undefined;
  drain?: string | undefined;
  json?: boolean | undefined;
  out?: string | undefined;
  'link-delay'?: string | undefined;
  inflight?: string | undefined;
  burst?: string | undefined;
  'peer-only'?: boolean | undefined;
}

/** The longest --link-delay: a round trip across the planet is about 300 ms. */
export const MAX_LINK_DELAY_MS = 10_000;

function usage(flag: string, value: string, accepted: string): Ws2kError {
  return new Ws2kError('USAGE', `--${flag} '${value}' is not accepted: expected ${accepted}`);
}

/** `50000,100000,200k,1m` → ascending, distinct rates in events/s (1 to 10,000,000 each). */
export function parseRates(flag: string, value: string): number[] {
  const accepted = 'comma-separated events/s from 1 to 10,000,000, e.g. 50000,100000,200k';
  const out: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(part.replace(/_/g, ''));
    if (m === null) throw usage(flag, value, accepted);
    const mult = m[2] === '' ? 1 : m[2]?.toLowerCase() === 'k' ? 1000 : 1_000_000;
    const rate = Number(m[1]) * mult;
    if (!Number.isInteger(rate) || rate < 1 || rate > 10_000_000) throw usage(flag, value, accepted);
    out.push(rate);
  }
  const distinct = [...new Set(out)].sort((a, b) => a - b);
  if (distinct.length === 0) throw usage(flag, value, accepted);
  return distinct;
}

/** `20ms`, `0.5s`, `0` → ms added per round trip, 0 to MAX_LINK_DELAY_MS. */
export function parseLinkDelay(flag: string, value: string): number {
  const accepted = `a round-trip time from 0 to ${MAX_LINK_DELAY_MS / 1000}s, such as 20ms or 0.1s (0: the link without delay)`;
  if (/^\s*0+(\.0+)?\s*(ms|s)?\s*$/.test(value)) return 0;
  let ms: number;
  try {
    ms = parseDuration(flag, value);
  } catch {
    throw usage(flag, value, accepted);
  }
  if (ms > MAX_LINK_DELAY_MS) throw usage(flag, value, accepted);
  return ms;
}

export function benchOptions(v: BenchFlagValues): BenchOptions {
  const o: BenchOptions = {
    rates: [...BENCH_DEFAULTS.rates],
    durationMs: BENCH_DEFAULTS.durationMs,
    batch: BENCH_DEFAULTS.batch,
    brokers: undefined,
    security: undefined,
    peer: undefined,
    peerOnly: v['peer-only'] ?? false,
    burst: undefined,
    mockPort: BENCH_DEFAULTS.mockPort,
    ceiling: v.ceiling ?? false,
    ceilingRecords: BENCH_DEFAULTS.ceilingRecords,
    drainMs: BENCH_DEFAULTS.drainMs,
    json: v.json ?? false,
    out: undefined,
    linkDelayMs: undefined,
    inflight: undefined,
  };
  if (v.rates !== undefined) o.rates = parseRates('rates', v.rates);
  if (v.duration !== undefined) {
    o.durationMs = parseDuration('duration', v.duration);
    if (o.durationMs < 1000) throw usage('duration', v.duration, 'a duration of at least 1s, such as 20s or 1m');
  }
  if (v.batch !== undefined) o.batch = parseInteger('batch', v.batch, 1, 100_000);
  if (v.brokers !== undefined) {
    try {
      o.brokers = parseBrokers('--brokers', v.brokers);
    } catch {
      throw usage('brokers', v.brokers, 'host:port pairs separated by commas, e.g. 127.0.0.1:9092');
    }
  }
  if (v.peer !== undefined) {
    if (v.peer.trim() === '') throw usage('peer', v.peer, 'a shell command, e.g. "mytool --config bench.yaml"');
    o.peer = v.peer;
  }
  if (o.peerOnly && o.peer === undefined) throw new Ws2kError('USAGE', '--peer-only needs --peer: it measures the peer instead of ws2kafka run');
  if (v.burst !== undefined) {
    o.burst = parseInteger('burst', v.burst, MIN_BURST, MAX_BURST);
    for (const [flag, given] of [['rates', v.rates], ['duration', v.duration], ['ceiling', v.ceiling === true ? 'yes' : undefined], ['ceiling-records', v['ceiling-records']], ['link-delay', v['link-delay']]] as const) {
      if (given !== undefined) {
        throw new Ws2kError('USAGE', `--burst cannot be combined with --${flag}: --burst offers N events once at the mock's full speed, not a ladder of rates (run them as two benches)`);
      }
    }
    if (v.drain === undefined) o.drainMs = BENCH_DEFAULTS.burstDrainMs;
  }
  if (v['mock-port'] !== undefined) o.mockPort = parseInteger('mock-port', v['mock-port'], 1, 65_535);
  if (v['ceiling-records'] !== undefined) o.ceilingRecords = parseInteger('ceiling-records', v['ceiling-records'], 1000, 1_000_000_000);
  if (v.drain !== undefined) o.drainMs = parseDuration('drain', v.drain);
  if (v.out !== undefined) {
    if (v.out.trim() === '') throw usage('out', v.out, 'a directory');
    o.out = v.out;
  }
  if (v['link-delay'] !== undefined) {
    o.linkDelayMs = parseLinkDelay('link-delay', v['link-delay']);
    if (o.brokers !== undefined) {
      throw new Ws2kError('USAGE', '--link-delay cannot be combined with --brokers (or a config file\'s brokers): bench starts a broker of its own for it, one that advertises the delay link\'s address');
    }
  }
  if (v.inflight !== undefined) {
    o.inflight = parseInteger('inflight', v.inflight, 1, 1000);
    if (o.peer !== undefined && o.peerOnly) throw new Ws2kError('USAGE', '--inflight is passed to ws2kafka run: with --peer-only there is none (a --peer command takes its own settings)');
  }
  return o;
}
