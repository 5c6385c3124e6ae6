// Issue #5, scenarios 3 and 5: the bridge itself dies (SIGKILL, with --durability disk), and a
// spool segment is found torn at start. Audited by verify against what the mock wrote.
import assert from 'node:assert/strict';
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readToEnd } from '../../src/kafka/read.ts';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { lastMetrics, metricOf, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';

const BATCH_BYTES = 262_144;

test('the bridge is SIGKILLed mid-stream with --durability disk and restarted: no holes, the window is a gap record, duplicates within one batch', { timeout: 240_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const spoolDir = await mkdtemp(join(tmpdir(), 'ws2kafka-spool-'));
  const N = 20_000 * 20;
  const mock = await startMockServer({ port: 0, rate: 20_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const args = ['--url', mock.url, '--durability', 'disk', '--spool-dir', spoolDir, '--batch-bytes', String(BATCH_BYTES), '--metrics-interval', '500ms', ...topics.flags];
  const first = startBridge(args);
  t.after(() => first.proc.kill('SIGKILL'));
  await waitFor(() => lastMetrics(first.stdout()).produced > 60_000, 60_000, '60,000 events acknowledged');
  first.proc.kill('SIGKILL');
  const killedAt = Date.now();
  await first.exited;
  await sleep(2000);

  const second = startBridge(args);
  t.after(() => second.proc.kill('SIGKILL'));
  await waitFor(() => /ended without a clean stop/.test(second.stderr()), 20_000, 'the crash noticed at start');
  await waitFor(() => mock.stats().timeline.events >= N, 60_000, 'the mock to finish its timeline');
  await sleep(1000);
  second.proc.kill('SIGTERM');
  assert.equal((await second.exited).code, 0, second.stderr().slice(-3000));
  assert.doesNotMatch(second.stderr(), /safe in the spool/, 'everything was delivered before the stop');

  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true), gapTopic: topics.gaps });
  t.diagnostic(`audit ${JSON.stringify({ delivered: report.delivered, lost: report.lost, cut: report.cut, not_sent: report.not_sent, duplicated: report.duplicated, reordered: report.reordered, gaps: report.gaps })}`);
  assert.equal(report.lost, 0, `no holes: ${JSON.stringify(report.samples.lost)}`);
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0);
  assert.ok(report.duplicated <= BATCH_BYTES / 100, `duplicates (${report.duplicated}) within one in-flight batch of ${BATCH_BYTES} bytes`);
  const gaps: Array<{ reason: string; from: number; to: number }> = [];
  await readToEnd({ brokers: testBrokers(), topics: [topics.gaps], onRecord: (r) => gaps.push(JSON.parse(r.value.toString()) as (typeof gaps)[number]) });
  const crash = gaps.find((g) => /ended without a clean stop/.test(g.reason));
  assert.ok(crash, `a gap record for the crash: ${JSON.stringify(gaps)}`);
  assert.ok(crash.from <= killedAt && crash.to >= killedAt + 2000, `the gap covers the kill and the 2 s down: ${JSON.stringify(crash)} killed at ${killedAt}`);
});

test('a spool segment torn in the middle of a record: start-up cuts it, says so, and replays the rest', { timeout: 120_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const spoolDir = await mkdtemp(join(tmpdir(), 'ws2kafka-spool-'));
  const N = 20_000;
  const mock = await startMockServer({ port: 0, rate: 20_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  // Kafka unreachable: every event ends up in the spool.
  const down = startBridge(['--url', mock.url, '--brokers', '127.0.0.1:1', '--spool-dir', spoolDir, '--shutdown-timeout', '500ms', '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => down.proc.kill('SIGKILL'));
  await waitFor(() => metricOf(down.stdout(), 'Spooled') === N, 30_000, `all ${N} events in the spool`);
  down.proc.kill('SIGTERM');
  assert.equal((await down.exited).code, 0);

  // Tear the newest segment 37 bytes before its end: inside the last record.
  const segments = readdirSync(spoolDir).filter((f) => f.endsWith('.seg')).sort();
  const last = join(spoolDir, segments.at(-1)!);
  truncateSync(last, statSync(last).size - 37);

  const quiet = await startMockServer({ port: 0, rate: 1, events: 0 });
  t.after(() => quiet.close());
  const up = startBridge(['--url', quiet.url, '--spool-dir', spoolDir, '--max-events', String(N - 1), '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => up.proc.kill('SIGKILL'));
  assert.equal((await up.exited).code, 0, up.stderr());
  assert.match(up.stderr(), /spool recovery: cut \d+ bytes at .*\.seg:\d+/);
  assert.match(up.stderr(), new RegExp(`"records":${N - 1}`));
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.delivered, N - 1);
  assert.equal(report.lost, 1, 'only the torn record');
  assert.equal(report.samples.lost[0], mock.stats().sent.lastQ, 'the torn record is the last event received');
  assert.equal(report.duplicated, 0);
  assert.equal(report.reordered, 0);
  assert.equal(report.corrupted, 0);
});
