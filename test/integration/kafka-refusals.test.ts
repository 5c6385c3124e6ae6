// What Kafka refuses costs only what it refuses, on the real broker: batches kept within a topic's
// max.message.bytes with --compression none, and a topic deleted while the bridge runs (its records
// wait in the spool, the other topics keep flowing, and they follow once the topic is back).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readToEnd } from '../../src/kafka/read.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { parseMix } from '../../src/mock/options.ts';
import { audit } from '../../src/verify/audit.ts';
import { startBridge, testTopics } from '../helpers/bridge.ts';
import { startScriptedFeed } from '../helpers/feed.ts';
import { testBrokers, withAdmin } from '../helpers/kafka.ts';
import { freePort, metric, metricsText, until } from '../helpers/net.ts';

test('--compression none with --batch-bytes above the topic limit: batches are split before sending, everything arrives', { timeout: 120_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const limit = 100_000;
  await withAdmin((admin) => admin.createTopics({ topics: [topics.trades, topics.aggregates], partitions: 3, replicas: 1, configs: [{ name: 'max.message.bytes', value: String(limit) }] }));
  const N = 60_000;
  const mock = await startMockServer({ port: 0, rate: 30_000, events: N, mix: parseMix('mix', 'T=90,AM=10'), slowConsumerBytes: 1 << 30 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--compression', 'none', '--batch-bytes', String(4 * 1024 * 1024), '--linger', '50ms', '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  let metrics = '';
  await until('every event acknowledged', 90_000, async () => {
    metrics = await metricsText(port).catch(() => '');
    return Number(/^ws2kafka_events_produced_total (\d+)$/m.exec(metrics)?.[1] ?? 0) >= N;
  }, () => bridge.stderr().slice(-2000));
  // Split before sending: Kafka never answered MESSAGE_TOO_LARGE, nothing was refused.
  assert.doesNotMatch(metrics, /ws2kafka_produce_errors_total\{code="MESSAGE_TOO_LARGE"\}/);
  assert.match(metrics, /^ws2kafka_records_refused_total 0$/m);
  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-2000));
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.ok(report.ok, JSON.stringify(report));
  assert.equal(report.delivered, N);
  const dead = await readToEnd({ brokers: testBrokers(), topics: [topics.deadLetter], onRecord: () => {} });
  assert.equal(dead.get(topics.deadLetter), 0, 'nothing dead-lettered');
});

test('a topic deleted while the bridge runs: its records wait in the spool, the others keep flowing, all follow once it is back', { timeout: 120_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const feed = await startScriptedFeed();
  t.after(() => feed.close());
  const port = await freePort();
  const bridge = startBridge(['--url', feed.url, '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await feed.subscribed();
  const produced = () => metric(port, /^ws2kafka_events_produced_total (\d+)$/m);

  const trades: string[] = [];
  const aggregates: string[] = [];
  let q = 0;
  const send = async (n: number, withAggregates: boolean) => {
    for (let i = 0; i < n; i++) {
      const tr = `{"ev":"T","sym":"S${q % 7}","q":${++q},"p":1.5}`;
      trades.push(tr);
      if (!withAggregates) {
        await feed.send(`[${tr}]`);
        continue;
      }
      const am = `{"ev":"AM","sym":"S${q % 7}","q":${++q},"v":10}`;
      aggregates.push(am);
      await feed.send(`[${tr},${am}]`);
    }
  };
  await send(100, true);
  await until('the first events acknowledged', 30_000, async () => (await produced()) >= 200, () => bridge.stderr().slice(-2000));

  await withAdmin((admin) => admin.deleteTopics({ topics: [topics.aggregates] }));
  await until('the topic gone', 30_000, async () => !(await withAdmin((admin) => admin.listTopics())).includes(topics.aggregates));
  const afterDeletion = aggregates.length;
  await send(200, true);
  // The other topic keeps flowing while the deleted one is held.
  await until('trades acknowledged while aggregates is held', 30_000, async () => (await produced()) >= 200 + 200, () => bridge.stderr().slice(-3000));
  await until('/health names the held topic', 30_000, async () => {
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { held?: Array<{ topic: string; code: string }> };
    return health.held?.some((h) => h.topic === topics.aggregates && h.code === 'KAFKA_UNKNOWN_TOPIC') === true;
  });
  const metrics = await metricsText(port);
  assert.match(metrics, /^ws2kafka_held_records [1-9]\d*$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="KAFKA_UNKNOWN_TOPIC"\} [1-9]\d*$/m);
  assert.match(bridge.stderr(), /KAFKA_UNKNOWN_TOPIC/);
  // More trades flow meanwhile.
  await send(50, false);
  await until('trades alone acknowledged', 30_000, async () => (await produced()) >= 200 + 250);

  // The topic is back: what was held follows, in order, and the topic flows normally again.
  await withAdmin((admin) => admin.createTopics({ topics: [topics.aggregates], partitions: 1, replicas: 1 }));
  await send(100, true);
  const total = trades.length + aggregates.length;
  await until('everything acknowledged', 60_000, async () => (await produced()) >= total, () => bridge.stderr().slice(-3000));
  assert.match(await metricsText(port), /^ws2kafka_held_records 0$/m);
  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-2000));

  const got = new Map<string, string[]>([
    [topics.trades, []],
    [topics.aggregates, []],
  ]);
  await readToEnd({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], onRecord: (r) => got.get(r.topic)!.push(r.value.toString()) });
  const byKey = (list: string[]) => {
    const m = new Map<string, string[]>();
    for (const e of list) {
      const k = /"sym":"([^"]+)"/.exec(e)![1]!;
      m.set(k, [...(m.get(k) ?? []), e]);
    }
    return m;
  };
  assert.deepEqual(byKey(got.get(topics.trades)!), byKey(trades), 'every trade, once, in order per key');
  // The recreated topic holds exactly what was sent after the deletion, in order per key.
  assert.deepEqual(byKey(got.get(topics.aggregates)!), byKey(aggregates.slice(afterDeletion)), 'every aggregate sent after the deletion, once, in order per key');
});

test('partitions added to a topic while running are used after --metadata-max-age; nothing lost', { timeout: 120_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  await withAdmin((admin) => admin.createTopics({ topics: [topics.trades, topics.aggregates], partitions: 1, replicas: 1 }));
  const N = 30_000;
  const mock = await startMockServer({ port: 0, rate: 3000, events: N, mix: parseMix('mix', 'T=90,AM=10'), slowConsumerBytes: 1 << 30 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--metadata-max-age', '1s', '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  const produced = () => metric(port, /^ws2kafka_events_produced_total (\d+)$/m).catch(() => 0);
  await until('some events acknowledged', 30_000, async () => (await produced()) > 1000);
  await withAdmin((admin) => admin.createPartitions({ topics: [{ name: topics.trades, count: 4 }] }));
  await until('every event acknowledged', 60_000, async () => (await produced()) >= N, () => bridge.stderr().slice(-2000));
  bridge.proc.kill('SIGTERM');
  assert.equal((await bridge.exited).code, 0, bridge.stderr().slice(-2000));
  assert.match(bridge.stderr(), /now has 4 partitions \(was 1\)/);
  const partitions = new Set<number>();
  await readToEnd({ brokers: testBrokers(), topics: [topics.trades], onRecord: (r) => partitions.add(r.partition) });
  assert.ok([1, 2, 3].some((p) => partitions.has(p)), `records in the added partitions: ${[...partitions].join(',')}`);
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.lost, 0, JSON.stringify(report));
  assert.equal(report.duplicated, 0, JSON.stringify(report));
  assert.equal(report.delivered, N);
});
