// `ws2kafka run` at the edges: awkward bytes, a rejected key, a refused connection.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startMockServer } from '../../src/mock/server.ts';
import { readToEnd } from '../../src/kafka/read.ts';
import { lastMetrics, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';

// Valid JSON that a careless parser or re-serialiser would get wrong. [ev routed as, key, bytes]
const AWKWARD: Array<['T' | 'AM' | 'unknown', string | null, string]> = [
  ['T', 'AAPL', '{"ev":"T","sym":"AAPL","p":1e-7,"s":12E+3,"t":1651684192462}'],
  ['T', 'BRK.A', '{ "sym" : "BRK.A" ,\n\t"ev" : "T" , "note" : "braces { } [ ] and \\"quotes\\"" }'],
  ['T', 'ÆØÅ', '{"ev":"T","sym":"ÆØÅ","x":"日本語 😀","i":"12345678901234567890"}'],
  ['T', 'BIG', '{"ev":"T","sym":"BIG","q":123456789012345678901234567890,"t":9007199254740993}'],
  ['AM', 'NEST', '{"c":[[1,[2,[3]]],{"a":{"b":{"ev":"X","sym":"NOT"}}}],"ev":"AM","sym":"NEST"}'],
  ['T', null, '{"ev":"T","p":1.5}'],
  ['AM', 'ESC', '{"ev":"AM","sym":"E\\u0053C","v":1}'],
  ['unknown', 'ZZ', '{"ev":"ZZZ","sym":"ZZ"}'],
  ['unknown', null, '{"no_ev":true}'],
];

test('a replayed file of awkward but valid events arrives byte for byte, each in its topic with its key', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-awkward-'));
  const file = join(dir, 'frames.txt');
  // One event per frame, a whole array, and a status event inside a data frame.
  const frames = [
    ...AWKWARD.slice(0, 3).map(([, , e]) => `[${e}]`),
    ` [ ${AWKWARD.slice(3).map(([, , e]) => e).join(' ,\n ')} , {"ev":"status","status":"info","message":"inside data"} ] `,
  ];
  await writeFile(file, frames.map((f) => f.replace(/\n/g, ' ')).join('\n') + '\n');
  const mock = await startMockServer({ port: 0, replay: file, rate: 50 });
  t.after(() => mock.close());
  const bridge = startBridge(['--url', mock.url, '--max-events', String(AWKWARD.length), '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr());

  const got: Array<[string, string | null, string]> = [];
  await readToEnd({
    brokers: testBrokers(),
    topics: [topics.trades, topics.aggregates, topics.unknown],
    onRecord: (r) => got.push([r.topic, (r.key as Buffer | undefined | null)?.toString() ?? null, r.value.toString()]), // a null key reads as undefined
  });
  const topicOf = { T: topics.trades, AM: topics.aggregates, unknown: topics.unknown };
  const expected = AWKWARD.map(([ev, key, bytes]) => [topicOf[ev], key, bytes.replace(/\n/g, ' ')]);
  const sort = (a: unknown[]) => a.map((x) => JSON.stringify(x)).sort();
  assert.deepEqual(sort(got), sort(expected));
});

test('a wrong API key: non-zero exit, the message says authentication failed, no retry loop', async (t) => {
  const mock = await startMockServer({ port: 0, apiKeys: ['right-key'] });
  t.after(() => mock.close());
  const topics = testTopics((fn) => t.after(fn));
  const bridge = startBridge(['--url', mock.url, ...topics.flags], { POLYGON_API_KEY: 'wrong-key-XYZ' });
  t.after(() => bridge.proc.kill('SIGKILL'));
  const { code } = await bridge.exited;
  assert.notEqual(code, 0);
  assert.match(bridge.stderr(), /authentication failed/);
  assert.doesNotMatch(bridge.stderr() + bridge.stdout(), /wrong-key-XYZ/, 'the key never appears in output');
  assert.equal(mock.stats().connections.length, 1, 'one attempt, no retry loop');
});

test('max_connections: a warning naming the cause, and no reconnect faster than the backoff', async (t) => {
  const mock = await startMockServer({ port: 0, apiKeys: ['k'], maxConnections: 1 });
  t.after(() => mock.close());
  const { default: WebSocket } = await import('ws');
  const holder = new WebSocket(mock.url);
  t.after(() => holder.close());
  await new Promise((r) => holder.once('open', r));
  holder.send(JSON.stringify({ action: 'auth', params: 'k' }));
  await waitFor(() => mock.stats().connections.length === 1, 5000, 'the first client');
  const topics = testTopics((fn) => t.after(fn));
  const bridge = startBridge(['--url', mock.url, '--api-key', 'k', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => /max_connections/.test(bridge.stderr()), 15_000, 'the max_connections warning');
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(mock.stats().connections.length, 2, 'the holder and a single attempt by the bridge in 5 s');
  assert.match(bridge.stderr(), /another client is connected with the same API key/);
  assert.match(bridge.stderr(), /"waitMs":60000/);
  bridge.proc.kill('SIGTERM');
  assert.equal((await bridge.exited).code, 0);
});

test('a feed that goes silent (no frames, no pongs) is detected, reconnected, and recorded as a gap', async (t) => {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
  t.after(() => new Promise<void>((r) => wss.close(() => r())));
  let connections = 0;
  wss.on('connection', (ws) => {
    const n = ++connections;
    ws.send('[{"ev":"status","status":"connected","message":"Connected Successfully"}]');
    ws.on('message', (m: Buffer) => {
      const a = JSON.parse(m.toString()) as { action: string };
      if (a.action === 'auth') ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]');
      if (a.action === 'subscribe') ws.send(`[{"ev":"T","sym":"S","q":${n},"t":${Date.now()}}]`); // then silence
    });
  });
  await new Promise((r) => wss.once('listening', r));
  const { port } = wss.address() as { port: number };
  const topics = testTopics((fn) => t.after(fn));
  const bridge = startBridge(['--url', `ws://127.0.0.1:${port}/`, '--silence-timeout', '1s', '--ping-interval', '300ms', '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => connections >= 2 && /Produced: 2,/.test(bridge.stdout()), 20_000, 'a reconnection after silence and its event acknowledged');
  bridge.proc.kill('SIGTERM');
  assert.equal((await bridge.exited).code, 0, bridge.stderr());
  const gaps: Array<{ reason: string; resumed_connection_id: string | null }> = [];
  await readToEnd({ brokers: testBrokers(), topics: [topics.gaps], onRecord: (r) => gaps.push(JSON.parse(r.value.toString()) as (typeof gaps)[number]) });
  assert.ok(gaps.length >= 1);
  assert.match(gaps[0]!.reason, /no data or pong for 1000 ms/);
  assert.ok(gaps[0]!.resumed_connection_id !== null);
});

test('Kafka unreachable at start: said clearly, the bridge keeps trying, and what it could not deliver is kept or reported', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 100 });
  t.after(() => mock.close());
  // A later --brokers wins over the suite's (the last occurrence of a flag counts).
  const unreachable = (extra: string[]) => startBridge(['--url', mock.url, '--brokers', '127.0.0.1:1', '--shutdown-timeout', '1s', '--metrics-interval', '0', ...extra]);
  // Default --overflow spool: what it read is on disk at the stop, so the exit is clean.
  const spooling = unreachable([]);
  t.after(() => spooling.proc.kill('SIGKILL'));
  await waitFor(() => /Kafka at 127\.0\.0\.1:1 is unreachable/.test(spooling.stderr()), 20_000, 'the unreachable warning');
  await waitFor(() => /new events go to the disk spool/.test(spooling.stderr()), 20_000, 'the switch to the spool');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(spooling.proc.exitCode, null, 'still running, still trying');
  spooling.proc.kill('SIGTERM');
  assert.equal((await spooling.exited).code, 0, spooling.stderr());
  assert.match(spooling.stderr(), /\d+ events are not yet in Kafka but safe in the spool/);
  // --overflow block: memory only, so events it read but could not deliver make the exit non-zero.
  const blocking = unreachable(['--overflow', 'block', '--metrics-interval', '200ms']);
  t.after(() => blocking.proc.kill('SIGKILL'));
  await waitFor(() => /Kafka at 127\.0\.0\.1:1 is unreachable/.test(blocking.stderr()), 20_000, 'the unreachable warning');
  // The feed is subscribed 2 s after the start even without Kafka: wait until events were read.
  await waitFor(() => lastMetrics(blocking.stdout()).received > 0, 20_000, 'events read from the feed');
  blocking.proc.kill('SIGTERM');
  assert.equal((await blocking.exited).code, 1, 'events it read but could not deliver make the exit non-zero');
  assert.match(blocking.stderr(), /buffered events were not acknowledged within --shutdown-timeout/);
});
