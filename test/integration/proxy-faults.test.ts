// The proxy under faults, over loopback with the real mock upstream: a slow local client, upstream
// reconnects, malformed upstream frames, local and upstream authentication.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { startProxyServer } from '../../src/proxy/server.ts';
import { Backoff } from '../../src/source/backoff.ts';
import { silentLog, stalledClient, until } from '../helpers/proxy.ts';

function increasing(events: Record<string, unknown>[]): boolean {
  let last = 0;
  for (const e of events) {
    const q = e['q'] as number;
    if (!(q > last)) return false;
    last = q;
  }
  return true;
}

test('a slow proxy client is sent slow_consumer and dropped; the other clients and upstream carry on', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 60_000, batch: 200 });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog, slowConsumerBytes: 256 * 1024, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());

  const a = await ProbeClient.connect(proxy.url);
  t.after(() => a.close());
  a.auth();
  a.subscribe('XT.*');
  const b = await ProbeClient.connect(proxy.url);
  t.after(() => b.close());
  b.auth();
  b.subscribe('A.*,AM.*');
  const stalled = await stalledClient(proxy.url, 'T.*,Q.*,A.*,AM.*,XT.*');
  t.after(() => stalled.destroy());

  // The loopback socket buffers fill first, then the proxy's buffer for it passes the limit.
  await until(() => proxy.stats().clients.slowConsumers === 1, 'the stalled client dropped', 30_000, () => proxy.stats().connections);
  stalled.destroy(); // a paused socket would never see the close
  await stalled.closed;
  const dropped = proxy.stats().connections.find((c) => c.subscriptions.length === 5);
  assert.equal(dropped?.closeReason, 'slow_consumer');

  const before = [a.eventCount, b.eventCount];
  await a.until(() => a.eventCount > (before[0] ?? 0) + 200, 10_000, 'a keeps receiving');
  await b.until(() => b.eventCount > (before[1] ?? 0) + 200, 10_000, 'b keeps receiving');
  const s = proxy.stats();
  assert.equal(s.clients.open, 2);
  assert.equal(s.clients.slowConsumers, 1);
  assert.equal(s.upstream.reconnects, 0, 'upstream was never dropped');
  assert.equal(mock.stats().connections.length, 1);
  assert.equal(mock.stats().connections[0]?.closeReason, null, 'upstream did not see a slow consumer');
  for (const c of [a, b]) {
    assert.equal(c.hasStatus('slow_consumer'), false);
    assert.ok(increasing(c.events), 'upstream order');
  }
  assert.ok(a.events.every((e) => e['ev'] === 'XT'));
  assert.ok(b.events.every((e) => e['ev'] === 'A' || e['ev'] === 'AM'));
});

test('upstream reconnects (mock --disconnect-every): clients stay connected, are told nothing, and data resumes with the union', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 2000, batch: 20, disconnectEveryMs: 400 });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());
  const a = await ProbeClient.connect(proxy.url);
  t.after(() => a.close());
  a.auth();
  a.subscribe('T.*');
  const b = await ProbeClient.connect(proxy.url);
  t.after(() => b.close());
  b.auth();
  b.subscribe('Q.*,XT.*');

  await until(() => proxy.stats().upstream.gaps >= 2, 'two upstream gaps', 20_000, () => proxy.stats().upstream);
  const counts = [a.eventCount, b.eventCount];
  await a.until(() => a.eventCount > (counts[0] ?? 0) + 50, 10_000, 'a receives after the reconnects');
  await b.until(() => b.eventCount > (counts[1] ?? 0) + 20, 10_000, 'b receives after the reconnects');

  const s = proxy.stats();
  assert.ok(s.upstream.reconnects >= 2);
  assert.equal(s.clients.open, 2, 'both clients stayed connected');
  assert.equal(s.clients.total, 2);
  for (const gap of s.upstream.recentGaps) {
    assert.match(gap.reason, /force_disconnect/);
    assert.equal(gap.subscriptions, 'Q.*,T.*,XT.*');
  }
  for (const c of [a, b]) {
    assert.deepEqual([...new Set(c.statuses.map((x) => x.status))].sort(), ['auth_success', 'connected', 'success'], 'no upstream status reaches a client');
    assert.ok(increasing(c.events), 'upstream order across reconnects');
  }
  assert.ok(a.events.every((e) => e['ev'] === 'T'));
  assert.ok(b.events.every((e) => e['ev'] === 'Q' || e['ev'] === 'XT'));
  const upstream = mock.stats().connections;
  assert.ok(upstream.length >= 3, `${upstream.length} upstream connections`);
  for (const c of upstream) assert.deepEqual(c.subscriptions, ['Q.*', 'T.*', 'XT.*'], 'each new connection subscribed to the union');
});

test('malformed upstream frames are forwarded whole to subscribed clients and counted; no event is lost among them', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 20_000, batch: 20, events: 3000, malformedRatio: 0.3 });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());
  const c = await ProbeClient.connect(proxy.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.*,Q.*,A.*,AM.*,XT.*');
  await mock.stopped;
  await c.until(() => c.eventCount === 3000, 10_000, 'all 3000 events');
  await until(() => proxy.stats().connections[0]?.malformedFrames === mock.stats().connections[0]?.malformedFrames, 'every malformed frame forwarded');
  const s = proxy.stats();
  assert.ok(s.upstream.malformedFrames > 0);
  assert.equal(c.malformed.length, s.upstream.malformedFrames);
  assert.deepEqual(
    c.events.map((e) => e['q']),
    Array.from({ length: 3000 }, (_, i) => i + 1),
  );
});

test('local clients authenticate against --client-keys; an upstream auth_failed is fatal; no key is reported', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 100, apiKeys: ['upstream-secret'] });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, apiKey: 'upstream-secret', port: 0, log: silentLog, clientKeys: ['local-secret'] });
  t.after(() => proxy.close());
  const bad = await ProbeClient.connect(proxy.url);
  t.after(() => bad.close());
  bad.auth('wrong');
  await bad.closed;
  assert.ok(bad.hasStatus('auth_failed'));
  const good = await ProbeClient.connect(proxy.url);
  t.after(() => good.close());
  good.auth('local-secret');
  good.subscribe('T.*');
  await good.until(() => good.eventCount > 5, 10_000, 'events');
  const res = await fetch(proxy.statsUrl, { headers: { authorization: 'Bearer local-secret' } });
  assert.equal(res.status, 200, 'a valid key reads /stats');
  const text = await res.text();
  assert.ok(!text.includes('secret'), 'no key in /stats');
  assert.equal((await fetch(proxy.statsUrl.replace('/stats', '/health'))).status, 200);

  let fatal = '';
  const wrong = await startProxyServer({ upstream: mock.url, apiKey: 'not-the-key', port: 0, log: silentLog, onFatal: (reason) => (fatal = reason) });
  t.after(() => wrong.close());
  await until(() => fatal !== '', 'auth_failed reported');
  assert.match(fatal, /authentication failed/);
  assert.ok(!fatal.includes('not-the-key'));
  assert.equal(wrong.stats().upstream.state, 'stopped', 'no retry loop after auth_failed');
});
