// The proxy's refusals (issue #13, "Operate it"), each with real sockets on loopback:
// - no listening beyond loopback without client keys (PROXY_OPEN_WITHOUT_KEYS, exit 2), decided
//   before anything listens or connects upstream;
// - at most --max-clients open connections: the next one gets max_connections and a 1013 close
//   (TOO_MANY_CLIENTS), counted; the clients already there are unaffected;
// - with client keys, GET /stats only for a request carrying one (401 JSON otherwise).
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { test, type TestContext } from 'node:test';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { refuseOpenWithoutKeys } from '../../src/proxy/exposure.ts';
import { startProxyServer, TOO_MANY_CLIENTS_CLOSE_CODE, type ProxyStats } from '../../src/proxy/server.ts';
import { Backoff } from '../../src/source/backoff.ts';
import { ws2kafka } from '../helpers/cli.ts';
import { freePort, until } from '../helpers/net.ts';
import { silentLog } from '../helpers/proxy.ts';

/** A TCP server on loopback that only counts the connections made to it (an upstream nobody should reach). */
async function countingUpstream(t: TestContext): Promise<{ url: string; connections: () => number }> {
  let n = 0;
  const server: Server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/feed`, connections: () => n };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('a non-loopback --host without client keys is refused before anything listens or connects upstream', async (t) => {
  const upstream = await countingUpstream(t);
  const port = await freePort();
  // 0.0.0.0 and :: would include 127.0.0.1:port, so a listener would show there; 192.0.2.1
  // (TEST-NET-1, on no interface) could not even be bound: the refusal comes first.
  for (const host of ['0.0.0.0', '::', '', '192.0.2.1']) {
    await assert.rejects(startProxyServer({ upstream: upstream.url, host, port, log: silentLog }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PROXY_OPEN_WITHOUT_KEYS', `${host}: ${err.message}`);
      assert.match(err.message, /--client-keys/);
      assert.match(err.message, /--host/);
      return true;
    });
    assert.equal(await listening(port), false, `${JSON.stringify(host)}: nothing listens`);
  }

  // The command: exit 2 (as a usage error), the code, both flags named; nothing reached upstream.
  const p = ws2kafka(['proxy', '--upstream', upstream.url, '--host', '0.0.0.0', '--port', String(port)]);
  t.after(() => p.proc.kill('SIGKILL'));
  const { code } = await p.exited;
  assert.equal(code, 2, p.stderr());
  assert.match(p.stderr(), /refusing to listen on --host '0\.0\.0\.0', which is not a loopback address, without --client-keys.*\[PROXY_OPEN_WITHOUT_KEYS\]/);
  assert.doesNotMatch(p.stdout(), /proxy at/);
  assert.equal(await listening(port), false, 'the command listened nowhere');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(upstream.connections(), 0, 'nothing connected upstream');

  // With keys, the same address is accepted (checked without listening on it).
  await refuseOpenWithoutKeys('0.0.0.0', ['a-key']);
  await refuseOpenWithoutKeys('::', ['a-key']);
});

test('loopback hosts need no client keys: 127.0.0.1, another 127/8 address, localhost, ::1', async (t) => {
  const upstream = await countingUpstream(t);
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
    let proxy;
    try {
      proxy = await startProxyServer({ upstream: upstream.url, host, port: 0, log: silentLog, backoff: new Backoff(1000, 5000) });
    } catch (err) {
      // A machine without IPv6 cannot bind ::1: that is not the refusal under test.
      if (host === '::1' && (err as { code?: string }).code === 'FEED_LISTEN_FAILED') {
        t.diagnostic('::1 cannot be bound here (no IPv6): skipped');
        continue;
      }
      throw err;
    }
    await proxy.close();
  }
});

test('--max-clients: the next client gets max_connections and a 1013 close, is counted, and the others go on', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 300 });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog, maxClients: 3, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());

  const clients: ProbeClient[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await ProbeClient.connect(proxy.url);
    t.after(() => c.close());
    c.auth();
    c.subscribe('T.*,Q.*');
    clients.push(c);
  }
  for (const c of clients) await c.until(() => c.eventCount > 5, 15_000, 'events through the proxy');

  const extra = await ProbeClient.connect(proxy.url);
  t.after(() => extra.close());
  extra.auth();
  const closed = await extra.closed;
  assert.equal(closed.code, TOO_MANY_CLIENTS_CLOSE_CODE, 'closed with 1013 (try again later)');
  assert.equal(closed.code, 1013);
  assert.equal(closed.reason, 'too_many_clients');
  assert.deepEqual(extra.statuses.map((s) => s.status), ['max_connections'], 'told only why, never connected');
  assert.match(extra.statuses[0]?.message ?? '', /at most 3 clients \(--max-clients\)/);
  assert.equal(extra.eventCount, 0);

  // The three go on: open, and still receiving.
  const before = clients.map((c) => c.eventCount);
  for (const [i, c] of clients.entries()) await c.until(() => c.eventCount > (before[i] ?? 0) + 5, 15_000, `client ${i} still receives`);
  assert.ok(clients.every((c) => c.ws.readyState === c.ws.OPEN));
  let s = proxy.stats();
  assert.equal(s.clients.tooManyClients, 1);
  assert.equal(s.clients.maxClients, 3);
  assert.equal(s.clients.open, 3);
  assert.equal(s.clients.total, 3, 'a refused client is not counted as served');
  assert.equal(s.connections.length, 3);

  // Once one leaves, a slot frees; a connection that never authenticates holds one too (the limit
  // is on sockets, authenticated or not).
  clients[0]?.close();
  await until('a slot to free up', 10_000, () => proxy.stats().clients.open === 2);
  const idle = await ProbeClient.connect(proxy.url);
  t.after(() => idle.close());
  await idle.until(() => idle.hasStatus('connected'), 10_000, 'connected');
  const another = await ProbeClient.connect(proxy.url);
  t.after(() => another.close());
  assert.equal((await another.closed).code, 1013, 'the idle connection counts');
  s = proxy.stats();
  assert.equal(s.clients.tooManyClients, 2);
  assert.equal(s.clients.open, 3);
  assert.equal(idle.ws.readyState, idle.ws.OPEN);
});

test('with client keys, GET /stats needs one: 401 JSON without or with a wrong key (never echoed), 200 with Bearer or apiKey', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 50 });
  t.after(() => mock.close());
  const proxy = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog, clientKeys: ['key-one-secret', 'key-two-secret'] });
  t.after(() => proxy.close());
  const url = proxy.statsUrl;

  const none = await fetch(url);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('content-type') ?? '', /application\/json/);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
  const noneBody = (await none.json()) as { error: string; code: string; message: string };
  assert.equal(noneBody.error, 'unauthorized');
  assert.equal(noneBody.code, 'PROXY_STATS_UNAUTHORIZED');
  assert.match(noneBody.message, /Authorization: Bearer KEY/);

  for (const init of [{ headers: { authorization: 'Bearer wrong-guess-1234' } }, { headers: { authorization: 'Basic a2V5LW9uZS1zZWNyZXQ=' } }]) {
    const wrong = await fetch(url, init);
    assert.equal(wrong.status, 401);
    const text = await wrong.text();
    assert.ok(!text.includes('wrong-guess') && !text.includes('secret'), `no key echoed: ${text}`);
  }
  const wrongQuery = await fetch(`${url}?apiKey=wrong-guess-5678`);
  assert.equal(wrongQuery.status, 401);
  assert.ok(!(await wrongQuery.text()).includes('wrong-guess'));
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 401);

  const bearer = await fetch(url, { headers: { authorization: 'Bearer key-two-secret' } });
  assert.equal(bearer.status, 200);
  const stats = (await bearer.json()) as ProxyStats;
  assert.equal(typeof stats.clients.open, 'number');
  assert.equal(stats.http.statsUnauthorized, 5);
  assert.equal((await fetch(url, { headers: { authorization: 'bearer key-one-secret' } })).status, 200, 'the scheme is case-insensitive');
  const query = await fetch(`${url}?apiKey=key-one-secret`);
  assert.equal(query.status, 200);
  assert.ok(!(await query.text()).includes('secret'), 'no key in the stats');
  // /health says only whether upstream streams: open to all.
  await until('upstream streaming', 10_000, async () => (await fetch(url.replace('/stats', '/health'))).status === 200);

  // Without client keys (loopback only), /stats stays open.
  const open = await startProxyServer({ upstream: mock.url, port: 0, log: silentLog });
  t.after(() => open.close());
  assert.equal((await fetch(open.statsUrl)).status, 200);
});

test('ws2kafka proxy with PROXY_CLIENT_KEYS and --max-clients 1: /stats needs the key, the second client is refused', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 100 });
  t.after(() => mock.close());
  const p = ws2kafka(['proxy', '--upstream', mock.url, '--port', '0', '--max-clients', '1'], { PROXY_CLIENT_KEYS: 'env-key-secret' });
  t.after(() => p.proc.kill('SIGKILL'));
  await until('the proxy prints its URLs', 15_000, () => /stats at (http:\S+)/.test(p.stdout()) || p.proc.exitCode !== null, () => p.stdout() + p.stderr());
  const url = /proxy at (ws:\S+)/.exec(p.stdout())?.[1] ?? '';
  const statsUrl = /stats at (http:\S+)/.exec(p.stdout())?.[1] ?? '';
  assert.match(p.stdout(), /\(Authorization: Bearer <a client key>\)/);

  assert.equal((await fetch(statsUrl)).status, 401);
  const first = await ProbeClient.connect(url);
  t.after(() => first.close());
  first.auth('env-key-secret');
  await first.until(() => first.hasStatus('auth_success'), 10_000, 'auth_success');
  const second = await ProbeClient.connect(url);
  t.after(() => second.close());
  assert.equal((await second.closed).code, 1013);
  assert.ok(second.hasStatus('max_connections'));
  const res = await fetch(statsUrl, { headers: { authorization: 'Bearer env-key-secret' } });
  assert.equal(res.status, 200);
  const s = (await res.json()) as ProxyStats;
  assert.deepEqual([s.clients.maxClients, s.clients.tooManyClients, s.http.statsUnauthorized], [1, 1, 1]);

  p.proc.kill('SIGTERM');
  const { code } = await p.exited;
  assert.equal(code, 0, p.stderr());
  assert.match(p.stderr(), /TOO_MANY_CLIENTS/);
  assert.ok(!p.stdout().includes('secret') && !p.stderr().includes('secret'), 'no key in the output');
});
