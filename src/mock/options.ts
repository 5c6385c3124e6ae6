// The mock's options, their defaults, and the parsers that turn flag strings into them. Every bad
// value is a USAGE error naming the flag, the value and what is accepted.
import { Ws2kError } from '../errors.ts';
import type { FeedLogger } from '../feed/server.ts';
import { DEFAULT_MIX, EV_NAMES, type EvName, type Mix } from './generator.ts';

export interface MockOptions {
  host: string;
  /** 0: an ephemeral port (the real one is in the returned url). */
  port: number;
  path: string;
  /** Accepted API keys; empty: any key. Never reported in /stats nor logged. */
  apiKeys: string[];
  authTimeoutMs: number;
  /** Per key; 0: unlimited. */
  maxConnections: number;
  /**
   * With maxConnections: a connection over the limit evicts the oldest of its key (which gets
   * max_connections and is closed, as the issue reports of Polygon) instead of being refused.
   */
  evictOldest: boolean;
  /** Synthetic: events/s. Replay: frames/s. */
  rate: number;
  /** Events per frame at most (synthetic). */
  batch: number;
  symbols: number;
  mix: Mix;
  /** Stop sending after this many timeline events (connections stay open). */
  events: number | undefined;
  /** Stop sending this long after the timeline starts (connections stay open). */
  durationMs: number | undefined;
  /** Frames from this file, one per line, instead of synthetic events. */
  replay: string | undefined;
  randomize: boolean;
  loop: boolean;
  /** Force-disconnect each connection this long after it opened. */
  disconnectEveryMs: number | undefined;
  /** Share of data frames followed by a malformed frame, 0..1. */
  malformedRatio: number;
  slowConsumerBytes: number;
  seed: number;
  /** Timeline events whose ev and symbol are kept for /stats?detail=1 (3 bytes each). */
  detailLimit: number;
  logger: FeedLogger;
}

export const MOCK_DEFAULTS: Omit<MockOptions, 'logger'> = {
  host: '127.0.0.1',
  port: 8081,
  path: '/mock',
  apiKeys: [],
  authTimeoutMs: 10_000,
  maxConnections: 0,
  evictOldest: false,
  rate: 1000,
  batch: 100,
  symbols: 500,
  mix: DEFAULT_MIX,
  events: undefined,
  durationMs: undefined,
  replay: undefined,
  randomize: false,
  loop: false,
  disconnectEveryMs: undefined,
  malformedRatio: 0,
  slowConsumerBytes: 64 * 1024 * 1024,
  seed: 1,
  detailLimit: 50_000_000,
};

function usage(flag: string, value: string, accepted: string): Ws2kError {
  return new Ws2kError('USAGE', `--${flag} '${value}' is not accepted: expected ${accepted}`);
}

/** `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds; > 0. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const ms = m?.[1] === undefined ? NaN : Number(m[1]) * unit[(m[2] ?? 's') as keyof typeof unit];
  if (!(ms > 0) || !Number.isFinite(ms)) throw usage(flag, value, 'a duration such as 500ms, 5s, 2m or 1h (a bare number is seconds), greater than 0');
  return ms;
}

/** A whole number in [min, max]; `_` and `,` separators allowed (`1_000_000`). */
export function parseInteger(flag: string, value: string, min: number, max: number): number {
  const clean = value.trim().replace(/[_,]/g, '');
  const n = Number(clean);
  if (!/^\d+$/.test(clean) || n < min || n > max) throw usage(flag, value, `a whole number from ${min.toLocaleString('en')} to ${max.toLocaleString('en')}`);
  return n;
}

export function parseRatio(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw usage(flag, value, 'a number from 0 to 1');
  return n;
}

/** `T=60,Q=30,A=5,AM=5`: weights (any non-negative numbers); types left out get 0. */
export function parseMix(flag: string, value: string): Mix {
  const mix: Mix = { T: 0, Q: 0, A: 0, AM: 0, XT: 0 };
  const accepted = `comma-separated TYPE=WEIGHT pairs with TYPE one of ${EV_NAMES.join(', ')}, e.g. T=60,Q=30,A=5,AM=5`;
  for (const part of value.split(',')) {
    const m = /^\s*([A-Z]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (m === null || !(EV_NAMES as readonly string[]).includes(m[1] ?? '')) throw usage(flag, value, accepted);
    mix[m[1] as EvName] = Number(m[2]);
  }
  if (EV_NAMES.every((e) => mix[e] === 0)) throw usage(flag, value, `${accepted}, not all 0`);
  return mix;
}

/** Checks options given programmatically, with the same messages as the flags. */
export function validateMockOptions(o: Omit<MockOptions, 'logger'>): void {
  const check = (ok: boolean, flag: string, value: unknown, accepted: string) => {
    if (!ok) throw usage(flag, String(value), accepted);
  };
  check(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535, 'port', o.port, 'a whole number from 0 (any free port) to 65535');
  check(o.path.startsWith('/'), 'path', o.path, 'a path starting with /');
  check(o.rate > 0 && o.rate <= 10_000_000, 'rate', o.rate, 'a number from 1 to 10,000,000');
  check(Number.isInteger(o.batch) && o.batch >= 1 && o.batch <= 100_000, 'batch', o.batch, 'a whole number from 1 to 100,000');
  check(Number.isInteger(o.symbols) && o.symbols >= 1 && o.symbols <= 65_535, 'symbols', o.symbols, 'a whole number from 1 to 65,535');
  check(o.malformedRatio >= 0 && o.malformedRatio <= 1, 'malformed-ratio', o.malformedRatio, 'a number from 0 to 1');
  check(o.authTimeoutMs > 0, 'auth-timeout', o.authTimeoutMs, 'a duration greater than 0');
  check(o.slowConsumerBytes >= 1, 'slow-consumer-bytes', o.slowConsumerBytes, 'a whole number of bytes, at least 1');
  check(EV_NAMES.some((e) => o.mix[e] > 0) && EV_NAMES.every((e) => o.mix[e] >= 0), 'mix', JSON.stringify(o.mix), 'non-negative weights, not all 0');
}
