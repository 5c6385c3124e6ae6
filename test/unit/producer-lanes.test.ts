// BatchProducer's delivery lanes against a fake broker (test/helpers/fake-kafka.ts): several
// submits outstanding, up to maxInflight requests in flight per broker and batches per partition
// (never more than 5, never two of one partition in one request); a batch failing in the middle of
// a pipeline resent with those behind it, in order, with the same sequences; a broker down or a
// partition without a leader holding back only its own partitions; a broker that hangs counted slow
// after LANE_SLOW_MS, the others fed meanwhile; a leader named by the broker that lost it (KIP-951)
// used at once; wantsMore(); brokers() (slow, idle). Every test ends with the broker's logs exact.
// A partition pipelines only once Kafka has acknowledged a batch of it (lanes.ts Part.confirmed):
// the tests that build a pipeline first deliver one submit to each partition involved (confirm()).
// What happens before that is tested in producer-first-batch.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { LANE_SLOW_MS } from '../../src/sink/lanes.ts';
import { partitionOf } from '../../src/sink/record-batch.ts';
import { FakeKafka, HEADER_BYTES, tpOf } from '../helpers/fake-kafka.ts';
import { assertLogs, assertResentAsIs, Expected, indicesOf, interleave, keysOn, NOTHING, producerFor, records, waitFor, watch, type Run } from '../helpers/producer-run.ts';

/** One submit of n records for each of these partitions, acknowledged: Kafka has the producer's state there, the producer may pipeline. */
async function confirm(run: Run, fake: FakeKafka, expected: Expected, topic: string, partitions: number[], n = 4): Promise<void> {
  const count = fake.leaders.get(topic)!.length;
  const m = interleave(...partitions.map((p) => records(topic, n, keysOn(count, p))));
  assert.deepEqual(await run.producer.submit(m), NOTHING);
  expected.acked(m);
}

test('pipelining: several submits outstanding, up to maxInflight requests in flight to a broker, records in order, none twice', async (t) => {
  for (const maxInflight of [5, 3, 1]) {
    await t.test(`maxInflight ${maxInflight}`, async (st) => {
      // trades[0] and trades[2] on broker 1, paused at first, then slow; trades[1] and quotes on broker 2.
      const fake = new FakeKafka().topic('trades', [1, 2, 1]).topic('quotes', [2]);
      const run = await producerFor(st, fake, { maxInflight });
      const { producer } = run;
      const expected = new Expected(fake);
      await confirm(run, fake, expected, 'trades', [0, 1, 2], 1);
      await confirm(run, fake, expected, 'quotes', [0], 1);
      fake.pause(1);
      fake.delay(1, 5);
      const submits = Array.from({ length: 12 }, () => interleave(records('trades', 9), records('quotes', 3)));
      const outcomes = submits.map((m) => watch(producer.submit(m)));
      for (const m of submits) expected.acked(m);
      await waitFor('requests in flight to broker 1', () => (fake.inflight.get(1) ?? 0) === maxInflight);
      assert.equal(outcomes.filter((o) => !o.done).length, 12, 'every submit is outstanding');
      const lane = producer.brokers().find((b) => b.broker === 1)!;
      assert.equal(lane.inflight, maxInflight, 'brokers() shows the requests in flight');
      fake.resume(1);
      for (const o of await Promise.all(outcomes.map((o) => o.promise))) assert.deepEqual(o, NOTHING);
      assert.equal(fake.maxInflight.get(1), maxInflight, `${maxInflight} requests in flight to the slow broker at most, and that many`);
      assert.ok(fake.maxInflight.get(2)! <= maxInflight);
      for (const [tp, n] of fake.tpMaxInflight) assert.ok(n <= maxInflight, `${tp}: ${n} batches in flight`);
      assert.deepEqual(run.failures, []);
      assert.equal(fake.producerIds, 1);
      for (const [topic, leaders] of fake.leaders) {
        leaders.forEach((_, p) => {
          const sent = fake.sent(topic, p);
          assert.equal(sent.length, 13, `${tpOf(topic, p)}: the first batch, then one per submit, each sent once`);
          assert.ok(sent.every((r) => r.answer === 0));
        });
      }
      assert.ok(run.answers.length > 0 && run.answers.every((ok) => ok), 'onAnswer(true) after each answer');
      assertLogs(fake, expected);
      assert.equal(producer.inflight, 0);
      assert.equal(producer.wantsMore(), true);
    });
  }
});

test('a batch failing in the middle of a pipeline: it and the batches behind it are resent in order, same sequences, same producer id', async (t) => {
  // One partition on broker 1, a batch of 4 records acknowledged (sequences 0..3), then 7 submits
  // of 4 records (sequences 4..31): batches 1..5 in flight at once, the 6th
  // sent as the 1st is acknowledged, the 7th waiting; the 2nd fails. Kafka answers the ones
  // behind it OUT_OF_ORDER_SEQUENCE_NUMBER when it did not write it, and writes them when it did
  // (only the answer was lost, or it was an error after the write): then the 7th must keep its
  // own sequence, not take one of the batches acknowledged meanwhile.
  const variants = [
    { name: 'NOT_ENOUGH_REPLICAS: not written', script: [0, 19], network: [], answers: [0, 19, 45, 45, 45, 45, 0, 0, 0, 0, 0, 0], codes: ['NOT_ENOUGH_REPLICAS', 'OUT_OF_ORDER_SEQUENCE_NUMBER'] },
    { name: 'the request lost: not written', script: [], network: [null, 'request'], answers: [0, null, 45, 45, 45, 45, 0, 0, 0, 0, 0, 0], codes: ['NETWORK', 'OUT_OF_ORDER_SEQUENCE_NUMBER'] },
    { name: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND: written', script: [0, { written: 20 }], network: [], answers: [0, 20, 0, 0, 0, 0, 46, 0], codes: ['NOT_ENOUGH_REPLICAS_AFTER_APPEND'] },
    { name: 'the response lost: written', script: [], network: [null, 'response'], answers: [0, 0, 0, 0, 0, 0, 46, 0], codes: ['NETWORK'] },
    // Kafka lost the producer's state: the batches not acknowledged go again under a new id, from 0.
    { name: 'UNKNOWN_PRODUCER_ID: a new producer id', script: [0, 59], network: [], answers: [0, 59, 45, 45, 45, 45, 0, 0, 0, 0, 0, 0], codes: ['UNKNOWN_PRODUCER_ID', 'OUT_OF_ORDER_SEQUENCE_NUMBER'] },
  ] as const;
  for (const v of variants) {
    await t.test(v.name, async (st) => {
      const fake = new FakeKafka().topic('trades', [1]);
      const run = await producerFor(st, fake);
      const expected = new Expected(fake);
      await confirm(run, fake, expected, 'trades', [0]);
      fake.script('trades', 0, ...v.script);
      fake.failNetwork(1, ...v.network);
      fake.pause(1);
      const submits = Array.from({ length: 7 }, () => records('trades', 4, ['AAPL']));
      const outcomes = submits.map((m) => run.producer.submit(m));
      for (const m of submits) expected.acked(m);
      await waitFor('5 batches in flight', () => fake.tpInflight.get('trades[0]') === 5);
      fake.resume(1);
      for (const o of await Promise.all(outcomes)) assert.deepEqual(o, NOTHING);
      const sent = fake.sent('trades', 0).slice(1);
      assert.deepEqual(sent.map((r) => r.answer), v.answers);
      assert.deepEqual(new Set(run.failures.flatMap((f) => f.codes)), new Set(v.codes));
      assertResentAsIs(fake, 'trades', 0);
      if (v.codes[0] === 'UNKNOWN_PRODUCER_ID') {
        assert.equal(fake.producerIds, 2, 'a new producer id');
        const renewed = sent.slice(6);
        assert.ok(renewed.every((r) => r.producerId !== sent[0]!.producerId));
        assert.deepEqual(renewed.map((r) => r.baseSequence), [0, 4, 8, 12, 16, 20], 'the 2nd to 7th batches under the new id, from 0');
        assert.deepEqual(renewed.slice(0, 2).map((r) => r.inflight), [1, 1], 'under the new id, one batch in flight until Kafka acknowledges one');
        renewed.slice(0, 5).forEach((r, i) => assert.ok(r.bytes.subarray(HEADER_BYTES).equals(sent[i + 1]!.bytes.subarray(HEADER_BYTES)), 'the same records'));
      } else {
        assert.equal(fake.producerIds, 1, 'no new producer id');
        assert.ok(sent.every((r) => r.producerId === sent[0]!.producerId));
        assert.deepEqual([...new Set(sent.map((r) => r.baseSequence))], [4, 8, 12, 16, 20, 24, 28], 'each batch keeps its sequence');
      }
      const next = records('trades', 4, ['AAPL']);
      assert.deepEqual(await run.producer.submit(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
    });
  }
});

test("a partition's leader moves under its pipeline: batches sent to the new leader ahead of those in flight to the old one are resent after them", async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake);
  const { producer } = run;
  const expected = new Expected(fake);
  const [on1, on2] = [keysOn(2, 0), keysOn(2, 1)];
  await confirm(run, fake, expected, 'trades', [0, 1]); // trades[0]: sequences 0..3
  const sent0 = () => fake.sent('trades', 0).slice(1);
  fake.pause(1);
  const first = Array.from({ length: 3 }, () => records('trades', 4, on1));
  const outcomes = first.map((m) => producer.submit(m));
  for (const m of first) expected.acked(m);
  await waitFor('3 batches in flight to broker 1', () => fake.inflight.get(1) === 3);
  // trades[0] moves to broker 2; the producer learns it from a metadata read that trades[1]'s
  // failure brings about, while trades[0]'s batches wait at broker 1.
  fake.moveLeader('trades', 0, 2);
  fake.script('trades', 1, 5);
  const other = records('trades', 4, on2);
  assert.deepEqual(await producer.submit(other), NOTHING);
  expected.acked(other);
  // Four more batches: two fit beside the three in flight (5 per partition, over both brokers).
  const later = Array.from({ length: 4 }, () => records('trades', 4, on1));
  outcomes.push(...later.map((m) => producer.submit(m)));
  for (const m of later) expected.acked(m);
  await waitFor('two later batches answered by broker 2', () => sent0().length === 2);
  await sleep(20);
  assert.deepEqual(sent0().map((r) => [r.broker, r.baseSequence, r.answer]), [[2, 16, 45], [2, 20, 45]], 'ahead of the first three: out of order; the other two wait');
  fake.resume(1);
  for (const o of await Promise.all(outcomes)) assert.deepEqual(o, NOTHING);
  assert.deepEqual(
    sent0().slice(2).map((r) => [r.broker, r.baseSequence, r.answer]),
    [[1, 4, 6], [1, 8, 6], [1, 12, 6], [2, 4, 0], [2, 8, 0], [2, 12, 0], [2, 16, 0], [2, 20, 0], [2, 24, 0], [2, 28, 0]],
    'the old leader refuses the first three; all seven go to the new one, in order',
  );
  assert.equal(fake.tpMaxInflight.get('trades[0]'), 5);
  assert.equal(fake.producerIds, 1, 'no new producer id');
  assertResentAsIs(fake, 'trades', 0);
  assertLogs(fake, expected);
});

test('a broker down: partitions of the others keep flowing; moved to another broker, its records arrive once, in order', async (t) => {
  for (const how of ['reject', 'hang'] as const) {
    await t.test(how === 'reject' ? 'its connections are refused' : 'it never answers (until its requests time out)', async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2, 3]);
      const run = await producerFor(st, fake);
      const { producer } = run;
      const expected = new Expected(fake);
      const warm = records('trades', 24);
      assert.deepEqual(await producer.submit(warm), NOTHING);
      expected.acked(warm);
      const dead = 1; // trades[1], led by broker 2
      const healthy = keysOn(3, 0, 2);
      fake.down(2, how);
      // Submits with records for every partition stay outstanding while broker 2 is down...
      const stuck = Array.from({ length: 7 }, () => records('trades', 16));
      const acked = stuck.map((m) => new Uint8Array(m.length));
      const outcomes = stuck.map((m, i) => watch(producer.submit(m, undefined, false, acked[i])));
      for (const m of stuck) expected.acked(m);
      // ...while submits for the partitions of brokers 1 and 3 complete.
      for (let i = 0; i < 6; i++) {
        const m = records('trades', 12, healthy);
        assert.deepEqual(await producer.submit(m), NOTHING);
        expected.acked(m);
      }
      assert.ok(outcomes.every((o) => !o.done), 'the submits with records for trades[1] wait');
      assert.equal(fake.logs.get('trades[1]')!.length, indicesOf(fake, warm, 'trades', dead).length, 'nothing more written to trades[1]');
      stuck.forEach((m, i) => {
        const onDead = new Set(indicesOf(fake, m, 'trades', dead));
        m.forEach((_, k) => assert.equal(acked[i]![k], onDead.has(k) ? 0 : 1, `submit ${i}, record ${k}: acknowledged unless on the dead broker`));
      });
      if (how === 'reject') await waitFor('failures reported for broker 2', () => run.failures.some((f) => f.broker === 2));
      const b2 = producer.brokers().find((b) => b.broker === 2)!;
      if (how === 'reject') {
        assert.equal(b2.state, 'failing', 'brokers() shows broker 2 failing');
        assert.ok(b2.failures > 0 && b2.failingSince !== null && b2.lastError === 'NETWORK');
        assert.ok(fake.tpMaxInflight.get('trades[1]')! <= 5);
      } else {
        assert.equal(b2.inflight, 5, 'broker 2: 5 requests hanging, no more');
        assert.equal(fake.tpInflight.get('trades[1]'), 5);
      }
      assert.deepEqual(producer.brokers().filter((b) => b.state === 'failing').map((b) => b.broker), how === 'reject' ? [2] : []);
      // Kafka elects broker 3 leader of trades[1]; a hung request times out.
      fake.moveLeader('trades', dead, 3);
      if (how === 'hang') fake.up(2);
      for (const o of await Promise.all(outcomes.map((o) => o.promise))) assert.deepEqual(o, NOTHING);
      assert.ok(acked.every((a) => a.every((x) => x === 1)));
      assert.equal(fake.producerIds, 1, 'no new producer id');
      assertResentAsIs(fake, 'trades', dead);
      const next = records('trades', 24);
      assert.deepEqual(await producer.submit(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
      assert.equal(producer.brokers().find((b) => b.broker === 3)!.partitionsLed, 2);
    });
  }
});

test('NOT_LEADER_OR_FOLLOWER naming the new leader (KIP-951): the next attempt goes there without waiting for the metadata', async (t) => {
  for (const metadata of ['slow', 'stale'] as const) {
    await t.test(`the metadata is ${metadata}`, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2]);
      fake.hints = true;
      const run = await producerFor(st, fake);
      const expected = new Expected(fake);
      const p = partitionOf(Buffer.from('AAPL'), 2);
      const from = fake.leaderOf('trades', p);
      const warm = records('trades', 10, ['AAPL']);
      assert.deepEqual(await run.producer.submit(warm), NOTHING);
      expected.acked(warm);
      // The leader moves to broker 3; the metadata says so only after 300 ms, or never.
      if (metadata === 'slow') fake.metadataDelayMs = 300;
      else fake.freezeMetadata();
      fake.moveLeader('trades', p, 3);
      const answered = fake.metadataAnswered;
      for (let i = 0; i < 3; i++) {
        const m = records('trades', 10, ['AAPL']);
        assert.deepEqual(await run.producer.submit(m), NOTHING);
        expected.acked(m);
      }
      const sent = fake.sent('trades', p).slice(1);
      assert.deepEqual(sent.map((r) => [r.broker, r.answer]), [[from, 6], [3, 0], [3, 0], [3, 0]], 'refused by the old leader once, then sent to the one it named');
      if (metadata === 'slow') assert.equal(sent[1]!.metadataAnswered, answered, 'no metadata answered in between');
      assert.deepEqual(run.failures.map((f) => [f.broker, f.codes]), [[from, ['NOT_LEADER_OR_FOLLOWER']]]);
      assertResentAsIs(fake, 'trades', p);
      assertLogs(fake, expected);
    });
  }
});

test('a partition without a leader waits alone; the others are delivered meanwhile; once it has a leader its records arrive', async (t) => {
  for (const when of ['from the start', 'lost while running (LEADER_NOT_AVAILABLE)'] as const) {
    await t.test(when, async (st) => {
      const fake = new FakeKafka().topic('trades', when === 'from the start' ? [1, -1, 2] : [1, 2, 2]);
      const run = await producerFor(st, fake);
      const { producer } = run;
      const expected = new Expected(fake);
      if (when !== 'from the start') {
        fake.script('trades', 1, 5);
        run.onFailure = (f) => {
          if (f.codes.includes('LEADER_NOT_AVAILABLE')) fake.moveLeader('trades', 1, -1);
        };
      }
      const mixed = [records('trades', 24), records('trades', 24)];
      const outcomes = mixed.map((m) => watch(producer.submit(m)));
      for (const m of mixed) expected.acked(m);
      for (let i = 0; i < 4; i++) {
        const m = records('trades', 12, keysOn(3, 0, 2));
        assert.deepEqual(await producer.submit(m), NOTHING);
        expected.acked(m);
      }
      await waitFor('trades[1] leaderless', () => producer.leaderless().length > 0);
      assert.deepEqual(producer.leaderless(), ['trades[1]']);
      assert.ok(outcomes.every((o) => !o.done));
      assert.equal(producer.wantsMore(), true, 'a partition without a leader does not hold back the others');
      assert.equal(fake.logs.get('trades[1]'), undefined, 'nothing written to trades[1]');
      const metadataBefore = fake.metadataCalls;
      await sleep(600);
      assert.ok(fake.metadataCalls > metadataBefore, 'the metadata is read again while it waits');
      fake.moveLeader('trades', 1, 3);
      for (const o of await Promise.all(outcomes.map((o) => o.promise))) assert.deepEqual(o, NOTHING);
      assert.deepEqual(producer.leaderless(), []);
      assert.ok(fake.sent('trades', 1).slice(-2).every((r) => r.broker === 3 && r.answer === 0));
      assertLogs(fake, expected);
    });
  }
});

test('the metadata of a new topic cannot be read for a while: its submit waits, the submits after it wait behind it, all complete in order', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]).topic('quotes', [2]);
  const run = await producerFor(t, fake, { topics: ['trades'] });
  const { producer } = run;
  const expected = new Expected(fake);
  fake.metadataFailures = 2;
  const first = interleave(records('trades', 8), records('quotes', 8));
  const second = records('trades', 8);
  const done: number[] = [];
  const outcomes = [first, second].map((m, i) => producer.submit(m).then((o) => (done.push(i), o)));
  for (const m of [first, second]) expected.acked(m);
  assert.equal(producer.wantsMore(), false, 'submits wait to be written');
  for (const o of await Promise.all(outcomes)) assert.deepEqual(o, NOTHING);
  assert.deepEqual(done, [0, 1], 'in the order submitted');
  assert.deepEqual(run.failures.map((f) => [f.broker, f.codes]), [[-1, ['NETWORK']], [-1, ['NETWORK']]], 'each failed metadata read reported, for no broker');
  assertLogs(fake, expected);
});

test('wantsMore: false while a healthy partition has batches not on the wire, true once all are; a failing broker does not hold it back', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake);
  const { producer } = run;
  const expected = new Expected(fake);
  const [on1, on2] = [keysOn(2, 0), keysOn(2, 1)];
  assert.equal(producer.wantsMore(), true, 'idle');
  await confirm(run, fake, expected, 'trades', [0, 1]);
  assert.equal(producer.wantsMore(), true, 'idle again');

  fake.pause(1);
  const first = Array.from({ length: 5 }, () => records('trades', 4, on1));
  const outcomes = first.map((m) => producer.submit(m));
  for (const m of first) expected.acked(m);
  assert.equal(producer.wantsMore(), false, 'submits not yet written');
  await waitFor('5 requests in flight', () => fake.inflight.get(1) === 5);
  assert.equal(producer.wantsMore(), true, 'all 5 batches on the wire');
  const sixth = records('trades', 4, on1);
  outcomes.push(producer.submit(sixth));
  expected.acked(sixth);
  await tick();
  assert.equal(producer.wantsMore(), false, 'a 6th batch waits for room on the wire');
  fake.resume(1);
  for (const o of await Promise.all(outcomes)) assert.deepEqual(o, NOTHING);
  assert.equal(producer.wantsMore(), true, 'everything acknowledged');

  // Broker 2 refuses connections: its partition keeps batches unsent, which does not count.
  fake.down(2, 'reject');
  const deadSubmits = Array.from({ length: 8 }, () => records('trades', 4, on2));
  const dead = deadSubmits.map((m) => producer.submit(m));
  for (const m of deadSubmits) expected.acked(m);
  await waitFor('broker 2 failing', () => producer.brokers().find((b) => b.broker === 2)?.state === 'failing');
  for (let i = 0; i < 5; i++) {
    assert.equal(producer.wantsMore(), true, "only the failing broker's partition has batches unsent");
    await sleep(2);
  }
  // A healthy partition with a batch unsent again: false, whatever broker 2 does.
  fake.pause(1);
  const more = Array.from({ length: 6 }, () => records('trades', 4, on1));
  const moreOutcomes = more.map((m) => producer.submit(m));
  for (const m of more) expected.acked(m);
  await waitFor('5 requests in flight to broker 1', () => fake.inflight.get(1) === 5);
  assert.equal(producer.wantsMore(), false);
  fake.resume(1);
  fake.up(2);
  for (const o of await Promise.all([...moreOutcomes, ...dead])) assert.deepEqual(o, NOTHING);
  assert.equal(producer.wantsMore(), true);
  assert.equal(producer.brokers().find((b) => b.broker === 2)!.state, 'up', 'broker 2 up again once it acknowledges');
  assertLogs(fake, expected);
});

test('a broker that hangs (takes requests, answers none): after LANE_SLOW_MS it is slow, the others are fed meanwhile; once it answers, or its requests time out, everything arrives once, in order', async (t) => {
  for (const how of ['answers late', 'its requests time out'] as const) {
    await t.test(how, async (st) => {
      // trades[0] on broker 1, trades[1] on broker 2 (the one that hangs), trades[2] on broker 3.
      const fake = new FakeKafka().topic('trades', [1, 2, 3]);
      const run = await producerFor(st, fake);
      const { producer } = run;
      const expected = new Expected(fake);
      const warm = records('trades', 24);
      assert.deepEqual(await producer.submit(warm), NOTHING);
      expected.acked(warm);
      const hung = 1;
      const healthy = keysOn(3, 0, 2);
      const logged = (p: number) => fake.logs.get(`trades[${p}]`)?.length ?? 0;
      const onHung = logged(hung);
      if (how === 'answers late') fake.pause(2);
      else fake.down(2, 'hang');
      // Submits with records for every partition, as the sink makes them: trades[1] fills its 5
      // batches in flight and keeps 2 unsent.
      const since = Date.now();
      const stuck = Array.from({ length: 7 }, () => records('trades', 16));
      const acked = stuck.map((m) => new Uint8Array(m.length));
      const outcomes = stuck.map((m, i) => watch(producer.submit(m, undefined, false, acked[i])));
      for (const m of stuck) expected.acked(m);
      await waitFor('5 batches of trades[1] in flight to broker 2', () => fake.tpInflight.get('trades[1]') === 5);
      await waitFor('the records of brokers 1 and 3 acknowledged', () => stuck.every((m, i) => m.every((_, k) => acked[i]![k] === 1 || indicesOf(fake, m, 'trades', hung).includes(k))));
      // Until its oldest request has waited LANE_SLOW_MS, broker 2's unsent batches hold wantsMore() back.
      const early = producer.wantsMore();
      if (producer.brokers().find((b) => b.broker === 2)!.state !== 'slow') assert.equal(early, false, 'broker 2 not slow yet: its unsent batches hold wantsMore() back');
      await waitFor('wantsMore() true again while broker 2 hangs', () => producer.wantsMore());
      assert.ok(Date.now() - since >= LANE_SLOW_MS, `not before the oldest request has waited ${LANE_SLOW_MS} ms`);
      assert.ok(outcomes.every((o) => !o.done), 'the submits with records for trades[1] still wait');
      assert.equal(fake.tpInflight.get('trades[1]'), 5);
      assert.ok(producer.brokers().find((b) => b.broker === 2)!.state === 'slow');
      // The sink goes on feeding: submits for brokers 1 and 3 complete, mixed ones get their records
      // on brokers 1 and 3 acknowledged, and wantsMore() turns true again after each.
      const before = [logged(0), logged(2)];
      for (let i = 0; i < 4; i++) {
        const m = records('trades', 12, healthy);
        assert.deepEqual(await producer.submit(m), NOTHING);
        expected.acked(m);
        const mixed = records('trades', 16);
        const a = new Uint8Array(mixed.length);
        outcomes.push(watch(producer.submit(mixed, undefined, false, a)));
        acked.push(a);
        stuck.push(mixed);
        expected.acked(mixed);
        const onDead = new Set(indicesOf(fake, mixed, 'trades', hung));
        await waitFor(`mixed submit ${i}: the records of brokers 1 and 3 acknowledged`, () => mixed.every((_, k) => onDead.has(k) || a[k] === 1));
        await waitFor(`wantsMore() true after mixed submit ${i}`, () => producer.wantsMore());
      }
      assert.ok(logged(0) > before[0]! && logged(2) > before[1]!, 'trades[0] and trades[2] written while broker 2 hangs');
      assert.equal(logged(hung), onHung, 'nothing more written to trades[1]');
      assert.ok(outcomes.every((o) => !o.done));
      const states = producer.brokers();
      assert.deepEqual(states.map((b) => [b.broker, b.state]), [[1, 'up'], [2, 'slow'], [3, 'up']]);
      assert.deepEqual([states[1]!.inflight, states[1]!.partitionsLed, states[1]!.failingSince], [5, 1, null], 'slow: 5 requests hanging, not failing');
      assert.equal(run.failures.length, 0, 'a broker that hangs reports no failure');
      // Released: it answers, or its requests time out and are sent again to it.
      if (how === 'answers late') fake.resume(2);
      else fake.up(2);
      for (const o of await Promise.all(outcomes.map((o) => o.promise))) assert.deepEqual(o, NOTHING);
      assert.ok(acked.every((a) => a.every((x) => x === 1)));
      assert.equal(fake.producerIds, 1, 'no new producer id');
      const sent = fake.sent('trades', hung).slice(1);
      if (how === 'answers late') {
        assert.equal(run.failures.length, 0);
        assert.equal(sent.length, stuck.length, 'each batch of trades[1] sent once');
        assert.ok(sent.every((r) => r.answer === 0));
      } else {
        assert.deepEqual(new Set(run.failures.map((f) => `${f.broker} ${f.codes.join()}`)), new Set(['2 NETWORK']), 'the timeouts reported for broker 2');
        assert.ok(sent.every((r) => r.answer === 0 || r.answer === 45));
      }
      assertResentAsIs(fake, 'trades', hung);
      const next = records('trades', 24);
      assert.deepEqual(await producer.submit(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
      assert.deepEqual(producer.brokers().map((b) => [b.broker, b.state]), [[1, 'up'], [2, 'up'], [3, 'up']]);
      assert.equal(producer.wantsMore(), true);
    });
  }
});

test('brokers(): a broker that leads nothing any more and has nothing in flight is idle, and still shows its last error', async (t) => {
  for (const how of ['it answers NOT_LEADER_OR_FOLLOWER after the move', 'its connections are refused'] as const) {
    await t.test(how, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2]);
      const run = await producerFor(st, fake);
      const { producer } = run;
      const expected = new Expected(fake);
      const [on1, on2] = [keysOn(2, 0), keysOn(2, 1)];
      const warm = records('trades', 16);
      assert.deepEqual(await producer.submit(warm), NOTHING);
      expected.acked(warm);
      const state = (b: number) => producer.brokers().find((s) => s.broker === b)!;
      assert.deepEqual([state(1).state, state(2).state], ['up', 'up']);
      const m = records('trades', 8, on2);
      expected.acked(m);
      let code: string;
      if (how === 'its connections are refused') {
        code = 'NETWORK';
        fake.down(2, 'reject');
        const outcome = watch(producer.submit(m));
        await waitFor('broker 2 failing', () => state(2).state === 'failing');
        // Kafka elects broker 1; the producer reads it with the metadata after the next failure.
        fake.moveLeader('trades', 1, 1);
        assert.deepEqual(await outcome.promise, NOTHING);
      } else {
        code = 'NOT_LEADER_OR_FOLLOWER';
        fake.pause(2);
        const outcome = watch(producer.submit(m));
        await waitFor('a request in flight to broker 2', () => fake.inflight.get(2) === 1);
        // trades[1] moves to broker 1; the producer reads it with the metadata after trades[0]'s
        // NOT_LEADER_OR_FOLLOWER, while broker 2 still has the request.
        fake.moveLeader('trades', 1, 1);
        fake.script('trades', 0, 6);
        const other = records('trades', 8, on1);
        assert.deepEqual(await producer.submit(other), NOTHING);
        expected.acked(other);
        await waitFor('broker 2 leads nothing', () => state(2).partitionsLed === 0);
        assert.deepEqual([state(2).inflight, state(2).partitionsLed], [1, 0]);
        assert.notEqual(state(2).state, 'idle', 'a request still in flight: not idle');
        assert.ok(!outcome.done);
        fake.resume(2);
        assert.deepEqual(await outcome.promise, NOTHING);
      }
      const b2 = state(2);
      assert.deepEqual([b2.state, b2.inflight, b2.partitionsLed, b2.lastError], ['idle', 0, 0, code], 'idle, its last error still shown');
      assert.ok(b2.failures > 0 && b2.lastAcknowledgedAt !== null);
      assert.deepEqual([state(1).state, state(1).partitionsLed], ['up', 2]);
      assert.equal(producer.wantsMore(), true);
      assert.ok(fake.sent('trades', 1).at(-1)!.broker === 1 && fake.sent('trades', 1).at(-1)!.answer === 0, "trades[1]'s records written by broker 1");
      assertResentAsIs(fake, 'trades', 1);
      assertLogs(fake, expected);
    });
  }
});

test("a partition's leader moves off a broker that hangs, its 5 batches in flight still there: it does not hold wantsMore() back either", async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]);
  const run = await producerFor(t, fake);
  const { producer } = run;
  const expected = new Expected(fake);
  const [on1, on2] = [keysOn(2, 0), keysOn(2, 1)];
  await confirm(run, fake, expected, 'trades', [0, 1]);
  fake.pause(2);
  const stuck = Array.from({ length: 7 }, () => records('trades', 4, on2));
  const outcomes = stuck.map((m) => watch(producer.submit(m)));
  for (const m of stuck) expected.acked(m);
  await waitFor('broker 2 slow', () => producer.brokers().find((b) => b.broker === 2)!.state === 'slow');
  // trades[1] moves to broker 1; the producer reads it with the metadata after trades[0]'s
  // NOT_LEADER_OR_FOLLOWER. Its 5 batches in flight to broker 2 keep it from sending to broker 1.
  fake.moveLeader('trades', 1, 1);
  fake.script('trades', 0, 6);
  const other = records('trades', 4, on1);
  assert.deepEqual(await producer.submit(other), NOTHING);
  expected.acked(other);
  await waitFor('broker 2 leads nothing', () => producer.brokers().find((b) => b.broker === 2)!.partitionsLed === 0);
  await waitFor('wantsMore() true while the old leader hangs', () => producer.wantsMore());
  assert.equal(fake.tpInflight.get('trades[1]'), 5);
  assert.ok(outcomes.every((o) => !o.done));
  for (let i = 0; i < 3; i++) {
    const m = records('trades', 4, on1);
    assert.deepEqual(await producer.submit(m), NOTHING);
    expected.acked(m);
    await waitFor(`wantsMore() true after submit ${i}`, () => producer.wantsMore());
  }
  fake.resume(2);
  for (const o of await Promise.all(outcomes.map((o) => o.promise))) assert.deepEqual(o, NOTHING);
  assert.deepEqual(
    fake.sent('trades', 1).map((r) => [r.broker, r.answer]),
    [[2, 0], ...Array.from({ length: 5 }, () => [2, 6]), ...Array.from({ length: 7 }, () => [1, 0])],
    'the first batch acknowledged; the old leader refuses the next 5; all 7 go to the new one, in order',
  );
  assert.equal(fake.producerIds, 1);
  assertResentAsIs(fake, 'trades', 1);
  assertLogs(fake, expected);
  assert.equal(producer.wantsMore(), true);
});
