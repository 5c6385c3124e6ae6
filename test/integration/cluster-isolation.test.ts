// Issue #12: one broker cut off from the bridge while the cluster itself is healthy. Each node of a
// three-node cluster (replication 3, min.insync.replicas 2) has a second PLAINTEXT listener that
// advertises a relay's address, one relay per node: the bridge reaches each broker only through its
// relay, the brokers replicate among themselves directly. Under 40,000 events/s the relay of the
// broker that leads most partitions is blackholed for 20 s (it forwards nothing either way and
// keeps the connections open: the bridge's requests to that broker hang, as across a congested or
// partitioned link), then restored. Unlike a broker killed (cluster-faults.test.ts), Kafka holds
// nothing here: what holds back the blackholed broker's partitions is the bridge's path to it
// alone, so the partitions the other brokers lead must flow in every second of it. End offsets are
// sampled every 250 ms directly (not through the relays); /status names the cut-off broker slow
// and its partitions parked (their records wait in the spool, so the memory queue keeps moving);
// after the restore everything drains, and verify's audit finds nothing lost, duplicated,
// reordered or corrupted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { lastMetrics, startBridge, waitFor } from '../helpers/bridge.ts';
import { describeReplicas, leaderCounts, REMOTE_PORT_OFFSET, startTestCluster, type TestCluster } from '../helpers/cluster.ts';
import { freePort, relay, type Relay } from '../helpers/net.ts';
import { busyKeys, clusterTopics, growth, perSecond, SAMPLE_MS, sampler } from '../helpers/offsets.ts';

const RATE = 40_000;
const SECONDS = 60;
const BLACKHOLE_MS = 20_000;
/**
 * The bridge's --buffer-size (events in memory): its default. Without parking, the sink read at
 * most 1.5 × this ahead of a stalled broker (7.5 s of this feed), then the other brokers starved.
 */
const BUFFER = 200_000;

/** The bridge's [Metrics] lines (one a second) printed so far. */
function metricLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('[Metrics]'));
}

/** The distinct messages of the bridge's warning log lines (JSON), with how often each came. */
function warnings(stderr: string): string {
  const counts = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string };
      if ((o.level ?? 0) >= 40 && o.msg) counts.set(o.msg, (counts.get(o.msg) ?? 0) + 1);
    } catch {
      // not a log line
    }
  }
  return JSON.stringify([...counts]);
}

interface BrokerLaneDoc {
  broker: number;
  state: string;
  partitionsLed: number;
  inflight: number;
  lastError: string | null;
}
interface StatusDoc {
  kafka: { perBroker: BrokerLaneDoc[]; leaderlessPartitions: string[]; parkedPartitions: Array<{ partition: string; records: number }> };
}

let cluster: TestCluster;
const relays = new Map<number, Relay>();
before(async () => {
  // The relays first (their ports are what the nodes advertise); each forwards to its node's REMOTE
  // listener, known once the cluster has its ports.
  for (const id of [1, 2, 3]) relays.set(id, await relay(() => `127.0.0.1:${cluster.node(id).port + REMOTE_PORT_OFFSET}`));
  cluster = await startTestCluster(45000, 3, () => {}, { remote: (id) => relays.get(id)!.port });
}, { timeout: 240_000 });
after(async () => {
  for (const r of relays.values()) r.close();
  await cluster?.destroy();
}, { timeout: 120_000 });

test('one broker blackholed from the bridge for 20 s (the cluster healthy) under 40,000 events/s: the other brokers\' partitions flow in every second of it, its own flow again on restore, nothing lost', { timeout: 600_000 }, async (t) => {
  const topics = clusterTopics();
  const N = RATE * SECONDS;
  const mock = await startMockServer({ port: 0, rate: RATE, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const port = await freePort();
  const viaRelays = [1, 2, 3].map((id) => relays.get(id)!.address);
  const bridge = startBridge(['--url', mock.url, '--brokers', viaRelays.join(','), '--max-events', String(N), '--metrics-interval', '1s', '--metrics-port', String(port), '--buffer-size', String(BUFFER), ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  const statusOf = async () => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as StatusDoc;
  await waitFor(() => lastMetrics(bridge.stdout()).produced > 2 * RATE, 90_000, `the first ${2 * RATE} events acknowledged`);

  const names = [topics.trades, topics.aggregates];
  const s = sampler(() => cluster.bootstrap, names);
  let victim = -1;
  let blackholedAt = 0;
  let restoredAt = 0;
  let victimKeys: string[] = [];
  let healthyKeys: string[] = [];
  const linesAt: number[] = [];
  const statuses: Array<{ atMs: number; perBroker: BrokerLaneDoc[]; parked: StatusDoc['kafka']['parkedPartitions'] }> = [];
  try {
    const replicas = await describeReplicas(cluster.bootstrap, names);
    const counts = leaderCounts(replicas);
    victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    victimKeys = replicas.filter((p) => p.leader === victim).map((p) => `${p.topic}/${p.partition}`);
    healthyKeys = replicas.filter((p) => p.leader !== victim).map((p) => `${p.topic}/${p.partition}`);
    t.diagnostic(`leaders ${JSON.stringify([...counts])}; blackholing the relay of broker ${victim} (leads ${victimKeys.length} of ${replicas.length} partitions)`);
    await sleep(2000);
    linesAt.push(metricLines(bridge.stdout()).length);
    blackholedAt = Date.now();
    relays.get(victim)!.blackhole();
    while (Date.now() - blackholedAt < BLACKHOLE_MS) {
      await sleep(1000);
      const doc = await statusOf().catch(() => undefined);
      if (doc) statuses.push({ atMs: Date.now() - blackholedAt, perBroker: doc.kafka.perBroker, parked: doc.kafka.parkedPartitions });
    }
    restoredAt = Date.now();
    relays.get(victim)!.restore();
    linesAt.push(metricLines(bridge.stdout()).length);
    // Requests that hung in the relay are answered once it forwards again (the produce request
    // timeout, 30 s, is longer than the blackhole); the rest of the feed follows.
    const exited = await Promise.race([bridge.exited, sleep(240_000).then(() => undefined)]);
    if (exited === undefined) {
      const status = await statusOf().catch((err: unknown) => String(err));
      assert.fail(`the bridge did not finish 240 s after the restore: ${lastMetrics(bridge.stdout()).produced} of ${N} produced; /status ${JSON.stringify(status)}; stderr ${bridge.stderr().slice(-4000)}`);
    }
    assert.equal(exited.code, 0, bridge.stderr().slice(-3000));
  } finally {
    await s.stop();
  }
  const samples = s.samples;

  // The other brokers' partitions acknowledged records in every second of the blackhole.
  const healthyPerSecond = perSecond(samples, healthyKeys, blackholedAt, restoredAt);
  const victimPerSecond = perSecond(samples, victimKeys, blackholedAt, restoredAt);
  t.diagnostic(`partitions of the other brokers, records acknowledged per second while broker ${victim} was blackholed: ${healthyPerSecond.join(' ')}`);
  t.diagnostic(`partitions of broker ${victim} in the same seconds: ${victimPerSecond.join(' ')}`);
  t.diagnostic(`/status each second of the blackhole: ${JSON.stringify(statuses.map((x) => ({ atMs: x.atMs, states: x.perBroker.map((b) => `${b.broker}:${b.state}/${b.inflight}`).join(' '), parked: x.parked.map((p) => `${p.partition}:${p.records}`).join(' ') })))}`);
  // After the restore: how soon the blackholed broker's partitions flowed again.
  const steady = busyKeys(samples, victimKeys, blackholedAt);
  const resumed = steady.map((key) => {
    const base = samples.filter((x) => x.at <= restoredAt && x.ends.has(key)).at(-1)?.ends.get(key);
    const flowing = samples.find((x) => x.at > restoredAt && base !== undefined && (x.ends.get(key) ?? -1) > base);
    return flowing === undefined ? -1 : flowing.at - restoredAt;
  });
  const grownAfter = growth(samples, victimKeys).filter(([at]) => at > restoredAt && at < restoredAt + 5000).reduce((a, [, g]) => a + g, 0);
  t.diagnostic(`broker ${victim}'s partitions flowing again after the restore (sampled every ${SAMPLE_MS} ms): ${resumed.join(', ')} ms; ${grownAfter} records acknowledged on them in the 5 s after it`);

  const report = await audit({ brokers: cluster.bootstrap, topics: names, routes: topics.routes, mockStats: mock.stats(true) });
  t.diagnostic(`audit ${JSON.stringify({ delivered: report.delivered, lost: report.lost, duplicated: report.duplicated, reordered: report.reordered, corrupted: report.corrupted })}`);
  t.diagnostic(`the bridge's metrics lines from 2 s before the blackhole to 5 s after the restore:\n${metricLines(bridge.stdout()).slice(Math.max(0, linesAt[0]! - 2), linesAt[1]! + 5).join('\n')}`);
  t.diagnostic(`the bridge's warnings: ${warnings(bridge.stderr())}`);
  assert.ok(healthyPerSecond.length >= 18, `${healthyPerSecond.length} seconds sampled`);
  assert.ok(
    healthyPerSecond.every((n) => n > 0),
    `a second of the blackhole in which the other brokers' partitions acknowledged nothing: ${healthyPerSecond.join(' ')}`,
  );
  assert.ok(resumed.every((ms) => ms >= 0), `a partition of broker ${victim} never flowed again after the restore: ${steady.join(', ')}: ${resumed.join(', ')} ms`);

  // /status: the cut-off broker slow (or failing) while the others are up.
  const shown = statuses.filter((x) => x.atMs >= 2000);
  const stateOf = (x: (typeof statuses)[number], b: number) => x.perBroker.find((l) => l.broker === b)?.state;
  assert.ok(
    shown.every((x) => ['slow', 'failing'].includes(stateOf(x, victim) ?? '')),
    `broker ${victim} not shown slow or failing throughout: ${JSON.stringify(shown)}`,
  );
  const parkedShown = new Set(shown.flatMap((x) => x.parked.map((p) => p.partition.replace(/\[(\d+)\]$/, '/$1'))));
  assert.ok(
    victimKeys.filter((k) => steady.includes(k)).every((k) => parkedShown.has(k)),
    `/status did not show every busy partition of broker ${victim} parked: ${[...parkedShown].join(', ')} of ${victimKeys.join(', ')}`,
  );
  assert.ok([...parkedShown].every((k) => victimKeys.includes(k)), `a partition of another broker was parked: ${[...parkedShown].join(', ')}`);
  const others = [1, 2, 3].filter((b) => b !== victim);
  assert.ok(
    shown.some((x) => others.every((b) => stateOf(x, b) === 'up')),
    `the other brokers were never both shown up: ${JSON.stringify(shown)}`,
  );

  assert.equal(report.delivered, N);
  assert.equal(report.lost, 0, JSON.stringify(report.samples.lost));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0);
});
