// The shape of `bench --burst`'s result (`--json` prints it; `--out` writes it as burst.json) and its
// human report. Pure.
import type { BenchResult } from './result.ts';

export interface BurstRun {
  pipeline: string;
  /** --burst N. */
  events: number;
  /** Events the mock's timeline held (N unless it was stopped early). */
  offered: number;
  /** Events the mock counts as written to the pipeline's connections (a socket write completed). */
  sent: number;
  /** The audit's figures: events that had to be in Kafka (from the mock's per-connection bitmaps), distinct
   * events found, and records whose event the mock had not counted as sent (written as the connection was cut). */
  expected: number | null;
  delivered: number;
  unexpected: number;
  /** Events no connection of the pipeline was written: the feed dropped it (slow reader) or it was not connected (audit). */
  not_sent: number;
  /** Events the mock's pacer gave up (0 unless the mock itself could not keep up; see BURST_RATE). */
  mock_skipped: number;
  dropped_as_slow_reader: boolean;
  /** Connections the mock closed with slow_consumer. */
  slow_reader_drops: number;
  /** Connections the pipeline opened (more than 1: it reconnected). */
  connections: number;
  /** From the pipeline's subscription to the mock's last event, s. */
  burst_s: number;
  sent_per_s: number;
  acked_at_burst_end: number;
  peak_spool_mb: number | null;
  peak_spool_events: number | null;
  /** From the end of the burst until Kafka held everything sent, s (null: not within --drain). */
  drain_s: number | null;
  /** Events/s Kafka acknowledged during the drain. */
  drain_acked_per_s: number | null;
  acked_total: number;
  lost: number;
  /** Missing events of a dropped connection's tail inside a gap the bridge recorded (0 for a peer: no gap topic). */
  cut: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** The bridge's receive-to-ack p99/max (null for a peer). */
  p99_ms: number | null;
  max_ms: number | null;
  /** Feed-send-to-Kafka latency from the audit. */
  e2e_p99_ms: number | null;
  e2e_max_ms: number | null;
  /** Peak resident set of the pipeline's process tree, MB. */
  peak_rss_mb: number | null;
  /** CPU seconds of the pipeline from its subscription to the end of the burst, and to the end of the drain. */
  cpu_s_burst: number | null;
  cpu_s: number | null;
  /** Nothing not sent, nothing lost, duplicated, reordered or corrupted, drained within --drain. */
  absorbed: boolean;
  reasons: string[];
  /** The samples: seconds since the subscription, events sent, acknowledged, spool MB. */
  timeline: { t_s: number; sent: number; acked: number; spool_mb: number | null }[];
}

export interface BurstResult {
  burst: BurstRun;
  /** --peer beside ws2kafka: the same burst to the peer (null without --peer). */
  peer: BurstRun | null;
  settings: { events: number; batch: number; mix: string; brokers: string[]; drain_s: number; mock_rate: number; inflight: number | null };
  machine: BenchResult['machine'];
  contention: string[];
}

const int = (n: number | null) => (n === null ? 'n/a' : Math.round(n).toLocaleString('en'));
const dec = (n: number | null, d: number) => (n === null ? 'n/a' : n.toFixed(d));

/** The report of one pipeline's burst, a line per figure. */
export function burstLines(b: BurstRun): string[] {
  return [
    `pipeline: ${b.pipeline}`,
    `  burst:            ${int(b.offered)} events offered at the mock's full speed; ${int(b.sent)} sent in ${dec(b.burst_s, 2)}s (${int(b.sent_per_s)}/s)`,
    `  not sent:         ${int(b.not_sent)}${b.mock_skipped > 0 ? ` (and the mock gave up ${int(b.mock_skipped)} late events)` : ''}`,
    `  slow reader:      ${b.dropped_as_slow_reader ? `DROPPED by the feed (${b.slow_reader_drops} time${b.slow_reader_drops > 1 ? 's' : ''}; ${b.connections} connections)` : 'not dropped'}`,
    `  peak spool:       ${b.peak_spool_mb === null ? 'n/a' : `${dec(b.peak_spool_mb, 1)} MB, ${int(b.peak_spool_events)} events`}`,
    `  drain:            ${b.drain_s === null ? 'NOT drained within --drain' : `${dec(b.drain_s, 1)}s after the burst`}; ` +
      `${int(b.acked_at_burst_end)} acknowledged when the burst ended; ${b.drain_acked_per_s === null ? 'n/a' : `${int(b.drain_acked_per_s)}/s`} acknowledged during the drain`,
    `  audit:            ${int(b.acked_total)} records, ${int(b.delivered)} distinct events of ${int(b.expected)} expected${b.unexpected > 0 ? ` (+${int(b.unexpected)} the mock had not counted as sent)` : ''}; ` +
      `lost ${int(b.lost)}, cut ${int(b.cut)}, duplicated ${int(b.duplicated)}, reordered ${int(b.reordered)}, corrupted ${int(b.corrupted)}`,
    `  latency:          receive-to-ack p99 ${b.p99_ms === null ? 'n/a' : `${int(b.p99_ms)} ms`} (max ${b.max_ms === null ? 'n/a' : `${int(b.max_ms)} ms`}); feed-to-Kafka p99 ${b.e2e_p99_ms === null ? 'n/a' : `${int(b.e2e_p99_ms)} ms`} (max ${b.e2e_max_ms === null ? 'n/a' : `${int(b.e2e_max_ms)} ms`})`,
    `  process:          peak RSS ${b.peak_rss_mb === null ? 'n/a' : `${int(b.peak_rss_mb)} MB`}; CPU ${b.cpu_s_burst === null ? 'n/a' : `${dec(b.cpu_s_burst, 2)} s`} during the burst, ${b.cpu_s === null ? 'n/a' : `${dec(b.cpu_s, 2)} s`} to the end of the drain`,
    `  verdict:          ${b.absorbed ? 'absorbed' : `not absorbed: ${b.reasons.join('; ')}`}`,
  ];
}

export function burstTable(r: BurstResult): string {
  const out = burstLines(r.burst);
  if (r.peer !== null) out.push('', ...burstLines(r.peer));
  if (r.contention.length > 0) out.push(`note: other heavy processes shared the cores: ${r.contention.join('; ')}`);
  return out.join('\n') + '\n';
}
