// Parking (producer.ts, lanes.ts): a partition whose leader has been away for PARK_AFTER_MS hands
// back, in order, what waits for it and was never sent, and its records of later submits, so
// that submits settle and the caller's queue keeps moving while the other brokers are fed. What
// was sent stays in the producer (Kafka may have written it) and is retried there; the caller
// sends the parked records again once the leader answers, then unparks. Against a fake broker that
// does what Kafka does (test/helpers/fake-kafka.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PARK_AFTER_MS } from '../../src/sink/lanes.ts';
import type { SendRecord } from '../../src/sink/producer.ts';
import { partitionOf } from '../../src/sink/record-batch.ts';
import { FakeKafka } from '../helpers/fake-kafka.ts';
import { assertLogs, Expected, interleave, keysOn, NOTHING, producerFor, records, waitFor, watch } from '../helpers/producer-run.ts';

const settleMs = 30;

/** A submit that takes parked records back: what it was handed, per partition, in order. */
function parking(parked: Map<number, SendRecord[]>) {
  return (messages: SendRecord[]) => (indices: number[], _topic: string, partition: number) => {
    let list = parked.get(partition);
    if (list === undefined) parked.set(partition, (list = []));
    for (const i of indices) list.push(messages[i]!);
  };
}

test('a leader away for PARK_AFTER_MS: its partition is parked; the others flow; what was sent is retried in place; parked records come back in order', async (t) => {
  // trades[0] on broker 1, trades[1] on broker 2 (hangs: takes requests, answers none). One
  // batch in flight per partition, so that batches wait behind the one on the wire.
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake, { maxInflight: 1 });
  const expected = new Expected(fake);
  const warm = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  assert.deepEqual(await run.producer.submit(warm), NOTHING);
  expected.acked(warm);

  fake.down(2, 'hang');
  const parked = new Map<number, SendRecord[]>();
  const onParked = parking(parked);
  // The first submit's trades[1] batch goes on the wire (and hangs); the next ones wait behind it.
  const first = interleave(records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1)));
  const firstAcked = new Uint8Array(first.length);
  const s1 = watch(run.producer.submit(first, undefined, false, firstAcked, onParked(first)));
  await waitFor('trades[1] on the wire', () => fake.tpInflight.get('trades[1]') === 1);
  const waiting = Array.from({ length: 3 }, () => interleave(records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1))));
  const ws = waiting.map((m) => watch(run.producer.submit(m, undefined, false, undefined, onParked(m))));
  await sleep(settleMs);
  assert.ok(ws.every((w) => !w.done), 'before the park, every submit waits for trades[1]');

  run.producer.tick(Date.now() + PARK_AFTER_MS);
  assert.deepEqual(run.producer.parked(), ['trades[1]']);
  for (const w of ws) assert.deepEqual(await w.promise, NOTHING, 'a submit whose trades[1] records were handed back settles');
  assert.equal(s1.done, false, 'the batch already sent to broker 2 stays, to be retried there');
  assert.equal(run.producer.onlyParkedLeft(firstAcked), true, 'what is left of the first submit waits only on the parked partition');
  const handedBack = waiting.flatMap((m) => m.filter((r) => partitionOf(r.key!, 2) === 1));
  assert.deepEqual(parked.get(1), handedBack, 'handed back: every trades[1] record never sent, in order');

  // A later submit: trades[1] handed back as it is written, trades[0] sent.
  const later = interleave(records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1)));
  assert.deepEqual(await run.producer.submit(later, undefined, false, undefined, onParked(later)), NOTHING);
  assert.deepEqual(parked.get(1), [...handedBack, ...later.filter((r) => partitionOf(r.key!, 2) === 1)]);
  assert.equal(run.producer.canSend('trades', 1, Date.now() + PARK_AFTER_MS), false, 'broker 2 has not answered for a while');
  assert.equal(run.producer.canSend('trades', 0, Date.now() + PARK_AFTER_MS), true);

  // Broker 2 is back: its hung request times out and is resent in place; then the caller sends
  // the parked records (probes) and unparks.
  fake.up(2);
  await s1.promise;
  await waitFor('broker 2 answering again', () => run.producer.canSend('trades', 1));
  for (const m of [first, ...waiting, later]) expected.acked(m.filter((r) => partitionOf(r.key!, 2) === 0));
  expected.acked(first.filter((r) => partitionOf(r.key!, 2) === 1));
  const back = parked.get(1)!;
  assert.deepEqual(await run.producer.submit(back, undefined, true), NOTHING, 'a probe is never parked');
  expected.acked(back);
  run.producer.unpark('trades', 1);
  const after = interleave(records('trades', 3, keysOn(2, 0)), records('trades', 3, keysOn(2, 1)));
  assert.deepEqual(await run.producer.submit(after, undefined, false, undefined, onParked(after)), NOTHING);
  expected.acked(after);
  assert.equal(parked.get(1)!.length, back.length, 'unparked: nothing more handed back');
  assertLogs(fake, expected);
});

test('a partition without a leader for PARK_AFTER_MS is parked too; a submit without onParked is never parked', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 1]);
  const run = await producerFor(t, fake);
  const expected = new Expected(fake);
  const warm = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  await run.producer.submit(warm);
  expected.acked(warm);
  fake.moveLeader('trades', 1, -1);
  fake.down(1, 'reject');
  const plain = records('trades', 4, keysOn(2, 1));
  const sPlain = watch(run.producer.submit(plain));
  await waitFor('the failure', () => run.failures.length > 0);
  fake.up(1);
  const parked = new Map<number, SendRecord[]>();
  const m = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  const s = watch(run.producer.submit(m, undefined, false, undefined, parking(parked)(m)));
  await waitFor('trades[0] delivered', () => (fake.logs.get('trades[0]')?.length ?? 0) === 8);
  await waitFor('no leader seen', () => run.producer.leaderless().includes('trades[1]'));
  run.producer.tick(Date.now() + PARK_AFTER_MS + 1000);
  assert.deepEqual(run.producer.parked(), ['trades[1]']);
  assert.deepEqual(await s.promise, NOTHING);
  assert.deepEqual(parked.get(1), m.filter((r) => partitionOf(r.key!, 2) === 1));
  assert.equal(sPlain.done, false, 'the submit without onParked keeps waiting for a leader');
  fake.moveLeader('trades', 1, 1);
  assert.deepEqual(await sPlain.promise, NOTHING);
  expected.acked(m.filter((r) => partitionOf(r.key!, 2) === 0));
  expected.acked(plain);
  assertLogs(fake, expected);
});

test('every broker stalled at once (acks=all waiting on a dead replica): nothing is parked, everything waits in place', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake, { maxInflight: 1 });
  const expected = new Expected(fake);
  const warm = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  await run.producer.submit(warm);
  expected.acked(warm);
  fake.pause(1);
  fake.pause(2);
  const parked = new Map<number, SendRecord[]>();
  const batches = Array.from({ length: 4 }, () => interleave(records('trades', 5, keysOn(2, 0)), records('trades', 5, keysOn(2, 1))));
  const ws = batches.map((m) => watch(run.producer.submit(m, undefined, false, undefined, parking(parked)(m))));
  await waitFor('both on the wire', () => fake.tpInflight.get('trades[0]') === 1 && fake.tpInflight.get('trades[1]') === 1);
  run.producer.tick(Date.now() + PARK_AFTER_MS);
  assert.deepEqual(run.producer.parked(), [], 'no broker acknowledged anything since the stall began');
  assert.equal(parked.size, 0);
  fake.resume(1);
  fake.resume(2);
  for (const w of ws) assert.deepEqual(await w.promise, NOTHING);
  for (const m of batches) expected.acked(m);
  assertLogs(fake, expected);
});
