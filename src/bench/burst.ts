// `bench --burst N`: N events offered once at the mock's full speed to one pipeline (fresh topics,
// the same mock, sampler and audit as a rung), sampled until Kafka holds everything sent (or --drain
// runs out), then audited. See burst-judge.ts for the figures and the verdict.
import { setTimeout as sleep } from 'node:timers/promises';
import type { MockStats } from '../mock/stats.ts';
import { audit } from '../verify/audit.ts';
import { burstFigures, judgeBurst, spoolFromMetrics, type BurstSample } from './burst-judge.ts';
import type { Child } from './children.ts';
import { bridgeMetrics, mockStats, startPipeline, type PipelineOptions } from './pipeline.ts';
import { treeUsage } from './proc.ts';
import type { BurstRun } from './burst-result.ts';
import { latencyFromMetrics } from './rung.ts';

/**
 * The mock's pacer never skips while its backlog is at most one second of its rate, so a burst of
 * at most this many events offered at this rate is sent as fast as the mock can, with nothing given up.
 */
export const BURST_RATE = 10_000_000;
const SAMPLE_MS = 200;
/** Samples in a row with nothing moving before the drain counts as over (~0.6 s at SAMPLE_MS). */
const SETTLE_SAMPLES = 4;

export interface BurstOptions extends Pick<PipelineOptions, 'brokers' | 'pipelineBrokers' | 'inflight' | 'security' | 'peer' | 'mockPort'> {
  events: number;
  batch: number;
  drainMs: number;
  progress: (line: string) => void;
  live: Set<Child>;
  /** Label of the pipeline in the result. */
  pipeline: string;
}

const k = (n: number) => Math.round(n).toLocaleString('en');

export async function runBurst(o: BurstOptions): Promise<BurstRun> {
  const p = await startPipeline({
    brokers: o.brokers, pipelineBrokers: o.pipelineBrokers, inflight: o.inflight, security: o.security, peer: o.peer, mockPort: o.mockPort,
    tag: 'burst', rate: BURST_RATE, live: o.live,
    mockArgs: ['--rate', String(BURST_RATE), '--batch', String(o.batch), '--events', String(o.events)],
  });
  const { mock, statsUrl, pipeline, metricsUrl, topics, gapTopic, routes, sampler } = p;
  try {
    let stats: MockStats = p.started;
    const t0 = stats.startedAt ?? Date.now();
    const cpu0 = treeUsage(pipeline.pid)?.cpuS ?? null;
    let cpuAtBurstEnd: number | null = null;
    let peakMb = 0;
    const samples: BurstSample[] = [{ t: t0, sent: 0, acked: 0, spoolBytes: null, spoolEvents: null }];
    const sample = async (): Promise<MockStats> => {
      const t = Date.now();
      const [s, acked, text] = await Promise.all([mockStats(statsUrl), sampler.total(), metricsUrl === undefined ? Promise.resolve('') : bridgeMetrics(metricsUrl)]);
      const spool = spoolFromMetrics(text);
      samples.push({ t: (t + Date.now()) / 2, sent: s.sent.events, acked, spoolBytes: spool.bytes, spoolEvents: spool.events });
      const u = treeUsage(pipeline.pid);
      if (u !== undefined) peakMb = Math.max(peakMb, u.hwmMb);
      return s;
    };

    let lastProgress = Date.now();
    const report = (what: string) => {
      const s = samples.at(-1)!;
      o.progress(`  ${o.pipeline}: ${((s.t - t0) / 1000).toFixed(1)}s ${what}: sent ${k(s.sent)}, acknowledged ${k(s.acked)}${s.spoolBytes !== null ? `, spool ${(s.spoolBytes / 1e6).toFixed(1)} MB` : ''}`);
    };
    while (stats.stoppedAt === null && pipeline.exit === undefined) {
      await sleep(SAMPLE_MS);
      stats = await sample();
      if (Date.now() - lastProgress >= 2000) {
        lastProgress = Date.now();
        report('into the burst');
      }
    }
    const burstEnd = stats.stoppedAt ?? Date.now();
    cpuAtBurstEnd = treeUsage(pipeline.pid)?.cpuS ?? null;
    // Let the last writes complete. The mock counts an event sent when its socket write completes,
    // which for a reader behind can be well after its timeline stopped: the drain waits until what
    // it counts as sent stops growing and Kafka holds all of it.
    await sleep(100);
    stats = await sample();
    report(`burst over (${k(stats.timeline.events)} events offered in ${((burstEnd - t0) / 1000).toFixed(1)}s)`);

    const drainDeadline = Date.now() + o.drainMs;
    // Drained: Kafka holds all the mock counts as sent, and neither count moved for SETTLE_SAMPLES samples.
    const drained = () => {
      const last = samples.slice(-SETTLE_SAMPLES);
      const b = samples.at(-1)!;
      return (
        last.length === SETTLE_SAMPLES && b.acked >= b.sent && last.every((x) => x.acked === b.acked && x.sent === b.sent) &&
        stats.connections.every((c) => c.state === 'closed' || c.unsentBytes === 0)
      );
    };
    while (!drained() && Date.now() < drainDeadline && pipeline.exit === undefined) {
      await sleep(SAMPLE_MS);
      stats = await sample();
      if (Date.now() - lastProgress >= 5000) {
        lastProgress = Date.now();
        report('draining');
      }
    }
    const sent = samples.at(-1)!.sent;
    const figures = burstFigures(samples, burstEnd, sent, drained());
    o.progress(`  ${o.pipeline}: ${figures.drain_s === null ? `not drained within ${o.drainMs / 1000}s` : `drained ${figures.drain_s.toFixed(1)}s after the burst`}`);

    let latency: ReturnType<typeof latencyFromMetrics> = { p50: null, p99: null, max: null };
    if (metricsUrl !== undefined && pipeline.exit === undefined) latency = latencyFromMetrics(await bridgeMetrics(metricsUrl));
    const usage = treeUsage(pipeline.pid);
    if (usage !== undefined) peakMb = Math.max(peakMb, usage.hwmMb);
    const cpuS = usage !== undefined && cpu0 !== null ? usage.cpuS - cpu0 : null;
    const cpuBurstS = cpuAtBurstEnd !== null && cpu0 !== null ? cpuAtBurstEnd - cpu0 : null;
    const exited = pipeline.exit;
    await pipeline.stop();
    const ackedTotal = await sampler.total();

    o.progress(`  ${o.pipeline}: auditing ${k(ackedTotal)} records`);
    // With the bridge's gap topic, the tail of a connection that ended inside a recorded gap is `cut`, not `lost`.
    const a = await audit({ brokers: o.brokers, security: o.security, topics, routes, mockStats: statsUrl, timeoutMs: 300_000, ...(gapTopic !== undefined ? { gapTopic } : {}) });
    const final = await mockStats(statsUrl);
    await mock.stop();

    const drops = final.connections.filter((c) => c.closeReason === 'slow_consumer').length;
    const reasons = judgeBurst({
      not_sent: a.not_sent, mock_skipped: final.pacing.skipped, slow_reader_drops: drops,
      lost: a.lost, cut: a.cut, duplicated: a.duplicated, reordered: a.reordered, corrupted: a.corrupted,
      drain_s: figures.drain_s, drainWaitS: o.drainMs / 1000,
      exit: exited !== undefined && exited.code !== 0 ? `${pipeline.name} exited ${exited.code ?? exited.signal} during the burst` : null,
    });
    const burstS = Math.max(0.001, (burstEnd - t0) / 1000);
    const round2 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);
    return {
      pipeline: o.pipeline,
      events: o.events,
      offered: final.timeline.events,
      sent: final.sent.events,
      expected: a.expected,
      delivered: a.delivered,
      unexpected: a.unexpected,
      not_sent: a.not_sent,
      mock_skipped: final.pacing.skipped,
      dropped_as_slow_reader: drops > 0,
      slow_reader_drops: drops,
      connections: final.connections.length,
      burst_s: round2(burstS)!,
      sent_per_s: Math.round(sent / burstS),
      ...figures,
      acked_total: ackedTotal,
      lost: a.lost,
      cut: a.cut,
      duplicated: a.duplicated,
      reordered: a.reordered,
      corrupted: a.corrupted,
      p99_ms: latency.p99,
      max_ms: latency.max,
      e2e_p99_ms: a.latency_ms.p99,
      e2e_max_ms: a.latency_ms.max,
      peak_rss_mb: peakMb > 0 ? Math.round(peakMb) : null,
      cpu_s_burst: round2(cpuBurstS),
      cpu_s: round2(cpuS),
      absorbed: reasons.length === 0,
      reasons,
      timeline: samples.map((s) => ({ t_s: Math.round((s.t - t0) / 10) / 100, sent: s.sent, acked: s.acked, spool_mb: s.spoolBytes === null ? null : Math.round(s.spoolBytes / 1e5) / 10 })),
    };
  } finally {
    await p.close();
  }
}
