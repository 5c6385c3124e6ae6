// `ws2kafka run` end to end: the real mock feed over loopback, the bridge as its own process, the
// real broker, and `verify`'s audit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { startMockServer } from '../../src/mock/server.ts';
import { parseMix } from '../../src/mock/options.ts';
import { audit } from '../../src/verify/audit.ts';
import { readToEnd } from '../../src/kafka/read.ts';
import { Slices, splitFrame } from '../../src/split/split.ts';
import { lastMetrics, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';

/** A raw client that keeps every event's bytes by q (for byte-for-byte comparison). */
async function recorder(url: string, subscribe: string): Promise<{ byQ: Map<number, Buffer>; close: () => void }> {
  const ws = new WebSocket(url);
  const byQ = new Map<number, Buffer>();
  const slices = new Slices(100_000);
  ws.on('message', (data: Buffer) => {
    splitFrame(data, slices);
    for (let e = 0; e < slices.count; e++) {
      const event = data.subarray(slices.start[e], slices.end[e]);
      const q = /"q":(\d+)/.exec(event.toString('latin1'))?.[1];
      if (q !== undefined) byQ.set(Number(q), Buffer.from(event));
    }
  });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ action: 'auth', params: 'k' }));
  ws.send(JSON.stringify({ action: 'subscribe', params: subscribe }));
  return { byQ, close: () => ws.close() };
}

test('1,000,000 events at full speed: nothing lost, duplicated, reordered or corrupted; bytes identical', { timeout: 300_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const N = 1_000_000;
  // A burst of a million events in about a second: the mock's slow-consumer limit is raised so that
  // a loaded CI machine, reading slower than the burst, is not cut off (this test is about the bridge).
  const mock = await startMockServer({ port: 0, rate: 1_000_000, events: N, mix: parseMix('mix', 'T=90,AM=10'), slowConsumerBytes: 1 << 30 });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--max-events', String(N), '--buffer-size', String(N), '--metrics-interval', '1s', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  // The timeline starts with the bridge's subscription; the recorder joins right after.
  await waitFor(() => mock.stats().connections.some((c) => c.subscriptions.length > 0), 30_000, 'the bridge to subscribe');
  const rec = await recorder(mock.url, 'T.*,AM.*');
  t.after(() => rec.close());

  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr());
  const m = lastMetrics(bridge.stdout());
  assert.equal(m.produced, N);
  assert.equal(m.dropped, 0);

  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.lost, 0, JSON.stringify(report.samples));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples));
  assert.equal(report.corrupted, 0, JSON.stringify(report.samples));
  assert.equal(report.delivered, N);

  let compared = 0;
  let different = 0;
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.trades, topics.aggregates],
    onRecord: (r) => {
      const q = Number(/"q":(\d+)/.exec(r.value.toString('latin1'))?.[1]);
      const sent = rec.byQ.get(q);
      if (sent === undefined) return;
      compared++;
      if (!sent.equals(r.value)) different++;
    },
  });
  assert.ok(compared > N / 2, `compared ${compared} records byte for byte`);
  assert.equal(different, 0);
});

test('--malformed-ratio 0.01: each malformed frame is dead-lettered with its reason; every valid event arrives', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const N = 50_000;
  const mock = await startMockServer({ port: 0, rate: 50_000, batch: 20, events: N, mix: parseMix('mix', 'T=90,AM=10'), malformedRatio: 0.01 });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--max-events', String(N), '--metrics-interval', '1s', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr());

  const stats = mock.stats(true);
  const malformedSent = stats.connections.reduce((n, c) => n + c.malformedFrames, 0);
  assert.ok(malformedSent > 0, 'the mock sent malformed frames');
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: stats });
  assert.ok(report.ok, JSON.stringify(report));
  assert.equal(report.delivered, N);

  const reasons: string[] = [];
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.deadLetter],
    onRecord: (r) => {
      const reason = [...r.headers].find(([k]) => k.toString() === 'ws2kafka.reason')?.[1].toString();
      reasons.push(reason ?? 'none');
    },
  });
  assert.equal(reasons.length, malformedSent, 'every malformed frame is in the dead-letter topic');
  assert.ok(reasons.every((r) => /^(not a JSON array|array element is not an object|unterminated JSON|unexpected character|data after the closing bracket|empty frame).* at byte \d+$/.test(r)), reasons.slice(0, 5).join('; '));
  assert.equal(lastMetrics(bridge.stdout()).rejected, malformedSent);
});

test('--disconnect-every 2s: one gap record per disconnect, and the stream resumes each time', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  // 7 s of timeline: disconnects at about 2, 4 and 6 s, each followed by a resumed stream.
  const mock = await startMockServer({ port: 0, rate: 5_000, events: 35_000, mix: parseMix('mix', 'T=90,AM=10'), disconnectEveryMs: 2000 });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--metrics-interval', '500ms', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => mock.stats().timeline.events >= 35_000, 30_000, 'the whole timeline');
  await waitFor(() => {
    const m = lastMetrics(bridge.stdout());
    return m.produced === m.received && m.received > 0;
  }, 10_000, 'the bridge to acknowledge what it received');
  await new Promise((r) => setTimeout(r, 600));
  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr());

  const gaps: Array<{ from: number; to: number; reason: string; connection_id: string; resumed_connection_id: string | null }> = [];
  await readToEnd({ brokers: testBrokers(), topics: [topics.gaps], onRecord: (r) => gaps.push(JSON.parse(r.value.toString()) as (typeof gaps)[number]) });
  const stats = mock.stats(true);
  const closedByMock = stats.connections.filter((c) => c.closedAt !== null && /disconnect/i.test(c.closeReason ?? '')).length;
  assert.ok(closedByMock >= 3, `the mock disconnected ${closedByMock} times`);
  assert.equal(gaps.length, closedByMock, 'one gap record per disconnect (one still open at the stop is written then)');
  for (const g of gaps) {
    assert.ok(g.to >= g.from, 'a gap ends after it starts');
    assert.match(g.reason, /force_disconnect|closed/);
    assert.notEqual(g.connection_id, g.resumed_connection_id);
  }
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: stats });
  assert.ok(report.ok, JSON.stringify(report));
  const m = lastMetrics(bridge.stdout());
  assert.equal(m.reconnects, closedByMock);
});

test('SIGTERM mid-stream at 20,000 events/s: exit 0, and every event received is in Kafka', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const mock = await startMockServer({ port: 0, rate: 20_000, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--metrics-interval', '1s', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => (mock.stats().connections[0]?.events ?? 0) > 40_000, 30_000, '40,000 events sent');
  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr());
  const m = lastMetrics(bridge.stdout());
  assert.ok(m.received > 40_000);
  assert.equal(m.produced, m.received, 'everything received was acknowledged before exit');

  const qs: number[] = [];
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.trades, topics.aggregates],
    onRecord: (r) => qs.push(Number(/"q":(\d+)/.exec(r.value.toString('latin1'))?.[1])),
  });
  assert.equal(qs.length, m.received, 'Kafka holds exactly the events received');
  assert.equal(new Set(qs).size, qs.length, 'no duplicates');
  qs.sort((a, b) => a - b);
  assert.equal(qs[0], 1);
  assert.equal(qs.at(-1), qs.length, 'the events in Kafka are the unbroken prefix 1..N of the timeline');
});
