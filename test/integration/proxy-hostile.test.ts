// The proxy against a hostile upstream (an in-test WebSocket server speaking just enough of the
// Polygon handshake) and a client message whose handling throws: bad frames are dropped or
// forwarded whole as before, counted, and nothing else changes: the proxy process stays up, its one
// upstream connection too, and every client receives every good event, byte-exact, in order.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { FrameFailures, startProxyServer, type ProxyStats } from '../../src/proxy/server.ts';
import { Backoff } from '../../src/source/backoff.ts';
import { rawEvents, until } from '../helpers/proxy.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

type Frame = { data: Buffer; binary?: boolean };
const text = (s: string | Buffer): Frame => ({ data: typeof s === 'string' ? Buffer.from(s) : s });
const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/**
 * An upstream that answers auth and subscribe like Polygon, then sends `script` once, in order, on
 * the first connection's first subscribe (after `delayMs`, so every local client is subscribed).
 */
async function hostileUpstream(script: Frame[], delayMs = 300): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  let connections = 0;
  let sent = false;
  const status = (ws: WebSocket, s: string, message: string) => ws.send(JSON.stringify([{ ev: 'status', status: s, message }]));
  wss.on('connection', (ws) => {
    connections++;
    status(ws, 'connected', 'Connected Successfully');
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { action: string; params: string };
      if (m.action === 'auth') status(ws, 'auth_success', 'authenticated');
      if (m.action !== 'subscribe') return;
      for (const p of m.params.split(',')) status(ws, 'success', `subscribed to: ${p}`);
      if (sent) return;
      sent = true;
      setTimeout(() => {
        for (const f of script) ws.send(f.data, { binary: f.binary === true });
      }, delayMs);
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/stocks`,
    connections: () => connections,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** `ws2kafka proxy` as a process: its URLs, its output so far, and whether it has exited. */
async function proxyProcess(t: TestContext, upstream: string) {
  const child = spawn(process.execPath, [cli, 'proxy', '--upstream', upstream, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const out = { stdout: '', stderr: '', exit: null as number | string | null };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  child.on('exit', (code, signal) => (out.exit = code ?? signal));
  await until(() => /stats at (http:\S+)/.test(out.stdout) || out.exit !== null, 'the proxy prints its URLs', 15_000, () => out);
  const url = /proxy at (ws:\S+)/.exec(out.stdout)?.[1];
  const statsUrl = /stats at (http:\S+)/.exec(out.stdout)?.[1];
  assert.ok(url !== undefined && statsUrl !== undefined, `printed its URLs: ${out.stdout} ${out.stderr}`);
  const stats = async () => (await (await fetch(statsUrl)).json()) as ProxyStats;
  return { child, url, stats, out };
}

// Good frames, each unchanged at the client; odd on purpose (valid escapes, unicode, spacing).
const GOOD = [
  '[{"ev":"T","sym":"AAPL","p":1.5,"q":1}]',
  '[{"ev":"Q","sym":"MSFT","bp":2,"q":2},{"ev":"T","sym":"AAPL","p":1.25,"q":3}]',
  '[{"ev":"T","sym":"AA\\u0050L","x":"é\\"ü ✓","q":4}]',
  '[ {"ev":"T","sym":"MSFT","q":5} ]',
  '[{"ev":"\\u0054","sym":"AAPL","q":6}]',
  '[{"ev":"T","sym":"AAPL","q":7}]',
  '[{"ev":"Q","sym":"AAPL","q":8}]',
  '[{"ev":"T","sym":"AAPL","q":9,"n":"日本"}]',
  '[{"ev":"T","sym":"AAPL","q":10}]',
];
// Bad frames: each must reach no client (or, where the splitter calls it malformed, reach the
// clients whole and unchanged, as it always has); q values 900+ must never arrive as events.
const BAD_ESCAPES = [
  '[{"ev":"T","sym":"BAD\\q","p":1,"q":901}]', // invalid escape in the key
  '[{"ev":"T\\q","sym":"AAPL","q":902}]', // ... in the ev
  '[{"ev":"T","sym":"A\\u12","q":903}]', // \u cut short
  '[{"ev":"T","sym":"A\\uZZZZ","q":904}]', // \u with no hex digits
  '[{"ev":"T","sym":"AAPL","q":905},{"ev":"T","sym":"B\\x","q":906}]', // a good event, then a bad key
];
const INVALID_UTF8 = [
  bytes('[{"ev":"T","sym":"AAPL","x":"', [0xff, 0xfe], '","q":911}]'), // bytes never valid in UTF-8
  bytes('[{"ev":"T","sym":"AAPL","x":"', [0xc3], '","q":912}]'), // a sequence cut short
  bytes('[{"ev":"T","sym":"AAPL","x":"', [0xed, 0xa0, 0x80], '","q":913}]'), // an encoded surrogate
  bytes('[{"ev":"T","sym":"AAPL","x":"', [0xc0, 0xaf], '","q":914}]'), // overlong
];
const TRAILING = '[{"ev":"T","sym":"AAPL","q":921}] x';
const BINARY = '[{"ev":"T","sym":"AAPL","q":931}]';

/** `good` with `bad` frames put between them, in turn: good, bad, good, bad... then the rest. */
function interleave(good: string[], bad: Frame[]): Frame[] {
  const out: Frame[] = [];
  for (let i = 0; i < Math.max(good.length, bad.length); i++) {
    if (i < good.length) out.push(text(good[i]!));
    if (i < bad.length) out.push(bad[i]!);
  }
  return out;
}

const isStatus = (f: string) => f.startsWith('[{"ev":"status"');

/**
 * Runs `script` from a hostile upstream through `ws2kafka proxy` (a process) to two clients, one
 * per filter path: whole evs (the very same frames) and single symbols (each event's key decoded: a
 * bad key among good events must not let the good ones through). Checks what holds whatever the
 * bad frames: every good event arrives byte-exact and in order, and nothing else but malformed
 * frames forwarded whole (`malformed`); the clients, the process and its one upstream connection
 * stay up. Returns the proxy's stats and log for the caller's own checks.
 */
async function hostileRun(t: TestContext, script: Frame[], malformed: Set<string>) {
  const upstream = await hostileUpstream(script);
  t.after(() => upstream.close());
  const proxy = await proxyProcess(t, upstream.url);
  const all = await ProbeClient.connect(proxy.url);
  t.after(() => all.close());
  all.auth();
  all.subscribe('T.*,Q.*');
  const some = await ProbeClient.connect(proxy.url);
  t.after(() => some.close());
  some.auth();
  some.subscribe('T.AAPL,Q.MSFT');

  const wantAll = rawEvents(GOOD);
  const wantSome = wantAll.filter((e) => [1, 2, 3, 4, 6, 7, 9, 10].includes(Number(/"q":(\d+)/.exec(e)?.[1])));
  assert.equal(wantAll.length, 10);
  assert.equal(wantSome.length, 8);
  await all.until(() => rawEvents(all.frames).length >= wantAll.length, 10_000, 'every good event (T.*,Q.*)');
  await some.until(() => rawEvents(some.frames).length >= wantSome.length, 10_000, 'every good event (T.AAPL,Q.MSFT)');
  // Every upstream status came in a frame of its own.
  const handled = (u: ProxyStats['upstream']) => u.frames - u.statusEvents;
  let s = await proxy.stats();
  for (const deadline = Date.now() + 5000; handled(s.upstream) < script.length && Date.now() < deadline; s = await proxy.stats()) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const u = s.upstream;
  assert.equal(handled(u), script.length, JSON.stringify(u));

  // Every good event, byte-exact, in upstream order; of the bad frames, only malformed ones, whole.
  assert.deepEqual(rawEvents(all.frames), wantAll);
  assert.deepEqual(rawEvents(some.frames), wantSome);
  assert.deepEqual(all.frames.filter((f) => !isStatus(f) && !malformed.has(f)), GOOD, 'T.*,Q.*: the very same frames');
  for (const c of [all, some]) {
    for (const f of c.frames) assert.ok(isStatus(f) || malformed.has(f) || rawEvents([f]).length > 0, `unexpected frame ${f}`);
    assert.deepEqual([...new Set(c.statuses.map((x) => x.status))].sort(), ['auth_success', 'connected', 'success']);
    assert.equal(c.ws.readyState, c.ws.OPEN, 'the client is still connected');
  }
  // Counted: each bad frame dropped (framesFailed) or forwarded whole (malformedFrames), once.
  assert.equal(u.framesFailed + u.malformedFrames, script.length - GOOD.length, JSON.stringify(u));
  assert.equal(u.framesFailed, u.framesFailedBy.invalidUtf8 + u.framesFailedBy.binary + u.framesFailedBy.error);
  assert.equal(u.events, wantAll.length);
  assert.equal(all.malformed.length, u.malformedFrames);
  for (const c of s.connections) assert.equal(c.malformedFrames, u.malformedFrames, 'malformed frames went whole to each subscribed client');

  // Up all along: one upstream connection, no reconnect, no gap; the process runs on.
  assert.equal(upstream.connections(), 1);
  assert.equal(u.reconnects, 0);
  assert.equal(u.gaps, 0);
  assert.equal(u.state, 'streaming');
  assert.equal(s.clients.open, 2);
  assert.equal(proxy.out.exit, null, proxy.out.stderr);
  // The log: at most one line per 5 s about dropped frames, the first at once.
  const lines = proxy.out.stderr.split('\n').filter((l) => l.includes('upstream frames dropped')).map((l) => JSON.parse(l) as { time: number; framesFailed: number });
  if (u.framesFailed > 0) assert.equal(lines[0]?.framesFailed, 1, proxy.out.stderr);
  for (let i = 1; i < lines.length; i++) assert.ok(lines[i]!.time - lines[i - 1]!.time >= 4990, proxy.out.stderr);

  proxy.child.kill('SIGTERM');
  const [code] = (await once(proxy.child, 'exit')) as [number | null];
  assert.equal(code, 0, proxy.out.stderr);
  return { u, lines };
}

test('a hostile upstream: invalid escapes in ev and key, a broken \\u, trailing bytes: counted, nothing else changes', async (t) => {
  const script = interleave(GOOD, [...BAD_ESCAPES, TRAILING].map((f) => text(f)));
  const { u } = await hostileRun(t, script, new Set([TRAILING, ...BAD_ESCAPES]));
  assert.ok(u.malformedFrames >= 1, 'trailing bytes: malformed, forwarded whole as before');
  assert.equal(u.framesFailedBy.invalidUtf8 + u.framesFailedBy.binary, 0);
});

test('a hostile upstream: invalid UTF-8 text and binary frames are dropped and counted; the upstream connection stays up', async (t) => {
  const bad = [...INVALID_UTF8.map((f) => text(f)), { data: Buffer.from(BINARY), binary: true }];
  const { u, lines } = await hostileRun(t, interleave(GOOD, bad), new Set());
  assert.equal(u.malformedFrames, 0);
  assert.equal(u.framesFailedBy.invalidUtf8, INVALID_UTF8.length);
  assert.equal(u.framesFailedBy.binary, 1);
  assert.equal(u.framesFailed, bad.length);
  assert.equal(u.lastFrameFailure?.reason, FrameFailures.BINARY);
  assert.ok(lines.length >= 1);
});

test('a hostile upstream: every kind of bad frame mixed between good ones', async (t) => {
  const bad = [
    text(BAD_ESCAPES[0]!),
    text(INVALID_UTF8[0]!),
    { data: Buffer.from(BINARY), binary: true },
    text(BAD_ESCAPES[4]!),
    text(TRAILING),
    text(INVALID_UTF8[1]!),
    text(BAD_ESCAPES[1]!),
    text(BAD_ESCAPES[2]!),
    text(INVALID_UTF8[2]!),
  ];
  const { u } = await hostileRun(t, interleave(GOOD, bad), new Set([TRAILING, ...BAD_ESCAPES]));
  assert.equal(u.framesFailedBy.invalidUtf8, 3);
  assert.equal(u.framesFailedBy.binary, 1);
});

/** A logger whose stream throws on lines matching `fault`: a failure inside the proxy's handlers. */
function throwingLog(fault: RegExp): pino.Logger {
  const write = (line: string) => {
    if (fault.test(line)) throw new Error(`injected failure (${fault.source})`);
  };
  return pino({ base: null }, { write });
}

test('a client message whose handling throws: that client gets an error status, the others keep their streams', async (t) => {
  const frames = Array.from({ length: 40 }, (_, i) => text(`[{"ev":"T","sym":"AAPL","q":${i + 1}}]`));
  const upstream = await hostileUpstream(frames, 800);
  t.after(() => upstream.close());
  // Faults: subscribing Q.BOOM makes the proxy's union log line throw (before upstream is
  // subscribed to it); subscribing X.BOOM makes the feed server's log line throw (FeedClient's own
  // handling of the message, before the proxy hears of it).
  const log = throwingLog(/"after":"[^"]*Q\.BOOM|"params":\["X\.BOOM"\]/);
  const proxy = await startProxyServer({ upstream: upstream.url, port: 0, log, backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());
  const a = await ProbeClient.connect(proxy.url);
  t.after(() => a.close());
  a.auth();
  a.subscribe('T.*');
  await until(() => proxy.stats().upstream.subscriptions.length === 1, 'upstream subscribed');
  const b = await ProbeClient.connect(proxy.url);
  t.after(() => b.close());
  b.auth();
  const errors = () => b.statuses.filter((x) => x.status === 'error');
  b.subscribe('Q.BOOM');
  await b.until(() => errors().length === 1, 5000, 'an error status');
  assert.match(errors()[0]?.message ?? '', /failed to handle/);
  let s = proxy.stats();
  assert.equal(s.clients.messagesFailed, 1);
  assert.match(s.clients.lastMessageFailure?.reason ?? '', /^subscriptions: injected failure/);
  b.subscribe('X.BOOM'); // FeedClient adds X.BOOM, then its log line throws: the proxy never hears
  await b.until(() => errors().length === 2, 5000, 'a second error status');
  s = proxy.stats();
  assert.equal(s.clients.messagesFailed, 2);
  assert.match(s.clients.lastMessageFailure?.reason ?? '', /^message: injected failure/);
  b.subscribe('Q.*'); // the same client goes on being served
  await b.until(() => b.statuses.some((x) => x.message === 'subscribed to: Q.*'), 5000, 'Q.* acknowledged');
  // The next change brings upstream up to date, X.BOOM included.
  await until(() => proxy.stats().upstream.subscriptions.join() === 'Q.*,T.*,X.BOOM', 'the union updated again');

  await a.until(() => a.eventCount === frames.length, 10_000, 'every event');
  assert.deepEqual(a.events.map((e) => e['q']), frames.map((_, i) => i + 1));
  assert.equal(a.hasStatus('error'), false);
  s = proxy.stats();
  assert.equal(s.clients.open, 2);
  assert.equal(s.clients.messagesFailed, 2);
  assert.equal(upstream.connections(), 1);
});

test('an upstream frame whose handling throws is dropped whole: none of its events reaches a client', async (t) => {
  const frames = [
    text('[{"ev":"T","sym":"AAPL","q":1}]'),
    // An unknown status is logged; the injected fault makes that throw: T q=2 must not be sent.
    text('[{"ev":"status","status":"weird","message":"BOOM"},{"ev":"T","sym":"AAPL","q":2}]'),
    text('[{"ev":"T","sym":"AAPL","q":3}]'),
  ];
  const upstream = await hostileUpstream(frames);
  t.after(() => upstream.close());
  const proxy = await startProxyServer({ upstream: upstream.url, port: 0, log: throwingLog(/BOOM/), backoff: new Backoff(20, 100) });
  t.after(() => proxy.close());
  const c = await ProbeClient.connect(proxy.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.AAPL');
  await c.until(() => c.eventCount === 2, 10_000, 'the two good events');
  assert.deepEqual(c.events.map((e) => e['q']), [1, 3]);
  const u = proxy.stats().upstream;
  assert.equal(u.framesFailed, 1);
  assert.equal(u.framesFailedBy.error, 1);
  assert.match(u.lastFrameFailure?.reason ?? '', /^error: injected failure/);
  assert.equal(u.reconnects, 0);
  assert.equal(upstream.connections(), 1);
});
