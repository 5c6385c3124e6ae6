// Gap records and what they account for. Pure: no Kafka, no timers; tested on plain values.
//
// A missing event is either a hole or part of a connection's tail. For one mock connection, L is
// the highest q it was sent that reached Kafka; the missing q above L are its tail: what was
// written into the socket after the last event the bridge got through. When the bridge dies
// (SIGKILL) those bytes are gone, and the restarted bridge records the window as a gap. A tail is
// `cut` when the connection ended inside a recorded gap window (give or take GAP_TOLERANCE_MS);
// every other missing event (a hole below L, a tail with no gap, a connection still open) is lost.

/** Slack around a gap window for the connection's close: the mock learns of a close over loopback a little after the bridge stopped reading, and the restarted bridge's `from` is its last sign of data. */
export const GAP_TOLERANCE_MS = 1000;

/** A disconnect window from a gap record (ms since the epoch). */
export interface GapWindow {
  from: number;
  to: number;
  /** The feed the record names (bridges with several feeds); undefined in older records. */
  feed?: string;
}

/** What one mock connection was written: bit (q - base) of `bits` (LSB first) set = q was sent. */
export interface SentConnection {
  id: number;
  closedAt: number | null;
  base: number;
  bits: Uint8Array;
}

/** Which q values reached Kafka. */
export interface Delivered {
  has(q: number): boolean;
}

export interface MissingEvents {
  lost: number;
  cut: number;
  /** The first 10 of each, ascending. */
  lostSample: number[];
  cutSample: number[];
  /** Connections that closed inside a gap window. */
  coveredConnections: number;
}

const SAMPLES = 10;

/** The window of one gap record's value; undefined when it is not a gap record. */
export function parseGapRecord(value: Buffer | undefined): GapWindow | undefined {
  if (value === undefined || value.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const g = parsed as Record<string, unknown>;
  const { from, to } = g;
  if (g['type'] !== 'gap' || typeof from !== 'number' || typeof to !== 'number') return undefined;
  if (!Number.isFinite(from) || !Number.isFinite(to) || from > to) return undefined;
  return typeof g['feed'] === 'string' ? { from, to, feed: g['feed'] } : { from, to };
}

/** Whether a connection that closed at `closedAt` ended inside one of the windows. */
export function closedInGap(closedAt: number | null, gaps: readonly GapWindow[], toleranceMs = GAP_TOLERANCE_MS): boolean {
  if (closedAt === null) return false;
  for (const g of gaps) if (g.from - toleranceMs <= closedAt && closedAt <= g.to + toleranceMs) return true;
  return false;
}

/** The highest q of the connection that is expected and delivered; base - 1 when there is none. */
function lastDelivered(c: SentConnection, expected: Uint8Array, delivered: Delivered): number {
  for (let byte = c.bits.length - 1; byte >= 0; byte--) {
    const v = c.bits[byte] ?? 0;
    if (v === 0) continue;
    for (let bit = 7; bit >= 0; bit--) {
      if ((v & (1 << bit)) === 0) continue;
      const q = c.base + byte * 8 + bit;
      if (expected[q] === 1 && delivered.has(q)) return q;
    }
  }
  return c.base - 1;
}

// Per q: 0 nothing said, 1 in a covered tail, 2 must be in Kafka (a hole or an uncovered tail on
// some connection). A q sent to several connections is cut only if no connection says 2.
const COVERED_TAIL = 1;
const MUST = 2;

/**
 * Classifies the expected q values (expected[q] === 1) absent from `delivered` as lost or cut.
 * Without gap windows (undefined) everything missing is lost, as before gap records were read.
 */
export function classifyMissing(
  connections: readonly SentConnection[],
  expected: Uint8Array,
  delivered: Delivered,
  gaps: readonly GapWindow[] | undefined,
  toleranceMs = GAP_TOLERANCE_MS,
): MissingEvents {
  const out: MissingEvents = { lost: 0, cut: 0, lostSample: [], cutSample: [], coveredConnections: 0 };
  let mark: Uint8Array | undefined;
  if (gaps !== undefined) {
    mark = new Uint8Array(expected.length);
    for (const c of connections) {
      const covered = closedInGap(c.closedAt, gaps, toleranceMs);
      if (covered) out.coveredConnections++;
      const last = covered ? lastDelivered(c, expected, delivered) : Infinity;
      for (let byte = 0; byte < c.bits.length; byte++) {
        const v = c.bits[byte] ?? 0;
        if (v === 0) continue;
        for (let bit = 0; bit < 8; bit++) {
          if ((v & (1 << bit)) === 0) continue;
          const q = c.base + byte * 8 + bit;
          if (expected[q] !== 1 || delivered.has(q)) continue;
          if (q > last) {
            if (mark[q] === 0) mark[q] = COVERED_TAIL;
          } else {
            mark[q] = MUST;
          }
        }
      }
    }
  }
  for (let q = 1; q < expected.length; q++) {
    if (expected[q] !== 1 || delivered.has(q)) continue;
    if (mark?.[q] === COVERED_TAIL) {
      out.cut++;
      if (out.cutSample.length < SAMPLES) out.cutSample.push(q);
    } else {
      out.lost++;
      if (out.lostSample.length < SAMPLES) out.lostSample.push(q);
    }
  }
  return out;
}
