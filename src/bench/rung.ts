// One rung of the ladder: fresh topics, `ws2kafka mock` offering one rate for one duration, the
// pipeline (`ws2kafka run`, or --peer) in its own process, samples of sent and acknowledged events
// while the feed runs, a drain, the pipeline's own figures, then verify's audit.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KafkaSecurity } from '../config/kafka-options.ts';
import type { MockStats } from '../mock/stats.ts';
import { audit } from '../verify/audit.ts';
import type { Child } from './children.ts';
import { judgeRung, seriesOf, type Sample } from './judge.ts';
import type { PeerSpec } from './peers.ts';
import { bridgeMetrics, mockStats, startPipeline } from './pipeline.ts';
import { treeUsage } from './proc.ts';
import type { RungResult } from './result.ts';

export { MIX } from './pipeline.ts';
const SAMPLE_MS = 500;

export interface RungOptions {
  /** Kafka for bench's own clients (topics, offset samples, the audit). */
  brokers: string[];
  /** Kafka for the pipeline when it differs (--link-delay: the delay link); `brokers` when absent. */
  pipelineBrokers?: string[] | undefined;
  /** The delay link's process (--link-delay), for its CPU seconds during the rung. */
  link?: Child | undefined;
  /** `ws2kafka run --inflight N`; run's default when absent. */
  inflight?: number | undefined;
  /** TLS and SASL towards Kafka: for bench's clients, and passed on to the bridge. */
  security?: KafkaSecurity | undefined;
  offered: number;
  durationMs: number;
  batch: number;
  drainMs: number;
  /** A peer instead of `ws2kafka run`. */
  peer: PeerSpec | undefined;
  /** The mock's port for an arbitrary --peer command. */
  mockPort: number;
  progress: (line: string) => void;
  /** Processes started, so that an interrupted bench can stop them. */
  live: Set<Child>;
}

/** The bridge's receive-to-ack quantiles (ms) from its Prometheus text. */
export function latencyFromMetrics(text: string): { p50: number | null; p99: number | null; max: number | null } {
  const q = (label: string) => {
    const m = new RegExp(`^ws2kafka_ack_latency_seconds\\{quantile="${label.replace('.', '\\.')}"\\} (\\S+)$`, 'm').exec(text);
    const v = m ? Number(m[1]) : NaN;
    return Number.isFinite(v) ? Math.round(v * 1e6) / 1e3 : null;
  };
  return { p50: q('0.5'), p99: q('0.99'), max: q('1') };
}

export interface SpoolFigures {
  /** Highest ws2kafka_spool_bytes seen, MB; null when the bridge exports no spool series. */
  peakMb: number | null;
  /** ws2kafka_events_spooled_total at the last sample. */
  spooled: number | null;
}

/** Folds one /metrics text into the spool figures (absent series leave them null). */
export function mergeSpool(before: SpoolFigures, text: string): SpoolFigures {
  const series = (name: string) => seriesOf(text, name);
  const bytes = series('ws2kafka_spool_bytes');
  const spooled = series('ws2kafka_events_spooled_total');
  return {
    peakMb: bytes === null ? before.peakMb : Math.max(before.peakMb ?? 0, bytes / 1e6),
    spooled: spooled ?? before.spooled,
  };
}

/**
 * The events a bridge stopped with a backlog left in its spool (its shutdown warning), or undefined.
 * bench deletes the spool with the rung, so the audit counts those events as lost.
 */
export function leftInSpool(output: string): number | undefined {
  const all = [...output.matchAll(/(\d+) events are not yet in Kafka but safe in the spool/g)];
  const m = all.at(-1);
  return m === undefined ? undefined : Number(m[1]);
}

const k = (n: number) => Math.round(n).toLocaleString('en');

export async function runRung(o: RungOptions): Promise<RungResult> {
  const p = await startPipeline({
    brokers: o.brokers, pipelineBrokers: o.pipelineBrokers, inflight: o.inflight, security: o.security, peer: o.peer, mockPort: o.mockPort,
    tag: String(o.offered), rate: o.offered, live: o.live,
    mockArgs: ['--rate', String(o.offered), '--batch', String(o.batch), '--duration', `${o.durationMs}ms`],
  });
  const { mock, statsUrl, pipeline, metricsUrl, topics, routes, sampler } = p;
  const linkCpu = () => (o.link === undefined || o.link.exit !== undefined ? null : (treeUsage(o.link.pid)?.cpuS ?? null));
  try {
    let stats: MockStats = p.started;
    const cpu0 = treeUsage(pipeline.pid)?.cpuS ?? null;
    const linkCpu0 = linkCpu();
    let peakMb = 0;
    let spool: SpoolFigures = { peakMb: null, spooled: null };
    // The topics were created empty and the mock had sent nothing before its timeline started.
    const samples: Sample[] = [{ t: stats.startedAt ?? Date.now(), sent: 0, acked: 0 }];
    const sample = async (): Promise<MockStats> => {
      const t0 = Date.now();
      const [s, acked] = await Promise.all([mockStats(statsUrl), sampler.total()]);
      samples.push({ t: (t0 + Date.now()) / 2, sent: s.sent.events, acked });
      const u = treeUsage(pipeline.pid);
      if (u !== undefined) peakMb = Math.max(peakMb, u.hwmMb);
      if (metricsUrl !== undefined) spool = mergeSpool(spool, await bridgeMetrics(metricsUrl));
      return s;
    };

    let lastProgress = Date.now();
    while (stats.stoppedAt === null && pipeline.exit === undefined) {
      await sleep(SAMPLE_MS);
      stats = await sample();
      if (Date.now() - lastProgress >= 5000) {
        lastProgress = Date.now();
        const s = samples.at(-1)!;
        o.progress(`  ${k(o.offered)}/s: ${((s.t - (stats.startedAt ?? s.t)) / 1000).toFixed(0)}s, sent ${k(s.sent)}, acknowledged ${k(s.acked)}, backlog ${k(s.sent - s.acked)}`);
      }
    }
    const windowStart = samples[0]!.t;
    const windowEnd = stats.stoppedAt ?? Date.now();
    // Let the last write complete, then take what was sent in total.
    await sleep(100);
    stats = await sample();
    const sentTotal = stats.sent.events;

    let drainS: number | null = null;
    const drainDeadline = Date.now() + o.drainMs;
    for (;;) {
      const last = samples.at(-1)!;
      if (last.acked >= sentTotal) {
        drainS = Math.max(0, (last.t - windowEnd) / 1000);
        break;
      }
      if (Date.now() > drainDeadline || pipeline.exit !== undefined) break;
      await sleep(200);
      stats = await sample();
    }
    o.progress(`  ${k(o.offered)}/s: feed stopped after ${((windowEnd - windowStart) / 1000).toFixed(1)}s; ${drainS === null ? `not drained within ${o.drainMs / 1000}s` : `drained ${drainS.toFixed(1)}s later`}`);

    let latency: ReturnType<typeof latencyFromMetrics> = { p50: null, p99: null, max: null };
    if (metricsUrl !== undefined && pipeline.exit === undefined) {
      const text = await bridgeMetrics(metricsUrl);
      latency = latencyFromMetrics(text);
      spool = mergeSpool(spool, text);
    }
    const usage = treeUsage(pipeline.pid);
    if (usage !== undefined) peakMb = Math.max(peakMb, usage.hwmMb);
    const cpuS = usage !== undefined && cpu0 !== null ? usage.cpuS - cpu0 : null;
    const linkCpu1 = linkCpu();
    const linkCpuS = linkCpu0 !== null && linkCpu1 !== null ? linkCpu1 - linkCpu0 : null;
    await pipeline.stop();
    const ackedTotal = await sampler.total();

    o.progress(`  ${k(o.offered)}/s: auditing ${k(ackedTotal)} records`);
    const report = await audit({ brokers: o.brokers, security: o.security, topics, routes, mockStats: statsUrl, timeoutMs: 300_000 });
    await mock.stop();

    const verdict = judgeRung({
      offered: o.offered,
      windowStart,
      windowEnd,
      // The mock sends nothing after its timeline stops: all it sent was sent in the window.
      sent: sentTotal,
      mockSkipped: stats.pacing.skipped,
      samples,
      audit: report,
    });
    if (pipeline.exit !== undefined && pipeline.exit.code !== 0 && pipeline.exit.signal !== 'SIGTERM') verdict.reasons.push(`${pipeline.name} exited ${pipeline.exit.code ?? pipeline.exit.signal}`);
    if (drainS === null && report.lost > 0) {
      // Explains the loss: the pipeline was stopped before it could deliver its backlog.
      const spooled = leftInSpool(pipeline.stderr());
      verdict.reasons.push(
        `not drained within ${o.drainMs / 1000}s (--drain): stopped with a backlog, ${k(Math.max(0, sentTotal - ackedTotal))} events not in Kafka after it stopped` +
          `${spooled !== undefined ? ` (its shutdown kept ${k(spooled)} events in its spool, which bench deletes)` : ''}; the audit counts them as lost`,
      );
    }
    return {
      offered: o.offered,
      acked_per_s: Math.round(verdict.acked_per_s),
      lost: report.lost,
      duplicated: report.duplicated,
      reordered: report.reordered,
      corrupted: report.corrupted,
      not_sent: report.not_sent,
      p50_ms: latency.p50,
      p99_ms: latency.p99,
      max_ms: latency.max,
      e2e_p50_ms: report.latency_ms.p50,
      e2e_p99_ms: report.latency_ms.p99,
      e2e_max_ms: report.latency_ms.max,
      cpu_s: cpuS === null ? null : Math.round(cpuS * 100) / 100,
      cpu_s_per_million: cpuS === null || ackedTotal === 0 ? null : Math.round((cpuS / (ackedTotal / 1e6)) * 100) / 100,
      link_cpu_s: linkCpuS === null ? null : Math.round(linkCpuS * 100) / 100,
      peak_rss_mb: peakMb > 0 ? Math.round(peakMb) : null,
      spool_peak_mb: spool.peakMb === null ? null : Math.round(spool.peakMb * 10) / 10,
      spooled_events: spool.spooled,
      sent_per_s: Math.round(verdict.sent_per_s),
      window_s: Math.round(verdict.window_s * 100) / 100,
      acked_total: ackedTotal,
      backlog_growth_per_s: verdict.backlog_growth_per_s === null ? null : Math.round(verdict.backlog_growth_per_s),
      drain_s: drainS === null ? null : Math.round(drainS * 10) / 10,
      mock_skipped: stats.pacing.skipped,
      sustained: verdict.reasons.length === 0,
      reasons: verdict.reasons,
    };
  } finally {
    await p.close();
  }
}
