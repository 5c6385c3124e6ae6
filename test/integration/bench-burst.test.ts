// `ws2kafka bench --burst N` end to end, small: the real broker, mock and bridge as their own
// processes. No speed is asserted (other tests share the cores): the report's figures must be present
// and consistent with the audit. The Benthos peer runs only where bench/peers/benthos/build.sh has built it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BurstResult, BurstRun } from '../../src/bench/burst-result.ts';
import { benthosBinary } from '../../src/bench/peers.ts';
import { testBrokers } from '../helpers/kafka.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'bench', '--brokers', testBrokers().join(','), ...args], { maxBuffer: 16 << 20, timeout: 170_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The figures of one pipeline's burst agree with each other and with the audit. */
function consistent(b: BurstRun, events: number): void {
  const j = JSON.stringify({ ...b, timeline: `${b.timeline.length} samples` });
  assert.equal(b.events, events, j);
  assert.equal(b.offered, events, j);
  assert.equal(b.mock_skipped, 0, j);
  // Every event of the mix matches the subscription: the audit expects it in Kafka or counts it not sent.
  assert.ok(b.expected !== null && b.expected + b.not_sent === b.offered, j);
  // What the audit read: the distinct events it found, each once, plus the second copies.
  assert.equal(b.acked_total, b.delivered + b.duplicated, j);
  // Each expected event was found, lost or cut.
  assert.equal(b.delivered - b.unexpected + b.lost + b.cut, b.expected, j);
  // Never dropped: what the mock counts as sent is what the audit expects.
  if (!b.dropped_as_slow_reader) assert.equal(b.sent, b.expected, j);
  assert.equal(b.dropped_as_slow_reader, b.slow_reader_drops > 0, j);
  assert.ok(b.connections >= 1 + b.slow_reader_drops || b.slow_reader_drops === 0, j);
  assert.ok(b.burst_s > 0 && b.sent_per_s > 0, j);
  assert.ok(b.acked_at_burst_end >= 0 && b.acked_at_burst_end <= b.acked_total, j);
  if (b.drain_s !== null) assert.ok(b.drain_s >= 0, j);
  if (b.peak_spool_events !== null) assert.ok(b.peak_spool_events >= 0 && b.peak_spool_events <= b.sent, j);
  assert.ok(b.peak_rss_mb !== null && b.peak_rss_mb > 10, j);
  assert.ok(b.cpu_s !== null && b.cpu_s_burst !== null && b.cpu_s >= b.cpu_s_burst && b.cpu_s_burst >= 0, j);
  // The verdict is exactly its reasons.
  assert.equal(b.absorbed, b.reasons.length === 0, j);
  if (b.absorbed) {
    for (const k of ['not_sent', 'lost', 'duplicated', 'reordered', 'corrupted'] as const) assert.equal(b[k], 0, `${k}: ${j}`);
    assert.notEqual(b.drain_s, null, j);
  }
  if (b.not_sent > 0) assert.ok(b.reasons.some((r) => r.includes('not sent')), j);
  if (b.lost > 0) assert.ok(b.reasons.some((r) => r.startsWith('lost')), j);
  // The timeline: ordered in time, never more acknowledged than Kafka holds at the end.
  assert.ok(b.timeline.length >= 2, j);
  for (let i = 1; i < b.timeline.length; i++) assert.ok(b.timeline[i]!.t_s >= b.timeline[i - 1]!.t_s, j);
  assert.ok(b.timeline.every((x) => x.acked <= b.acked_total && x.sent <= b.sent), j);
}

test('bench --burst 50000 --json --out: the report agrees with the audit; the text report names every figure', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'ws2kafka-burst-test-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const r = await bench(['--burst', '50000', '--drain', '60s', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one JSON object on stdout');
  const result = JSON.parse(lines[0] ?? '') as BurstResult;
  assert.equal(result.peer, null);
  assert.equal(result.burst.pipeline, 'ws2kafka run');
  assert.equal(result.settings.events, 50_000);
  consistent(result.burst, 50_000);
  // A bridge exports its spool series: numbers, not n/a.
  assert.notEqual(result.burst.peak_spool_mb, null);
  assert.notEqual(result.burst.peak_spool_events, null);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'burst.json'), 'utf8')), result);
  assert.match(r.stderr, /bench: ws2kafka run: a burst of 50,000 events at the mock's full speed/);
  assert.match(r.stderr, /auditing/);
});

test('bench --burst 20000 --peer benthos: the same burst to Benthos beside ws2kafka, each consistent with its audit', async (t) => {
  if (!existsSync(benthosBinary())) {
    t.skip(`Benthos is not built (${benthosBinary()} is absent): run bench/peers/benthos/build.sh (needs Go and the module proxy)`);
    return;
  }
  const r = await bench(['--burst', '20000', '--peer', 'benthos', '--drain', '60s', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as BurstResult;
  assert.equal(result.burst.pipeline, 'ws2kafka run');
  assert.equal(result.peer?.pipeline, 'benthos v4.27.0');
  consistent(result.burst, 20_000);
  consistent(result.peer, 20_000);
  // Benthos exports no spool figures and has no gap topic.
  assert.equal(result.peer.peak_spool_mb, null);
  assert.equal(result.peer.cut, 0);
  assert.ok(r.stderr.indexOf('ws2kafka run: a burst of 20,000') < r.stderr.indexOf('benthos v4.27.0: a burst of 20,000'), r.stderr);
});
