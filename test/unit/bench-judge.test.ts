// bench's pure parts: the rung's verdict, the summary, the Prometheus and perf-test parsers, /proc parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aboveSustained, backlogSlope, ceilingRate, fractionOf, judgeRung, sustainedRate, valueAt, type RungMeasures, type Sample } from '../../src/bench/judge.ts';
import { perfTestRate } from '../../src/bench/ceiling.ts';
import { parseHwmKb, parseStat } from '../../src/bench/proc.ts';
import { latencyFromMetrics, mergeSpool } from '../../src/bench/rung.ts';

const clean = { lost: 0, duplicated: 0, reordered: 0, corrupted: 0, not_sent: 0 };

/** Samples every 0.5 s over a 20 s window: sent at `rate`, acked at `ackRate` behind by `lagMs`. */
function ladder(rate: number, ackRate: number, lagMs = 20): Sample[] {
  const out: Sample[] = [];
  for (let t = 0; t <= 20_000; t += 500) out.push({ t, sent: (rate * t) / 1000, acked: Math.max(0, (ackRate * (t - lagMs)) / 1000) });
  return out;
}

function measures(over: Partial<RungMeasures> = {}): RungMeasures {
  return { offered: 100_000, windowStart: 0, windowEnd: 20_000, sent: 2_000_000, mockSkipped: 0, samples: ladder(100_000, 100_000), audit: clean, ...over };
}

test('valueAt interpolates between samples and clamps outside them', () => {
  const s: Sample[] = [{ t: 0, sent: 0, acked: 0 }, { t: 1000, sent: 100, acked: 50 }, { t: 2000, sent: 200, acked: 150 }];
  assert.equal(valueAt(s, 500, 'acked'), 25);
  assert.equal(valueAt(s, 1500, 'sent'), 150);
  assert.equal(valueAt(s, -5, 'acked'), 0);
  assert.equal(valueAt(s, 9999, 'acked'), 150);
  assert.equal(valueAt([], 10, 'acked'), 0);
});

test('backlogSlope: flat backlog ≈ 0, growing backlog = the difference of rates; null with fewer than 3 samples', () => {
  assert.ok(Math.abs(backlogSlope(ladder(100_000, 100_000), 5000, 20_000) ?? NaN) < 1e-6);
  assert.ok(Math.abs((backlogSlope(ladder(100_000, 60_000), 5000, 20_000) ?? NaN) - 40_000) < 1e-6);
  assert.equal(backlogSlope(ladder(1, 1).slice(0, 2), 0, 20_000), null);
});

test('a clean rung that keeps up is sustained', () => {
  const v = judgeRung(measures());
  assert.equal(v.sustained, true, v.reasons.join('; '));
  assert.ok(v.acked_per_s > 99_000 && v.acked_per_s <= 100_000, String(v.acked_per_s));
  assert.equal(v.window_s, 20);
});

test('each failed condition is a reason: lost, duplicated, disconnects, mock short, acked short, growing backlog', () => {
  const cases: [Partial<RungMeasures>, RegExp][] = [
    [{ audit: { ...clean, lost: 3 } }, /^lost 3$/],
    [{ audit: { ...clean, duplicated: 12 } }, /^duplicated 12$/],
    [{ audit: { ...clean, reordered: 1, corrupted: 2 } }, /reordered 1/],
    [{ audit: { ...clean, not_sent: 5000 } }, /disconnected: 5,000 events not sent/],
    [{ mockSkipped: 10, sent: 1_500_000 }, /the mock offered only 75,000\/s \(gave up 10 late events\)/],
    [{ samples: ladder(100_000, 90_000) }, /acknowledged 89,9\d\d\/s < 98% of offered/],
  ];
  for (const [over, reason] of cases) {
    const v = judgeRung(measures(over));
    assert.equal(v.sustained, false, String(reason));
    assert.ok(v.reasons.some((r) => reason.test(r)), `${String(reason)} in ${JSON.stringify(v.reasons)}`);
  }
  // Acked 97 % of offered and the backlog growing by 3 % of the rate per second: both named.
  const v = judgeRung(measures({ samples: ladder(100_000, 97_000) }));
  assert.ok(v.reasons.some((r) => /backlog growing 3,000 events\/s/.test(r)), JSON.stringify(v.reasons));
});

test('sustained = the highest offered rate whose rung was sustained; ceiling = the lower one; fraction', () => {
  assert.equal(sustainedRate([{ offered: 50, sustained: true }, { offered: 100, sustained: false }, { offered: 200, sustained: true }, { offered: 400, sustained: false }]), 200);
  assert.equal(sustainedRate([{ offered: 50, sustained: false }]), null);
  assert.equal(ceilingRate(900_000, 600_000), 600_000);
  assert.equal(ceilingRate(null, 600_000), 600_000);
  assert.equal(ceilingRate(null, null), null);
  assert.equal(fractionOf(400_000, 600_000), 0.667);
  assert.equal(fractionOf(null, 600_000), null);
  assert.equal(fractionOf(400_000, null), null);
});

test('latencyFromMetrics reads the bridge quantiles in ms; absent series are null', () => {
  const text = [
    '# HELP ws2kafka_ack_latency_seconds x',
    'ws2kafka_ack_latency_seconds{quantile="0.5"} 0.0031',
    'ws2kafka_ack_latency_seconds{quantile="0.99"} 0.0225',
    'ws2kafka_ack_latency_seconds{quantile="1"} 0.061',
  ].join('\n');
  assert.deepEqual(latencyFromMetrics(text), { p50: 3.1, p99: 22.5, max: 61 });
  assert.deepEqual(latencyFromMetrics(''), { p50: null, p99: null, max: null });
});

test('perfTestRate takes the summary line of kafka-producer-perf-test', () => {
  const out = '1000 records sent, 200.0 records/sec (0.02 MB/sec), 5.0 ms avg latency, 9.0 ms max latency.\n2000000 records sent, 612345.6 records/sec (75.02 MB/sec), 31.2 ms avg latency, 400.0 ms max latency, 20 ms 50th, 90 ms 95th, 200 ms 99th, 380 ms 99.9th.\n';
  assert.equal(perfTestRate(out), 612345.6);
  assert.equal(perfTestRate('nothing'), undefined);
});

test('/proc parsing: stat with spaces in the command name, VmHWM', () => {
  const stat = '1234 (node (bench) x) S 99 1234 1234 0 -1 4194304 100 0 0 0 250 50 10 5 20 0 11 0 100 1000 200';
  assert.deepEqual(parseStat(stat), { ppid: 99, cpuS: 3.15, comm: 'node (bench) x' });
  assert.equal(parseHwmKb('Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1 kB\n'), 204800);
  assert.equal(parseHwmKb(''), undefined);
});

test('mergeSpool keeps the peak spool size and the spooled count; a bridge without the series leaves null', () => {
  let s = mergeSpool({ peakMb: null, spooled: null }, 'ws2kafka_events_produced_total 5\n');
  assert.deepEqual(s, { peakMb: null, spooled: null });
  s = mergeSpool(s, 'ws2kafka_spool_bytes 2500000\nws2kafka_events_spooled_total 1000\n');
  s = mergeSpool(s, 'ws2kafka_spool_bytes 500000\nws2kafka_events_spooled_total 1200\n');
  assert.deepEqual(s, { peakMb: 2.5, spooled: 1200 });
});

test('above the sustained rate: each higher rung as a multiple of it and the fraction of it still acknowledged', () => {
  const rungs = [
    { offered: 100_000, acked_per_s: 99_800 },
    { offered: 300_000, acked_per_s: 299_000 },
    { offered: 450_000, acked_per_s: 280_000 },
    { offered: 700_000, acked_per_s: 87_000 },
  ];
  assert.deepEqual(aboveSustained(rungs, 300_000), [
    { offered: 450_000, times: 1.5, acked_per_s: 280_000, of_sustained: 0.933 },
    { offered: 700_000, times: 2.33, acked_per_s: 87_000, of_sustained: 0.29 },
  ]);
  assert.deepEqual(aboveSustained(rungs, null), []);
});
