// A feed connection read in a thread of its own (src/source/reader.ts, reader-worker.js), against
// a real WebSocket server on loopback: frames in order with their flags and receive times; a
// paused consumer gets nothing until it resumes, then everything in order (and the close after
// it); the thread stops reading once --read-ahead-bytes wait untaken, so the server's send buffer
// grows instead of the bridge's memory; ws's errors keep their codes; send, ping and pong.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer, type WebSocket } from 'ws';
import { ReaderThread, ReaderStates, type ReaderSocket } from '../../src/source/reader.ts';

const OPTIONS = { perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 1 << 20 };

async function server(): Promise<{ wss: WebSocketServer; url: string; next: () => Promise<WebSocket> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  const waiting: WebSocket[] = [];
  const takers: Array<(ws: WebSocket) => void> = [];
  wss.on('connection', (ws) => {
    const take = takers.shift();
    if (take) take(ws);
    else waiting.push(ws);
  });
  return {
    wss,
    url: `ws://127.0.0.1:${port}/`,
    next: () => (waiting.length > 0 ? Promise.resolve(waiting.shift()!) : new Promise((r) => takers.push(r))),
  };
}

const thread = new ReaderThread();
after(() => thread.stop());

interface Got {
  text: string;
  binary: boolean;
  at: number;
}

function collect(socket: ReaderSocket): Got[] {
  const got: Got[] = [];
  socket.on('message', (data: Buffer, binary: boolean, at: number) => got.push({ text: data.toString(), binary, at }));
  return got;
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('frames arrive in order with their binary flag and the time the thread read them; send, ping and pong work', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const socket = thread.connect(s.url, OPTIONS, 1 << 20);
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  assert.equal(socket.readyState, ReaderStates.OPEN);
  const sentAt = performance.now();
  for (let i = 0; i < 2000; i++) peer.send(i % 10 === 9 ? Buffer.from(`bin ${i}`) : `frame ${i}`, { binary: i % 10 === 9 });
  await until('2000 frames', () => got.length === 2000);
  assert.deepEqual(got.map((g) => g.text), Array.from({ length: 2000 }, (_, i) => (i % 10 === 9 ? `bin ${i}` : `frame ${i}`)));
  assert.deepEqual(got.map((g) => g.binary), Array.from({ length: 2000 }, (_, i) => i % 10 === 9));
  assert.ok(got.every((g, i) => g.at >= sentAt - 1 && g.at <= performance.now() && (i === 0 || g.at >= got[i - 1]!.at)), 'receive times on this thread\'s clock, in order');

  const heard = new Promise<string>((r) => peer.once('message', (d: Buffer) => r(d.toString())));
  socket.send('{"action":"auth"}');
  assert.equal(await heard, '{"action":"auth"}');
  const pong = once(socket, 'pong');
  socket.ping();
  await pong;

  const closed = once(socket, 'close');
  peer.close(4000, 'bye');
  const [code, reason] = (await closed) as [number, Buffer];
  assert.equal(code, 4000);
  assert.equal(reason.toString(), 'bye');
  assert.equal(socket.readyState, ReaderStates.CLOSED);
});

test('paused: nothing is emitted, the thread stops reading at the read-ahead bound (the server keeps the rest); resumed: everything in order, then the close', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const bound = 256 * 1024;
  const socket = thread.connect(s.url, OPTIONS, bound);
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  socket.pause();
  const frame = 'x'.repeat(10_000);
  const n = 5000; // 50 MB: more than the kernel's buffers on loopback hold
  for (let i = 0; i < n; i++) peer.send(`${i} ${frame}`);
  await until('the server holding frames it cannot write', () => peer.bufferedAmount > 10 * 1024 * 1024);
  await sleep(200);
  assert.equal(got.length, 0, 'nothing emitted while paused');
  assert.ok(socket.backlogBytes <= bound + 2 * (1 << 20), `the thread read ahead ${socket.backlogBytes} bytes (bound ${bound}, plus at most a batch)`);
  peer.close(1000, 'done');
  socket.resume();
  const closed = once(socket, 'close');
  await until(`${n} frames`, () => got.length === n, 30_000);
  await closed;
  assert.ok(got.every((g, i) => g.text === `${i} ${frame}`), 'every frame once, in order');
});

test("ws's errors keep their codes: a frame over maxPayload is an error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH, then a close", async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const socket = thread.connect(s.url, { ...OPTIONS, maxPayload: 1000 }, 1 << 20);
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  const error = once(socket, 'error');
  // (events.once would reject on the 'error' event that comes first.)
  const closed = new Promise<number>((r) => socket.on('close', (code: number) => r(code)));
  peer.send('small');
  peer.send('y'.repeat(5000));
  const [err] = (await error) as [Error & { code?: string }];
  assert.equal(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  const code = await closed;
  assert.ok(code === 1009 || code === 1006, `closed ${code}: 1009 (message too big), or 1006 once the socket is destroyed`);
  assert.deepEqual(got.map((g) => g.text), ['small']);
});

test('a connection refused is an error and a close, like ws', async () => {
  const s = await server();
  const url = s.url;
  s.wss.close();
  await once(s.wss, 'close');
  const socket = thread.connect(url, OPTIONS, 1 << 20);
  const [err] = (await once(socket, 'error')) as [Error];
  assert.match(err.message, /ECONNREFUSED/);
  await once(socket, 'close');
  assert.equal(socket.readyState, ReaderStates.CLOSED);
});

test('stopping(): frames read while paused are all emitted, in order, not dropped with the connection; pause() no longer holds them', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const socket = thread.connect(s.url, OPTIONS, 1 << 20);
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  socket.pause();
  let bytes = 0;
  for (let i = 0; i < 500; i++) {
    peer.send(`f ${i}`);
    bytes += `f ${i}`.length;
  }
  await until('every frame read by the thread', () => socket.backlogBytes === bytes);
  assert.equal(got.length, 0);
  socket.stopping();
  assert.deepEqual(got.map((g) => g.text), Array.from({ length: 500 }, (_, i) => `f ${i}`));
  socket.pause();
  peer.send('after');
  await until('a frame sent after stopping()', () => got.length === 501);
  socket.close(1000, 'done');
  await once(socket, 'close');
});

test('with a spill directory: paused beyond the read-ahead bound, the thread reads on and keeps frames on disk (the server holds nothing back); resumed, every frame once, in order, then the close; the files go', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const dir = mkdtempSync(join(tmpdir(), 'ws2k-spill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bound = 1 << 20;
  const socket = thread.connect(s.url, OPTIONS, bound, { dir, maxBytes: 1 << 30 });
  assert.equal(socket.spills, true);
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  socket.pause();
  const frame = 'x'.repeat(10_000);
  const n = 5000; // 50 MB, fifty times the bound
  for (let i = 0; i < n; i++) peer.send(`${i} ${frame}`);
  await until('every frame read by the thread', () => socket.backlogBytes + socket.spilledBytes >= n * 10_000, 30_000);
  assert.equal(peer.bufferedAmount, 0, 'the server holds nothing back: the socket was read on');
  assert.equal(got.length, 0, 'nothing emitted while paused');
  assert.ok(socket.backlogBytes <= bound + (1 << 20), `${socket.backlogBytes} bytes in memory (bound ${bound}, plus at most a batch)`);
  assert.ok(socket.spilledBytes > 40 * 1024 * 1024, `${socket.spilledBytes} bytes on disk`);
  assert.ok(readdirSync(dir).some((f) => f.startsWith('frames-')), 'segment files on disk');
  peer.close(1000, 'done');
  const closed = new Promise<number>((r) => socket.on('close', (code: number) => r(code)));
  socket.resume();
  await until(`${n} frames`, () => got.length === n, 30_000);
  assert.equal(await closed, 1000, 'the close comes after the frames');
  assert.ok(got.every((g, i) => g.text === `${i} ${frame}`), 'every frame once, in order');
  assert.ok(got.every((g, i) => i === 0 || g.at >= got[i - 1]!.at), 'receive times kept through the disk');
  assert.equal(socket.spilledBytes, 0);
  assert.deepEqual(readdirSync(dir), [], 'the spill files are removed once read back');
});

test('with a spill directory: stopping() hands over what waits on disk, in order, before the close', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const dir = mkdtempSync(join(tmpdir(), 'ws2k-spill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socket = thread.connect(s.url, OPTIONS, 1 << 20, { dir, maxBytes: 1 << 30 });
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  socket.pause();
  const n = 3000;
  for (let i = 0; i < n; i++) peer.send(`${i} ${'y'.repeat(5000)}`);
  await until('frames on disk', () => socket.backlogBytes + socket.spilledBytes >= n * 5000 && socket.spilledBytes > 0, 30_000);
  const closed = new Promise<number>((r) => socket.on('close', (code: number) => r(code)));
  socket.stopping();
  socket.close(1000, 'stopping');
  await closed;
  assert.equal(got.length, n, 'every frame before the close');
  assert.ok(got.every((g, i) => g.text.startsWith(`${i} `)), 'in order');
});

test('with a spill directory that cannot be written: the thread warns (SPOOL_WRITE_FAILED) and pauses the socket at the bound, as without one; nothing is lost', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const parent = mkdtempSync(join(tmpdir(), 'ws2k-spill-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const dir = join(parent, 'file');
  writeFileSync(dir, 'not a directory');
  const bound = 256 * 1024;
  const socket = thread.connect(s.url, OPTIONS, bound, { dir, maxBytes: 1 << 30 });
  const warned = once(socket, 'warn');
  const got = collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  const [code, message] = (await warned) as [string, string];
  assert.equal(code, 'SPOOL_WRITE_FAILED');
  assert.match(message, /beyond --read-ahead-bytes the socket is paused/);
  socket.pause();
  const n = 5000;
  for (let i = 0; i < n; i++) peer.send(`${i} ${'z'.repeat(10_000)}`);
  await until('the server holding frames it cannot write', () => peer.bufferedAmount > 10 * 1024 * 1024);
  assert.ok(socket.backlogBytes <= bound + 2 * (1 << 20));
  socket.resume();
  await until(`${n} frames`, () => got.length === n, 30_000);
  assert.ok(got.every((g, i) => g.text.startsWith(`${i} `)));
  socket.close(1000, 'done');
});

test('with a spill directory: forget() drops what waits on disk and removes its files (an HA member whose role another took)', async (t) => {
  const s = await server();
  t.after(() => s.wss.close());
  const dir = mkdtempSync(join(tmpdir(), 'ws2k-spill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socket = thread.connect(s.url, OPTIONS, 1 << 20, { dir, maxBytes: 1 << 30 });
  collect(socket);
  const peer = await s.next();
  await once(socket, 'open');
  socket.pause();
  for (let i = 0; i < 2000; i++) peer.send(`${i} ${'w'.repeat(5000)}`);
  await until('frames on disk', () => socket.spilledBytes > 4 * 1024 * 1024, 30_000);
  assert.ok(readdirSync(dir).length > 0);
  socket.forget();
  await until('the spill files removed', () => readdirSync(dir).length === 0);
  const closed = once(socket, 'close');
  socket.stopping();
  socket.terminate();
  await closed;
});
