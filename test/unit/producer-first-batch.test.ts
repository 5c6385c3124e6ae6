// A partition's first batch under a producer id (lanes.ts Part.confirmed), against a fake broker
// that does what Kafka does (test/helpers/fake-kafka.ts): with no state for a producer id on a
// partition, Kafka writes a first batch whatever its sequence. So until Kafka has acknowledged a
// batch of a partition under the current producer id, the producer keeps one batch of it in
// flight: a later batch overtaking a first one that failed would be written ahead of it (then the
// resent first one is answered OUT_OF_ORDER_SEQUENCE_NUMBER, and the partition is reordered).
// Once one is acknowledged, up to maxInflight; after a new producer id, one again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeKafka } from '../helpers/fake-kafka.ts';
import { assertLogs, assertResentAsIs, codesOf, Expected, interleave, keysOn, NOTHING, producerFor, records, waitFor, type Run } from '../helpers/producer-run.ts';

/** Lets the producer put on the wire whatever it would (the broker paused, nothing answered meanwhile). */
const settleMs = 30;

/** Submits of n records each for one partition of a 2-partition topic, all outstanding at once. */
function submitAll(run: Run, expected: Expected, count: number, partition: number, n = 4): Array<Promise<unknown>> {
  const submits = Array.from({ length: count }, () => records('trades', n, keysOn(2, partition)));
  for (const m of submits) expected.acked(m);
  return submits.map((m) => run.producer.submit(m));
}

test("a partition's first batch: alone in flight until Kafka acknowledges it, then up to maxInflight; per partition", async (t) => {
  // Both partitions on broker 1; trades[0] has had a batch acknowledged, trades[1] has not.
  const fake = new FakeKafka().topic('trades', [1, 1]);
  const run = await producerFor(t, fake);
  const expected = new Expected(fake);
  const warm = records('trades', 4, keysOn(2, 0));
  assert.deepEqual(await run.producer.submit(warm), NOTHING);
  expected.acked(warm);
  fake.pause(1);
  const submits = Array.from({ length: 6 }, () => interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1))));
  for (const m of submits) expected.acked(m);
  const outcomes = submits.map((m) => run.producer.submit(m));
  await waitFor('5 batches of trades[0] in flight', () => fake.tpInflight.get('trades[0]') === 5);
  await sleep(settleMs);
  assert.deepEqual([fake.tpInflight.get('trades[0]'), fake.tpInflight.get('trades[1]')], [5, 1], 'trades[0] pipelines; trades[1], never acknowledged, has one batch in flight');
  // The broker answers what it has, then holds what comes next: trades[1]'s first batch acknowledged, its other 5 go at once.
  fake.resume(1);
  fake.pause(1);
  await waitFor('5 batches of trades[1] in flight', () => fake.tpInflight.get('trades[1]') === 5);
  assert.equal(fake.sent('trades', 1).length, 1, 'the broker has read (and answered) only the first of trades[1]');
  fake.resume(1);
  for (const o of await Promise.all(outcomes)) assert.deepEqual(o, NOTHING);
  const sent = fake.sent('trades', 1);
  assert.deepEqual(sent.map((r) => [r.baseSequence, r.answer]), [0, 4, 8, 12, 16, 20].map((s) => [s, 0]), 'each batch sent once, in order');
  assert.deepEqual(sent.map((r) => r.inflight), [1, 1, 2, 3, 4, 5], 'the first alone; the rest together once it is acknowledged');
  assert.deepEqual([fake.tpMaxInflight.get('trades[0]'), fake.tpMaxInflight.get('trades[1]')], [5, 5]);
  assert.deepEqual(run.failures, []);
  assert.equal(fake.producerIds, 1);
  assertLogs(fake, expected);
});

test('the first batch of a fresh partition fails while more wait behind it: everything lands in order, once each, under the same producer id', async (t) => {
  // Right after a topic is created its leader may answer NOT_LEADER_OR_FOLLOWER (or lack
  // replicas) once and take the next request. A batch pipelined behind the failed first one would
  // be written first (Kafka has no state for the producer there), the resent first one answered
  // OUT_OF_ORDER_SEQUENCE_NUMBER, and the producer would take a new id with the partition reordered.
  const variants = [
    { name: 'NOT_LEADER_OR_FOLLOWER', script: [6], network: [], code: 'NOT_LEADER_OR_FOLLOWER' },
    { name: 'NOT_ENOUGH_REPLICAS', script: [19], network: [], code: 'NOT_ENOUGH_REPLICAS' },
    { name: 'the request lost', script: [], network: ['request'], code: 'NETWORK' },
  ] as const;
  for (const v of variants) {
    await t.test(v.name, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2]);
      const run = await producerFor(st, fake);
      const expected = new Expected(fake);
      fake.script('trades', 0, ...v.script);
      fake.failNetwork(1, ...v.network);
      fake.pause(1);
      const outcomes = submitAll(run, expected, 6, 0);
      await waitFor('a batch of trades[0] in flight', () => (fake.tpInflight.get('trades[0]') ?? 0) > 0);
      await sleep(settleMs);
      fake.resume(1);
      for (const o of await Promise.all(outcomes)) assert.deepEqual(o, NOTHING);
      const sent = fake.sent('trades', 0);
      assert.equal(fake.producerIds, 1, 'no new producer id');
      assert.deepEqual(codesOf(run), new Set([v.code]), 'only the first failure reported');
      assert.deepEqual(
        sent.map((r) => [r.baseSequence, r.answer]),
        [[0, v.network.length > 0 ? null : v.script[0]], ...[0, 4, 8, 12, 16, 20].map((s) => [s, 0])],
        'the first batch fails, then all six are written in order, each once',
      );
      assert.deepEqual(sent.map((r) => r.inflight), [1, 1, 1, 2, 3, 4, 5], 'one batch in flight until the first is acknowledged, then the other five together');
      assertResentAsIs(fake, 'trades', 0);
      assertLogs(fake, expected);
    });
  }
});

test('after a new producer id (UNKNOWN_PRODUCER_ID) every partition sends one batch at a time again until one is acknowledged', async (t) => {
  // trades[0] on broker 1 fails mid-pipeline with UNKNOWN_PRODUCER_ID; trades[1] on broker 2 was
  // acknowledged under the old id and has nothing pending when the id is renewed.
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake);
  const expected = new Expected(fake);
  const warm = interleave(records('trades', 4, keysOn(2, 0)), records('trades', 4, keysOn(2, 1)));
  assert.deepEqual(await run.producer.submit(warm), NOTHING);
  expected.acked(warm);
  fake.script('trades', 0, 59);
  fake.pause(1);
  const first = submitAll(run, expected, 5, 0);
  await waitFor('5 batches of trades[0] in flight', () => fake.tpInflight.get('trades[0]') === 5);
  fake.resume(1);
  for (const o of await Promise.all(first)) assert.deepEqual(o, NOTHING);
  assert.equal(fake.producerIds, 2, 'a new producer id');
  const [oldId, newId] = [fake.sent('trades', 0)[0]!.producerId, fake.sent('trades', 0).at(-1)!.producerId];
  assert.notEqual(oldId, newId);
  const renewed = fake.sent('trades', 0).filter((r) => r.producerId === newId);
  assert.deepEqual(renewed.map((r) => [r.baseSequence, r.answer]), [0, 4, 8, 12, 16].map((s) => [s, 0]), 'the 5 batches again under the new id, from 0, in order');
  assert.deepEqual(renewed.map((r) => r.inflight), [1, 1, 2, 3, 4], 'under the new id, one batch in flight until the first is acknowledged');
  // trades[1] is new to the new id too: its first batch fails, the 4 behind it wait, all land in order.
  fake.script('trades', 1, 6);
  fake.pause(2);
  const second = submitAll(run, expected, 5, 1);
  await waitFor('a batch of trades[1] in flight', () => (fake.tpInflight.get('trades[1]') ?? 0) > 0);
  await sleep(settleMs);
  assert.equal(fake.tpInflight.get('trades[1]'), 1, 'one batch of trades[1] in flight');
  fake.resume(2);
  for (const o of await Promise.all(second)) assert.deepEqual(o, NOTHING);
  const sent1 = fake.sent('trades', 1).slice(1);
  assert.ok(sent1.every((r) => r.producerId === newId));
  assert.deepEqual(sent1.map((r) => [r.baseSequence, r.answer]), [[0, 6], ...[0, 4, 8, 12, 16].map((s) => [s, 0])], 'from 0 under the new id, in order, each written once');
  assert.deepEqual(sent1.map((r) => r.inflight), [1, 1, 1, 2, 3, 4]);
  assert.equal(fake.producerIds, 2, 'no other new producer id');
  assertResentAsIs(fake, 'trades', 0);
  assertResentAsIs(fake, 'trades', 1);
  assertLogs(fake, expected);
});
