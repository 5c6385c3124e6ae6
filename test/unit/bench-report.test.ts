// bench's output: the SVG chart, the table, and flag validation naming flag, value and what is accepted.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { benchOptions, parseRates } from '../../src/bench/options.ts';
import { table, type BenchResult, type RungResult } from '../../src/bench/result.ts';
import { niceTicks, renderSvg } from '../../src/bench/svg.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

function rung(offered: number, over: Partial<RungResult> = {}): RungResult {
  return {
    offered, acked_per_s: offered, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, not_sent: 0,
    p50_ms: 3, p99_ms: 20, max_ms: 50, e2e_p50_ms: 4, e2e_p99_ms: 25, e2e_max_ms: 60,
    cpu_s_per_million: 2.5, cpu_s: 2.5, link_cpu_s: null, peak_rss_mb: 300, spool_peak_mb: null, spooled_events: null,
    sent_per_s: offered, window_s: 20, acked_total: offered * 20, backlog_growth_per_s: 0, drain_s: 0.1, mock_skipped: 0,
    sustained: true, reasons: [], ...over,
  };
}

function result(rates: RungResult[]): BenchResult {
  return {
    sustained_events_per_s: 200_000, ceiling_events_per_s: 600_000, fraction_of_ceiling: 0.333, rates,
    ceiling: { receive_events_per_s: 900_000, producer_records_per_s: 600_000, producer_settings: 'acks=all', errors: [] },
    link: null,
    pipeline: 'ws2kafka run', settings: { duration_s: 20, batch: 100, mix: 'T=90,AM=10', brokers: ['127.0.0.1:9092'], drain_s: 30, link_delay_ms: null, inflight: null },
    machine: { cpus: 2, cpu_model: 'x', memory_gb: 24, node: 'v24', kafka: '4.4.0', date: '2026-11-25T00:00:00.000Z' }, contention: [],
  };
}

const ladder = [rung(50_000), rung(100_000), rung(200_000), rung(400_000, { acked_per_s: 300_000, p99_ms: 900, sustained: false, reasons: ['acknowledged 300,000/s < 98% of offered'] })];

test('renderSvg: one SVG with the acked and p99 lines through every rung, the ideal line, escaped text', () => {
  const r = result(ladder);
  r.pipeline = '--peer tool --a "b" <c>';
  const svg = renderSvg(r);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  const points = (cls: string) => (new RegExp(`class="${cls}"[^>]*points="([^"]*)"`).exec(svg)?.[1] ?? '').trim().split(' ').length;
  assert.equal(points('acked'), 4);
  assert.equal(points('p99'), 4);
  assert.equal(points('ideal'), 4);
  assert.ok(svg.includes('--peer tool --a &quot;b&quot; &lt;c&gt;'));
  assert.ok(!svg.includes('NaN'));
  // Unsustained rungs are hollow, sustained ones filled.
  assert.equal([...svg.matchAll(/<circle [^>]*fill="white"/g)].length, 1);
});

test('renderSvg: a single rung and a peer without bridge latency (audit p99 instead) draw without NaN', () => {
  const svg = renderSvg(result([rung(5000, { p99_ms: null, p50_ms: null, max_ms: null })]));
  assert.ok(!svg.includes('NaN'));
  assert.match(svg, /p99 feed-to-Kafka \(audit\)/);
});

test('niceTicks covers the maximum with round steps', () => {
  assert.deepEqual(niceTicks(800_000), [0, 200_000, 400_000, 600_000, 800_000]);
  const t = niceTicks(37);
  assert.ok((t.at(-1) ?? 0) >= 37);
  assert.deepEqual(niceTicks(0), [0, 1]);
});

test('table: one row per rate, n/a for spool and missing figures, the verdict with its reason, the summary', () => {
  const text = table(result([...ladder.slice(0, 3), rung(400_000, { p99_ms: null, cpu_s_per_million: null, sustained: false, reasons: ['lost 5'] })]));
  const lines = text.split('\n');
  assert.match(lines[1] ?? '', /offered\/s .*acked\/s .*lost .*p99 ms .*CPU s\/M .*peak RSS MB .*spool MB .*verdict/);
  assert.match(text, /^\s+200,000 .* sustained$/m);
  assert.match(text, /^\s+400,000 .* n\/a .* no: lost 5$/m);
  assert.match(text, /sustained: 200,000 events\/s/);
  assert.match(text, /ceiling: 600,000 events\/s \(receive-only client 900,000\/s, kafka-producer-perf-test 600,000\/s\)/);
  assert.match(text, /fraction of ceiling: 33.3%/);
});

test('parseRates: lists, k and m suffixes, sorted and distinct', () => {
  assert.deepEqual(parseRates('rates', '200k,50000,1m,50_000'), [50_000, 200_000, 1_000_000]);
  assert.deepEqual(benchOptions({}).rates, [50_000, 100_000, 200_000, 300_000, 450_000, 700_000]);
  assert.equal(benchOptions({ duration: '3s' }).durationMs, 3000);
});

test('bench: bad values are USAGE errors naming the flag, the value and what is accepted', async () => {
  const cases: [string[], RegExp][] = [
    [['--rates', '50000,fast'], /--rates '50000,fast' is not accepted: expected comma-separated events\/s from 1 to 10,000,000/],
    [['--rates', '0'], /--rates '0' is not accepted/],
    [['--duration', 'soon'], /--duration 'soon' is not accepted: expected a duration/],
    [['--duration', '500ms'], /--duration '500ms' is not accepted: expected a duration of at least 1s/],
    [['--batch', '0'], /--batch '0' is not accepted: expected a whole number from 1 to 100,000/],
    [['--brokers', 'nowhere'], /--brokers 'nowhere' is not accepted: expected host:port pairs/],
    [['--mock-port', '70000'], /--mock-port '70000' is not accepted: expected a whole number from 1 to 65,535/],
    [['--peer', ' '], /--peer ' ' is not accepted: expected a shell command/],
    [['--drain', 'x'], /--drain 'x' is not accepted/],
    [['--ceiling-records', '5'], /--ceiling-records '5' is not accepted: expected a whole number from 1,000/],
    [['--ratez', '1'], /bench: Unknown option '--ratez'/],
  ];
  await Promise.all(
    cases.map(async ([args, message]) => {
      const r = await exec(process.execPath, [cli, 'bench', ...args]).then(
        (ok) => ({ code: 0, stderr: ok.stderr }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\[USAGE\]/);
    }),
  );
});

test('bench --help lists the options', async () => {
  const { stdout } = await exec(process.execPath, [cli, 'bench', '--help']);
  for (const f of ['--rates', '--duration', '--batch', '--brokers', '--peer', '--ceiling', '--json', '--out', '--drain']) assert.ok(stdout.includes(f), f);
});

test('renderSvg: the offered axis spans the plot from the lowest to the highest rate', () => {
  const svg = renderSvg(result(ladder));
  const xs = (/class="acked"[^>]*points="([^"]*)"/.exec(svg)?.[1] ?? '').split(' ').map((p) => Number(p.split(',')[0]));
  assert.equal(xs[0], 80);
  assert.equal(xs.at(-1), 680);
});
