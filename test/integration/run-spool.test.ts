// The disk spool under `run`: overflow into it and back, and Kafka down with a restart between.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startMockServer } from '../../src/mock/server.ts';
import { parseMix } from '../../src/mock/options.ts';
import { audit } from '../../src/verify/audit.ts';
import { lastMetrics, metricOf, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';


test('behind the feed while Kafka acknowledges (a 1 MiB buffer, 1 MiB read-ahead, 400,000 events/s): frames beyond the read-ahead wait on disk in the reading thread, the record spool is not used, and everything arrives in order', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const spoolDir = await mkdtemp(join(tmpdir(), 'ws2kafka-spool-'));
  const N = 200_000;
  const mock = await startMockServer({ port: 0, rate: 400_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--max-events', String(N), '--buffer-bytes', '1MiB', '--read-ahead-bytes', '1MiB', '--spool-dir', spoolDir, '--metrics-interval', '500ms', '--log-level', 'info', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr());
  const out = bridge.stdout();
  assert.match(bridge.stderr(), /frames beyond --read-ahead-bytes \(1048576\) wait on disk in \S+read-ahead/, 'the reading thread kept frames on disk');
  assert.equal(metricOf(out, 'Spooled'), 0, `no record went through the spool\n${bridge.stderr().slice(-4000)}`);
  assert.equal(lastMetrics(out).produced, N);
  assert.deepEqual(readdirSync(join(spoolDir, 'read-ahead')), [], 'nothing left on disk');
  assert.equal(mock.stats(true).sent.events, N, 'the feed sent everything: never a slow reader');
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.lost, 0);
  assert.equal(report.duplicated, 0);
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0);
});

test('Kafka unreachable: events go to the spool; after a restart with Kafka back, all of them arrive once, in order', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const spoolDir = await mkdtemp(join(tmpdir(), 'ws2kafka-spool-'));
  const N = 20_000;
  const mock = await startMockServer({ port: 0, rate: 20_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const down = startBridge(['--url', mock.url, '--brokers', '127.0.0.1:1', '--spool-dir', spoolDir, '--shutdown-timeout', '500ms', '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => down.proc.kill('SIGKILL'));
  await waitFor(() => metricOf(down.stdout(), 'Spooled') === N, 30_000, `all ${N} events in the spool`);
  down.proc.kill('SIGTERM');
  assert.equal((await down.exited).code, 0, 'spooled events are safe: a clean exit');
  assert.match(down.stderr(), new RegExp(`${N} events are not yet in Kafka but safe in the spool`));

  // The same spool, Kafka reachable, a feed with nothing more to say.
  const quiet = await startMockServer({ port: 0, rate: 1, events: 0 });
  t.after(() => quiet.close());
  const up = startBridge(['--url', quiet.url, '--spool-dir', spoolDir, '--max-events', String(N), '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => up.proc.kill('SIGKILL'));
  assert.equal((await up.exited).code, 0, up.stderr());
  assert.match(up.stderr(), /spool recovery: replaying records/);
  assert.equal(metricOf(up.stdout(), 'Replayed'), N);
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.ok(report.ok, JSON.stringify(report));
  assert.equal(report.delivered, N);
});
