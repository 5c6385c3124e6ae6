// The topics the bridge creates, on the real (single-node) broker: replication auto = min(3, brokers)
// = 1, --topic-config on every created topic (a topic's own config winning), existing topics left
// as they are, and the start-up warning naming every topic acks=all does not protect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigResourceTypes } from '@platformatic/kafka';
import { autoReplication, creationGroups, unprotected } from '../../src/sink/topic-admin.ts';
import { startBridge, testTopics } from '../helpers/bridge.ts';
import { startScriptedFeed } from '../helpers/feed.ts';
import { withAdmin } from '../helpers/kafka.ts';
import { until } from '../helpers/net.ts';

/** Each topic's configs (the keys asked for), as Kafka reports them. */
async function configsOf(topics: string[], keys: string[]): Promise<Map<string, Record<string, string | null | undefined>>> {
  const described = await withAdmin((a) => a.describeConfigs({ resources: topics.map((t) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: t, configurationKeys: keys })) }));
  return new Map(described.map((d) => [d.resourceName, Object.fromEntries(d.configs.map((c) => [c.name, c.value]))]));
}

/** Each topic's fewest replicas of any partition. */
async function replicationOf(topics: string[]): Promise<Map<string, number>> {
  const metadata = await withAdmin((a) => a.metadata({ topics, forceUpdate: true }));
  return new Map(topics.map((t) => [t, Math.min(...(metadata.topics.get(t)?.partitions ?? []).map((p) => p.replicas.length))]));
}

test('replication auto is min(3, brokers)', () => {
  assert.deepEqual([0, 1, 2, 3, 5].map(autoReplication), [1, 1, 2, 3, 3]);
});

test('creation groups: --topic-config under each topic\'s own configs, same configs created together', () => {
  const groups = creationGroups(['a', 'dead', 'b'], { 'retention.ms': '60000', 'max.message.bytes': '1000' }, { dead: { 'max.message.bytes': '9999' } });
  assert.deepEqual(groups, [
    { topics: ['a', 'b'], configs: { 'retention.ms': '60000', 'max.message.bytes': '1000' } },
    { topics: ['dead'], configs: { 'retention.ms': '60000', 'max.message.bytes': '9999' } },
  ]);
  assert.deepEqual(creationGroups(['a', 'b'], {}, {}), [{ topics: ['a', 'b'], configs: undefined }]);
});

test('unprotected: replication 1 or min.insync.replicas 1', () => {
  const weak = unprotected([
    { topic: 'one-copy', replication: 1, minInsyncReplicas: 2 },
    { topic: 'isr-one', replication: 3, minInsyncReplicas: 1 },
    { topic: 'safe', replication: 3, minInsyncReplicas: 2 },
    { topic: 'unknown-isr', replication: 3, minInsyncReplicas: undefined },
  ]);
  assert.deepEqual(weak.map((d) => d.topic), ['one-copy', 'isr-one']);
});

test('the bridge creates its topics with replication min(3, brokers) and --topic-config, and warns about replication 1', { timeout: 60_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  // An existing topic is written as it is: no --topic-config, but checked (and warned about) too.
  await withAdmin((a) => a.createTopics({ topics: [topics.trades], partitions: 1, replicas: 1, configs: [{ name: 'retention.ms', value: '7200000' }] }));
  const feed = await startScriptedFeed();
  t.after(() => feed.close());
  const bridge = startBridge(['--url', feed.url, '--metrics-interval', '0', '--topic-config', 'retention.ms=3600000,max.message.bytes=500000', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await until('Kafka is ready', 30_000, () => bridge.stderr().includes('Kafka is ready'), () => bridge.stderr().slice(-3000));

  const created = [topics.aggregates, topics.unknown, topics.deadLetter, topics.gaps];
  const all = [topics.trades, ...created];
  const replication = await replicationOf(all);
  for (const topic of all) assert.equal(replication.get(topic), 1, `${topic}: replication min(3, 1 broker) = 1`);

  const configs = await configsOf(all, ['retention.ms', 'max.message.bytes']);
  for (const topic of created) assert.equal(configs.get(topic)?.['retention.ms'], '3600000', `${topic}: retention.ms from --topic-config`);
  for (const topic of [topics.aggregates, topics.unknown, topics.gaps]) assert.equal(configs.get(topic)?.['max.message.bytes'], '500000', `${topic}: max.message.bytes from --topic-config`);
  assert.equal(configs.get(topics.deadLetter)?.['max.message.bytes'], String(16 * 1024 * 1024 + 64 * 1024), "the dead-letter topic's own max.message.bytes wins");
  assert.equal(configs.get(topics.trades)?.['retention.ms'], '7200000', 'an existing topic is not altered');

  const logs = bridge.stderr().trim().split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as { level?: number; msg?: string; topics?: string[] }];
    } catch {
      return [];
    }
  });
  assert.ok(logs.some((l) => /replication auto: 1 \(min\(3, 1 brokers\)\)/.test(l.msg ?? '')), 'the auto replication is logged');
  const warnings = logs.filter((l) => (l.msg ?? '').includes("acks=all then protects nothing: a broker's loss can lose acknowledged events"));
  assert.equal(warnings.length, 1, bridge.stderr().slice(-3000));
  const warning = warnings[0]!;
  assert.equal(warning.level, 40, 'a warning, not an error');
  for (const topic of all) {
    assert.ok(warning.topics?.includes(topic), `${topic} is named in the warning's topics`);
    assert.match(warning.msg ?? '', new RegExp(`${topic} \\(replication 1, min\\.insync\\.replicas 1\\)`));
  }

  // Still running and writing: a warning, not a refusal.
  assert.equal(bridge.proc.exitCode, null);
  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-2000));
});
