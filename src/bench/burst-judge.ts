// A burst's figures and verdict (`bench --burst N`). Pure: fed samples and counts, tested without processes.
//
// A burst is *absorbed* when all of these hold (docs/benchmarks.md, "Bursts and a peer beside ws2kafka"):
//   1. nothing not sent: the feed never dropped the pipeline (slow reader) nor skipped events;
//   2. the audit found nothing lost, cut (a dropped connection's tail inside a gap the bridge recorded),
//      duplicated, reordered or corrupted;
//   3. Kafka acknowledged everything sent within --drain after the burst ended.
import { seriesOf } from './judge.ts';

export interface BurstSample {
  /** ms (Date.now()) */
  t: number;
  /** Events the mock has written to the pipeline's connection(s). */
  sent: number;
  /** Events in the burst's topics (Kafka's end offsets). */
  acked: number;
  /** The bridge's unacknowledged spool bytes (ws2kafka_spool_bytes); null: no such series (a peer). */
  spoolBytes: number | null;
  /** Events in the spool: spooled − replayed (ws2kafka_events_spooled_total − _replayed_total); null: no series. */
  spoolEvents: number | null;
}

/** The spool series of one /metrics text (null when absent). */
export function spoolFromMetrics(text: string): { bytes: number | null; events: number | null; spooled: number | null } {
  const series = (name: string) => seriesOf(text, name);
  const bytes = series('ws2kafka_spool_bytes');
  const spooled = series('ws2kafka_events_spooled_total');
  const replayed = series('ws2kafka_events_replayed_total');
  return { bytes, events: spooled === null ? null : Math.max(0, spooled - (replayed ?? 0)), spooled };
}

export interface BurstFigures {
  /** Highest spool size seen, MB (null: the pipeline exports no spool series). */
  peak_spool_mb: number | null;
  /** Highest spooled − replayed seen (null: no series). */
  peak_spool_events: number | null;
  /** Seconds from the end of the burst until Kafka held everything sent (null: not within the wait). */
  drain_s: number | null;
  /** Events/s Kafka acknowledged from the end of the burst to the end of the drain (null: nothing left to drain, or not drained). */
  drain_acked_per_s: number | null;
  /** Events in Kafka when the burst ended (interpolated). */
  acked_at_burst_end: number;
}

function ackedAt(samples: readonly BurstSample[], t: number): number {
  const first = samples[0];
  if (first === undefined) return 0;
  if (t <= first.t) return first.acked;
  for (let i = 1; i < samples.length; i++) {
    const b = samples[i]!;
    if (t <= b.t) {
      const a = samples[i - 1]!;
      return b.t === a.t ? b.acked : a.acked + ((b.acked - a.acked) * (t - a.t)) / (b.t - a.t);
    }
  }
  return samples[samples.length - 1]!.acked;
}

/**
 * `burstEnd`: when the mock had sent its last event (ms); `sent`: all it counts as written to the
 * pipeline; `settled`: the sampling ended because Kafka held all of it and nothing moved any more
 * (false: --drain ran out or the pipeline exited). The mock counts an event sent when its socket write
 * completes; when it cuts a slow reader, bytes already handed over can still reach the pipeline
 * uncounted, so the drain ends at the first sample holding the larger of `sent` and the last
 * acknowledged count (drain_s is rounded up to the sampling interval).
 */
export function burstFigures(samples: readonly BurstSample[], burstEnd: number, sent: number, settled = true): BurstFigures {
  let peakMb: number | null = null;
  let peakEvents: number | null = null;
  for (const s of samples) {
    if (s.spoolBytes !== null) peakMb = Math.max(peakMb ?? 0, s.spoolBytes / 1e6);
    if (s.spoolEvents !== null) peakEvents = Math.max(peakEvents ?? 0, s.spoolEvents);
  }
  const atEnd = ackedAt(samples, burstEnd);
  const target = Math.max(sent, samples.at(-1)?.acked ?? 0);
  const done = settled ? samples.find((s) => s.acked >= target) : undefined;
  const drainS = done === undefined ? null : Math.max(0, (done.t - burstEnd) / 1000);
  const left = target - atEnd;
  return {
    peak_spool_mb: peakMb === null ? null : Math.round(peakMb * 10) / 10,
    peak_spool_events: peakEvents,
    drain_s: drainS === null ? null : Math.round(drainS * 100) / 100,
    drain_acked_per_s: drainS === null || drainS < 0.05 || left <= 0 ? null : Math.round(left / drainS),
    acked_at_burst_end: Math.round(atEnd),
  };
}

export interface BurstCounts {
  not_sent: number;
  mock_skipped: number;
  slow_reader_drops: number;
  lost: number;
  /** Missing events of a connection that ended inside a gap the bridge recorded (audit with its gap topic). */
  cut: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  drain_s: number | null;
  drainWaitS: number;
  exit: string | null;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

/** Why the burst was not absorbed (empty: absorbed). */
export function judgeBurst(c: BurstCounts): string[] {
  const reasons: string[] = [];
  if (c.slow_reader_drops > 0) reasons.push(`dropped by the feed as a slow reader${c.slow_reader_drops > 1 ? ` ${c.slow_reader_drops} times` : ''}`);
  if (c.not_sent > 0) reasons.push(`${fmt(c.not_sent)} events not sent`);
  if (c.mock_skipped > 0) reasons.push(`the mock gave up ${fmt(c.mock_skipped)} late events`);
  if (c.cut > 0) reasons.push(`cut ${fmt(c.cut)} (the tail of a dropped connection, inside a recorded gap)`);
  for (const k of ['lost', 'duplicated', 'reordered', 'corrupted'] as const) if (c[k] > 0) reasons.push(`${k} ${fmt(c[k])}`);
  if (c.drain_s === null) reasons.push(`not drained within ${c.drainWaitS}s (--drain)`);
  if (c.exit !== null) reasons.push(c.exit);
  return reasons;
}
