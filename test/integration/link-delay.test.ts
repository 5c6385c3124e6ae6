// bench --link-delay against a real broker (slow: each test starts a Kafka JVM of its own).
// 1. The environment bench builds (src/bench/link.ts): the broker's REMOTE listener advertises the
//    delay link, so a client that bootstraps at the link is only ever told about the link; a
//    produce and a consume through it succeed and their bytes pass through the link.
// 2. `ws2kafka bench --link-delay 20ms` end to end: one short rung, nothing lost, the link reported.
// No speed is asserted; the round trip is checked as a lower bound only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Admin, CompressionAlgorithms, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Child } from '../../src/bench/children.ts';
import { parseLinkStats, startLinkEnvironment } from '../../src/bench/link.ts';
import type { BenchResult } from '../../src/bench/result.ts';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { ws2kafkaHome } from '../../src/kafka-local/home.ts';
import { readToEnd } from '../../src/kafka/read.ts';
import { kafkaPing } from '../../src/net/kafka-ping.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

async function metadataBrokers(bootstrap: string): Promise<string[]> {
  const admin = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: [bootstrap] });
  try {
    const md = await admin.metadata({ topics: [], forceUpdate: true });
    return [...md.brokers.values()].map((b) => `${b.host}:${b.port}`);
  } finally {
    await admin.close();
  }
}

test('a broker advertising the delay link: metadata names only the link, produce and consume go through it', async (t) => {
  const live = new Set<Child>();
  const lines: string[] = [];
  const env = await startLinkEnvironment(20, (l) => lines.push(l), live);
  const stateDir = join(ws2kafkaHome(), 'bench-link-delay', String(process.pid));
  let stopped = false;
  t.after(async () => {
    if (!stopped) await env.stop();
  });
  const [viaLink] = env.viaLink as [string];
  const [direct] = env.direct as [string];
  assert.notEqual(viaLink, direct);
  assert.ok(existsSync(stateDir), stateDir);

  // Bootstrapped at the link, a client hears of the link only; at the PLAINTEXT listener, of that.
  assert.deepEqual(await metadataBrokers(viaLink), [viaLink]);
  assert.deepEqual(await metadataBrokers(direct), [direct]);
  // The round trip bench measured, and one more: at least the 20 ms asked (a lower bound).
  assert.ok(env.result.measured_rtt_ms.min >= 20, JSON.stringify(env.result));
  assert.ok(env.result.direct_rtt_ms.median < env.result.measured_rtt_ms.median);
  const [host, port] = [viaLink.slice(0, viaLink.lastIndexOf(':')), Number(viaLink.slice(viaLink.lastIndexOf(':') + 1))];
  assert.ok((await kafkaPing(host, port, 5)).min >= 20);

  const topic = `link-delay-${Date.now().toString(36)}`;
  const admin = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: [direct] });
  await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
  await admin.close();

  const producer = new Producer({ clientId: 'ws2kafka-test', bootstrapBrokers: [viaLink], idempotent: true, acks: ProduceAcks.ALL, compression: CompressionAlgorithms.NONE });
  const N = 2000;
  const value = (i: number) => Buffer.from(`{"ev":"T","sym":"K${i % 17}","q":${i},"pad":"${'x'.repeat(200)}"}`);
  try {
    for (let start = 0; start < N; start += 500) {
      const messages = [];
      for (let i = start; i < start + 500; i++) messages.push({ topic, key: Buffer.from(`K${i % 17}`), value: value(i) });
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
  const seen = new Set<number>();
  const counts = await readToEnd({
    brokers: [viaLink],
    topics: [topic],
    onRecord: (r) => {
      const q = Number(/"q":(\d+)/.exec(r.value.toString())?.[1]);
      assert.deepEqual(r.value, value(q));
      seen.add(q);
    },
  });
  assert.equal(counts.get(topic), N);
  assert.equal(seen.size, N);

  stopped = true;
  await env.stop();
  // The link's own counters: the connections above (metadata, the producer, the consumer: each
  // opens at least one), and at least the produced bytes up and the read bytes down.
  const stats = parseLinkStats(env.link.stdout());
  assert.ok(stats !== undefined, env.link.tail());
  assert.ok(stats.accepted >= 4, JSON.stringify(stats));
  const bytes = N * value(0).length;
  assert.ok(stats.bytesUp >= bytes, `up ${stats.bytesUp} >= ${bytes}`);
  assert.ok(stats.bytesDown >= bytes, `down ${stats.bytesDown} >= ${bytes}`);
  assert.equal(env.result.connections, stats.accepted);
  assert.ok(!existsSync(stateDir), 'the broker state is removed');
  assert.equal(live.size, 0);
});

test('ws2kafka bench --link-delay 20ms: a short rung through the link, nothing lost, the link in the JSON', async () => {
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [...NODE_FLAGS, cli, 'bench', '--link-delay', '20ms', '--rates', '5000', '--duration', '3s', '--json'],
      { maxBuffer: 16 << 20, timeout: 400_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim()) as BenchResult;
  assert.equal(result.settings.link_delay_ms, 20);
  assert.match(result.pipeline, /Kafka through a \+20 ms round-trip link/);
  const link = result.link;
  assert.ok(link !== null);
  assert.ok(link.measured_rtt_ms.min >= 20, JSON.stringify(link));
  assert.notDeepEqual(link.pipeline_brokers, link.bench_brokers);
  assert.deepEqual(result.settings.brokers, link.bench_brokers);
  assert.ok((link.connections ?? 0) >= 1 && (link.bytes_up ?? 0) > 0 && (link.bytes_down ?? 0) > 0, JSON.stringify(link));
  const [rung] = result.rates;
  assert.ok(rung !== undefined);
  assert.equal(rung.lost, 0);
  assert.equal(rung.duplicated, 0);
  assert.ok(rung.acked_total > 0);
  assert.ok(rung.link_cpu_s !== null && rung.link_cpu_s >= 0);
  // Each acknowledgement waited at least one delayed round trip.
  assert.ok(rung.p50_ms !== null && rung.p50_ms >= 20, `p50 ${rung.p50_ms} ms`);
  assert.match(r.stderr, /--link-delay: starting a broker of its own/);
  assert.match(r.stderr, /--link-delay: round trip through the link median \d+\.\d ms/);
});
