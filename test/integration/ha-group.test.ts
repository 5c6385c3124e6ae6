// Issue #14, "Beyond one process": two bridges in one --ha-group against a mock that allows one
// connection per key (--max-connections 1, the newest evicting the oldest as Polygon does).
// SIGKILL of the active member: the standby streams within 15 s; the audit with the gap topic finds
// nothing lost outside the recorded gap and nothing duplicated. Then the killed one is back as a
// standby, and SIGTERM of the new active hands over: nothing lost and nothing cut. Takeover times and
// the overlap of the members' connections (from the mock's connection log) are printed as
// diagnostics; docs/operations.md quotes them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { readToEnd } from '../../src/kafka/read.ts';
import type { ConnectionStats, MockStats } from '../../src/mock/stats.ts';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { expectedFromStats } from '../../src/verify/expected.ts';
import { classifyMissing, parseGapRecord, type GapWindow } from '../../src/verify/gaps.ts';
import { lastMetrics, startBridge, testTopics, type BridgeProcess } from '../helpers/bridge.ts';
import { testBrokers, withAdmin } from '../helpers/kafka.ts';
import { freePort, metric, until } from '../helpers/net.ts';

test('the mock with --max-connections 1 --evict-oldest: a second connection of the key evicts the first, which gets max_connections (as the issue reports of Polygon)', async (t) => {
  const mock = await startMockServer({ port: 0, apiKeys: ['k'], maxConnections: 1, evictOldest: true, rate: 1000 });
  t.after(() => mock.close());
  const first = await ProbeClient.connect(mock.url);
  t.after(() => first.close());
  first.auth('k');
  first.subscribe('T.*');
  await first.until(() => first.events.length > 0, 10_000, 'events on the first connection');
  const second = await ProbeClient.connect(mock.url);
  t.after(() => second.close());
  second.auth('k');
  second.subscribe('T.*');
  const closed = await first.closed;
  assert.ok(first.hasStatus('max_connections'), JSON.stringify(first.statuses));
  assert.equal(closed.code, 1000);
  await second.until(() => second.events.length > 0, 10_000, 'events on the second connection');
  assert.ok(!second.hasStatus('max_connections'));
  const conns = mock.stats().connections;
  assert.match(conns[0]?.closeReason ?? '', /^max_connections \(evicted by connection 2\)$/);
  assert.equal(conns[1]?.closedAt, null);
});

/**
 * Creates the topics (6 partitions) and waits until every partition has a leader: the test is about
 * takeovers, not about a bridge's first seconds on topics created a moment ago.
 */
async function topicsReady(names: string[]): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: names, partitions: 6, replicas: 1 });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const md = await admin.metadata({ topics: names, forceUpdate: true }).catch(() => undefined);
      if (md !== undefined && names.every((n) => (md.topics.get(n)?.partitions ?? []).length === 6 && md.topics.get(n)!.partitions.every((p) => p.leader >= 0))) return;
      if (Date.now() > deadline) throw new Error(`the topics ${names.join(', ')} have no leaders after 30 s`);
      await sleep(100);
    }
  });
}

interface HaView {
  role: string;
  member: string;
  active: { member: string } | null;
}

async function haOf(port: number): Promise<HaView | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/status`);
    return ((await res.json()) as { ha?: HaView }).ha;
  } catch {
    return undefined;
  }
}

async function roleOf(port: number): Promise<string> {
  return (await haOf(port))?.role ?? 'unreachable';
}

/** The first connection opened at or after `since` that has been written events, and when that was seen. */
async function firstStreamingAfter(mock: { stats: () => MockStats }, since: number, timeoutMs: number): Promise<{ conn: ConnectionStats; seenAt: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = mock.stats().connections.find((x) => x.openedAt >= since && x.events > 0);
    if (c !== undefined) return { conn: c, seenAt: Date.now() };
    if (Date.now() > deadline) throw new Error(`no connection streamed within ${timeoutMs} ms after ${new Date(since).toISOString()}: ${JSON.stringify(mock.stats().connections.map((x) => [x.id, x.openedAt, x.closedAt, x.events, x.closeReason]))}`);
    await sleep(25);
  }
}

/** q values written to both connections (bitmaps of the detailed stats). */
function sharedEvents(a: { base: number; bits: Uint8Array }, b: { base: number; bits: Uint8Array }): number {
  let n = 0;
  for (let byte = 0; byte < a.bits.length; byte++) {
    const v = a.bits[byte] ?? 0;
    if (v === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if ((v & (1 << bit)) === 0) continue;
      const i = a.base + byte * 8 + bit - b.base;
      if (i >= 0 && i >> 3 < b.bits.length && ((b.bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0) n++;
    }
  }
  return n;
}

test('two bridges in one --ha-group, one connection per key: SIGKILL of the active (the standby streams within 15 s, nothing lost outside the gap, nothing duplicated), then SIGTERM of the new active (nothing lost, nothing cut)', { timeout: 300_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  await topicsReady([topics.trades, topics.aggregates, topics.unknown, topics.deadLetter, topics.gaps]);
  const id = randomUUID().slice(0, 8);
  const group = `ha-test-${id}`;
  const haTopic = `ha-control-${id}`;
  t.after(() => withAdmin(async (admin) => {
    if ((await admin.listTopics()).includes(haTopic)) await admin.deleteTopics({ topics: [haTopic] });
  }));
  const mock = await startMockServer({ port: 0, apiKeys: ['k'], maxConnections: 1, evictOldest: true, rate: 2000, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const [portA, portB] = [await freePort(), await freePort()];
  const spoolA = await mkdtemp(join(tmpdir(), 'ws2kafka-ha-a-'));
  const spoolB = await mkdtemp(join(tmpdir(), 'ws2kafka-ha-b-'));
  const args = (port: number, spool: string) => ['--url', mock.url, '--api-key', 'k', '--ha-group', group, '--ha-topic', haTopic, '--metrics-port', String(port), '--metrics-interval', '1s', '--spool-dir', spool, ...topics.flags];
  const all: BridgeProcess[] = [];
  const start = (port: number, spool: string) => {
    const p = startBridge(args(port, spool));
    all.push(p);
    return p;
  };
  t.after(() => {
    for (const p of all) p.proc.kill('SIGKILL');
  });
  const logs = () => all.map((p, i) => `--- bridge ${i} stderr (tail)\n${p.stderr().slice(-2500)}`).join('\n');

  // A starts first and is made active; B joins as the standby, connected to Kafka only.
  const a = start(portA, spoolA);
  await until('A active and streaming', 60_000, async () => (await roleOf(portA)) === 'active' && lastMetrics(a.stdout()).produced > 0, logs);
  const b = start(portB, spoolB);
  await until('B standby', 60_000, async () => (await roleOf(portB)) === 'standby', logs);
  assert.equal(await metric(portA, /^ws2kafka_ha_active (\d+)$/m), 1);
  assert.equal(await metric(portB, /^ws2kafka_ha_active (\d+)$/m), 0);
  assert.equal(mock.stats().connections.length, 1, 'the standby does not connect to the feed');
  const activeA = await haOf(portA);
  await until('B sees A active in the heartbeats', 10_000, async () => (await haOf(portB))?.active?.member === activeA?.member, logs);
  await sleep(3000);

  // 1. SIGKILL of the active member.
  a.proc.kill('SIGKILL');
  const killedAt = Date.now();
  await a.exited;
  const taken = await firstStreamingAfter(mock, killedAt, 15_000);
  const takeoverKillMs = taken.seenAt - killedAt;
  assert.ok(takeoverKillMs < 15_000, `the standby streams within 15 s (${takeoverKillMs} ms)`);
  await until('B active', 10_000, async () => (await roleOf(portB)) === 'active', logs);
  assert.equal(await metric(portB, /^ws2kafka_ha_takeovers_total (\d+)$/m), 1);

  // A comes back, as a standby: B keeps the active role (the election is sticky).
  const a2 = start(portA, spoolA);
  await until('A back as a standby', 60_000, async () => (await roleOf(portA)) === 'standby', logs);
  assert.equal(await roleOf(portB), 'active');
  await sleep(3000);

  // 2. SIGTERM of the new active member: it delivers what it read, leaves, and A takes over.
  b.proc.kill('SIGTERM');
  const termAt = Date.now();
  const handed = await firstStreamingAfter(mock, termAt, 15_000);
  const takeoverTermMs = handed.seenAt - termAt;
  const bExit = await b.exited;
  assert.equal(bExit.code, 0, logs());
  await until('A active', 10_000, async () => (await roleOf(portA)) === 'active', logs);
  await sleep(2000);

  // The end: the timeline stops, A delivers everything, and stops.
  mock.stopTimeline();
  await sleep(1500);
  a2.proc.kill('SIGTERM');
  assert.equal((await a2.exited).code, 0, logs());

  const stats = mock.stats(true);
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: stats, gapTopic: topics.gaps });
  const gaps: Array<{ reason: string; from: number; to: number; connection_id: string }> = [];
  const windows: GapWindow[] = [];
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.gaps],
    onRecord: (r) => {
      gaps.push(JSON.parse(r.value.toString()) as (typeof gaps)[number]);
      const w = parseGapRecord(r.value);
      if (w !== undefined) windows.push(w);
    },
  });

  // Per connection of the feed, in order: what each member's connection was sent, what of it is missing.
  const expected = expectedFromStats(stats, topics.routes, [topics.trades, topics.aggregates]);
  const conns = [...stats.connections].sort((x, y) => x.openedAt - y.openedAt);
  const seen = await deliveredQs(topics);
  const delivered = { has: (q: number) => seen.has(q) };
  const perConnection = expected.connections.map((c) => ({ id: c.id, ...classifyMissing([c], ownExpected(c, expected.expected), delivered, windows) }));
  const overlaps: Array<{ from: number; to: number; overlapMs: number; sharedEvents: number }> = [];
  for (let i = 1; i < conns.length; i++) {
    const prev = conns[i - 1]!;
    const next = conns[i]!;
    const pc = expected.connections.find((c) => c.id === prev.id);
    const nc = expected.connections.find((c) => c.id === next.id);
    overlaps.push({
      from: prev.id,
      to: next.id,
      overlapMs: (prev.closedAt ?? Date.now()) - next.openedAt,
      sharedEvents: pc !== undefined && nc !== undefined ? sharedEvents(pc, nc) : 0,
    });
  }
  const takeovers = gaps.filter((g) => g.reason.startsWith('ha_takeover'));
  t.diagnostic(`takeover after SIGKILL: ${takeoverKillMs} ms from the kill to the standby's first event written (its connection opened ${taken.conn.openedAt - killedAt} ms after the kill)`);
  t.diagnostic(`takeover after SIGTERM: ${takeoverTermMs} ms from the signal to the other member's first event written (its connection opened ${handed.conn.openedAt - termAt} ms after the signal)`);
  t.diagnostic(`connections: ${JSON.stringify(conns.map((c) => ({ id: c.id, openedAt: c.openedAt, closedAt: c.closedAt, events: c.events, closeReason: c.closeReason })))}`);
  t.diagnostic(`overlap between consecutive connections (positive: both open at once): ${JSON.stringify(overlaps)}`);
  t.diagnostic(`takeover gap records: ${JSON.stringify(takeovers.map((g) => ({ from: g.from, to: g.to, ms: g.to - g.from, reason: g.reason })))}`);
  t.diagnostic(`per connection: ${JSON.stringify(perConnection.map((c) => ({ id: c.id, lost: c.lost, cut: c.cut })))}`);
  t.diagnostic(`audit ${JSON.stringify({ expected: report.expected, delivered: report.delivered, lost: report.lost, cut: report.cut, not_sent: report.not_sent, duplicated: report.duplicated, reordered: report.reordered, gaps: report.gaps })}`);

  const warnings = () => all.map((p, i) => `--- bridge ${i} warnings\n${p.stderr().split('\n').filter((l) => /"level":[45]0/.test(l)).slice(0, 20).join('\n')}`).join('\n');
  assert.equal(report.lost, 0, `nothing lost outside the recorded gaps: ${JSON.stringify(report.samples.lost)}\n${warnings()}`);
  assert.equal(report.duplicated, 0, `nothing duplicated: ${JSON.stringify(report.samples.duplicated)}`);
  assert.equal(report.reordered, 0, `${JSON.stringify(report.samples.reordered)}\n${warnings()}`);
  assert.equal(report.corrupted, 0);
  assert.equal(conns.length, 3, 'one connection per active period: A, B, A again (no member evicted another)');
  for (const c of conns) assert.doesNotMatch(c.closeReason ?? '', /max_connections/, `no connection was evicted: ${c.closeReason}`);
  for (const o of overlaps) {
    assert.ok(o.overlapMs <= 0, `the next member connected after the previous one had closed: ${JSON.stringify(o)}`);
    assert.equal(o.sharedEvents, 0, 'no event was sent to two members');
  }
  const [first, second, third] = conns.map((c) => perConnection.find((p) => p.id === c.id));
  assert.equal(first?.lost, 0);
  assert.equal(second?.lost, 0);
  assert.equal(second?.cut, 0, 'SIGTERM: nothing of the handing-over member is cut');
  assert.equal(third?.lost, 0);
  assert.equal(third?.cut, 0);
  assert.equal(report.cut, first?.cut ?? 0, 'only the killed member\'s tail is cut');
  assert.equal(takeovers.length, 2, `one takeover gap per takeover: ${JSON.stringify(gaps)}`);
  const [kill, term] = takeovers;
  assert.ok(kill!.from <= killedAt && kill!.to >= killedAt, `the first takeover gap covers the kill: ${JSON.stringify(kill)} killed at ${killedAt}`);
  assert.match(kill!.reason, /stopped heartbeating/);
  assert.match(term!.reason, /left the group after delivering what it had read/);
});

/** The expected q values that were written to connection `c` (the others' are not its to account for). */
function ownExpected(c: { base: number; bits: Uint8Array }, expected: Uint8Array): Uint8Array {
  const own = new Uint8Array(expected.length);
  for (let byte = 0; byte < c.bits.length; byte++) {
    const v = c.bits[byte] ?? 0;
    for (let bit = 0; bit < 8; bit++) {
      const q = c.base + byte * 8 + bit;
      if ((v & (1 << bit)) !== 0 && q < expected.length && expected[q] === 1) own[q] = 1;
    }
  }
  return own;
}

/** Every q found in the trades and aggregates topics. */
async function deliveredQs(topics: { trades: string; aggregates: string }): Promise<Set<number>> {
  const seen = new Set<number>();
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.trades, topics.aggregates],
    onRecord: (r) => {
      const q = (JSON.parse(r.value.toString()) as { q?: unknown }).q;
      if (typeof q === 'number') seen.add(q);
    },
  });
  return seen;
}
