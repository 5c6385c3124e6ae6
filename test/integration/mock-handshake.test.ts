// The mock's Polygon handshake over real loopback sockets: connected, auth (success, failure,
// timeout), pipelined auth + subscribe, one status per param, unsubscribe, max_connections,
// subscription filtering, one global timeline, and /stats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer, type MockOptions, type MockServer } from '../../src/mock/server.ts';

async function mock(t: { after: (fn: () => Promise<void>) => void }, o: Partial<MockOptions> = {}): Promise<MockServer> {
  const m = await startMockServer({ port: 0, ...o });
  t.after(() => m.close());
  return m;
}

async function client(t: { after: (fn: () => void) => void }, url: string): Promise<ProbeClient> {
  const c = await ProbeClient.connect(url);
  t.after(() => c.close());
  return c;
}

test('the connected status arrives on open, then auth_success for an accepted key', async (t) => {
  const m = await mock(t, { apiKeys: ['k1', 'k2'] });
  assert.match(m.url, /^ws:\/\/127\.0\.0\.1:\d+\/mock$/);
  const c = await client(t, m.url);
  await c.until(() => c.statuses.length >= 1, 5000, 'connected');
  assert.deepEqual(c.statuses[0], { ev: 'status', status: 'connected', message: 'Connected Successfully' });
  c.auth('k2');
  await c.until(() => c.hasStatus('auth_success'), 5000, 'auth_success');
  assert.equal(c.statuses[1]?.message, 'authenticated');
});

test('a wrong key gets auth_failed and is closed', async (t) => {
  const m = await mock(t, { apiKeys: ['k1'] });
  const c = await client(t, m.url);
  c.auth('nope');
  const closed = await c.closed;
  assert.ok(c.hasStatus('auth_failed'), JSON.stringify(c.statuses));
  assert.equal(closed.code, 1000);
  const conn = m.stats().connections[0];
  assert.equal(conn?.closeReason, 'auth_failed');
  assert.doesNotMatch(JSON.stringify(m.stats(true)), /nope|k1/, 'no API key in /stats');
});

test('any key is accepted when no keys are configured', async (t) => {
  const m = await mock(t);
  const c = await client(t, m.url);
  c.auth('whatever');
  await c.until(() => c.hasStatus('auth_success'), 5000, 'auth_success');
});

test('a silent client gets auth_timeout and is closed', async (t) => {
  const m = await mock(t, { authTimeoutMs: 200 });
  const c = await client(t, m.url);
  await c.closed;
  assert.deepEqual(
    c.statuses.map((s) => s.status),
    ['connected', 'auth_timeout'],
  );
  assert.equal(c.statuses[1]?.message, 'No authentication request received.');
});

test('auth and subscribe pipelined without waiting: one success per param, then events', async (t) => {
  const m = await mock(t, { rate: 2000 });
  const c = await client(t, m.url);
  c.ws.send('{"action":"auth","params":"k"}');
  c.ws.send('{"action":"subscribe","params":"T.*, AM.*,Q.AAPL"}');
  await c.until(() => c.events.length >= 20, 10_000, '20 events');
  assert.deepEqual(
    c.statuses.map((s) => `${s.status}: ${s.message}`),
    ['connected: Connected Successfully', 'auth_success: authenticated', 'success: subscribed to: T.*', 'success: subscribed to: AM.*', 'success: subscribed to: Q.AAPL'],
  );
  for (const e of c.events) {
    assert.ok(e['ev'] === 'T' || e['ev'] === 'AM' || (e['ev'] === 'Q' && e['sym'] === 'AAPL'), JSON.stringify(e));
  }
});

test('subscribing before auth is refused with an error status', async (t) => {
  const m = await mock(t);
  const c = await client(t, m.url);
  c.subscribe('T.*');
  await c.until(() => c.hasStatus('error'), 5000, 'error');
  assert.equal(c.statuses.find((s) => s.status === 'error')?.message, 'not authorized');
});

test('subscription filtering: T.AAPL gets only AAPL trades, Q.* only quotes, unsubscribe stops them', async (t) => {
  const m = await mock(t, { rate: 5000, symbols: 20 });
  const a = await client(t, m.url);
  const b = await client(t, m.url);
  a.auth();
  a.subscribe('T.AAPL');
  b.auth();
  b.subscribe('Q.*');
  await a.until(() => a.events.length >= 10, 10_000, '10 AAPL trades');
  await b.until(() => b.events.length >= 10, 10_000, '10 quotes');
  for (const e of a.events) assert.deepEqual([e['ev'], e['sym']], ['T', 'AAPL']);
  for (const e of b.events) assert.equal(e['ev'], 'Q');
  b.send({ action: 'unsubscribe', params: 'Q.*' });
  await b.until(() => b.hasStatus('success') && b.statuses.some((s) => s.message === 'unsubscribed to: Q.*'), 5000, 'unsubscribed');
  await new Promise((r) => setTimeout(r, 100)); // frames already in flight may still arrive
  const after = b.events.length;
  await a.until(() => a.events.length >= 30, 10_000, '30 AAPL trades');
  assert.equal(b.events.length, after, 'no events after unsubscribing');
});

test('max_connections: the extra connection for a key gets the status and is closed', async (t) => {
  const m = await mock(t, { maxConnections: 1 });
  const a = await client(t, m.url);
  a.auth('same');
  await a.until(() => a.hasStatus('auth_success'), 5000, 'first auth');
  const b = await client(t, m.url);
  b.auth('same');
  await b.closed;
  assert.ok(b.hasStatus('max_connections'), JSON.stringify(b.statuses));
  const c = await client(t, m.url);
  c.auth('other-key');
  await c.until(() => c.hasStatus('auth_success'), 5000, 'another key is fine');
  a.close();
  await a.closed;
  const d = await client(t, m.url);
  d.auth('same');
  await d.until(() => d.hasStatus('auth_success'), 5000, 'the key is free again');
});

test('one global timeline: clients with the same subscriptions get the same events in the same order', async (t) => {
  const m = await mock(t, { rate: 20_000, events: 3000, batch: 50 });
  const a = await client(t, m.url);
  const b = await client(t, m.url);
  a.auth();
  b.auth();
  a.subscribe('T.*,Q.*,A.*,AM.*,XT.*');
  await a.until(() => a.events.length > 0, 5000, 'first event');
  b.subscribe('T.*,Q.*,A.*,AM.*,XT.*');
  await m.stopped;
  await a.until(() => a.events.length === 3000, 10_000, 'all 3000 events');
  const qa = a.events.map((e) => e['q'] as number);
  assert.deepEqual(qa, Array.from({ length: 3000 }, (_, i) => i + 1), 'q is 1, 2, 3, ... with nothing missing');
  const firstB = b.events[0]?.['q'] as number;
  await b.until(() => b.events.length === 3001 - firstB, 10_000, 'the rest of the events');
  assert.deepEqual(b.frames.filter((f) => !f.includes('"status"')), a.frames.filter((f) => !f.includes('"status"')).slice(-b.frames.filter((f) => !f.includes('"status"')).length), 'b sees the tail of a, frame for frame');
  const types = new Set(a.events.map((e) => e['ev']));
  assert.deepEqual([...types].sort(), ['A', 'AM', 'Q', 'T', 'XT'], 'the default mix has every type');
  for (const e of a.events) {
    assert.equal(typeof e['t'], 'number');
    assert.equal(typeof (e['ev'] === 'XT' ? e['pair'] : e['sym']), 'string');
  }
  assert.ok(a.frames.every((f) => (JSON.parse(f) as unknown[]).length <= 50), '--batch caps events per frame');
});

test('/stats reports the timeline and exactly what each connection was sent', async (t) => {
  const m = await mock(t, { rate: 10_000, events: 2000 });
  const a = await client(t, m.url);
  a.auth();
  a.subscribe('T.*');
  await m.stopped;
  const trades = m.stats().timeline.byEv['T'] ?? 0;
  await a.until(() => a.events.length === trades, 10_000, 'every trade');
  const res = await fetch(m.statsUrl + '?detail=1');
  assert.equal(res.status, 200);
  const s = (await res.json()) as ReturnType<MockServer['stats']>;
  assert.deepEqual({ firstQ: s.timeline.firstQ, lastQ: s.timeline.lastQ, events: s.timeline.events }, { firstQ: 1, lastQ: 2000, events: 2000 });
  const conn = s.connections[0];
  assert.ok(conn);
  assert.equal(conn.events, trades);
  assert.deepEqual(conn.subscriptions, ['T.*']);
  assert.equal(s.sent.byEv['T'], trades);
  assert.equal(s.sent.byEv['Q'], 0);
  const received = new Set(a.events.map((e) => e['q'] as number));
  assert.equal(conn.firstQ, Math.min(...received));
  assert.equal(conn.lastQ, Math.max(...received));
  // The bitmap holds exactly the q values received; the ev bytes say which q were trades.
  const bits = Buffer.from(conn.sent?.bitmap ?? '', 'base64');
  const base = conn.sent?.base ?? 0;
  const evs = Buffer.from(s.detail?.ev ?? '', 'base64');
  assert.equal(evs.length, 2000);
  for (let q = 1; q <= 2000; q++) {
    const i = q - base;
    const inBitmap = i >= 0 && ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
    assert.equal(inBitmap, received.has(q), `q ${q}`);
    assert.equal(evs[q - 1] === 0, received.has(q), `q ${q} is a trade exactly when it was sent`);
  }
  const plain = (await (await fetch(m.statsUrl)).json()) as Record<string, unknown>;
  assert.equal(plain['detail'], undefined, 'detail only when asked');
  assert.equal((await fetch(m.statsUrl.replace('/stats', '/nope'))).status, 404);
});
