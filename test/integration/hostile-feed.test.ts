// Hostile input: broken frames between good ones, on the real broker with its default settings.
// Each bad frame (and the event too large for Kafka) costs only itself: no reconnect, every good
// event arrives byte-exact in per-key order, the bad ones are in the dead-letter topic with their
// reasons and codes, and SIGTERM still exits 0.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { readToEnd, type ReadRecord } from '../../src/kafka/read.ts';
import { startBridge, testTopics } from '../helpers/bridge.ts';
import { startScriptedFeed } from '../helpers/feed.ts';
import { testBrokers } from '../helpers/kafka.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function metric(port: number, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? 0);
}

/** Good events: `[{"ev":"T","sym":"K<k>","q":<q>,...}]`, q increasing, ten keys. */
function good(q: number, extra = ''): string {
  return `{"ev":"T","sym":"K${q % 10}","q":${q},"p":${(q % 997) / 7},"s":${q % 300}${extra}}`;
}

test('hostile frames between good ones: each costs only itself, nothing else is lost, no reconnect', { timeout: 180_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const feed = await startScriptedFeed();
  t.after(() => feed.close());
  const port = await freePort();
  const bridge = startBridge(['--url', feed.url, '--metrics-port', String(port), '--metrics-interval', '0', '--max-key-bytes', '64', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  t.after(() => { if (process.env['HOSTILE_LOG']) writeFileSync(process.env['HOSTILE_LOG'], bridge.stderr()); });
  await feed.subscribed();

  const deep = `[{"ev":"T","sym":"DEEP","x":${'['.repeat(100)}${']'.repeat(100)}}]`;
  // [frame, code the dead letter must carry, reason it must mention]
  const bad: Array<[Buffer, string, RegExp, boolean?]> = [
    [Buffer.from('[{"ev":"T","sym":"BAD\\q","p":1}]'), 'MALFORMED_FRAME', /invalid escape/],
    [Buffer.from('[{"ev":"T\\q","sym":"A","p":1}]'), 'MALFORMED_FRAME', /invalid escape/],
    [Buffer.from('[{"ev":"T","sym":"A","v":"x\\qy"}]'), 'MALFORMED_FRAME', /invalid escape/],
    [Buffer.from('[{"ev":"T","sym":"\\u12G4","p":1}]'), 'MALFORMED_FRAME', /invalid escape/],
    [Buffer.from('[{"ev":"T","sym":"\\u00"}]'), 'MALFORMED_FRAME', /invalid escape/],
    [Buffer.concat([Buffer.from('[{"ev":"T","sym":"U'), Buffer.from([0xff, 0xfe]), Buffer.from('","p":1}]')]), 'INVALID_UTF8', /UTF-8/],
    [Buffer.concat([Buffer.from('[{"ev":"T","sym":"V","p":1}] '), Buffer.from([0xc3])]), 'INVALID_UTF8', /UTF-8/],
    [Buffer.from('[{"ev":"T","sym":"A","p":1}] trailing'), 'MALFORMED_FRAME', /after the closing bracket/],
    [Buffer.from('[{"ev":"T","sym":"A","p":1}][{"ev":"T","sym":"B","p":2}]'), 'MALFORMED_FRAME', /after the closing bracket/],
    [Buffer.from(deep), 'TOO_DEEP', /deeper/],
    [Buffer.from('[{"ev":"T","sym":"N","p":01}]'), 'MALFORMED_FRAME', /number/],
    [Buffer.from('[{"ev":"T","sym":"L","ok":tru}]'), 'MALFORMED_FRAME', /literal|unexpected/],
    [Buffer.from('not json at all'), 'MALFORMED_FRAME', /not a JSON array/],
    [Buffer.from('[1,2,3]'), 'MALFORMED_FRAME', /not an object/],
    [Buffer.from('[{"ev":"T","sym":"BIN","p":1}]'), 'BINARY_FRAME', /binary frame/, true],
  ];
  // A 1.5 MB event (incompressible) on a topic with Kafka's default max.message.bytes.
  const huge = `{"ev":"T","sym":"HUGE","pad":"${randomBytes(1_150_000).toString('base64')}"}`;
  assert.ok(huge.length > 1_500_000);
  // An event whose key is over --max-key-bytes 64, inside a frame whose other events are good.
  const longKey = `{"ev":"T","sym":"${'L'.repeat(100)}","p":1}`;

  const sent: string[] = [];
  let q = 0;
  const sendGood = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const e = good(++q);
      sent.push(e);
      await feed.send(`[${e}]`);
    }
  };
  await sendGood(200);
  for (const [frame, , , binary] of bad) {
    await feed.send(frame, binary === true);
    await sendGood(50);
  }
  // One frame of 5,000 events.
  const many: string[] = [];
  for (let i = 0; i < 5000; i++) many.push(good(++q, ',"c":[14,41]'));
  sent.push(...many);
  await feed.send(`[${many.join(',')}]`);
  await sendGood(50);
  await feed.send(`[${huge}]`);
  await sendGood(50);
  const a = good(++q);
  const b = good(++q);
  sent.push(a, b);
  await feed.send(`[${a},${longKey},${b}]`);
  await sendGood(200);

  const deadLetters = bad.length + 2;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const produced = await metric(port, /^ws2kafka_events_produced_total (\d+)$/m);
    const dead = await metric(port, /^ws2kafka_dead_letters_produced_total (\d+)$/m);
    if (produced >= sent.length && dead >= deadLetters) break;
    assert.ok(Date.now() < deadline, `produced ${produced}/${sent.length}, dead letters ${dead}/${deadLetters}: ${bridge.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^ws2kafka_errors_total\{code="MALFORMED_FRAME"\} 11$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="INVALID_UTF8"\} 2$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="BINARY_FRAME"\} 1$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="TOO_DEEP"\} 1$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="KAFKA_RECORD_TOO_LARGE"\} 1$/m);
  assert.match(metrics, /^ws2kafka_errors_total\{code="KEY_TOO_LONG"\} 1$/m);
  assert.match(metrics, /^ws2kafka_frames_rejected_total 15$/m);

  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  assert.equal(feed.connections(), 1, 'no reconnect: one connection for the whole run');
  assert.doesNotMatch(bridge.stderr(), /disconnected from the feed/);

  // Every good event, byte for byte, in order per key.
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
  for (const e of sent) {
    const key = /"sym":"([^"]*)"/.exec(e)![1]!;
    let list = expected.get(key);
    if (list === undefined) expected.set(key, (list = []));
    list.push(e);
  }
  assert.deepEqual([...byKey.keys()].sort(), [...expected.keys()].sort(), 'the keys in Kafka are those of the good events');
  for (const [key, list] of expected) assert.deepEqual(byKey.get(key), list, `key ${key}: every event, byte for byte, in order`);

  // Every bad frame whole, the oversized event and the long-key event alone, with code and reason.
  const dead: ReadRecord[] = [];
  await readToEnd({ brokers: testBrokers(), topics: [topics.deadLetter], onRecord: (r) => dead.push(r) });
  const header = (r: ReadRecord, name: string) => (r.headers as Map<Buffer, Buffer> | undefined) && [...(r.headers as Map<Buffer, Buffer>)].find(([k]) => k.toString() === name)?.[1]?.toString();
  assert.equal(dead.length, deadLetters);
  for (const [frame, code, reason] of bad) {
    const found = dead.find((r) => r.value.equals(frame));
    assert.ok(found, `dead letter for ${frame.subarray(0, 60).toString()}`);
    assert.equal(header(found, 'ws2kafka.code'), code);
    assert.match(header(found, 'ws2kafka.reason') ?? '', reason);
  }
  const big = dead.find((r) => r.value.length === huge.length);
  assert.ok(big, 'the oversized event is a dead letter');
  assert.equal(big.value.toString(), huge);
  assert.equal(header(big, 'ws2kafka.code'), 'KAFKA_RECORD_TOO_LARGE');
  assert.equal(header(big, 'ws2kafka.original_topic'), topics.trades);
  assert.equal(header(big, 'ws2kafka.size'), String(huge.length));
  assert.equal((big.key as Buffer | undefined)?.toString(), 'HUGE');
  const long = dead.find((r) => r.value.toString() === longKey);
  assert.ok(long, 'the long-key event is a dead letter, alone');
  assert.equal(header(long, 'ws2kafka.code'), 'KEY_TOO_LONG');
});
