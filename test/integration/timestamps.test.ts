// Record timestamps on the real broker: the receive time, kept through the spool across a restart;
// and with --timestamp event, each event's own `t` (ms, µs, ns), or the receive time without one.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readToEnd, type ReadRecord } from '../../src/kafka/read.ts';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { metricOf, startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readAll(topics: string[]): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  await readToEnd({ brokers: testBrokers(), topics, timeoutMs: 30_000, onRecord: (r) => records.push(r) });
  return records;
}

test('events kept in the spool while Kafka was unreachable carry the time the bridge received them, not the time of their replay', async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const spoolDir = await mkdtemp(join(tmpdir(), 'ws2kafka-spool-'));
  t.after(() => rm(spoolDir, { recursive: true, force: true }));
  const N = 4000;
  const mock = await startMockServer({ port: 0, rate: 2000, events: N, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const startedAt = Date.now();
  const down = startBridge(['--url', mock.url, '--brokers', '127.0.0.1:1', '--spool-dir', spoolDir, '--shutdown-timeout', '500ms', '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => down.proc.kill('SIGKILL'));
  await waitFor(() => metricOf(down.stdout(), 'Spooled') === N, 30_000, `all ${N} events in the spool`);
  const stoppedAt = Date.now();
  down.proc.kill('SIGTERM');
  assert.equal((await down.exited).code, 0, down.stderr());

  await sleep(3000);
  const quiet = await startMockServer({ port: 0, rate: 1, events: 0 });
  t.after(() => quiet.close());
  const replayFrom = Date.now();
  const up = startBridge(['--url', quiet.url, '--spool-dir', spoolDir, '--max-events', String(N), '--metrics-interval', '200ms', ...topics.flags]);
  t.after(() => up.proc.kill('SIGKILL'));
  assert.equal((await up.exited).code, 0, up.stderr());
  assert.equal(metricOf(up.stdout(), 'Replayed'), N);

  const records = await readAll([topics.trades, topics.aggregates]);
  assert.equal(records.length, N);
  const stamps = new Set<number>();
  let worst = 0;
  for (const r of records) {
    const ts = Number(r.timestamp);
    const { t: eventT } = JSON.parse(r.value.toString()) as { t: number };
    stamps.add(ts);
    // Received while the first bridge ran: before it stopped, seconds before the replay began.
    assert.ok(ts >= startedAt && ts <= stoppedAt, `timestamp ${ts} outside the first run [${startedAt}, ${stoppedAt}] (replay from ${replayFrom})`);
    // ... and soon after the mock made the event (same clock: the bridge's performance.timeOrigin + now()).
    assert.ok(ts >= eventT - 50, `timestamp ${ts} before the event was made (${eventT})`);
    worst = Math.max(worst, ts - eventT);
  }
  assert.ok(worst < 2000, `a record stamped ${worst} ms after its event was made`);
  assert.ok(replayFrom - stoppedAt >= 3000);
  // One time per frame received over ~2 s, not one per replayed batch.
  assert.ok(stamps.size > 100, `${stamps.size} distinct timestamps`);
});

/** The broker refuses a timestamp more than message.timestamp.after.max.ms ahead (1 h: the default of Kafka 4.4). */
const HOURS_AHEAD = 2 * 3600_000;

for (const durability of ['memory', 'disk'] as const) {
  test(`--timestamp event (--durability ${durability}): t in ms, µs and ns becomes the record timestamp; without a numeric t, the receive time; dead letters the send time`, async (t) => {
    const topics = testTopics((fn) => t.after(fn));
    const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-ts-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ms = Date.now() - 600_000; // ten minutes ago
    const ns = `${BigInt(ms) * 1_000_000n + 999_999n}`; // 19 digits: no double holds it exactly
    const old = ms - 3 * 86_400_000;
    const ev = (q: number, rest: string) => `{"ev":"T","sym":"S${q % 3}","q":${q}${rest}}`;
    // q → the timestamp expected ('receive': between the start of the run and its end).
    const want = new Map<number, number | 'receive'>([
      [1, ms],
      [2, ms], // ns, its last six digits dropped
      [3, ms + 1], // µs
      [4, 'receive'], // no t
      [5, 'receive'], // a string t
      [6, 'receive'], // a t only in a nested object, and a later top-level t that is null
      [7, old], // three days old: Kafka takes the past (message.timestamp.before.max.ms is unbounded by default)
      [8, 1_500_000_000_000], // an exponent
      [9, ms + 7], // the last of two t wins, as JSON.parse reads it
      [10, ms], // the key spelled with an escape
      [11, ms - 5000], // in the same frame as 12, earlier than it
      [12, ms + 5000],
      [13, ms + 2], // a fraction of a ms dropped
    ]);
    const frames = [
      `[${ev(1, `,"t":${ms}`)}]`,
      `[${ev(2, `,"t":${ns}`)}]`,
      `[${ev(3, `,"t":${(ms + 1) * 1000 + 999}`)}]`,
      `[${ev(4, '')}]`,
      `[${ev(5, `,"t":"${ms}"`)}]`,
      `[${ev(6, `,"x":{"t":${ms}},"t":${ms},"t":null`)}]`,
      `[${ev(7, `,"t":${old}`)}]`,
      `[${ev(8, ',"t":1.5e12')}]`,
      `[${ev(9, `,"t":${ms},"t":${ms + 7}`)}]`,
      `[${ev(10, `,"\\u0074":${ms}`)}]`,
      `[${ev(11, `,"t":${ms - 5000}`)},${ev(12, `,"t" : ${ms + 5000} `)}]`,
      `[${ev(13, `,"t":${ms + 2}.75`)}]`,
      `[${ev(14, `,"t":${Date.now() + HOURS_AHEAD}`)}]`, // refused by Kafka: to the dead-letter topic
      '[{"ev":"T","sym":"bad"', // malformed: the frame goes to the dead-letter topic
      `[${ev(15, `,"t":${ms + 3}`)}]`,
    ];
    want.set(15, ms + 3);
    const file = join(dir, 'frames.jsonl');
    await writeFile(file, frames.join('\n') + '\n');
    const mock = await startMockServer({ port: 0, replay: file, rate: 50 });
    t.after(() => mock.close());
    const startedAt = Date.now();
    const bridge = startBridge(['--url', mock.url, '--timestamp', 'event', '--durability', durability, '--spool-dir', join(dir, 'spool'), '--metrics-interval', '200ms', ...topics.flags]);
    t.after(() => bridge.proc.kill('SIGKILL'));
    await waitFor(() => metricOf(bridge.stdout(), 'Produced') === want.size, 30_000, `${want.size} events acknowledged`);
    bridge.proc.kill('SIGTERM');
    assert.equal((await bridge.exited).code, 0, bridge.stderr());
    const stoppedAt = Date.now();

    const records = await readAll([topics.trades, topics.deadLetter]);
    const got = new Map<number, number>();
    const deadLetters: ReadRecord[] = [];
    for (const r of records) {
      if (r.topic === topics.deadLetter) deadLetters.push(r);
      else got.set((JSON.parse(r.value.toString()) as { q: number }).q, Number(r.timestamp));
    }
    assert.equal(got.size, want.size, `events in the topic: ${[...got.keys()].join(',')}`);
    for (const [q, expected] of want) {
      const ts = got.get(q)!;
      if (expected === 'receive') assert.ok(ts >= startedAt && ts <= stoppedAt, `q=${q}: ${ts} is not a receive time in [${startedAt}, ${stoppedAt}]`);
      else assert.equal(ts, expected, `q=${q}`);
    }
    // Dead letters (the malformed frame, the event Kafka refused for its timestamp) carry the time they were sent.
    const codes = deadLetters.map((r) => [...r.headers].find(([k]) => k.toString() === 'ws2kafka.code')?.[1].toString()).sort();
    assert.deepEqual(codes, ['KAFKA_RECORD_REFUSED', 'MALFORMED_FRAME'], 'the event 2 h ahead is refused (INVALID_TIMESTAMP), the bad frame rejected');
    for (const r of deadLetters) {
      const ts = Number(r.timestamp);
      assert.ok(ts >= startedAt && ts <= stoppedAt, `dead letter stamped ${ts}, not a send time in [${startedAt}, ${stoppedAt}]`);
    }
  });
}
