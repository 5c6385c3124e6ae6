// verify with a gap topic against the real broker: a stand-in bridge "killed" mid-stream (the
// events it never read are the tail of its first connection), restarted on a second connection,
// with the gap record it would write. The tail is cut, not lost; without the gap topic it is lost.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { freshTopic, testBrokers } from '../helpers/kafka.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the tail of a connection that ended inside a recorded gap is cut, not lost', async (t) => {
  const after = (fn: () => Promise<void>) => t.after(fn);
  const m = await startMockServer({ port: 0, rate: 10_000, events: 4000 });
  t.after(() => m.close());

  // First connection: the bridge gets through the first `kept` events, then dies.
  const a = await ProbeClient.connect(m.url);
  t.after(() => a.close());
  a.auth();
  a.subscribe('T.*,A.*,AM.*');
  await a.until(() => a.events.length >= 500, 10_000, '500 events');
  const kept = a.events.length;
  const from = Date.now();
  await a.until(() => a.events.length >= kept + 50, 10_000, '50 more events');
  a.close();
  await a.closed;
  await sleep(50);

  // The restarted bridge streams again on a second connection.
  const b = await ProbeClient.connect(m.url);
  t.after(() => b.close());
  b.auth();
  b.subscribe('T.*,A.*,AM.*');
  await b.until(() => b.events.length > 0, 10_000, 'streaming again');
  const to = Date.now();
  await m.stopped;
  let stats = m.stats(true);
  for (let i = 0; i < 500 && a.events.length + b.events.length !== stats.connections.reduce((n, c) => n + c.events, 0); i++) {
    await sleep(20);
    stats = m.stats(true);
  }

  const trades = await freshTopic('verify-gaps-trades', 3, after);
  const aggregates = await freshTopic('verify-gaps-aggregates', 3, after);
  const gapTopic = await freshTopic('verify-gaps-gaps', 1, after);
  const producer = new Producer({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers(), acks: ProduceAcks.ALL, idempotent: true });
  try {
    const delivered = [...a.events.slice(0, kept), ...b.events];
    for (let i = 0; i < delivered.length; i += 500) {
      const messages = delivered.slice(i, i + 500).map((e) => ({ topic: e['ev'] === 'T' ? trades : aggregates, key: Buffer.from(String(e['sym'])), value: Buffer.from(JSON.stringify(e)) }));
      await producer.send({ messages });
    }
    const gap = { type: 'gap', connection_id: 'first', resumed_connection_id: 'second', from, to, from_iso: new Date(from).toISOString(), to_iso: new Date(to).toISOString(), duration_ms: to - from, reason: 'bridge restarted', reconnect_attempts: 0, subscriptions: 'T.*,A.*,AM.*', url: m.url };
    await producer.send({ messages: [{ topic: gapTopic, value: Buffer.from(JSON.stringify(gap)) }, { topic: gapTopic, value: Buffer.from('not a gap record') }] });
  } finally {
    await producer.close();
  }
  const tail = a.events.length - kept;
  const topics = { topics: [trades, aggregates], routes: { T: trades, A: aggregates, AM: aggregates } };

  const r = await audit({ brokers: testBrokers(), ...topics, mockStats: stats, gapTopic });
  assert.deepEqual([r.lost, r.cut, r.duplicated, r.reordered, r.corrupted, r.ok], [0, tail, 0, 0, 0, true], JSON.stringify(r));
  assert.deepEqual(r.gaps, { records: 2, unreadable: 1, covered_connections: 1 });
  assert.deepEqual(r.samples.cut, a.events.slice(kept, kept + 10).map((e) => e['q']));
  assert.ok(r.not_sent > 0, 'the events sent while no connection was open');

  const without = await audit({ brokers: testBrokers(), ...topics, mockStats: stats });
  assert.deepEqual([without.lost, without.cut, without.gaps, without.ok], [tail, 0, null, false]);

  // The CLI: --gap-topic, the new fields in --json, exit 0.
  const args = ['verify', '--json', '--brokers', testBrokers().join(','), '--topics', topics.topics.join(','), '--routes', `T=${trades},A=${aggregates},AM=${aggregates}`, '--mock-stats', m.statsUrl, '--gap-topic', gapTopic];
  const json = JSON.parse((await exec(process.execPath, [cli, ...args])).stdout) as Record<string, unknown>;
  assert.equal(json['cut'], tail);
  assert.deepEqual(json['gaps'], { records: 2, unreadable: 1, covered_connections: 1 });
  const textOut = await exec(process.execPath, [cli, ...args.filter((x) => x !== '--json')]);
  assert.match(textOut.stdout, new RegExp(`^cut ${tail.toLocaleString('en')} .*gaps: records 2, unreadable 1, covered_connections 1$`, 'm'));
});
