// The shape of bench's result (`--json` prints it; `--out` writes it) and its human table. Pure.
import type { LinkResult } from './link.ts';
import { aboveSustained } from './judge.ts';

export interface RungResult {
  offered: number;
  /** Events/s acknowledged by Kafka while the feed ran (see judge.ts). */
  acked_per_s: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** Events the pipeline was not sent because the feed dropped its connection. */
  not_sent: number;
  /** Receive-to-acknowledgement latency from the bridge's own histogram (null for --peer). */
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  /** Feed-send-to-Kafka-timestamp latency from the audit (any pipeline, peers included). */
  e2e_p50_ms: number | null;
  e2e_p99_ms: number | null;
  e2e_max_ms: number | null;
  /** Pipeline CPU seconds from the feed's start to the end of the drain, per million events acknowledged. */
  cpu_s_per_million: number | null;
  cpu_s: number | null;
  /** --link-delay: CPU seconds of the delay link's process over the same span (null without it). */
  link_cpu_s: number | null;
  /** Highest resident set of the pipeline process (tree), MB. */
  peak_rss_mb: number | null;
  /** Spool use (issue #5): the most unacknowledged bytes in the disk spool (MB), and events written
   * to it; null when the pipeline exports no spool series (a bridge without the spool, --peer). */
  spool_peak_mb: number | null;
  spooled_events: number | null;
  sent_per_s: number;
  window_s: number;
  /** Events in Kafka after the drain. */
  acked_total: number;
  backlog_growth_per_s: number | null;
  /** Seconds after the feed stopped until Kafka held everything sent (null: not within --drain). */
  drain_s: number | null;
  mock_skipped: number;
  sustained: boolean;
  reasons: string[];
}

export interface CeilingResult {
  /** Events/s one receive-only client got from the mock. */
  receive_events_per_s: number | null;
  /** Records/s kafka-producer-perf-test had acknowledged with the same records. */
  producer_records_per_s: number | null;
  producer_settings: string;
  errors: string[];
}

/** --peer beside ws2kafka: the peer's rungs (same rates, run after ws2kafka's, fresh topics each). */
export interface PeerLadder {
  pipeline: string;
  sustained_events_per_s: number | null;
  rates: RungResult[];
  /** ws2kafka's sustained rate over the peer's (null when either sustained none). */
  ratio: number | null;
}

export interface BenchResult {
  sustained_events_per_s: number | null;
  ceiling_events_per_s: number | null;
  fraction_of_ceiling: number | null;
  rates: RungResult[];
  ceiling: CeilingResult | null;
  /** --link-delay: the delayed link to the broker, as measured (null without it). */
  link: LinkResult | null;
  pipeline: string;
  /** --peer beside ws2kafka (null without --peer, or with --peer-only: then `rates` are the peer's). */
  peer?: PeerLadder | null;
  settings: { duration_s: number; batch: number; mix: string; brokers: string[]; drain_s: number; link_delay_ms: number | null; inflight: number | null };
  machine: { cpus: number; cpu_model: string; memory_gb: number; node: string; kafka: string | null; date: string };
  /** Other heavy processes seen on the machine during the run (they share the cores). */
  contention: string[];
}

const int = (n: number | null) => (n === null ? 'n/a' : Math.round(n).toLocaleString('en'));
const ms = (n: number | null) => (n === null ? 'n/a' : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en'));
const dec = (n: number | null, d: number) => (n === null ? 'n/a' : n.toFixed(d));

/** The sustained ratio, 2 decimals (null when either sustained none). */
export function ratioOf(ours: number | null, theirs: number | null): number | null {
  if (ours === null || theirs === null || theirs <= 0) return null;
  return Math.round((ours / theirs) * 100) / 100;
}

function rungTable(pipeline: string, rates: RungResult[]): string[] {
  const head = ['offered/s', 'sent/s', 'acked/s', 'lost', 'dup', 'p50 ms', 'p99 ms', 'max ms', 'e2e p99 ms', 'CPU s/M', 'peak RSS MB', 'spool MB', 'drain s', 'verdict'];
  const rows = rates.map((x) => [
    int(x.offered),
    int(x.sent_per_s),
    int(x.acked_per_s),
    int(x.lost),
    int(x.duplicated),
    ms(x.p50_ms),
    ms(x.p99_ms),
    ms(x.max_ms),
    ms(x.e2e_p99_ms),
    dec(x.cpu_s_per_million, 2),
    int(x.peak_rss_mb),
    x.spool_peak_mb === null ? 'n/a' : dec(x.spool_peak_mb, 1),
    dec(x.drain_s, 1),
    x.sustained ? 'sustained' : `no: ${x.reasons.join('; ')}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (i === head.length - 1 ? 0 : (row[i] ?? '').length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : i === 0 || i === cells.length - 2 ? c.padStart(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [`pipeline: ${pipeline}`, line(head), ...rows.map(line), ''];
}

export function table(r: BenchResult): string {
  const out = rungTable(r.pipeline, r.rates);
  out.push(`sustained: ${r.sustained_events_per_s === null ? 'none of the rates' : `${int(r.sustained_events_per_s)} events/s`}`);
  for (const a of aboveSustained(r.rates, r.sustained_events_per_s)) {
    out.push(`above it: offered ${int(a.offered)}/s (${a.times.toFixed(2)}× the sustained rate), acknowledged ${int(a.acked_per_s)}/s: ${a.of_sustained.toFixed(2)} of the sustained rate`);
  }
  if (r.peer != null) {
    const p = r.peer;
    out.push('', ...rungTable(p.pipeline, p.rates));
    out.push(`sustained: ${p.sustained_events_per_s === null ? 'none of the rates' : `${int(p.sustained_events_per_s)} events/s`}`);
    out.push(
      `side by side: ws2kafka ${int(r.sustained_events_per_s)}/s, ${p.pipeline} ${int(p.sustained_events_per_s)}/s sustained; ` +
        `ratio ${p.ratio === null ? 'n/a (one of them sustained none of the rates)' : `${p.ratio.toFixed(2)}×`}`,
    );
  }
  if (r.ceiling !== null) {
    const c = r.ceiling;
    out.push(`ceiling: ${int(r.ceiling_events_per_s)} events/s (receive-only client ${int(c.receive_events_per_s)}/s, kafka-producer-perf-test ${int(c.producer_records_per_s)}/s)`);
    out.push(`fraction of ceiling: ${r.fraction_of_ceiling === null ? 'n/a' : `${(r.fraction_of_ceiling * 100).toFixed(1)}%`}`);
    for (const e of c.errors) out.push(`ceiling error: ${e}`);
  }
  if (r.link !== null) {
    const l = r.link;
    const mb = (n: number | null) => (n === null ? 'n/a' : `${(n / 1e6).toFixed(1)} MB`);
    out.push(
      `link: +${l.rtt_ms} ms per round trip asked, ${dec(l.measured_rtt_ms.median, 1)} ms measured through it (median of ApiVersions round trips; ${dec(l.direct_rtt_ms.median, 2)} ms direct); ` +
        `${int(l.connections)} connections, ${mb(l.bytes_up)} up, ${mb(l.bytes_down)} down, link CPU ${l.cpu_s === null ? 'n/a' : `${dec(l.cpu_s, 2)} s`}`,
    );
  }
  if (r.contention.length > 0) out.push(`note: other heavy processes shared the cores: ${r.contention.join('; ')}`);
  return out.join('\n') + '\n';
}
