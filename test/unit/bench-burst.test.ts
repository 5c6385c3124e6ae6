// bench --burst and --peer beside ws2kafka: option parsing (bad values name the flag), the burst's
// figures and verdict, the peer's spec, and the reports. Pure: no processes, no broker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { burstFigures, judgeBurst, spoolFromMetrics, type BurstSample } from '../../src/bench/burst-judge.ts';
import { burstLines, burstTable, type BurstResult, type BurstRun } from '../../src/bench/burst-result.ts';
import { BENCH_DEFAULTS, MAX_BURST, benchOptions } from '../../src/bench/options.ts';
import { BENTHOS_CONFIG, BENTHOS_VERSION, benthosBinary, peerSpec } from '../../src/bench/peers.ts';
import { ratioOf, table, type BenchResult, type RungResult } from '../../src/bench/result.ts';

test('benchOptions --burst: N in range, the burst drain default, bad values name the flag and the range', () => {
  const o = benchOptions({ burst: '2_000_000' });
  assert.equal(o.burst, 2_000_000);
  assert.equal(o.drainMs, BENCH_DEFAULTS.burstDrainMs);
  assert.equal(benchOptions({ burst: '50000', drain: '10s' }).drainMs, 10_000);
  assert.equal(benchOptions({}).burst, undefined);
  assert.equal(benchOptions({}).drainMs, BENCH_DEFAULTS.drainMs);
  for (const bad of ['0', '999', '10000001', 'lots', '-5', '1.5', '']) {
    assert.throws(() => benchOptions({ burst: bad }), (err: Error) => {
      assert.match(err.message, new RegExp(`--burst '${bad.replace('.', '\\.')}' is not accepted: expected a whole number from 1,000 to 10,000,000`));
      return true;
    });
  }
  assert.equal(benchOptions({ burst: String(MAX_BURST) }).burst, MAX_BURST);
});

test('benchOptions --burst with a ladder flag is a USAGE error naming both flags', () => {
  for (const [flag, values] of [
    ['rates', { rates: '1000' }],
    ['duration', { duration: '5s' }],
    ['ceiling', { ceiling: true }],
    ['ceiling-records', { 'ceiling-records': '10000' }],
    ['link-delay', { 'link-delay': '20ms' }],
  ] as const) {
    assert.throws(
      () => benchOptions({ burst: '50000', ...values }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'USAGE');
        assert.match(err.message, new RegExp(`--burst cannot be combined with --${flag}`));
        return true;
      },
      flag,
    );
  }
  // Flags that make sense for a burst are accepted.
  const o = benchOptions({ burst: '50000', peer: 'benthos', batch: '50', json: true, out: '/tmp/x', inflight: '4' });
  assert.deepEqual([o.burst, o.peer, o.batch, o.inflight, o.peerOnly], [50_000, 'benthos', 50, 4, false]);
});

test('benchOptions --peer-only needs --peer; --peer alone runs beside ws2kafka', () => {
  assert.throws(() => benchOptions({ 'peer-only': true }), /--peer-only needs --peer/);
  assert.equal(benchOptions({ peer: 'tool' }).peerOnly, false);
  assert.equal(benchOptions({ peer: 'tool', 'peer-only': true }).peerOnly, true);
});

test('peerSpec: benthos runs the cached binary with the config in bench/peers, on fresh topics; a command keeps the old contract', () => {
  const b = peerSpec('benthos', "/c/it's/benthos");
  assert.equal(b.label, `benthos ${BENTHOS_VERSION}`);
  assert.equal(b.freshTopics, true);
  assert.equal(b.command, `exec '/c/it'\\''s/benthos' -c '${BENTHOS_CONFIG}'`);
  const c = peerSpec('mytool --x');
  assert.deepEqual(c, { label: '--peer mytool --x', command: 'mytool --x', freshTopics: false });
  assert.equal(benthosBinary({ WS2KAFKA_CACHE: '/cache' }), `/cache/benthos-${BENTHOS_VERSION}/bin/benthos`);
  assert.equal(benthosBinary({ XDG_CACHE_HOME: '/xdg' }), `/xdg/ws2kafka/benthos-${BENTHOS_VERSION}/bin/benthos`);
});

test('spoolFromMetrics: bytes, events in the spool (spooled − replayed), null when the series are absent', () => {
  assert.deepEqual(spoolFromMetrics(''), { bytes: null, events: null, spooled: null });
  const text = 'ws2kafka_spool_bytes 2500000\nws2kafka_events_spooled_total 10000\nws2kafka_events_replayed_total 4000\n';
  assert.deepEqual(spoolFromMetrics(text), { bytes: 2_500_000, events: 6000, spooled: 10_000 });
  assert.deepEqual(spoolFromMetrics('ws2kafka_events_spooled_total 7\n'), { bytes: null, events: 7, spooled: 7 });
});

const s = (t: number, sent: number, acked: number, spoolBytes: number | null = null, spoolEvents: number | null = null): BurstSample => ({ t, sent, acked, spoolBytes, spoolEvents });

test('burstFigures: peak spool, drain time from the burst end to the first sample holding everything, drain rate', () => {
  const samples = [s(0, 0, 0, 0, 0), s(1000, 500_000, 100_000, 40e6, 300_000), s(2000, 1_000_000, 300_000, 90e6, 600_000), s(3000, 1_000_000, 700_000, 50e6, 300_000), s(4000, 1_000_000, 1_000_000, 0, 0)];
  const f = burstFigures(samples, 2000, 1_000_000);
  assert.deepEqual(f, { peak_spool_mb: 90, peak_spool_events: 600_000, drain_s: 2, drain_acked_per_s: 350_000, acked_at_burst_end: 300_000 });
  // Interpolated at the burst's end between two samples.
  assert.equal(burstFigures(samples, 1500, 1_000_000).acked_at_burst_end, 200_000);
  // Not drained: null, and no drain rate.
  const g = burstFigures(samples.slice(0, 4), 2000, 1_000_000, false);
  assert.equal(g.drain_s, null);
  assert.equal(g.drain_acked_per_s, null);
  // Kafka holds more than the mock counted as sent (bytes of a cut connection that got through): the drain
  // runs until the last acknowledged count.
  const more = [s(0, 0, 0), s(1000, 700, 800), s(1200, 770, 900), s(1400, 770, 975), s(1600, 770, 975)];
  assert.deepEqual(burstFigures(more, 1000, 770), { peak_spool_mb: null, peak_spool_events: null, drain_s: 0.4, drain_acked_per_s: 438, acked_at_burst_end: 800 });
  // A peer exports no spool: null, not 0.
  const h = burstFigures([s(0, 0, 0), s(500, 10, 10)], 400, 10);
  assert.deepEqual([h.peak_spool_mb, h.peak_spool_events, h.drain_acked_per_s], [null, null, 20]);
  assert.equal(h.drain_s, 0.1);
});

test('judgeBurst: every reason named; none when absorbed', () => {
  const ok = { not_sent: 0, mock_skipped: 0, slow_reader_drops: 0, lost: 0, cut: 0, duplicated: 0, reordered: 0, corrupted: 0, drain_s: 3.2, drainWaitS: 120, exit: null };
  assert.deepEqual(judgeBurst(ok), []);
  assert.deepEqual(judgeBurst({ ...ok, slow_reader_drops: 2, not_sent: 1_234_567, lost: 5, cut: 7, drain_s: null }), [
    'dropped by the feed as a slow reader 2 times',
    '1,234,567 events not sent',
    'cut 7 (the tail of a dropped connection, inside a recorded gap)',
    'lost 5',
    'not drained within 120s (--drain)',
  ]);
  assert.deepEqual(judgeBurst({ ...ok, mock_skipped: 9, reordered: 1, exit: 'ws2kafka run exited 1 during the burst' }), [
    'the mock gave up 9 late events',
    'reordered 1',
    'ws2kafka run exited 1 during the burst',
  ]);
});

function run(over: Partial<BurstRun> = {}): BurstRun {
  return {
    pipeline: 'ws2kafka run', events: 2_000_000, offered: 2_000_000, sent: 1_400_000, expected: 1_400_000, delivered: 1_400_000, unexpected: 0, cut: 0, not_sent: 600_000, mock_skipped: 0,
    dropped_as_slow_reader: true, slow_reader_drops: 1, connections: 2, burst_s: 4.5, sent_per_s: 311_111, acked_at_burst_end: 500_000,
    peak_spool_mb: 180.4, peak_spool_events: 700_000, drain_s: 9.5, drain_acked_per_s: 94_737, acked_total: 1_400_000,
    lost: 0, duplicated: 0, reordered: 0, corrupted: 0, p99_ms: 8000, max_ms: 9100, e2e_p99_ms: 8100, e2e_max_ms: 9200,
    peak_rss_mb: 420, cpu_s_burst: 6.1, cpu_s: 19.7, absorbed: false, reasons: ['dropped by the feed as a slow reader', '600,000 events not sent'], timeline: [],
    ...over,
  };
}

test('burstLines: each figure the issue asks for, n/a for what a peer does not export', () => {
  const text = burstLines(run()).join('\n');
  for (const want of [
    'pipeline: ws2kafka run',
    '2,000,000 events offered at the mock\'s full speed; 1,400,000 sent in 4.50s (311,111/s)',
    'not sent:         600,000',
    'DROPPED by the feed (1 time; 2 connections)',
    'peak spool:       180.4 MB, 700,000 events',
    'drain:            9.5s after the burst; 500,000 acknowledged when the burst ended; 94,737/s acknowledged during the drain',
    'audit:            1,400,000 records, 1,400,000 distinct events of 1,400,000 expected; lost 0, cut 0, duplicated 0, reordered 0, corrupted 0',
    'peak RSS 420 MB; CPU 6.10 s during the burst, 19.70 s to the end of the drain',
    'not absorbed: dropped by the feed as a slow reader; 600,000 events not sent',
  ]) assert.ok(text.includes(want), `${want}\nin\n${text}`);
  const peer = burstLines(run({ pipeline: 'benthos v4.27.0', peak_spool_mb: null, peak_spool_events: null, p99_ms: null, max_ms: null, drain_s: null, drain_acked_per_s: null })).join('\n');
  assert.match(peer, /peak spool: +n\/a/);
  assert.match(peer, /NOT drained within --drain/);
  assert.match(peer, /receive-to-ack p99 n\/a/);
  const ok = burstLines(run({ not_sent: 0, dropped_as_slow_reader: false, slow_reader_drops: 0, connections: 1, absorbed: true, reasons: [] })).join('\n');
  assert.match(ok, /slow reader: +not dropped/);
  assert.match(ok, /verdict: +absorbed$/);
});

test('burstTable: ws2kafka, then the peer beside it, then the contention note', () => {
  const r: BurstResult = {
    burst: run(), peer: run({ pipeline: 'benthos v4.27.0' }),
    settings: { events: 2_000_000, batch: 100, mix: 'T=90,AM=10', brokers: ['127.0.0.1:9092'], drain_s: 120, mock_rate: 10_000_000, inflight: null },
    machine: { cpus: 2, cpu_model: 'x', memory_gb: 8, node: 'v24', kafka: null, date: '2026-11-27T00:00:00.000Z' },
    contention: ['123 node test/x.test.ts'],
  };
  const text = burstTable(r);
  assert.ok(text.indexOf('pipeline: ws2kafka run') < text.indexOf('pipeline: benthos v4.27.0'));
  assert.match(text, /note: other heavy processes shared the cores: 123 node test\/x\.test\.ts\n$/);
  assert.doesNotMatch(burstTable({ ...r, peer: null }), /benthos/);
});

function rung(offered: number, sustained: boolean): RungResult {
  return {
    offered, acked_per_s: offered, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, not_sent: 0,
    p50_ms: null, p99_ms: null, max_ms: null, e2e_p50_ms: 4, e2e_p99_ms: 25, e2e_max_ms: 60,
    cpu_s_per_million: 20, cpu_s: 2, link_cpu_s: null, peak_rss_mb: 60, spool_peak_mb: null, spooled_events: null,
    sent_per_s: offered, window_s: 15, acked_total: offered * 15, backlog_growth_per_s: 0, drain_s: 0.1, mock_skipped: 0,
    sustained, reasons: sustained ? [] : ['disconnected: 5 events not sent'],
  };
}

test('table with a peer beside ws2kafka: both ladders, both sustained rates and the ratio', () => {
  assert.equal(ratioOf(300_000, 50_000), 6);
  assert.equal(ratioOf(200_000, 300_000), 0.67);
  assert.equal(ratioOf(null, 50_000), null);
  assert.equal(ratioOf(300_000, null), null);
  const r: BenchResult = {
    sustained_events_per_s: 300_000, ceiling_events_per_s: null, fraction_of_ceiling: null,
    rates: [rung(50_000, true), rung(300_000, true)], ceiling: null, link: null, pipeline: 'ws2kafka run',
    peer: { pipeline: 'benthos v4.27.0', sustained_events_per_s: 50_000, rates: [rung(50_000, true), rung(300_000, false)], ratio: 6 },
    settings: { duration_s: 15, batch: 100, mix: 'T=90,AM=10', brokers: ['127.0.0.1:9092'], drain_s: 30, link_delay_ms: null, inflight: null },
    machine: { cpus: 2, cpu_model: 'x', memory_gb: 8, node: 'v24', kafka: null, date: '2026-11-27T00:00:00.000Z' }, contention: [],
  };
  const text = table(r);
  assert.match(text, /^pipeline: ws2kafka run\n/);
  assert.ok(text.indexOf('pipeline: ws2kafka run') < text.indexOf('pipeline: benthos v4.27.0'));
  assert.match(text, /sustained: 300,000 events\/s\n[\s\S]*sustained: 50,000 events\/s\n/);
  assert.match(text, /side by side: ws2kafka 300,000\/s, benthos v4\.27\.0 50,000\/s sustained; ratio 6\.00×/);
  assert.match(table({ ...r, peer: { ...r.peer!, sustained_events_per_s: null, ratio: null } }), /ratio n\/a \(one of them sustained none of the rates\)/);
  // Without a peer the table is as before.
  assert.doesNotMatch(table({ ...r, peer: null }), /side by side/);
});
