// Pausing and discarding delivery (an HA member fenced, then replaced: src/ha/role.ts), against a
// fake broker that does what Kafka does (test/helpers/fake-kafka.ts). Paused: nothing goes on the
// wire, retries included, and nothing is lost; resumed: everything goes, in order. Discarded:
// batches waiting are forgotten, late answers to batches on the wire are ignored, submits not yet
// admitted never settle, and what follows goes under a new producer id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeKafka } from '../helpers/fake-kafka.ts';
import { assertLogs, Expected, interleave, keysOn, NOTHING, producerFor, records, waitFor, watch } from '../helpers/producer-run.ts';

const settleMs = 30;

test('paused: nothing is sent, not even a retry; resumed: everything is delivered in order', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake);
  const expected = new Expected(fake);
  const warm = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  assert.deepEqual(await run.producer.submit(warm), NOTHING);
  expected.acked(warm);

  run.producer.pause();
  assert.equal(run.producer.wantsMore(), false, 'a paused producer wants nothing more');
  const calls = fake.calls;
  const batches = Array.from({ length: 4 }, () => interleave(records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1))));
  for (const m of batches) expected.acked(m);
  const submits = batches.map((m) => watch(run.producer.submit(m)));
  await sleep(settleMs * 3);
  assert.equal(fake.calls, calls, 'no request while paused');
  assert.ok(submits.every((s) => !s.done));

  run.producer.resume();
  for (const s of submits) assert.deepEqual(await s.promise, NOTHING);
  assertLogs(fake, expected);
});

test('a batch that fails while paused is not retried until resumed, then delivered once', async (t) => {
  const fake = new FakeKafka().topic('trades', [1]);
  const run = await producerFor(t, fake);
  const expected = new Expected(fake);
  const warm = records('trades', 3, keysOn(1, 0));
  await run.producer.submit(warm);
  expected.acked(warm);
  fake.pause(1);
  const m = records('trades', 6, keysOn(1, 0));
  expected.acked(m);
  const s = watch(run.producer.submit(m));
  await waitFor('the batch on the wire', () => fake.tpInflight.get('trades[0]') === 1);
  run.producer.pause();
  // The broker goes away: the request on the wire fails, the partition would retry.
  fake.down(1, 'reject');
  fake.resume(1);
  await waitFor('the failure reported', () => run.failures.length > 0);
  fake.up(1);
  const calls = fake.calls;
  await sleep(settleMs * 3);
  assert.equal(fake.calls, calls, 'no retry while paused');
  assert.equal(s.done, false);
  run.producer.resume();
  assert.deepEqual(await s.promise, NOTHING);
  assertLogs(fake, expected);
});

test('discard: waiting batches are forgotten, a late answer is ignored, and what follows goes under a new producer id', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake);
  const expected = new Expected(fake);
  const warm = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  await run.producer.submit(warm);
  expected.acked(warm);
  const ids = fake.producerIds;

  // Broker 1 holds its requests unread; broker 2 answers. Then the producer is paused.
  fake.pause(1);
  const onWire = records('trades', 5, keysOn(2, 0));
  const first = watch(run.producer.submit(onWire));
  await waitFor('trades[0] on the wire', () => fake.tpInflight.get('trades[0]') === 1);
  run.producer.pause();
  const waiting = [records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1))].map((m) => watch(run.producer.submit(m)));
  await sleep(settleMs);
  run.producer.discard();
  // The request held by broker 1 is read and answered now: the broker writes it (it was sent), the producer ignores the answer.
  fake.resume(1);
  await waitFor('the late answer', () => fake.tpInflight.get('trades[0]') === 0);
  expected.acked(onWire);

  run.producer.resume();
  const after = interleave(records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1)));
  expected.acked(after);
  assert.deepEqual(await run.producer.submit(after), NOTHING, 'a submit after the discard is delivered');
  await sleep(settleMs);
  assert.equal(first.done, false, 'a discarded submit never settles');
  assert.ok(waiting.every((w) => !w.done), 'nor do the ones not yet admitted');
  assert.equal(fake.producerIds, ids + 1, 'a new producer id after a discard: sequences start afresh');
  assertLogs(fake, expected);
});
