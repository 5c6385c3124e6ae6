// Value parsers shared by every option: each failure names the option, the value and what is accepted.
import { Ws2kError } from '../errors.ts';

export function usage(option: string, value: unknown, accepted: string): Ws2kError {
  return new Ws2kError('USAGE', `${option} '${String(value)}' is not valid: expected ${accepted}`);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "30s", "2m", "1h", "1.5s" → milliseconds; a bare number is seconds (as in `mock`). */
export function parseDuration(option: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw usage(option, value, 'a duration such as 500ms, 30s, 2m or 1h (a bare number is seconds)');
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}

export function parseInteger(option: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value.trim().replace(/_/g, '');
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw usage(option, value, `a whole number from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any size' : max}`);
  }
  return Number(v);
}

const POWERS: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };

/**
 * A size in bytes: "1048576", "256MB" (10^6), "256MiB" or "256m" (2^20), "1.5GiB", "64k"; case
 * does not matter, "B" may be left out. 0 stays 0. Whole bytes from min to max (or 0 when zero is
 * allowed, as "no bound"); the message names the option and the accepted range.
 */
export function parseBytes(option: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER, zero = false): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?)b?|b)?$/i.exec(value.trim().replace(/_/g, ''));
  const fmt = (n: number) => formatBytes(n);
  const accepted = `${zero ? '0 (no bound) or ' : ''}a size from ${fmt(min)} to ${max === Number.MAX_SAFE_INTEGER ? 'any size' : fmt(max)}, in bytes or with a unit: 256MB (10^6), 256MiB or 256m (2^20), 1GiB`;
  if (!m) throw usage(option, value, accepted);
  const unit = (m[2] ?? '').toLowerCase();
  // KB, MB, GB: powers of 1000; KiB, MiB, GiB and the bare letters k, m, g: powers of 1024.
  const decimal = unit !== '' && m[3] === '' && /b$/i.test(value.trim());
  const bytes = Math.round(Number(m[1]) * (decimal ? 1000 : 1024) ** POWERS[unit]!);
  if (bytes === 0 && zero) return 0;
  if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max) throw usage(option, value, accepted);
  return bytes;
}

/** 268435456 → "256MiB", 1000 → "1000B": exact binary units only (for messages and help). */
export function formatBytes(n: number): string {
  for (const [unit, p] of [['TiB', 4], ['GiB', 3], ['MiB', 2], ['KiB', 1]] as const) {
    if (n >= 1024 ** p && n % 1024 ** p === 0) return `${n / 1024 ** p}${unit}`;
  }
  return `${n}B`;
}

export function parseChoice<T extends string>(option: string, value: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === value.trim());
  if (found === undefined) throw usage(option, value, `one of ${choices.join(', ')}`);
  return found;
}

/** "T=trades,AM=aggregates" → { T: 'trades', AM: 'aggregates' }. */
export function parseMap(option: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const m = /^\s*([A-Za-z0-9_]+)\s*=\s*([A-Za-z0-9._-]+)\s*$/.exec(part);
    if (!m) throw usage(option, part, 'EV=TOPIC pairs separated by commas, e.g. T=trades,AM=aggregates');
    out[m[1]!] = m[2]!;
  }
  return out;
}

export function parseTopic(option: string, value: string): string {
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(value)) throw usage(option, value, 'a Kafka topic name (letters, digits, . _ -; at most 249)');
  return value;
}

export function parseUrl(option: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usage(option, redactUrl(value), 'a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw usage(option, redactUrl(value), 'a ws:// or wss:// URL');
  return value;
}

/** A URL fit for logs: no user info, no query values (keys are sometimes passed there). */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    url.username = '';
    url.password = '';
    for (const k of [...url.searchParams.keys()]) url.searchParams.set(k, 'REDACTED');
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export function parseBrokers(option: string, value: string): string[] {
  const list = value.split(',').map((b) => b.trim()).filter(Boolean);
  for (const b of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b)) throw usage(option, value, 'host:port pairs separated by commas, e.g. 127.0.0.1:9092');
  }
  if (list.length === 0) throw usage(option, value, 'at least one host:port');
  return list;
}
