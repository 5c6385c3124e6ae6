// Issue #5, scenarios 1 and 2: the broker dies under load, or is not there at the start. The
// bridge keeps reading, spools what Kafka cannot take, and delivers all of it once Kafka is back:
// audited by verify against what the mock wrote. A broker of its own (port 19092), since it is killed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { lastMetrics, metricOf, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { faultBroker } from '../helpers/fault-broker.ts';
import { freePort, metric } from '../helpers/net.ts';

const broker = faultBroker(19092);
before(() => broker.start(), { timeout: 180_000 });
after(() => broker.destroy(), { timeout: 60_000 });

/** Scenario 6: the quota (bytes/s the broker lets the bridge produce), the memory buffer, and the RSS it must stay under. */
const QUOTA_BYTES_PER_S = 100_000;
const BUFFER = 50_000;
const RSS_BOUND_MB = 512;


test('the broker is SIGKILLed for 30 s under 50,000 events/s, then restarted: nothing lost, duplicated or reordered', { timeout: 300_000 }, async (t) => {
  const topics = testTopics(() => {});
  const N = 50_000 * 45;
  const mock = await startMockServer({ port: 0, rate: 50_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--brokers', broker.bootstrap, '--max-events', String(N), '--metrics-interval', '1s', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => lastMetrics(bridge.stdout()).produced > 100_000, 60_000, 'the first 100,000 events acknowledged');

  await broker.kill();
  const killedAt = Date.now();
  await sleep(30_000);
  const during = { received: lastMetrics(bridge.stdout()).received, spooled: metricOf(bridge.stdout(), 'Spooled') };
  await broker.start();
  const downMs = Date.now() - killedAt;

  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  assert.ok(during.received > 1_000_000, `the bridge kept reading while the broker was down (${during.received} received)`);
  assert.ok(during.spooled > 0, 'what Kafka could not take went to the spool');
  const out = bridge.stdout();
  assert.equal(metricOf(out, 'Replayed'), metricOf(out, 'Spooled'), 'everything spooled was replayed');
  const report = await audit({ brokers: [broker.bootstrap], topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  t.diagnostic(`broker down ${downMs} ms; spooled ${metricOf(out, 'Spooled')}; audit ${JSON.stringify({ delivered: report.delivered, lost: report.lost, duplicated: report.duplicated, reordered: report.reordered, corrupted: report.corrupted })}`);
  assert.equal(report.delivered, N);
  assert.equal(report.lost, 0, JSON.stringify(report.samples.lost));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0);
});

test('the broker is down when the bridge starts and comes up 20 s later: nothing lost, duplicated or reordered', { timeout: 300_000 }, async (t) => {
  await broker.kill();
  const topics = testTopics(() => {});
  const N = 20_000 * 40;
  const mock = await startMockServer({ port: 0, rate: 20_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--brokers', broker.bootstrap, '--max-events', String(N), '--metrics-interval', '1s', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => /Kafka at 127\.0\.0\.1:19092 is unreachable/.test(bridge.stderr()), 20_000, 'the unreachable warning');
  await sleep(20_000);
  assert.equal(bridge.proc.exitCode, null, 'still running, still reading');
  assert.ok(metricOf(bridge.stdout(), 'Spooled') > 300_000, 'events read meanwhile are in the spool');
  assert.ok(metricOf(bridge.stdout(), 'Oldest') > 15_000, 'the age of the oldest unacknowledged event shows the outage');
  await broker.start();

  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  const report = await audit({ brokers: [broker.bootstrap], topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.delivered, N);
  assert.equal(report.lost, 0, JSON.stringify(report.samples.lost));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0);
});

for (const policy of ['block', 'drop'] as const) {
  test(`the spool reaches --spool-max-bytes with --spool-full ${policy}: the policy applies, a loud warning, the bridge keeps running, the spool drains intact`, { timeout: 240_000 }, async (t) => {
    await broker.kill();
    const topics = testTopics(() => {});
    const N = 10_000 * 15;
    const mock = await startMockServer({ port: 0, rate: 10_000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
    t.after(() => mock.close());
    // block: every event arrives, so the bridge ends by itself at N; drop: stopped once drained.
    const args = ['--url', mock.url, '--brokers', broker.bootstrap, '--buffer-size', '1000', '--spool-max-bytes', '1048576', '--spool-segment-bytes', '262144', '--spool-full', policy, '--metrics-interval', '500ms', ...topics.flags];
    const bridge = startBridge(policy === 'block' ? [...args, '--max-events', String(N)] : args);
    t.after(() => bridge.proc.kill('SIGKILL'));
    await waitFor(() => /SPOOL FULL/.test(bridge.stderr()), 60_000, 'the spool-full warning');
    await sleep(3000);
    assert.equal(bridge.proc.exitCode, null, 'still running');
    await broker.start();
    if (policy === 'drop') {
      await waitFor(() => mock.stats().timeline.events >= N && /Kafka is ready[^]*the spool is drained/.test(bridge.stderr()), 120_000, 'the timeline sent and the spool drained');
      await sleep(2000);
      bridge.proc.kill('SIGTERM');
    }
    assert.equal((await bridge.exited).code, 0, bridge.stderr().slice(-3000));
    assert.doesNotMatch(bridge.stderr(), /safe in the spool/, 'the spool drained before the stop');
    const out = bridge.stdout();
    const dropped = metricOf(out, 'Dropped');
    const report = await audit({ brokers: [broker.bootstrap], topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
    t.diagnostic(`${policy}: spooled ${metricOf(out, 'Spooled')}, replayed ${metricOf(out, 'Replayed')}, dropped ${dropped}; audit ${JSON.stringify({ delivered: report.delivered, lost: report.lost, duplicated: report.duplicated, reordered: report.reordered })}`);
    assert.equal(metricOf(out, 'Replayed'), metricOf(out, 'Spooled'), 'what was spooled drained');
    if (policy === 'block') {
      assert.match(bridge.stderr(), /SPOOL FULL: pausing the socket/);
      assert.equal(dropped, 0);
      assert.equal(report.lost, 0, JSON.stringify(report.samples.lost));
    } else {
      assert.match(bridge.stderr(), /SPOOL FULL: dropping events/);
      assert.ok(dropped > 0, 'events were dropped');
      assert.equal(report.lost, dropped, 'exactly the dropped events are missing, each counted');
    }
    assert.equal(report.duplicated, 0);
    assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
    assert.equal(report.corrupted, 0);
  });
}

/** The process's resident set size in MB, from /proc. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

test('a producer quota throttles Kafka to a tenth of the feed for 60 s: memory stays bounded, what the throttle holds back waits on disk (raw frames in the reading thread; the spool), everything arrives', { timeout: 400_000 }, async (t) => {
  const admin = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: [broker.bootstrap] });
  const quota = (value: number | undefined) =>
    admin.alterClientQuotas({
      entries: [{ entities: [{ entityType: 'client-id', entityName: 'ws2kafka' }], ops: [value === undefined ? { key: 'producer_byte_rate', remove: true } : { key: 'producer_byte_rate', value, remove: false }] }],
    });
  const RATE = 20_000;
  const N = RATE * 75;
  const topics = testTopics(() => {});
  const mock = await startMockServer({ port: 0, rate: RATE, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  await quota(QUOTA_BYTES_PER_S);
  t.after(async () => {
    await quota(undefined).catch(() => undefined);
    await admin.close();
  });
  // A small read-ahead: what the throttle holds back waits on disk, as the frames came, in the
  // reading thread's spill, rather than in memory (docs/operations.md, scenario 10).
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--brokers', broker.bootstrap, '--buffer-size', String(BUFFER), '--read-ahead-bytes', '8MiB', '--max-events', String(N), '--metrics-interval', '1s', '--metrics-port', String(port), ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  let peakRss = 0;
  let peakSpilled = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(bridge.proc.pid!));
    metric(port, /^ws2kafka_read_ahead_spilled_bytes (\d+)$/m).then((b) => (peakSpilled = Math.max(peakSpilled, b)), () => undefined);
  }, 250);
  t.after(() => clearInterval(sampler));
  await waitFor(() => lastMetrics(bridge.stdout()).received > 0, 30_000, 'the first events');
  const t0 = Date.now();
  const p0 = lastMetrics(bridge.stdout()).produced;
  await sleep(60_000);
  const throttled = (lastMetrics(bridge.stdout()).produced - p0) / ((Date.now() - t0) / 1000);
  const spooledMidway = metricOf(bridge.stdout(), 'Spooled');
  await quota(undefined);
  const { code } = await bridge.exited;
  clearInterval(sampler);
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  const report = await audit({ brokers: [broker.bootstrap], topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  t.diagnostic(`throttled: ${Math.round(throttled)} acked/s against ${RATE}/s offered (${(throttled / RATE).toFixed(3)}); frames on disk at the peak ${(peakSpilled / 1e6).toFixed(1)} MB; spooled ${spooledMidway} by the end of the throttle; bridge peak RSS ${peakRss.toFixed(0)} MB; audit ${JSON.stringify({ delivered: report.delivered, lost: report.lost, duplicated: report.duplicated, reordered: report.reordered })}`);
  assert.ok(throttled < RATE / 5, `the quota held Kafka well below the feed (${Math.round(throttled)}/s)`);
  // 30 s of the feed's frames (about 107 bytes an event) at least waited on disk.
  assert.ok(peakSpilled > RATE * 30 * 100, `the reading thread's disk absorbed the difference (${peakSpilled} bytes at the peak)`);
  assert.match(bridge.stderr(), /the pipeline is behind the feed: frames beyond --read-ahead-bytes \(8388608\) wait on disk/);
  assert.equal(mock.stats(true).sent.events, N, 'the feed sent everything: never a slow reader');
  assert.ok(peakRss < RSS_BOUND_MB, `peak RSS ${peakRss.toFixed(0)} MB within ${RSS_BOUND_MB} MB`);
  assert.equal(report.delivered, N);
  assert.equal(report.lost, 0);
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0);
  assert.equal(report.corrupted, 0);
});
