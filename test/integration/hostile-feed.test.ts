// Hostile input: broken frames between good ones, on the real broker with its default settings.
// Each bad frame (and the event too large for Kafka) costs only itself: no reconnect, every good
// event arrives byte-exact in per-key order, the bad ones are in the dead-letter topic with their
// reasons and codes, and SIGTERM still exits 0.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readToEnd, type ReadRecord } from '../../src/kafka/read.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { startBridge, testTopics, type BridgeProcess, type TestTopics } from '../helpers/bridge.ts';
import { startScriptedFeed } from '../helpers/feed.ts';
import { testBrokers } from '../helpers/kafka.ts';
import { freePort, metric, metricsText } from '../helpers/net.ts';

/** A good event: `{"ev":"T","sym":"K<k>","q":<q>,...}`, q increasing, ten keys. */
function goodEvent(q: number, extra = ''): string {
  return `{"ev":"T","sym":"K${q % 10}","q":${q},"p":${(q % 997) / 7},"s":${q % 300}${extra}}`;
}

interface BadFrame {
  frame: Buffer;
  /** The code its dead letter must carry, and what its reason must mention. */
  code: string;
  reason: RegExp;
  binary?: boolean;
}

/** The frames to send, in order, and what must come of them. */
interface HostileScript {
  frames: Array<{ frame: Buffer; binary: boolean }>;
  good: string[];
  bad: BadFrame[];
  huge: string;
  longKey: string;
}

/**
 * Good single-event frames with, between them, every kind of bad frame, a frame of 5,000 events, an
 * event of 1.5 MB (over Kafka's default max.message.bytes) and an event whose key is over
 * --max-key-bytes 64 inside a frame of good ones.
 */
function hostileScript(withBinary: boolean): HostileScript {
  const deep = `[{"ev":"T","sym":"DEEP","x":${'['.repeat(100)}${']'.repeat(100)}}]`;
  const bad: BadFrame[] = [
    { frame: Buffer.from('[{"ev":"T","sym":"BAD\\q","p":1}]'), code: 'MALFORMED_FRAME', reason: /invalid escape/ },
    { frame: Buffer.from('[{"ev":"T\\q","sym":"A","p":1}]'), code: 'MALFORMED_FRAME', reason: /invalid escape/ },
    { frame: Buffer.from('[{"ev":"T","sym":"A","v":"x\\qy"}]'), code: 'MALFORMED_FRAME', reason: /invalid escape/ },
    { frame: Buffer.from('[{"ev":"T","sym":"\\u12G4","p":1}]'), code: 'MALFORMED_FRAME', reason: /invalid escape/ },
    { frame: Buffer.from('[{"ev":"T","sym":"\\u00"}]'), code: 'MALFORMED_FRAME', reason: /invalid escape/ },
    { frame: Buffer.concat([Buffer.from('[{"ev":"T","sym":"U'), Buffer.from([0xff, 0xfe]), Buffer.from('","p":1}]')]), code: 'INVALID_UTF8', reason: /UTF-8/ },
    { frame: Buffer.concat([Buffer.from('[{"ev":"T","sym":"V","p":1}] '), Buffer.from([0xc3])]), code: 'INVALID_UTF8', reason: /UTF-8/ },
    { frame: Buffer.from('[{"ev":"T","sym":"A","p":1}] trailing'), code: 'MALFORMED_FRAME', reason: /after the closing bracket/ },
    { frame: Buffer.from('[{"ev":"T","sym":"A","p":1}][{"ev":"T","sym":"B","p":2}]'), code: 'MALFORMED_FRAME', reason: /after the closing bracket/ },
    { frame: Buffer.from(deep), code: 'TOO_DEEP', reason: /deeper/ },
    { frame: Buffer.from('[{"ev":"T","sym":"N","p":01}]'), code: 'MALFORMED_FRAME', reason: /number/ },
    { frame: Buffer.from('[{"ev":"T","sym":"L","ok":tru}]'), code: 'MALFORMED_FRAME', reason: /literal|unexpected/ },
    { frame: Buffer.from('not json at all'), code: 'MALFORMED_FRAME', reason: /not a JSON array/ },
    { frame: Buffer.from('[1,2,3]'), code: 'MALFORMED_FRAME', reason: /not an object/ },
    ...(withBinary ? [{ frame: Buffer.from('[{"ev":"T","sym":"BIN","p":1}]'), code: 'BINARY_FRAME', reason: /binary frame/, binary: true }] : []),
  ];
  // Incompressible, so no codec could make it fit.
  const huge = `{"ev":"T","sym":"HUGE","pad":"${randomBytes(1_150_000).toString('base64')}"}`;
  const longKey = `{"ev":"T","sym":"${'L'.repeat(100)}","p":1}`;
  const frames: HostileScript['frames'] = [];
  const good: string[] = [];
  let q = 0;
  const sendGood = (n: number) => {
    for (let i = 0; i < n; i++) {
      const e = goodEvent(++q);
      good.push(e);
      frames.push({ frame: Buffer.from(`[${e}]`), binary: false });
    }
  };
  sendGood(200);
  for (const b of bad) {
    frames.push({ frame: b.frame, binary: b.binary === true });
    sendGood(50);
  }
  const many: string[] = [];
  for (let i = 0; i < 5000; i++) many.push(goodEvent(++q, ',"c":[14,41]'));
  good.push(...many);
  frames.push({ frame: Buffer.from(`[${many.join(',')}]`), binary: false });
  sendGood(50);
  frames.push({ frame: Buffer.from(`[${huge}]`), binary: false });
  sendGood(50);
  const a = goodEvent(++q);
  const b = goodEvent(++q);
  good.push(a, b);
  frames.push({ frame: Buffer.from(`[${a},${longKey},${b}]`), binary: false });
  sendGood(200);
  return { frames, good, bad, huge, longKey };
}

/**
 * Waits until the bridge has acknowledged every good event and every dead letter, checks the
 * counters, stops it with SIGTERM (exit 0), then reads the topics: every good event byte for byte
 * in per-key order, every bad frame whole and the two bad events alone in the dead-letter topic.
 */
async function checkOutcome(script: HostileScript, bridge: BridgeProcess, port: number, topics: TestTopics): Promise<void> {
  const deadLetters = script.bad.length + 2;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const produced = await metric(port, /^ws2kafka_events_produced_total (\d+)$/m);
    const dead = await metric(port, /^ws2kafka_dead_letters_produced_total (\d+)$/m);
    if (produced >= script.good.length && dead >= deadLetters) break;
    assert.ok(Date.now() < deadline, `produced ${produced}/${script.good.length}, dead letters ${dead}/${deadLetters}: ${bridge.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const metrics = await metricsText(port);
  const count = (code: string) => script.bad.filter((b) => b.code === code).length;
  for (const code of ['MALFORMED_FRAME', 'INVALID_UTF8', 'BINARY_FRAME', 'TOO_DEEP']) {
    if (count(code) > 0) assert.match(metrics, new RegExp(`^ws2kafka_errors_total\\{code="${code}"\\} ${count(code)}$`, 'm'), code);
  }
  assert.match(metrics, /^ws2kafka_errors_total\{code="KAFKA_RECORD_TOO_LARGE"\} 1$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="KEY_TOO_LONG"\} 1$/m);
  assert.match(metrics, new RegExp(`^ws2kafka_frames_rejected_total ${script.bad.length}$`, 'm'));
  assert.match(metrics, /^ws2kafka_reconnects_total 0$/m);

  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  assert.doesNotMatch(bridge.stderr(), /disconnected from the feed/);

  const byKey = new Map<string, string[]>();
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.trades],
    onRecord: (r: ReadRecord) => {
      const key = (r.key as Buffer | undefined)?.toString() ?? '';
      let list = byKey.get(key);
      if (list === undefined) byKey.set(key, (list = []));
      list.push(r.value.toString());
    },
  });
  const expected = new Map<string, string[]>();
  for (const e of script.good) {
    const key = /"sym":"([^"]*)"/.exec(e)![1]!;
    let list = expected.get(key);
    if (list === undefined) expected.set(key, (list = []));
    list.push(e);
  }
  assert.deepEqual([...byKey.keys()].sort(), [...expected.keys()].sort(), 'the keys in Kafka are those of the good events');
  for (const [key, list] of expected) assert.deepEqual(byKey.get(key), list, `key ${key}: every event, byte for byte, in order`);

  const dead: ReadRecord[] = [];
  await readToEnd({ brokers: testBrokers(), topics: [topics.deadLetter], onRecord: (r) => dead.push(r) });
  const header = (r: ReadRecord, name: string) => [...(r.headers as Map<Buffer, Buffer>)].find(([k]) => k.toString() === name)?.[1]?.toString();
  assert.equal(dead.length, deadLetters);
  for (const b of script.bad) {
    const found = dead.find((r) => r.value.equals(b.frame));
    assert.ok(found, `dead letter for ${b.frame.subarray(0, 60).toString()}`);
    assert.equal(header(found, 'ws2kafka.code'), b.code);
    assert.match(header(found, 'ws2kafka.reason') ?? '', b.reason);
  }
  const big = dead.find((r) => r.value.length === script.huge.length);
  assert.ok(big, 'the oversized event is a dead letter');
  assert.equal(big.value.toString(), script.huge);
  assert.equal(header(big, 'ws2kafka.code'), 'KAFKA_RECORD_TOO_LARGE');
  assert.equal(header(big, 'ws2kafka.original_topic'), topics.trades);
  assert.equal(header(big, 'ws2kafka.size'), String(script.huge.length));
  assert.equal((big.key as Buffer | undefined)?.toString(), 'HUGE');
  const long = dead.find((r) => r.value.toString() === script.longKey);
  assert.ok(long, 'the long-key event is a dead letter, alone');
  assert.equal(header(long, 'ws2kafka.code'), 'KEY_TOO_LONG');
  assert.equal(header(long, 'ws2kafka.original_topic'), topics.trades);
}

test('hostile frames between good ones (a scripted feed, binary frames too): each costs only itself, no reconnect', { timeout: 180_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const feed = await startScriptedFeed();
  t.after(() => feed.close());
  const port = await freePort();
  const bridge = startBridge(['--url', feed.url, '--metrics-port', String(port), '--metrics-interval', '0', '--max-key-bytes', '64', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await feed.subscribed();
  const script = hostileScript(true);
  for (const f of script.frames) await feed.send(f.frame, f.binary);
  await checkOutcome(script, bridge, port, topics);
  assert.equal(feed.connections(), 1, 'no reconnect: one connection for the whole run');
});

test('hostile frames through `mock --replay`: the same, from a file of frames sent byte for byte', { timeout: 180_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const script = hostileScript(false);
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-hostile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'frames.txt');
  // One frame per line: none of these frames holds a newline byte.
  assert.ok(script.frames.every((f) => !f.frame.includes(0x0a)));
  await writeFile(file, Buffer.concat(script.frames.flatMap((f) => [f.frame, Buffer.from('\n')])));
  const mock = await startMockServer({ port: 0, replay: file, rate: 2000 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--metrics-port', String(port), '--metrics-interval', '0', '--max-key-bytes', '64', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await mock.stopped;
  await checkOutcome(script, bridge, port, topics);
  assert.equal(mock.stats().connections.length, 1, 'no reconnect: one connection for the whole run');
});
