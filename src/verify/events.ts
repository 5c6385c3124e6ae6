// What a valid record looks like: its value a JSON event of an ev routed to its topic, with the
// fields that ev must have, and its key that event's symbol. Pure: tested on bytes.

/** ev → topic, as `run` routes by default: trades to `trades`, second and minute bars to `aggregates`. */
export const DEFAULT_ROUTES: Readonly<Record<string, string>> = { T: 'trades', A: 'aggregates', AM: 'aggregates' };

/** The field holding an event's symbol, per ev (POLYGON.md "Events"); `sym` for the rest. */
const KEY_FIELDS: Readonly<Record<string, string>> = {
  XT: 'pair',
  XQ: 'pair',
  XL2: 'pair',
  XA: 'pair',
  XAS: 'pair',
  CA: 'pair',
  CAS: 'pair',
  C: 'p',
  LULD: 'T',
  NOI: 'T',
  V: 'T',
};

export function keyFieldOf(ev: string): string {
  return KEY_FIELDS[ev] ?? 'sym';
}

/** Fields that must be numbers, per ev; other evs only need their key field. */
const NUMERIC_FIELDS: Readonly<Record<string, readonly string[]>> = {
  T: ['p', 's', 't'],
  Q: ['bp', 'ap', 't'],
  A: ['o', 'c', 'h', 'l', 'v', 's', 'e'],
  AM: ['o', 'c', 'h', 'l', 'v', 's', 'e'],
  XT: ['p', 's', 't'],
  XQ: ['bp', 'ap', 't'],
};

/** `T=trades,A=aggregates,AM=aggregates` → { T: 'trades', ... }; undefined when malformed. */
export function parseRoutes(text: string): Record<string, string> | undefined {
  const routes: Record<string, string> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9]+)\s*=\s*([A-Za-z0-9._-]+)\s*$/.exec(part);
    if (m?.[1] === undefined || m[2] === undefined) return undefined;
    routes[m[1]] = m[2];
  }
  return routes;
}

export interface CheckedRecord {
  /** Why the record is corrupted; undefined when it is valid. */
  problem: string | undefined;
  /** The parsed event, when the value is a JSON object. */
  event: Record<string, unknown> | undefined;
}

/** Checks one record's value and key against the topic it was read from. */
export function checkRecord(topic: string, key: Buffer | undefined, value: Buffer | undefined, routes: Readonly<Record<string, string>>): CheckedRecord {
  if (value === undefined || value.length === 0) return { problem: 'empty value', event: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return { problem: 'value is not JSON', event: undefined };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { problem: 'value is not a JSON object', event: undefined };
  const event = parsed as Record<string, unknown>;
  const ev = event['ev'];
  if (typeof ev !== 'string') return { problem: 'no "ev" string', event };
  if (routes[ev] !== topic) return { problem: `ev ${ev} is not routed to ${topic}`, event };
  for (const f of NUMERIC_FIELDS[ev] ?? []) {
    if (typeof event[f] !== 'number') return { problem: `${ev} without numeric "${f}"`, event };
  }
  const keyField = keyFieldOf(ev);
  const symbol = event[keyField];
  if (typeof symbol !== 'string' || symbol === '') return { problem: `${ev} without "${keyField}" string`, event };
  const k = key?.toString('utf8');
  if (k !== symbol) return { problem: `key ${JSON.stringify(k ?? null)} is not the event's ${keyField} ${JSON.stringify(symbol)}`, event };
  if ('q' in event && typeof event['q'] !== 'number') return { problem: '"q" is not a number', event };
  return { problem: undefined, event };
}
