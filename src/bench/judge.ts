// The rung's verdict and the ladder's summary. Pure: fed numbers, tested without processes.
//
// A rung is *sustained* when all of these hold (docs/benchmarks.md, "ws2kafka bench"):
//   1. the audit found nothing lost, duplicated, reordered or corrupted;
//   2. not_sent = 0: the pipeline was never disconnected (a slow reader the feed drops is not keeping up);
//   3. the mock really offered the rate: it skipped no late events and sent ≥ 98 % of offered × window;
//   4. acknowledged ≥ 98 % of offered over the window (events Kafka acknowledged while the feed ran);
//   5. the backlog (sent by the mock − acknowledged by Kafka) did not trend up: its least-squares
//      slope over the last three quarters of the window is ≤ 2 % of the offered rate.
// The sustained throughput is the highest offered rate whose rung was sustained.

export const KEEP_UP = 0.98;
export const BACKLOG_SLOPE_LIMIT = 0.02;
/** The first part of the window is warm-up for the backlog trend. */
export const TREND_SKIP = 0.25;

export interface Sample {
  /** ms (Date.now()) */
  t: number;
  /** Events the mock has written to the pipeline's connection(s). */
  sent: number;
  /** Events in the rung's topics (Kafka's end offsets). */
  acked: number;
}

/** Linear interpolation of `acked` (or `sent`) at time t; clamped to the first and last samples. */
export function valueAt(samples: readonly Sample[], t: number, field: 'sent' | 'acked'): number {
  const first = samples[0];
  if (first === undefined) return 0;
  if (t <= first.t) return first[field];
  for (let i = 1; i < samples.length; i++) {
    const b = samples[i]!;
    if (t <= b.t) {
      const a = samples[i - 1]!;
      return b.t === a.t ? b[field] : a[field] + ((b[field] - a[field]) * (t - a.t)) / (b.t - a.t);
    }
  }
  return samples[samples.length - 1]![field];
}

/** Least-squares slope (per second) of the backlog, sent − acked, over samples in [from, to]. Null with fewer than 3. */
export function backlogSlope(samples: readonly Sample[], from: number, to: number): number | null {
  const pts = samples.filter((s) => s.t >= from && s.t <= to);
  if (pts.length < 3) return null;
  const n = pts.length;
  let sx = 0;
  let sy = 0;
  for (const p of pts) {
    sx += p.t / 1000;
    sy += p.sent - p.acked;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of pts) {
    const dx = p.t / 1000 - mx;
    num += dx * (p.sent - p.acked - my);
    den += dx * dx;
  }
  return den === 0 ? null : num / den;
}

export interface RungMeasures {
  offered: number;
  /** The feed's window: timeline start and stop (ms). */
  windowStart: number;
  windowEnd: number;
  /** Events the mock sent the pipeline in the window, and the late events it gave up on. */
  sent: number;
  mockSkipped: number;
  samples: readonly Sample[];
  audit: { lost: number; duplicated: number; reordered: number; corrupted: number; not_sent: number };
}

export interface Verdict {
  sustained: boolean;
  /** Why not (empty when sustained). */
  reasons: string[];
  window_s: number;
  sent_per_s: number;
  acked_per_s: number;
  /** Backlog trend over the window, events/s (null: too few samples). */
  backlog_growth_per_s: number | null;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

export function judgeRung(m: RungMeasures): Verdict {
  const windowS = Math.max(0.001, (m.windowEnd - m.windowStart) / 1000);
  const acked = valueAt(m.samples, m.windowEnd, 'acked') - valueAt(m.samples, m.windowStart, 'acked');
  const sentPerS = m.sent / windowS;
  const ackedPerS = acked / windowS;
  const slope = backlogSlope(m.samples, m.windowStart + TREND_SKIP * (m.windowEnd - m.windowStart), m.windowEnd);
  const reasons: string[] = [];
  const a = m.audit;
  for (const k of ['lost', 'duplicated', 'reordered', 'corrupted'] as const) if (a[k] > 0) reasons.push(`${k} ${fmt(a[k])}`);
  if (a.not_sent > 0) reasons.push(`disconnected: ${fmt(a.not_sent)} events not sent`);
  if (m.mockSkipped > 0 || sentPerS < KEEP_UP * m.offered) reasons.push(`the mock offered only ${fmt(sentPerS)}/s${m.mockSkipped > 0 ? ` (gave up ${fmt(m.mockSkipped)} late events)` : ''}`);
  if (ackedPerS < KEEP_UP * m.offered) reasons.push(`acknowledged ${fmt(ackedPerS)}/s < ${KEEP_UP * 100}% of offered`);
  if (slope !== null && slope > BACKLOG_SLOPE_LIMIT * m.offered) reasons.push(`backlog growing ${fmt(slope)} events/s`);
  return { sustained: reasons.length === 0, reasons, window_s: windowS, sent_per_s: sentPerS, acked_per_s: ackedPerS, backlog_growth_per_s: slope };
}

/** The highest offered rate whose rung was sustained (null: none). */
export function sustainedRate(rungs: readonly { offered: number; sustained: boolean }[]): number | null {
  let best: number | null = null;
  for (const r of rungs) if (r.sustained && (best === null || r.offered > best)) best = r.offered;
  return best;
}

/**
 * The rungs offered above the sustained rate: how many times it each offered, and what fraction of
 * it Kafka still acknowledged (1: no loss of throughput; a collapse shows as a small fraction).
 */
export function aboveSustained(rungs: readonly { offered: number; acked_per_s: number }[], sustained: number | null): Array<{ offered: number; times: number; acked_per_s: number; of_sustained: number }> {
  if (sustained === null || sustained <= 0) return [];
  return rungs
    .filter((r) => r.offered > sustained)
    .map((r) => ({ offered: r.offered, times: Math.round((r.offered / sustained) * 100) / 100, acked_per_s: r.acked_per_s, of_sustained: Math.round((r.acked_per_s / sustained) * 1000) / 1000 }));
}

/** The value of an unlabelled series in a Prometheus text (null when absent or not a number). */
export function seriesOf(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  const v = m ? Number(m[1]) : NaN;
  return Number.isFinite(v) ? v : null;
}

/** The lower of the measured ceilings (null when neither was measured). */
export function ceilingRate(receive: number | null, producer: number | null): number | null {
  if (receive === null) return producer;
  if (producer === null) return receive;
  return Math.min(receive, producer);
}

export function fractionOf(sustained: number | null, ceiling: number | null): number | null {
  if (sustained === null || ceiling === null || ceiling <= 0) return null;
  return Math.round((sustained / ceiling) * 1000) / 1000;
}
