// `ws2kafka run` end to end: the real mock feed over loopback, the bridge as its own process, the
// real broker, and `verify`'s audit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMockServer } from '../../src/mock/server.ts';
import { parseMix } from '../../src/mock/options.ts';
import { audit } from '../../src/verify/audit.ts';
import { readToEnd } from '../../src/kafka/read.ts';
import { lastMetrics, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';
import { relay } from '../helpers/net.ts';

/**
 * A TCP relay between the bridge and the mock that keeps every byte the mock wrote towards each
 * connection (the HTTP upgrade answer, then WebSocket frames): exactly what the bridge was sent.
 */
async function tap(mockUrl: string): Promise<{ url: string; fromMock: Buffer[][]; close: () => void }> {
  const target = new URL(mockUrl);
  const r = await relay(target.host, { keep: true });
  return { url: `ws://${r.address}${target.pathname}`, fromMock: r.fromTarget, close: r.close };
}

/** The text messages in the bytes a WebSocket server wrote (after its HTTP 101 answer); unmasked frames, as servers send. */
function textMessages(stream: Buffer): Buffer[] {
  const headEnd = stream.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0 && stream.toString('latin1', 0, 12) === 'HTTP/1.1 101', 'the stream starts with the upgrade answer');
  const messages: Buffer[] = [];
  let parts: Buffer[] = [];
  let at = headEnd + 4;
  while (at < stream.length) {
    const fin = (stream[at]! & 0x80) !== 0;
    const opcode = stream[at]! & 0x0f;
    assert.equal(stream[at + 1]! & 0x80, 0, 'server frames are not masked');
    let len = stream[at + 1]! & 0x7f;
    at += 2;
    if (len === 126) {
      len = stream.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(stream.readBigUInt64BE(at));
      at += 8;
    }
    assert.ok(at + len <= stream.length, 'no frame is cut short');
    const payload = stream.subarray(at, at + len);
    at += len;
    if (opcode === 0x8) break; // close
    if (opcode === 0x1 || opcode === 0x0) {
      parts.push(payload);
      if (fin) {
        messages.push(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        parts = [];
      }
    }
  }
  return messages;
}

/** The objects of a JSON array text, as byte ranges: a scanner of its own, not the bridge's splitter. */
function arrayElements(frame: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < frame.length; i++) {
    const c = frame[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (c === 0x7b && depth === 1) start = i;
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (c === 0x7d && depth === 1) out.push(frame.subarray(start, i + 1));
    }
  }
  assert.equal(depth, 0, 'a frame is a whole JSON array');
  return out;
}

test('1,000,000 events at full speed: nothing lost, duplicated, reordered or corrupted; bytes identical', { timeout: 300_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const N = 1_000_000;
  // A burst of a million events in about a second: the mock's slow-consumer limit is raised so that
  // a loaded CI machine, reading slower than the burst, is not cut off (this test is about the bridge).
  const mock = await startMockServer({ port: 0, rate: 1_000_000, events: N, mix: parseMix('mix', 'T=90,AM=10'), slowConsumerBytes: 1 << 30 });
  t.after(() => mock.close());
  // The bridge connects through a relay that keeps what the mock sent it, so that every record in
  // Kafka can be compared with the bytes the bridge was given.
  const relay = await tap(mock.url);
  t.after(() => relay.close());
  const bridge = startBridge(['--url', relay.url, '--max-events', String(N), '--buffer-size', String(N), '--metrics-interval', '1s', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));

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

  // What the mock sent the bridge, by q: the event's exact bytes and its symbol (the record key).
  assert.equal(relay.fromMock.length, 1, 'the bridge connected once');
  const sentValue: Buffer[] = new Array<Buffer>(N + 1);
  const sentKey: string[] = new Array<string>(N + 1);
  let sentEvents = 0;
  for (const frame of textMessages(Buffer.concat(relay.fromMock[0]!))) {
    for (const event of arrayElements(frame)) {
      const e = JSON.parse(event.toString('utf8')) as { ev: string; q?: number; sym?: string; pair?: string };
      if (e.ev === 'status') continue;
      const q = e.q!;
      assert.ok(Number.isInteger(q) && q >= 1 && q <= N, `q ${q} within the timeline`);
      assert.equal(sentValue[q], undefined, `q ${q} sent once`);
      sentValue[q] = event;
      sentKey[q] = e.pair ?? e.sym!;
      sentEvents++;
    }
  }
  assert.equal(sentEvents, N, 'the mock sent the bridge the whole timeline');

  let compared = 0;
  const mismatches: string[] = [];
  const seen = new Uint8Array(N + 1);
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.trades, topics.aggregates],
    onRecord: (r) => {
      const q = Number(/"q":(\d+)/.exec(r.value.toString('latin1'))?.[1]);
      const sent = sentValue[q];
      compared++;
      if (sent === undefined || seen[q] === 1) {
        mismatches.push(`q ${q}: ${sent === undefined ? 'never sent' : 'in Kafka twice'}`);
        return;
      }
      seen[q] = 1;
      if (!sent.equals(r.value)) mismatches.push(`q ${q}: value ${r.value.toString()} != sent ${sent.toString()}`);
      const key = r.key === null || r.key === undefined ? null : r.key.toString('utf8');
      if (key !== sentKey[q]) mismatches.push(`q ${q}: key ${key} != sent symbol ${sentKey[q]}`);
    },
  });
  assert.deepEqual(mismatches.slice(0, 10), [], `${mismatches.length} records differ from what the mock sent`);
  assert.equal(compared, N, 'every record in Kafka was compared byte for byte, value and key');
  assert.equal(seen.indexOf(0, 1), -1, 'every event sent is in Kafka');
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
  const every = 2000;
  // 7 s of timeline: disconnects at about 2, 4 and 6 s, each followed by a resumed stream.
  const mock = await startMockServer({ port: 0, rate: 5_000, events: 35_000, mix: parseMix('mix', 'T=90,AM=10'), disconnectEveryMs: every });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--metrics-interval', '500ms', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => mock.stats().timeline.events >= 35_000, 30_000, 'the whole timeline');
  await waitFor(() => {
    const m = lastMetrics(bridge.stdout());
    return m.produced === m.received && m.received > 0;
  }, 10_000, 'the bridge to acknowledge what it received');
  await new Promise((r) => setTimeout(r, 600));
  // A window still open at the stop is closed by it: between these two instants.
  const stopAt = Date.now();
  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  const exitedAt = Date.now();
  assert.equal(code, 0, bridge.stderr());

  type GapRecord = { from: number; to: number; from_iso: string; to_iso: string; duration_ms: number; reason: string; connection_id: string; resumed_connection_id: string | null };
  const gaps: GapRecord[] = [];
  await readToEnd({ brokers: testBrokers(), topics: [topics.gaps], onRecord: (r) => gaps.push(JSON.parse(r.value.toString()) as GapRecord) });
  const stats = mock.stats(true);
  // The mock's own account of each disconnect it was told to cause: when the connection opened,
  // when the close completed, and when the bridge's next connection opened.
  const connections = [...stats.connections].sort((a, b) => a.openedAt - b.openedAt);
  const dropped = connections.filter((c) => c.closedAt !== null && /disconnect/i.test(c.closeReason ?? ''));
  const closedByMock = dropped.length;
  assert.ok(closedByMock >= 3, `the mock disconnected ${closedByMock} times`);
  assert.equal(gaps.length, closedByMock, 'one gap record per disconnect (one still open at the stop is written then)');
  gaps.sort((a, b) => a.from - b.from);
  // Clock granularity (ms) and the reading of timers; far below the 250 ms minimum reconnect delay.
  const slack = 20;
  // From the next connection opening to its subscription acknowledged: auth and subscribe over loopback.
  const handshake = 250;
  gaps.forEach((g, k) => {
    const drop = dropped[k]!;
    const next = connections[connections.indexOf(drop) + 1];
    const window = JSON.stringify({ gap: g, opened: drop.openedAt, forcedAt: drop.openedAt + every, closed: drop.closedAt, nextOpened: next?.openedAt ?? null, stopAt, exitedAt });
    assert.match(g.reason, /force_disconnect|closed/);
    assert.notEqual(g.connection_id, g.resumed_connection_id);
    if (k > 0) assert.equal(g.connection_id, gaps[k - 1]!.resumed_connection_id, 'each gap starts on the connection the previous one resumed on');
    // Data stopped at the drop: the mock forces it `every` ms after the connection opened, and the
    // bridge's last frame on it (the force_disconnect status) came before the close completed.
    assert.ok(g.from >= drop.openedAt + every - slack, `gap ${k} starts at the forced disconnect, not before: ${window}`);
    assert.ok(g.from <= drop.closedAt! + slack, `gap ${k} starts before the mock saw the connection closed: ${window}`);
    if (g.resumed_connection_id !== null) {
      // It ends when the bridge streams again: on the next connection, once subscribed.
      assert.ok(next !== undefined && next.subscriptions.length > 0, `gap ${k} resumed on a connection the mock saw subscribe: ${window}`);
      assert.ok(g.to >= next.openedAt - slack, `gap ${k} ends no sooner than the next connection opened: ${window}`);
      assert.ok(g.to <= next.openedAt + handshake, `gap ${k} ends as soon as the next connection is subscribed: ${window}`);
    } else {
      assert.equal(k, gaps.length - 1, 'only the last gap can be left open until the stop');
      assert.ok(g.to >= stopAt - slack && g.to <= exitedAt + slack, `gap ${k} ends at the stop: ${window}`);
    }
    assert.equal(g.duration_ms, g.to - g.from);
    assert.equal(g.from_iso, new Date(g.from).toISOString());
    assert.equal(g.to_iso, new Date(g.to).toISOString());
  });
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
