// Fault options: --disconnect-every, --malformed-ratio, --slow-consumer-bytes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';

test('--disconnect-every: each connection gets force_disconnect and is closed, and may reconnect', async (t) => {
  const m = await startMockServer({ port: 0, rate: 1000, disconnectEveryMs: 300 });
  t.after(() => m.close());
  for (let i = 0; i < 2; i++) {
    const c = await ProbeClient.connect(m.url);
    t.after(() => c.close());
    c.auth();
    c.subscribe('T.*');
    const closed = await c.closed;
    assert.ok(c.hasStatus('force_disconnect'), JSON.stringify(c.statuses));
    assert.equal(closed.code, 1000);
    assert.ok(c.events.length > 0, 'events arrived before the disconnect');
  }
  const conns = m.stats().connections;
  assert.equal(conns.length, 2);
  for (const conn of conns) assert.match(conn.closeReason ?? '', /^force_disconnect/);
});

test('--malformed-ratio: malformed frames are interleaved, and no event is lost among them', async (t) => {
  const m = await startMockServer({ port: 0, rate: 20_000, batch: 20, events: 4000, malformedRatio: 0.3 });
  t.after(() => m.close());
  const c = await ProbeClient.connect(m.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.*,Q.*,A.*,AM.*,XT.*');
  await m.stopped;
  await c.until(() => c.events.length === 4000, 10_000, 'all 4000 events');
  const conn = m.stats().connections[0];
  assert.ok(c.malformed.length > 0, 'some malformed frames');
  assert.equal(conn?.malformedFrames, c.malformed.length, '/stats counts them');
  const dataFrames = conn?.frames ?? 0;
  assert.ok(c.malformed.length > dataFrames * 0.15 && c.malformed.length < dataFrames * 0.45, `${c.malformed.length} malformed of ${dataFrames} frames at ratio 0.3`);
  for (const f of c.malformed) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(f);
    } catch {
      continue; // not JSON
    }
    assert.ok(!Array.isArray(parsed) || parsed.some((e) => typeof e !== 'object' || e === null), `malformed: ${f}`);
  }
  assert.deepEqual(
    c.events.map((e) => e['q']),
    Array.from({ length: 4000 }, (_, i) => i + 1),
  );
});

/** A WebSocket client that stops reading after subscribing: raw bytes over a TCP socket. */
async function stalledClient(url: string): Promise<{ closed: Promise<unknown>; destroy: () => void }> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  await once(socket, 'connect');
  socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    // FIN + text; masked with a zero key, so the payload is as is (length < 126).
    return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
  };
  socket.write(frame('{"action":"auth","params":"k"}'));
  socket.write(frame('{"action":"subscribe","params":"T.*,Q.*,A.*,AM.*,XT.*"}'));
  await once(socket, 'data');
  socket.pause();
  const closed = new Promise((resolve) => socket.once('close', resolve));
  return { closed, destroy: () => socket.destroy() };
}

test('--slow-consumer-bytes: a client that stops reading is disconnected; a reading one is not', async (t) => {
  const m = await startMockServer({ port: 0, rate: 100_000, batch: 200, slowConsumerBytes: 256 * 1024 });
  t.after(() => m.close());
  const reader = await ProbeClient.connect(m.url, false);
  t.after(() => reader.close());
  reader.auth();
  reader.subscribe('T.*,Q.*,A.*,AM.*,XT.*');
  const stalled = await stalledClient(m.url);
  t.after(() => stalled.destroy());
  // The loopback socket buffers fill first, then the mock's own buffer grows past the limit.
  const deadline = Date.now() + 20_000;
  let conn = m.stats().connections.find((c) => c.id === 2);
  while (conn?.closeReason !== 'slow_consumer' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    conn = m.stats().connections.find((c) => c.id === 2);
  }
  assert.equal(conn?.closeReason, 'slow_consumer');
  stalled.destroy();
  await stalled.closed;
  const s = m.stats();
  const good = s.connections.find((c) => c.id === 1);
  assert.equal(good?.state, 'authenticated', 'the reading client stays connected');
  assert.ok((conn?.events ?? 0) < s.timeline.events, 'what was cut is not counted as sent');
});
