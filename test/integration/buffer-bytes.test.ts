// --buffer-bytes: the memory buffer is bounded by the bytes it keeps alive (whole frames, once
// each, and the records' objects), not only by events. Kafka is a closed port, so nothing drains:
// the byte bound, far below --buffer-size's events, is what fills the buffer, and --overflow drop
// drops and counts the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { READ_BATCH_BYTES } from '../../src/source/reader.ts';
import { startBridge, testTopics } from '../helpers/bridge.ts';
import { startScriptedFeed } from '../helpers/feed.ts';
import { freePort, metric, metricsText, until } from '../helpers/net.ts';

const BOUND = 256 * 1024;
const FRAMES = 120;
const EVENTS_PER_FRAME = 20;
/** One post of the reading thread at most (it may end with a frame that crosses READ_BATCH_BYTES): its frames share one buffer. */
const READ = READ_BATCH_BYTES + 12 * 1024;

/** A frame of EVENTS_PER_FRAME trades of ~500 bytes each (about 10 KB). */
function frame(f: number): string {
  const pad = 'x'.repeat(400);
  const events = Array.from({ length: EVENTS_PER_FRAME }, (_, e) => `{"ev":"T","sym":"S${e}","i":"${f}-${e}","x":4,"p":123.45,"s":100,"t":1700000000000,"q":${f * EVENTS_PER_FRAME + e},"pad":"${pad}"}`);
  return `[${events.join(',')}]`;
}

test('--buffer-bytes with --overflow drop: the byte bound, not the event bound, stops the buffer; retained bytes stay within the bound plus one post of the reading thread; the rest is dropped and counted', { timeout: 120_000 }, async (t) => {
  const feed = await startScriptedFeed();
  t.after(() => feed.close());
  const topics = testTopics((fn) => t.after(fn));
  const closed = await freePort(); // nothing listens: Kafka is unreachable, nothing is acknowledged
  const port = await freePort();
  const bridge = startBridge([
    '--url', feed.url, '--brokers', `127.0.0.1:${closed}`, '--overflow', 'drop',
    '--buffer-bytes', '256KiB', '--buffer-size', '100000',
    '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags,
  ]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await feed.subscribed();

  const total = FRAMES * EVENTS_PER_FRAME;
  for (let f = 0; f < FRAMES; f++) await feed.send(frame(f));
  const received = () => metric(port, /^ws2kafka_events_received_total (\d+)$/m);
  await until('every event sent to be read', 60_000, async () => (await received()) === total, () => bridge.stderr().slice(-2000));

  const text = await metricsText(port);
  const series = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const events = series('ws2kafka_buffer_events');
  const bytes = series('ws2kafka_buffer_bytes');
  const dropped = series('ws2kafka_events_dropped_total');
  t.diagnostic(`buffered ${events} events keeping ${bytes} bytes alive; dropped ${dropped}`);
  assert.equal(series('ws2kafka_buffer_capacity_bytes'), BOUND);
  assert.equal(series('ws2kafka_buffer_capacity_events'), 100_000);
  assert.equal(series('ws2kafka_events_produced_total'), 0, 'nothing drained');
  assert.ok(dropped > 0, `events were dropped (${dropped})`);
  assert.equal(events + dropped, total, 'every event read is buffered or counted as dropped');
  assert.ok(events < 100_000 / 10, `the event bound was far away (${events} buffered)`);
  assert.ok(bytes >= BOUND, `the byte bound was reached (${bytes} retained)`);
  assert.ok(bytes <= BOUND + READ + EVENTS_PER_FRAME * 240, `retained ${bytes} ≤ the bound + one post of the reading thread and its records`);
  // The frames' bytes are what the bound counts: the events alone (~500 bytes each) are less.
  assert.ok(events * 500 < bytes, `${events} events of ~500 bytes keep ${bytes} bytes alive`);

  const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { buffer: { events: number; capacity: number; bytes: number; capacityBytes: number }; events: { dropped: number } };
  assert.equal(status.buffer.capacityBytes, BOUND);
  assert.ok(status.buffer.bytes >= BOUND && status.buffer.bytes <= BOUND + READ + EVENTS_PER_FRAME * 240, JSON.stringify(status.buffer));
  assert.equal(status.events.dropped, dropped);
  assert.match(bridge.stderr(), new RegExp(`\\[BUFFER_FULL\\] buffer full \\(--buffer-bytes ${BOUND} reached\\): dropping events`), 'the warning names the code and the bound that was reached');
});
