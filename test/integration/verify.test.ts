// verify against the real broker: the mock's events written by a stand-in bridge, audited clean,
// then with a seeded lost, duplicated, reordered and corrupted record each; not_sent across a gap.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';
import type { MockStats } from '../../src/mock/stats.ts';
import { audit, type AuditReport } from '../../src/verify/audit.ts';
import { freshTopic, testBrokers } from '../helpers/kafka.ts';

type Event = Record<string, unknown>;
type Record_ = { topic: 'trades' | 'aggregates'; key: string; value: string };
type After = { after: (fn: () => Promise<void> | void) => void };

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

function toRecord(e: Event): Record_ {
  return { topic: e['ev'] === 'T' ? 'trades' : 'aggregates', key: String(e['sym']), value: JSON.stringify(e) };
}

/** Writes the records to fresh topics as the bridge would; returns the routes for them. */
async function bridge(t: After, records: Record_[]): Promise<{ topics: string[]; routes: Record<string, string> }> {
  const trades = await freshTopic('verify-trades', 3, (fn) => t.after(fn));
  const aggregates = await freshTopic('verify-aggregates', 3, (fn) => t.after(fn));
  const producer = new Producer({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers(), acks: ProduceAcks.ALL, idempotent: true });
  try {
    const name = { trades, aggregates };
    for (let i = 0; i < records.length; i += 500) {
      await producer.send({ messages: records.slice(i, i + 500).map((r) => ({ topic: name[r.topic], key: Buffer.from(r.key), value: Buffer.from(r.value) })) });
    }
  } finally {
    await producer.close();
  }
  return { topics: [trades, aggregates], routes: { T: trades, A: aggregates, AM: aggregates } };
}

/** One mock run: 3000 events, the bridge's subscriptions, every event received. */
async function feed(t: After): Promise<{ events: Event[]; stats: MockStats; statsUrl: string }> {
  const m = await startMockServer({ port: 0, rate: 20_000, events: 3000 });
  t.after(() => m.close());
  const c = await ProbeClient.connect(m.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.*,A.*,AM.*');
  await m.stopped;
  const s = m.stats();
  const expected = (s.timeline.byEv['T'] ?? 0) + (s.timeline.byEv['A'] ?? 0) + (s.timeline.byEv['AM'] ?? 0);
  await c.until(() => c.events.length === expected, 10_000, 'every event');
  return { events: c.events, stats: m.stats(true), statsUrl: m.statsUrl };
}

function clean(r: AuditReport): void {
  assert.equal(r.ok, true, JSON.stringify(r));
}

test('a faithful bridge audits clean; each seeded fault is caught', async (t) => {
  const { events, stats, statsUrl } = await feed(t);
  const records = events.map(toRecord);

  const good = await bridge(t, records);
  const r = await audit({ brokers: testBrokers(), ...good, mockStats: stats });
  clean(r);
  assert.equal((r.records[good.topics[0] ?? ''] ?? 0) + (r.records[good.topics[1] ?? ''] ?? 0), records.length);
  assert.deepEqual([r.lost, r.duplicated, r.reordered, r.corrupted, r.not_sent, r.unexpected], [0, 0, 0, 0, 0, 0]);
  assert.equal(r.expected, records.length);
  assert.equal(typeof r.latency_ms.p50, 'number');
  assert.ok((r.latency_ms.max ?? -1) >= (r.latency_ms.p99 ?? 0) && (r.latency_ms.p99 ?? -1) >= (r.latency_ms.p50 ?? 0));

  // The CLI on the same topics, fetching the stats itself: exit 0, one JSON object.
  const args = ['verify', '--json', '--brokers', testBrokers().join(','), '--topics', good.topics.join(','), '--routes', `T=${good.topics[0]},A=${good.topics[1]},AM=${good.topics[1]}`, '--mock-stats', statsUrl, '--settle', '300ms'];
  const out = await exec(process.execPath, [cli, ...args]);
  const json = JSON.parse(out.stdout) as Record<string, unknown>;
  for (const f of ['records', 'lost', 'duplicated', 'reordered', 'corrupted', 'latency_ms', 'not_sent']) assert.ok(f in json, `field ${f}`);
  assert.deepEqual(Object.keys(json['latency_ms'] as object), ['p50', 'p99', 'max']);

  // Lost: one trade never written.
  const lostIdx = records.findIndex((x) => x.topic === 'trades');
  const lost = await bridge(t, records.filter((_, i) => i !== lostIdx));
  const rl = await audit({ brokers: testBrokers(), ...lost, mockStats: stats });
  assert.deepEqual([rl.lost, rl.duplicated, rl.reordered, rl.corrupted, rl.ok], [1, 0, 0, 0, false]);
  assert.deepEqual(rl.samples.lost, [events[lostIdx]?.['q']]);
  const failed = await exec(process.execPath, [cli, 'verify', '--json', '--brokers', testBrokers().join(','), '--topics', lost.topics.join(','), '--routes', `T=${lost.topics[0]},A=${lost.topics[1]},AM=${lost.topics[1]}`, '--mock-stats', statsUrl]).catch((e: { code: number; stdout: string }) => e);
  assert.equal('code' in failed ? failed.code : 0, 1, 'exit 1 when something is lost');

  // Duplicated: one record written twice in a row.
  const dup = await bridge(t, [...records.slice(0, 10), records[9] as Record_, ...records.slice(10)]);
  const rd = await audit({ brokers: testBrokers(), ...dup, mockStats: stats });
  assert.deepEqual([rd.lost, rd.duplicated, rd.reordered, rd.corrupted, rd.ok], [0, 1, 0, 0, false]);

  // Reordered: two records of the same key swapped.
  const i = records.findIndex((x, k) => records.slice(k + 1).some((y) => y.key === x.key && y.topic === x.topic));
  const j = records.findIndex((y, k) => k > i && y.key === records[i]?.key && y.topic === records[i]?.topic);
  const swapped = [...records];
  swapped[i] = records[j] as Record_;
  swapped[j] = records[i] as Record_;
  const ro = await bridge(t, swapped);
  const rr = await audit({ brokers: testBrokers(), ...ro, mockStats: stats });
  assert.deepEqual([rr.lost, rr.duplicated, rr.reordered, rr.corrupted, rr.ok], [0, 0, 1, 0, false]);

  // Corrupted: a value that is not an event, and a key that is not the event's symbol.
  const first = records[0] as Record_;
  const bad = [{ topic: 'trades' as const, key: 'AAPL', value: '{"ev":"T","sym":"AAPL","p":' }, { ...first, key: first.key + 'X' }, ...records.slice(1)];
  const co = await bridge(t, bad);
  const rc = await audit({ brokers: testBrokers(), ...co, mockStats: stats });
  assert.deepEqual([rc.lost, rc.duplicated, rc.reordered, rc.corrupted, rc.ok], [0, 0, 0, 2, false]);
  assert.ok(rc.samples.corrupted.some((c) => c.problem === 'value is not JSON'));
  assert.ok(rc.samples.corrupted.some((c) => c.problem.startsWith(`key "${first.key}X" is not the event's sym`)));
});

test('events sent while the bridge was disconnected are not_sent, not lost', async (t) => {
  const m = await startMockServer({ port: 0, rate: 10_000, events: 4000 });
  t.after(() => m.close());
  const a = await ProbeClient.connect(m.url);
  t.after(() => a.close());
  a.auth();
  a.subscribe('T.*,A.*,AM.*');
  await a.until(() => a.events.length >= 500, 10_000, '500 events');
  a.close();
  await a.closed;
  await new Promise((r) => setTimeout(r, 50));
  const b = await ProbeClient.connect(m.url);
  t.after(() => b.close());
  b.auth();
  b.subscribe('T.*,A.*,AM.*');
  await m.stopped;
  // Wait until every frame the mock wrote has been received and counted on both sides.
  let stats = m.stats(true);
  for (let i = 0; i < 500 && a.events.length + b.events.length !== stats.connections.reduce((n, c) => n + c.events, 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
    stats = m.stats(true);
  }
  const received = [...a.events, ...b.events];
  const w = await bridge(t, received.map(toRecord));
  const r = await audit({ brokers: testBrokers(), ...w, mockStats: stats });
  clean(r);
  const routedInTimeline = (stats.timeline.byEv['T'] ?? 0) + (stats.timeline.byEv['A'] ?? 0) + (stats.timeline.byEv['AM'] ?? 0);
  assert.ok(r.not_sent > 0, 'the gap holds events');
  assert.equal(r.not_sent, routedInTimeline - received.length);
  assert.equal(r.lost, 0);
});
