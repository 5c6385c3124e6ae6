// Issue #5, scenarios 1 and 2: the broker dies under load, or is not there at the start. The
// bridge keeps reading, spools what Kafka cannot take, and delivers all of it once Kafka is back:
// audited by verify against what the mock wrote. A broker of its own (port 19092), since it is killed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { lastMetrics, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { faultBroker } from '../helpers/fault-broker.ts';

const broker = faultBroker(19092);
before(() => broker.start(), { timeout: 180_000 });
after(() => broker.destroy(), { timeout: 60_000 });

const metric = (out: string, name: string) => Number(new RegExp(`${name}: (\\d+)`).exec(out.trim().split('\n').filter((l) => l.startsWith('[Metrics]')).at(-1) ?? '')?.[1] ?? NaN);

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
  const during = { received: lastMetrics(bridge.stdout()).received, spooled: metric(bridge.stdout(), 'Spooled') };
  await broker.start();
  const downMs = Date.now() - killedAt;

  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  assert.ok(during.received > 1_000_000, `the bridge kept reading while the broker was down (${during.received} received)`);
  assert.ok(during.spooled > 0, 'what Kafka could not take went to the spool');
  const out = bridge.stdout();
  assert.equal(metric(out, 'Replayed'), metric(out, 'Spooled'), 'everything spooled was replayed');
  const report = await audit({ brokers: [broker.bootstrap], topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  t.diagnostic(`broker down ${downMs} ms; spooled ${metric(out, 'Spooled')}; audit ${JSON.stringify({ delivered: report.delivered, lost: report.lost, duplicated: report.duplicated, reordered: report.reordered, corrupted: report.corrupted })}`);
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
  assert.ok(metric(bridge.stdout(), 'Spooled') > 300_000, 'events read meanwhile are in the spool');
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
