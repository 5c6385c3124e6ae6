// The proxy over loopback with the real mock as upstream: fan-out to clients with different
// subscriptions (exact events, upstream order, bytes unchanged) and the union subscribed upstream.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { startProxyServer } from '../../src/proxy/server.ts';
import { Backoff } from '../../src/source/backoff.ts';
import { freePort, rawEvents, silentLog, until } from '../helpers/proxy.ts';

const STOCKS = ['AAPL', 'MSFT', 'NVDA', 'BRK.A'];
const PAIRS = ['BTC-USD', 'ETH-USD'];

/** Frames of mixed events, formatted in several ways (spaces, key order), deterministic. */
function replayLines(frames: number): { lines: string[]; events: { ev: string; key: string; text: string }[] } {
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const lines: string[] = [];
  const events: { ev: string; key: string; text: string }[] = [];
  let q = 0;
  for (let f = 0; f < frames; f++) {
    const n = 1 + rnd(8);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      q++;
      const ev = (['T', 'Q', 'AM', 'XT', 'A'] as const)[rnd(5)]!;
      const key = ev === 'XT' ? PAIRS[rnd(PAIRS.length)]! : STOCKS[rnd(STOCKS.length)]!;
      const field = ev === 'XT' ? 'pair' : 'sym';
      const style = rnd(3);
      const text =
        style === 0 ? `{"ev":"${ev}","${field}":"${key}","p":${(q * 1.25).toFixed(2)},"q":${q}}`
        : style === 1 ? `{ "q" : ${q}, "${field}" : "${key}", "ev" : "${ev}", "c":[1,2] }`
        : `{"ev":"${ev}","${field}":"${key}","x":{"nested":["${ev}",{"sym":"ZZZ"}]},"q":${q}}`;
      parts.push(text);
      events.push({ ev, key, text });
    }
    lines.push(`[${parts.join(rnd(2) === 0 ? ',' : ', ')}]`);
  }
  return { lines, events };
}

test('fan-out to three clients with different subscriptions: each gets exactly its events, in upstream order, bytes unchanged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ws2k-proxy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { lines, events } = replayLines(400);
  const file = join(dir, 'frames.jsonl');
  await writeFile(file, lines.join('\n') + '\n');

  // The upstream starts only once every local subscription is in place, so that it is subscribed
  // to the whole union at once and its replay reaches every client from the first frame.
  const port = await freePort();
  const proxy = await startProxyServer({ upstream: `ws://127.0.0.1:${port}/mock`, apiKey: 'upstream-key', port: 0, log: silentLog, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());

  const clients = [
    { params: 'T.*', want: (ev: string) => ev === 'T' },
    { params: 'Q.AAPL,Q.MSFT,XT.BTC-USD', want: (ev: string, key: string) => (ev === 'Q' && (key === 'AAPL' || key === 'MSFT')) || (ev === 'XT' && key === 'BTC-USD') },
    { params: 'AM.*, T.AAPL, XT.X:ETH-USD', want: (ev: string, key: string) => ev === 'AM' || (ev === 'T' && key === 'AAPL') || (ev === 'XT' && key === 'ETH-USD') },
  ];
  const probes: ProbeClient[] = [];
  for (const c of clients) {
    const p = await ProbeClient.connect(proxy.url);
    t.after(() => p.close());
    p.auth();
    p.subscribe(c.params);
    const acks = c.params.split(',').length;
    await p.until(() => p.statuses.filter((s) => s.status === 'success').length === acks, 5000, 'subscription acks');
    probes.push(p);
  }
  const union = ['AM.*', 'Q.AAPL', 'Q.MSFT', 'T.*', 'XT.BTC-USD', 'XT.X:ETH-USD'];
  assert.deepEqual(proxy.stats().upstream.subscriptions, union);

  const mock = await startMockServer({ port, replay: file, rate: 2000 });
  t.after(() => mock.close());
  await mock.stopped;
  const expected = clients.map((c) => events.filter((e) => c.want(e.ev, e.key)).map((e) => e.text));
  for (let i = 0; i < probes.length; i++) {
    const p = probes[i]!;
    await p.until(() => p.eventCount >= expected[i]!.length, 10_000, `client ${i}: ${expected[i]!.length} events`);
  }
  await new Promise((r) => setTimeout(r, 100)); // nothing more may arrive
  for (let i = 0; i < probes.length; i++) {
    const got = rawEvents(probes[i]!.frames);
    assert.ok(expected[i]!.length > 50, `client ${i} expects a fair share`);
    assert.deepEqual(got, expected[i], `client ${i} (${clients[i]!.params})`);
    assert.equal(probes[i]!.malformed.length, 0);
  }
  const upstream = mock.stats().connections;
  assert.equal(upstream.length, 1, 'one upstream connection');
  assert.deepEqual(upstream[0]?.subscriptions, union);
  const s = proxy.stats();
  assert.equal(s.upstream.frames - s.upstream.statusEvents, lines.length, 'every replayed frame reached the proxy');
  assert.equal(s.upstream.events, events.length);
  assert.deepEqual(s.connections.map((c) => c.events), expected.map((e) => e.length));
  const statsText = await (await fetch(proxy.statsUrl)).text();
  assert.ok(!statsText.includes('upstream-key'), 'no API key in /stats');
});

test('union: upstream is subscribed to what any client wants and unsubscribed from what none wants any more', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 200 });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());
  const upstreamSubs = () => mock.stats().connections.find((c) => c.closedAt === null)?.subscriptions;
  await until(() => proxy.stats().upstream.state === 'streaming', 'upstream connected');
  assert.deepEqual(upstreamSubs(), [], 'connected without subscribing while no client wants anything');

  const a = await ProbeClient.connect(proxy.url);
  t.after(() => a.close());
  a.auth();
  a.subscribe('T.*');
  await until(() => upstreamSubs()?.join() === 'T.*', 'T.*', 5000, upstreamSubs);

  const b = await ProbeClient.connect(proxy.url);
  t.after(() => b.close());
  b.auth();
  b.subscribe('T.AAPL,Q.MSFT');
  await until(() => upstreamSubs()?.join() === 'Q.MSFT,T.*', 'Q.MSFT added, T.AAPL implied by T.*', 5000, upstreamSubs);

  a.send({ action: 'unsubscribe', params: 'T.*' });
  await until(() => upstreamSubs()?.join() === 'Q.MSFT,T.AAPL', 'T.* replaced by T.AAPL', 5000, upstreamSubs);

  b.close();
  await b.closed;
  await until(() => upstreamSubs()?.join() === '', 'everything unsubscribed once b left', 5000, upstreamSubs);
  assert.deepEqual(proxy.stats().upstream.subscriptions, []);
  assert.equal(mock.stats().connections.length, 1, 'all along one upstream connection');
  assert.equal(a.hasStatus('error'), false);
});
