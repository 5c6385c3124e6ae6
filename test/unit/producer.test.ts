// BatchProducer against a fake broker (test/helpers/fake-kafka.ts): every Kafka error code of the
// produce path leads to the action of its table (kafka-errors.ts), and whatever happens, the
// broker's logs end up holding every acknowledged record exactly once, in order per partition,
// byte for byte. Failures are retried inside the producer (a submit never rejects); the tests see
// them through onFailure. Delivery lanes (several submits, requests in flight, brokers down) are
// tested in producer-lanes.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, readRecordsBatch } from '@platformatic/kafka';
import { PRODUCE_ERRORS, ProduceActions, type ProduceAction } from '../../src/sink/kafka-errors.ts';
import type { SendRecord } from '../../src/sink/producer.ts';
import { partitionOf, type Compression } from '../../src/sink/record-batch.ts';
import { FakeKafka, HEADER_BYTES, tpOf } from '../helpers/fake-kafka.ts';
import { codesOf, Expected, assertLogs, indicesOf, interleave, NOTHING, producerFor, records, sortedIndices, SYMBOLS } from '../helpers/producer-run.ts';

// ---------------------------------------------------------------------------------------------
// 1. The table, code by code.

/**
 * trades (3 partitions, brokers 1..3) and quotes (2 partitions); the code is scripted once on
 * trades' partition of AAPL, whose leader answers last (the others have answered by then).
 */
async function tableCase(t: TestContext, code: number, name: string, action: ProduceAction): Promise<void> {
  const fake = new FakeKafka().topic('trades', [1, 2, 3]).topic('quotes', [2, 3]);
  const partition = partitionOf(Buffer.from('AAPL'), 3);
  const leader = fake.leaderOf('trades', partition);
  fake.delay(leader, 5);
  // A retry after a metadata refresh waits out its backoff, not the refresh (which takes a few
  // microtasks here): a backoff of 1 ms can be over at once when the clock ticks.
  const run = await producerFor(t, fake, action === ProduceActions.REFRESH ? { retryMinMs: 20 } : {});
  const producer = run.producer;
  const expected = new Expected(fake);
  const messages = interleave(records('trades', 48), records('quotes', 12));
  const target = indicesOf(fake, messages, 'trades', partition);
  const others = [...fake.leaders].flatMap(([topic, l]) => l.map((_, p) => [topic, p] as const)).filter(([topic, p]) => topic !== 'trades' || p !== partition);
  fake.script('trades', partition, code);

  switch (action) {
    case ProduceActions.OK: {
      assert.deepEqual(await producer.submit(messages), NOTHING);
      expected.acked(messages);
      assert.deepEqual(fake.sent('trades', partition).map((r) => r.answer), [code], 'one batch, answered the code');
      assert.deepEqual(run.failures, [], 'no failure reported');
      break;
    }
    case ProduceActions.RETRY:
    case ProduceActions.REFRESH:
    case ProduceActions.NEW_ID: {
      const metadataBefore = fake.metadataCalls;
      // A leader that moved is found only with fresh metadata (the old one would answer 6): it
      // moves as the failure is reported, before the producer retries.
      const moved = (leader % 3) + 1;
      if (action === ProduceActions.REFRESH) run.onFailure = () => fake.moveLeader('trades', partition, moved);
      assert.deepEqual(await producer.submit(messages), NOTHING, 'the submit completes: the producer retried by itself');
      expected.acked(messages);
      assert.deepEqual(run.failures.map((f) => [f.broker, f.codes]), [[leader, [name]]], 'the failure was reported once, with its code and broker');
      const [first, retry, ...more] = fake.sent('trades', partition);
      assert.ok(first !== undefined && retry !== undefined && more.length === 0, 'the failed batch was sent once more');
      for (const [topic, p] of others) assert.equal(fake.sent(topic, p).length, 1, `${tpOf(topic, p)} was acknowledged the first time: not resent`);
      if (action === ProduceActions.NEW_ID) {
        assert.equal(fake.producerIds, 2, 'a new producer id');
        assert.notEqual(retry.producerId, first.producerId);
        assert.equal(retry.baseSequence, 0, 'sequences start again under the new id');
        assert.ok(retry.bytes.subarray(HEADER_BYTES).equals(first.bytes.subarray(HEADER_BYTES)), 'the same records');
      } else {
        assert.equal(fake.producerIds, 1);
        assert.ok(retry.bytes.equals(first.bytes), 'the same bytes (producer id, sequence, CRC)');
      }
      if (action === ProduceActions.REFRESH) {
        assert.ok(fake.metadataCalls > metadataBefore, 'metadata read again');
        assert.equal(retry.broker, moved, 'sent to the new leader');
      }
      break;
    }
    case ProduceActions.SPLIT:
    case ProduceActions.REFUSE: {
      assert.deepEqual(await producer.submit(messages), NOTHING, 'a split needs no retry by the caller');
      expected.acked(messages);
      assert.deepEqual(run.failures, [], 'a split is not a failure');
      const n = target.length;
      const half = n >> 1;
      const sent = fake.sent('trades', partition);
      assert.deepEqual(
        sent.map((r) => [r.count, r.baseSequence, r.answer]),
        [[n, 0, code], [half, 0, 0], [n - half, half, 0]],
        'the batch, then its halves with their own sequences',
      );
      assert.ok(sent[1]!.call < sent[2]!.call, 'the halves go in successive requests');
      // A record the broker refuses in any batch: halves until it is alone, then refused.
      const second = interleave(records('trades', 48), records('quotes', 12));
      const bad = indicesOf(fake, second, 'trades', partition)[2]!;
      fake.poison.set(second[bad]!.value!.toString(), code);
      const outcome = await producer.submit(second);
      assert.deepEqual(outcome.refused.map((r) => [r.index, r.code]), [[bad, code]]);
      assert.match(outcome.refused[0]!.detail, new RegExp(name));
      assert.deepEqual(outcome.held, []);
      expected.acked(second, outcome);
      const alone = fake.sent('trades', partition).filter((r) => r.count === 1 && r.answer === code);
      assert.equal(alone.length, 1, 'the record was sent alone once, and refused');
      assert.equal(fake.producerIds, 1, 'halves sent together, the later ones answered out of order, need no new producer id');
      break;
    }
    case ProduceActions.HOLD: {
      const outcome = await producer.submit(messages);
      assert.deepEqual(outcome.refused, []);
      assert.deepEqual(outcome.held, target.map((index) => ({ index, code })), "the partition's records are held, with the code");
      assert.equal(producer.held.get('trades'), code);
      expected.acked(messages, outcome);
      // The caller keeps them and probes; the code was answered once, so the probe delivers them.
      const waiting = outcome.held.map((h) => messages[h.index]!);
      assert.deepEqual(await producer.submit(waiting, undefined, true), NOTHING);
      expected.acked(waiting);
      producer.release('trades');
      break;
    }
    default:
      assert.fail(`no case for action ${String(action)}`);
  }
  // Whatever happened, the next submit continues every partition's sequence.
  const next = interleave(records('trades', 24), records('quotes', 6));
  assert.deepEqual(await producer.submit(next), NOTHING);
  expected.acked(next);
  assertLogs(fake, expected);
  assert.equal(producer.inflight, 0);
}

test('each code of the produce error table leads to its action, and the logs stay exact', async (t) => {
  const cases = [...PRODUCE_ERRORS].map(([code, [name, action]]) => ({ code, name, action }));
  // A code the table does not know is retried as it is.
  cases.push({ code: 9999, name: 'KAFKA_ERROR_9999', action: ProduceActions.RETRY });
  for (const c of cases) await t.test(`${c.code} ${c.name}: ${c.action}`, (st) => tableCase(st, c.code, c.name, c.action));
});

// ---------------------------------------------------------------------------------------------
// 2.–6.

test('a record over the topic limit is refused alone, the others go in order, and the sequence has no gap', async (t) => {
  const variants = [
    { name: 'its value is over the limit: refused before it is encoded', bytes: 1500, hideLimits: false, brokerSees: false },
    { name: 'its value fits, its batch does not: refused when encoded alone', bytes: 960, hideLimits: false, brokerSees: false },
    { name: 'the limit is unknown: the broker answers MESSAGE_TOO_LARGE, halves down to the record', bytes: 1500, hideLimits: true, brokerSees: true },
  ];
  for (const v of variants) {
    await t.test(v.name, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2], 1000);
      fake.hideLimits = v.hideLimits;
      const { producer } = await producerFor(st, fake);
      const expected = new Expected(fake);
      const messages = records('trades', 12, ['AAPL']);
      const big = 7;
      messages[big] = { topic: 'trades', key: Buffer.from('AAPL'), value: Buffer.alloc(v.bytes, 0x41) };
      const outcome = await producer.submit(messages);
      assert.deepEqual(outcome.refused.map((r) => [r.index, r.code]), [[big, 10]]);
      assert.deepEqual(outcome.held, []);
      expected.acked(messages, outcome);
      assert.equal(fake.oversized > 0, v.brokerSees, v.brokerSees ? 'the broker saw batches over its limit' : 'nothing over the limit was sent');
      // The next batch on the same partition is accepted by the broker's sequence check.
      const next = records('trades', 5, ['AAPL']);
      assert.deepEqual(await producer.submit(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
      assert.equal(fake.logs.get(tpOf('trades', partitionOf(Buffer.from('AAPL'), 2)))!.length, 16);
    });
  }
});

test('a batch over the topic limit is split before it is sent (compression none)', async (t) => {
  const limit = 2000;
  const fake = new FakeKafka().topic('trades', [1], limit);
  const { producer } = await producerFor(t, fake);
  const expected = new Expected(fake);
  const messages = records('trades', 60, SYMBOLS, 100);
  assert.deepEqual(await producer.submit(messages), NOTHING);
  expected.acked(messages);
  const sent = fake.sent('trades', 0);
  assert.equal(fake.oversized, 0, 'the broker never saw a batch over the limit');
  assert.ok(sent.length > 5 && sent.every((r) => r.bytes.length <= limit && r.answer === 0), 'several batches (more than 5), each within the limit');
  let next = 0;
  for (const r of sent) {
    assert.equal(r.baseSequence, next, 'sequences follow on from batch to batch');
    next += r.count;
  }
  assert.equal(next, 60);
  assert.equal(new Set(sent.map((r) => r.call)).size, sent.length, 'one batch of the partition per request');
  assert.equal(fake.tpMaxInflight.get('trades[0]'), 5, 'up to 5 batches of the partition in flight, no more');
  assertLogs(fake, expected);
});

test('a topic Kafka refuses is held, diverted, probed, then released, with valid sequences throughout', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]).topic('secret', [1, 2]);
  const { producer } = await producerFor(t, fake);
  const expected = new Expected(fake);
  const secretOf = (messages: readonly SendRecord[]) => messages.flatMap((m, i) => (m.topic === 'secret' ? [i] : []));
  fake.failing.set('secret', 29);

  const first = interleave(records('trades', 10), records('secret', 10));
  const o1 = await producer.submit(first);
  assert.deepEqual(o1.refused, []);
  assert.deepEqual(sortedIndices(o1.held), secretOf(first));
  assert.ok(o1.held.every((h) => h.code === 29));
  assert.equal(producer.held.get('secret'), 29);
  expected.acked(first, o1);
  const waiting = secretOf(first).map((i) => first[i]!);

  // A normal submit diverts the held topic: not one of its batches reaches the broker.
  const secretBatches = fake.batchesOf('secret');
  const second = interleave(records('trades', 6), records('secret', 6));
  const o2 = await producer.submit(second);
  assert.deepEqual(o2.held, secretOf(second).map((index) => ({ index, code: 29 })));
  assert.equal(fake.batchesOf('secret'), secretBatches, 'no produce call for the held topic');
  expected.acked(second, o2);
  waiting.push(...secretOf(second).map((i) => second[i]!));

  // A probe while the topic still fails: sent, refused, held again.
  const o3 = await producer.submit([...waiting], undefined, true);
  assert.ok(fake.batchesOf('secret') > secretBatches, 'the probe was sent');
  assert.deepEqual(sortedIndices(o3.held), waiting.map((_, i) => i));
  assert.deepEqual(o3.refused, []);

  // Kafka takes the topic again: the probe delivers, the caller releases it, it flows as usual.
  fake.failing.delete('secret');
  assert.deepEqual(await producer.submit([...waiting], undefined, true), NOTHING);
  expected.acked(waiting);
  producer.release('secret');
  assert.equal(producer.held.has('secret'), false);
  const third = interleave(records('trades', 6), records('secret', 6));
  assert.deepEqual(await producer.submit(third), NOTHING);
  expected.acked(third);
  assertLogs(fake, expected);
});

test('a network failure on one broker: only its batches are resent, and nothing is written twice', async (t) => {
  for (const fault of ['request', 'response'] as const) {
    await t.test(`the ${fault} is lost (lz4)`, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2, 1, 2]).topic('quotes', [2, 1]);
      const run = await producerFor(st, fake, { compression: 'lz4' });
      const expected = new Expected(fake);
      fake.failNetwork(2, fault);
      const messages = interleave(records('trades', 40), records('quotes', 12));
      assert.deepEqual(await run.producer.submit(messages), NOTHING);
      expected.acked(messages);
      assert.deepEqual(run.failures.map((f) => [f.broker, f.codes]), [[2, ['NETWORK']]], 'the lost request was reported once, for broker 2');
      for (const [topic, leaders] of fake.leaders) {
        leaders.forEach((broker, p) => {
          const sent = fake.sent(topic, p);
          if (broker === 1) return assert.deepEqual(sent.map((r) => r.answer), [0], `${tpOf(topic, p)} on broker 1: sent once`);
          // The request lost: nothing written, the retry is. The response lost: written, the retry is a duplicate.
          assert.deepEqual(sent.map((r) => r.answer), fault === 'request' ? [null, 0] : [0, 46], `${tpOf(topic, p)} on broker 2`);
          assert.ok(sent[1]!.bytes.equals(sent[0]!.bytes), 'resent byte for byte');
        });
      }
      const next = interleave(records('trades', 8), records('quotes', 4));
      assert.deepEqual(await run.producer.submit(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
    });
  }
});

test('a topic missing from the metadata is held, the others are delivered', async (t) => {
  await t.test('missing when first seen', async (st) => {
    const fake = new FakeKafka().topic('trades', [1, 2]).topic('gone', [1, 2]);
    fake.missing.set('gone', 3);
    const { producer } = await producerFor(st, fake, { topics: ['trades'] });
    const expected = new Expected(fake);
    const messages = interleave(records('trades', 10), records('gone', 6));
    const outcome = await producer.submit(messages);
    assert.deepEqual(outcome.refused, []);
    assert.deepEqual(outcome.held, messages.flatMap((m, index) => (m.topic === 'gone' ? [{ index, code: 3 }] : [])));
    assert.equal(producer.held.get('gone'), 3);
    assert.equal(fake.batchesOf('gone'), 0);
    expected.acked(messages, outcome);
    assertLogs(fake, expected);
  });
  await t.test('gone between a failed attempt and its retry', async (st) => {
    const fake = new FakeKafka().topic('trades', [1, 2]).topic('gone', [2]);
    const run = await producerFor(st, fake);
    const expected = new Expected(fake);
    fake.script('gone', 0, 3);
    // The topic is deleted as the broker's UNKNOWN_TOPIC_OR_PARTITION is reported: the metadata read that follows finds it missing.
    run.onFailure = () => fake.missing.set('gone', 3);
    const messages = interleave(records('trades', 10), records('gone', 6));
    const outcome = await run.producer.submit(messages);
    assert.ok(codesOf(run).has('UNKNOWN_TOPIC_OR_PARTITION'), 'the failure was reported');
    assert.deepEqual(outcome.held, messages.flatMap((m, index) => (m.topic === 'gone' ? [{ index, code: 3 }] : [])));
    assert.equal(run.producer.held.get('gone'), 3);
    assert.equal(fake.batchesOf('gone'), 1, 'not sent again');
    expected.acked(messages, outcome);
    assertLogs(fake, expected);
  });
});

// ---------------------------------------------------------------------------------------------
// A hold must not take back what Kafka has written.

test('a hold leaves alone the batches of the same topic that Kafka acknowledges', async (t) => {
  // trades[p] (AAPL's partition, first in the request) answers TOPIC_AUTHORIZATION_FAILED once;
  // trades[q] is written: in the same response, or by another broker answering later.
  for (const where of ['in the same response', 'at another broker, answering later'] as const) {
    await t.test(where, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 1]);
      const p = partitionOf(Buffer.from('AAPL'), 2);
      if (where !== 'in the same response') {
        fake.moveLeader('trades', 1 - p, 2);
        fake.delay(2, 10);
      }
      const { producer } = await producerFor(st, fake);
      const expected = new Expected(fake);
      fake.script('trades', p, 29);
      const messages = records('trades', 16);
      const outcome = await producer.submit(messages);
      assert.deepEqual(outcome.held, indicesOf(fake, messages, 'trades', p).map((index) => ({ index, code: 29 })), "only the refused partition's records are held");
      expected.acked(messages, outcome);
      const waiting = outcome.held.map((h) => messages[h.index]!);
      assert.deepEqual(await producer.submit(waiting, undefined, true), NOTHING);
      expected.acked(waiting);
      producer.release('trades');
      const next = records('trades', 16);
      assert.deepEqual(await producer.submit(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Record timestamps: each record's own, through splits and retries.

/** Each record's timestamp in the batches a partition received (firstTimestamp + delta), by value. */
function timestampsSent(fake: FakeKafka, topic: string, partitions: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let p = 0; p < partitions; p++) {
    for (const r of fake.sent(topic, p)) {
      const read = readRecordsBatch(Reader.from(r.bytes));
      for (const rec of read.records) out.set(rec.value!.toString(), Number(read.firstTimestamp + rec.timestampDelta));
    }
  }
  return out;
}

test('each record carries the timestamp given for it, also after a split, a MESSAGE_TOO_LARGE and a retry; -1 is the time it is sent', async (t) => {
  for (const compression of ['none', 'lz4'] as Compression[]) {
    await t.test(compression, async (st) => {
      // A limit that takes about 8 of these records: batches are split before sending, and a
      // scripted MESSAGE_TOO_LARGE splits one again after.
      const fake = new FakeKafka().topic('trades', [1, 2], 1100);
      const run = await producerFor(st, fake, { topics: ['trades'], compression });
      const expected = new Expected(fake);
      const messages = records('trades', 40, SYMBOLS, 60);
      const base = 1_790_000_000_000;
      // Out of order within each partition, some far apart, one without a timestamp of its own.
      const timestamps = new Float64Array(messages.map((_, i) => (i === 7 ? -1 : base + ((i * 7919) % 40) * 1000 + (i % 3 === 0 ? 86_400_000 : 0))));
      fake.script('trades', 0, 10);
      fake.failNetwork(2, 'request');
      const before = Date.now();
      assert.deepEqual(await run.producer.submit(messages, timestamps), NOTHING);
      const after = Date.now();
      assert.ok(codesOf(run).has('NETWORK'), 'the lost request was reported');
      expected.acked(messages);
      assertLogs(fake, expected);
      assert.ok(fake.oversized > 0 || fake.sent('trades', 0).some((r) => r.answer === 10), 'a batch was split after the broker refused it');
      const sent = timestampsSent(fake, 'trades', 2);
      messages.forEach((m, i) => {
        const ts = sent.get(m.value!.toString());
        if (i === 7) assert.ok(ts !== undefined && ts >= before && ts <= after, `record ${i}: the send time, got ${ts}`);
        else assert.equal(ts, timestamps[i], `record ${i}`);
      });
      // Each batch's header: the smallest and the largest of its records.
      for (let p = 0; p < 2; p++) {
        for (const r of fake.sent('trades', p)) {
          const read = readRecordsBatch(Reader.from(r.bytes));
          const each = read.records.map((rec) => read.firstTimestamp + rec.timestampDelta);
          assert.equal(read.firstTimestamp, each.reduce((a, b) => (b < a ? b : a)));
          assert.equal(read.maxTimestamp, each.reduce((a, b) => (b > a ? b : a)));
        }
      }
    });
  }
});
