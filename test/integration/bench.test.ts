// `ws2kafka bench` end to end, short: the real broker, mock and bridge as their own processes.
// No speed is asserted (other tests share the cores); the figures must be present and plausible.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/bench/children.ts';
import type { BenchResult } from '../../src/bench/result.ts';
import { testBrokers } from '../helpers/kafka.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'bench', '--brokers', testBrokers().join(','), ...args], { maxBuffer: 16 << 20, timeout: 85_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('bench --rates 5000,10000 --duration 3s --ceiling --json --out: every figure, nothing lost, plausible rates', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'ws2kafka-bench-test-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const r = await bench(['--rates', '5000,10000', '--duration', '3s', '--ceiling', '--ceiling-records', '100000', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one JSON object on stdout');
  const result = JSON.parse(lines[0] ?? '') as BenchResult;
  for (const k of ['sustained_events_per_s', 'ceiling_events_per_s', 'fraction_of_ceiling', 'rates'] as const) assert.ok(k in result, k);
  assert.deepEqual(result.rates.map((x) => x.offered), [5000, 10_000]);
  for (const x of result.rates) {
    for (const k of ['offered', 'acked_per_s', 'lost', 'duplicated', 'p50_ms', 'p99_ms', 'max_ms', 'cpu_s_per_million', 'peak_rss_mb'] as const) assert.ok(k in x, `${k} in ${JSON.stringify(x)}`);
    assert.equal(x.lost, 0, JSON.stringify(x));
    assert.equal(x.duplicated, 0, JSON.stringify(x));
    assert.ok('spool_peak_mb' in x && 'spooled_events' in x);
    assert.ok(x.acked_per_s > 0.5 * x.offered && x.acked_per_s < 1.1 * x.offered, `acked ${x.acked_per_s}/s for ${x.offered}/s`);
    assert.ok(x.acked_total >= 0.9 * x.offered * 3, `acked_total ${x.acked_total}`);
    assert.ok(x.p50_ms !== null && x.p99_ms !== null && x.max_ms !== null && x.p50_ms <= x.p99_ms && x.p99_ms <= x.max_ms, JSON.stringify(x));
    assert.ok(x.cpu_s_per_million !== null && x.cpu_s_per_million > 0);
    assert.ok(x.peak_rss_mb !== null && x.peak_rss_mb > 20 && x.peak_rss_mb < 4000);
  }
  if (result.sustained_events_per_s !== null) assert.ok([5000, 10_000].includes(result.sustained_events_per_s));
  assert.ok(result.ceiling !== null);
  assert.deepEqual(result.ceiling.errors, []);
  assert.ok((result.ceiling.receive_events_per_s ?? 0) > 10_000);
  assert.ok((result.ceiling.producer_records_per_s ?? 0) > 10_000);
  assert.equal(result.ceiling_events_per_s, Math.min(result.ceiling.receive_events_per_s ?? Infinity, result.ceiling.producer_records_per_s ?? Infinity));
  const svg = await readFile(join(out, 'bench.svg'), 'utf8');
  assert.match(svg, /^<svg /);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'bench.json'), 'utf8')), result);
  assert.match(r.stderr, /bench: ws2kafka run: offering 5,000 events\/s/);
});

test('bench --peer runs another pipeline command against the same mock, judged by the same audit', async () => {
  // The peer here is ws2kafka run itself with only the documented peer contract: the feed at
  // WEBSOCKET_URL, Kafka at KAFKA_BROKERS, topics trades and aggregates. --mock-port keeps off 8081.
  const port = await freePort();
  const peer = `exec "${process.execPath}" "${cli}" run --url "$WEBSOCKET_URL" --brokers "$KAFKA_BROKERS" --metrics-port 0 --topics T=trades,A=aggregates,AM=aggregates`;
  const r = await bench(['--peer', peer, '--peer-only', '--mock-port', String(port), '--rates', '5000', '--duration', '2s']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pipeline: --peer exec /);
  const row = r.stdout.split('\n').find((l) => /^\s+5,000 /.test(l));
  assert.ok(row !== undefined, r.stdout);
  // offered, sent/s, acked/s, lost, dup, then the bridge histogram's p50/p99/max: n/a for a peer.
  const cells = row.trim().split(/\s{2,}/);
  assert.equal(cells[3], '0', row);
  assert.equal(cells[4], '0', row);
  assert.deepEqual(cells.slice(5, 8), ['n/a', 'n/a', 'n/a'], row);
  assert.notEqual(cells[9], 'n/a', `CPU s/M of the peer's process tree: ${row}`);
});
