// BatchProducer against a fake broker: every Kafka error code of the produce path leads to the
// action of its table (kafka-errors.ts), and whatever happens, the broker's logs end up holding
// every acknowledged record exactly once, in order per partition, byte for byte.
//
// The fake (FakeKafka) implements ProducerClient. It decodes every record batch it receives
// (lengths, magic, CRC32C, each record) and checks sequences as Kafka's idempotence does, per
// producer id and partition: the next expected sequence is written to the partition's log, a batch
// it already wrote is answered DUPLICATE_SEQUENCE_NUMBER (46), a gap OUT_OF_ORDER_SEQUENCE_NUMBER
// (45); a batch over the topic's max.message.bytes is answered MESSAGE_TOO_LARGE (10), a batch sent
// to a broker that does not lead the partition NOT_LEADER_OR_FOLLOWER (6). Faults are scripted per
// partition (one code per batch received), per topic, per record value, or per broker (a lost
// request or a lost response). Anything a real broker would reject that no test scripted (a bad
// batch, a sequence gap, a sequence reused for other bytes, two batches of one partition in one
// request) is a violation, and every test ends by asserting there were none.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { crc32c, Reader, readRecordsBatch } from '@platformatic/kafka';
import pino from 'pino';
import { PRODUCE_ERRORS, ProduceActions, type ProduceAction } from '../../src/sink/kafka-errors.ts';
import type { PartitionResponse, ProduceResponse, ProducerClient, TopicsMetadata } from '../../src/sink/kafka-client.ts';
import { BatchProducer, ProduceError, type SendOutcome, type SendRecord } from '../../src/sink/producer.ts';
import { partitionOf, type Compression, type PartitionBatch } from '../../src/sink/record-batch.ts';

// ---------------------------------------------------------------------------------------------
// Reading record batches (v2) as a broker does.

const HEADER_BYTES = 61;

interface StoredRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[Buffer, Buffer | null]>;
}

interface DecodedBatch {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  records: StoredRecord[];
}

/** A zigzag varint (Kafka's varint and varlong), and where the next field starts. */
function readVarint(buf: Buffer, at: number): [number, number] {
  let raw = 0;
  for (let shift = 0; ; shift += 7) {
    const b = buf[at++];
    if (b === undefined) throw new Error('a varint runs past the end of the batch');
    raw += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  return [raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2, at];
}

/** Varint length then bytes; length -1 is null. */
function readField(buf: Buffer, at: number): [Buffer | null, number] {
  const [length, start] = readVarint(buf, at);
  if (length < 0) return [null, start];
  if (start + length > buf.length) throw new Error('a field runs past the end of the batch');
  return [Buffer.from(buf.subarray(start, start + length)), start + length];
}

/** The records of an uncompressed batch: length, attributes, timestamp delta, offset delta, key, value, headers. */
function readPlainRecords(bytes: Buffer, count: number): StoredRecord[] {
  const records: StoredRecord[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const [size, start] = readVarint(bytes, at);
    let offsetDelta: number;
    [, at] = readVarint(bytes, start + 1); // attributes (one byte), then the timestamp delta
    [offsetDelta, at] = readVarint(bytes, at);
    if (offsetDelta !== i) throw new Error(`record ${i} has offset delta ${offsetDelta}`);
    const [key, afterKey] = readField(bytes, at);
    const [value, afterValue] = readField(bytes, afterKey);
    let headerCount: number;
    [headerCount, at] = readVarint(bytes, afterValue);
    const headers: Array<[Buffer, Buffer | null]> = [];
    for (let h = 0; h < headerCount; h++) {
      const [hk, afterHk] = readField(bytes, at);
      const [hv, afterHv] = readField(bytes, afterHk);
      if (hk === null) throw new Error(`record ${i}: a null header key`);
      headers.push([hk, hv]);
      at = afterHv;
    }
    if (at - start !== size) throw new Error(`record ${i} says ${size} bytes but takes ${at - start}`);
    records.push({ key, value, headers });
  }
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes after the last record`);
  return records;
}

/** Reads a record batch as Kafka checks it, or throws saying what is wrong. */
function decodeBatch(bytes: Buffer): DecodedBatch {
  if (bytes.length < HEADER_BYTES) throw new Error(`${bytes.length} bytes: shorter than a batch header`);
  if (bytes.readBigInt64BE(0) !== 0n) throw new Error('a producer sends base offset 0');
  if (bytes.readInt32BE(8) !== bytes.length - 12) throw new Error(`batchLength ${bytes.readInt32BE(8)} for ${bytes.length} bytes`);
  if (bytes[16] !== 2) throw new Error(`magic ${bytes[16]}`);
  if (bytes.readUInt32BE(17) !== crc32c(bytes.subarray(21))) throw new Error('CRC32C mismatch');
  const count = bytes.readInt32BE(57);
  if (bytes.readInt32BE(23) !== count - 1) throw new Error(`last offset delta ${bytes.readInt32BE(23)} for ${count} records`);
  const records =
    (bytes.readInt16BE(21) & 7) === 0
      ? readPlainRecords(bytes, count)
      : readRecordsBatch(Reader.from(bytes)).records.map((r) => ({ key: r.key ?? null, value: r.value ?? null, headers: r.headers.map(([hk, hv]) => [hk!, hv ?? null] as [Buffer, Buffer | null]) }));
  if (records.length !== count) throw new Error(`${records.length} records, the header says ${count}`);
  return { producerId: bytes.readBigInt64BE(43), producerEpoch: bytes.readInt16BE(51), baseSequence: bytes.readInt32BE(53), records };
}

// ---------------------------------------------------------------------------------------------
// The fake broker.

const tpOf = (topic: string, partition: number) => `${topic}[${partition}]`;

/** One batch as a broker received it (a copy: the producer may restamp its own buffer later). */
interface Received {
  /** Which produce() call brought it (0, 1, ...). */
  call: number;
  broker: number;
  bytes: Buffer;
  producerId: bigint;
  baseSequence: number;
  count: number;
  /** The code answered; null when the request was lost before the broker read it. */
  answer: number | null;
}

type NetworkFault = 'request' | 'response';

class FakeKafka implements ProducerClient {
  /** Leader broker of each partition, per topic. */
  readonly leaders = new Map<string, number[]>();
  readonly limits = new Map<string, number>();
  /** Topics the metadata reports missing, with Kafka's code. */
  readonly missing = new Map<string, number>();
  /** Topics whose every batch is answered with a code (until deleted from here). */
  readonly failing = new Map<string, number>();
  /** Record values (utf8) whose batches are always answered with a code. */
  readonly poison = new Map<string, number>();
  /** max.message.bytes cannot be read (the producer then assumes Kafka's default). */
  hideLimits = false;
  readonly logs = new Map<string, StoredRecord[]>();
  readonly received = new Map<string, Received[]>();
  readonly violations: string[] = [];
  calls = 0;
  metadataCalls = 0;
  producerIds = 0;
  oversized = 0;
  #script = new Map<string, number[]>();
  #network = new Map<number, NetworkFault[]>();
  #delays = new Map<number, number>();
  #sequences = new Map<string, { next: number; written: Map<number, Buffer> }>();

  topic(name: string, leaders: number[], maxMessageBytes = 1_048_588): this {
    this.leaders.set(name, leaders);
    this.limits.set(name, maxMessageBytes);
    return this;
  }

  /** The next batches received for a partition are answered these codes, one each (0: as usual; 46: written, then answered 46). */
  script(topic: string, partition: number, ...codes: number[]): void {
    this.#script.set(tpOf(topic, partition), codes);
  }

  /** The next produce() calls to a broker lose their request (nothing written) or their response (written). */
  failNetwork(broker: number, ...faults: NetworkFault[]): void {
    this.#network.set(broker, faults);
  }

  /** A broker answers after `ms` (others after one tick), to order responses across brokers. */
  delay(broker: number, ms: number): void {
    this.#delays.set(broker, ms);
  }

  leaderOf(topic: string, partition: number): number {
    return this.leaders.get(topic)![partition]!;
  }

  moveLeader(topic: string, partition: number, broker: number): void {
    this.leaders.get(topic)![partition] = broker;
  }

  sent(topic: string, partition: number): Received[] {
    return this.received.get(tpOf(topic, partition)) ?? [];
  }

  /** Batches of a topic received so far, all partitions. */
  batchesOf(topic: string): number {
    let n = 0;
    for (const [tp, list] of this.received) if (tp.startsWith(`${topic}[`)) n += list.length;
    return n;
  }

  produceVersion(): Promise<number> {
    return Promise.resolve(11);
  }

  metadata(topics: string[]): Promise<TopicsMetadata> {
    this.metadataCalls++;
    const md: TopicsMetadata = { leaders: new Map(), missing: new Map() };
    for (const t of topics) {
      const leaders = this.leaders.get(t);
      const code = this.missing.get(t);
      if (code !== undefined || leaders === undefined) md.missing.set(t, code ?? 3);
      else md.leaders.set(t, [...leaders]);
    }
    return Promise.resolve(md);
  }

  initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }> {
    return Promise.resolve({ producerId: 1000n + BigInt(this.producerIds++), producerEpoch: 0 });
  }

  maxMessageBytes(topics: string[]): Promise<Map<string, number>> {
    if (this.hideLimits) return Promise.reject(new Error('DescribeConfigs is not authorised'));
    return Promise.resolve(new Map(topics.flatMap((t) => (this.limits.has(t) ? [[t, this.limits.get(t)!] as const] : []))));
  }

  async produce(broker: number, _version: number, batches: readonly PartitionBatch[]): Promise<ProduceResponse> {
    const call = this.calls++;
    const arrived = batches.map((b) => ({ topic: b.topic, partition: b.partition, bytes: Buffer.from(b.batch) }));
    const ms = this.#delays.get(broker) ?? 0;
    await (ms > 0 ? sleep(ms) : tick());
    const fault = this.#network.get(broker)?.shift();
    const seen = new Set<string>();
    const responses = new Map<string, PartitionResponse[]>();
    for (const b of arrived) {
      const tp = tpOf(b.topic, b.partition);
      if (seen.has(tp)) this.violations.push(`call ${call}: two batches for ${tp} in one request`);
      seen.add(tp);
      const errorCode = this.#receive(call, broker, b.topic, b.partition, b.bytes, fault === 'request');
      let list = responses.get(b.topic);
      if (list === undefined) responses.set(b.topic, (list = []));
      list.push({ index: b.partition, errorCode });
    }
    if (fault !== undefined) throw new Error(`broker ${broker}: connection reset (${fault} lost)`);
    return { responses: [...responses].map(([name, partitionResponses]) => ({ name, partitionResponses })) };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #receive(call: number, broker: number, topic: string, partition: number, bytes: Buffer, lost: boolean): number {
    const tp = tpOf(topic, partition);
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(bytes);
    } catch (err) {
      this.violations.push(`${tp}: ${(err as Error).message}`);
      return 2; // CORRUPT_MESSAGE
    }
    const r: Received = { call, broker, bytes, producerId: batch.producerId, baseSequence: batch.baseSequence, count: batch.records.length, answer: null };
    const list = this.received.get(tp);
    if (list === undefined) this.received.set(tp, [r]);
    else list.push(r);
    if (!lost) r.answer = this.#answer(broker, topic, partition, bytes, batch);
    return r.answer ?? -1;
  }

  #answer(broker: number, topic: string, partition: number, bytes: Buffer, batch: DecodedBatch): number {
    const tp = tpOf(topic, partition);
    const leaders = this.leaders.get(topic);
    if (leaders === undefined || this.missing.has(topic) || partition >= leaders.length) return 3; // UNKNOWN_TOPIC_OR_PARTITION
    if (leaders[partition] !== broker) return 6; // NOT_LEADER_OR_FOLLOWER
    if (bytes.length > this.limits.get(topic)!) {
      this.oversized++;
      return 10; // MESSAGE_TOO_LARGE
    }
    const scripted = this.#script.get(tp)?.shift() ?? 0;
    if (scripted !== 0 && scripted !== 46) return scripted;
    const failing = this.failing.get(topic);
    if (failing !== undefined) return failing;
    for (const rec of batch.records) {
      const code = this.poison.get(rec.value?.toString() ?? '');
      if (code !== undefined) return code;
    }
    // Idempotence, per producer id and partition.
    const key = `${batch.producerId}/${tp}`;
    let seq = this.#sequences.get(key);
    if (seq === undefined) this.#sequences.set(key, (seq = { next: 0, written: new Map() }));
    if (batch.baseSequence === seq.next) {
      seq.written.set(batch.baseSequence, bytes);
      seq.next += batch.records.length;
      let log = this.logs.get(tp);
      if (log === undefined) this.logs.set(tp, (log = []));
      log.push(...batch.records);
      return scripted; // 0, or a scripted 46: what a broker answers for a batch it holds already
    }
    const before = seq.written.get(batch.baseSequence);
    if (before !== undefined) {
      if (!before.equals(bytes)) this.violations.push(`${tp}: producer ${batch.producerId} reused sequence ${batch.baseSequence} for other bytes`);
      return 46; // DUPLICATE_SEQUENCE_NUMBER
    }
    this.violations.push(`${tp}: producer ${batch.producerId} sent sequence ${batch.baseSequence}, the broker expects ${seq.next}`);
    return 45; // OUT_OF_ORDER_SEQUENCE_NUMBER
  }
}

// ---------------------------------------------------------------------------------------------
// Records, the producer, and what the logs must hold.

const SYMBOLS = ['AAPL', 'MSFT', 'TSLA', 'NVDA', 'AMZN', 'META', 'GOOG', 'NFLX'];
let serial = 0;

/** n records of a topic, keys cycling over `keys`, each value unique; some with headers (one binary). */
function records(topic: string, n: number, keys = SYMBOLS, pad = 0): SendRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const sym = keys[i % keys.length]!;
    const value = Buffer.from(`{"ev":"T","sym":"${sym}","n":${serial++}${pad > 0 ? `,"pad":"${'x'.repeat(pad)}"` : ''}}`);
    const headers: Array<[Buffer, Buffer]> | undefined = i % 5 === 2 ? [[Buffer.from('ws2kafka.conn'), Buffer.from([0, 0xff, 0x80, i & 0xff])]] : undefined;
    return { topic, key: Buffer.from(sym), value, headers };
  });
}

/** The lists merged one record of each at a time (topics interleaved, as a feed sends them). */
function interleave(...lists: SendRecord[][]): SendRecord[] {
  const out: SendRecord[] = [];
  const longest = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}

/** Indices of the messages that go to a topic's partition. */
function indicesOf(fake: FakeKafka, messages: readonly SendRecord[], topic: string, partition: number): number[] {
  const n = fake.leaders.get(topic)!.length;
  return messages.flatMap((m, i) => (m.topic === topic && partitionOf(m.key!, n) === partition ? [i] : []));
}

const NOTHING: SendOutcome = { refused: [], held: [] };

async function producerFor(t: TestContext, fake: FakeKafka, topics = [...fake.leaders.keys()], compression: Compression = 'none'): Promise<BatchProducer> {
  const producer = new BatchProducer({ brokers: [], compression, log: pino({ level: 'silent' }), client: fake });
  t.after(() => producer.close());
  await producer.prepare(topics);
  return producer;
}

/** What the fake's logs must hold: the records acknowledged so far, per partition, in order. */
class Expected {
  readonly byTp = new Map<string, SendRecord[]>();
  #fake: FakeKafka;

  constructor(fake: FakeKafka) {
    this.#fake = fake;
  }

  /** The messages the outcome does not name (refused or held) were acknowledged. */
  acked(messages: readonly SendRecord[], outcome: SendOutcome = NOTHING): void {
    const skip = new Set([...outcome.refused, ...outcome.held].map((x) => x.index));
    messages.forEach((m, i) => {
      if (skip.has(i)) return;
      const tp = tpOf(m.topic, partitionOf(m.key!, this.#fake.leaders.get(m.topic)!.length));
      const list = this.byTp.get(tp);
      if (list === undefined) this.byTp.set(tp, [m]);
      else list.push(m);
    });
  }
}

const stored = (r: StoredRecord) => ({ key: r.key, value: r.value, headers: r.headers });
const sentAs = (m: SendRecord) => ({ key: m.key ?? null, value: m.value ?? null, headers: m.headers === undefined ? [] : [...m.headers] });

/** No violation, and each partition's log is exactly the acknowledged records, in order, byte for byte. */
function assertLogs(fake: FakeKafka, expected: Expected): void {
  assert.deepEqual(fake.violations, [], 'the broker saw no malformed batch, no sequence gap, no sequence reused for other bytes');
  for (const tp of new Set([...fake.logs.keys(), ...expected.byTp.keys()])) {
    assert.deepEqual((fake.logs.get(tp) ?? []).map(stored), (expected.byTp.get(tp) ?? []).map(sentAs), `${tp}: every acknowledged record once, in order, byte for byte`);
  }
}

const produceError = (name: string) => (err: unknown) => {
  assert.ok(err instanceof ProduceError, `a ProduceError, not ${String(err)}`);
  assert.ok(err.codes.includes(name), `codes ${err.codes.join(',')} include ${name}`);
  return true;
};

const sortedIndices = (list: Array<{ index: number }>) => list.map((x) => x.index).sort((a, b) => a - b);

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
  const producer = await producerFor(t, fake);
  const expected = new Expected(fake);
  const messages = interleave(records('trades', 48), records('quotes', 12));
  const target = indicesOf(fake, messages, 'trades', partition);
  const others = [...fake.leaders].flatMap(([topic, l]) => l.map((_, p) => [topic, p] as const)).filter(([topic, p]) => topic !== 'trades' || p !== partition);
  fake.script('trades', partition, code);

  switch (action) {
    case ProduceActions.OK: {
      assert.deepEqual(await producer.send(messages), NOTHING);
      expected.acked(messages);
      assert.deepEqual(fake.sent('trades', partition).map((r) => r.answer), [code], 'one batch, answered the code');
      break;
    }
    case ProduceActions.RETRY:
    case ProduceActions.REFRESH:
    case ProduceActions.NEW_ID: {
      const metadataBefore = fake.metadataCalls;
      await assert.rejects(producer.send(messages), produceError(name));
      // A leader that moved is found only with fresh metadata (the old one would answer 6).
      const moved = (leader % 3) + 1;
      if (action === ProduceActions.REFRESH) fake.moveLeader('trades', partition, moved);
      assert.deepEqual(await producer.send(messages), NOTHING, 'the same array again completes');
      expected.acked(messages);
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
      assert.deepEqual(await producer.send(messages), NOTHING, 'a split needs no retry by the caller');
      expected.acked(messages);
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
      const outcome = await producer.send(second);
      assert.deepEqual(outcome.refused.map((r) => [r.index, r.code]), [[bad, code]]);
      assert.match(outcome.refused[0]!.detail, new RegExp(name));
      assert.deepEqual(outcome.held, []);
      expected.acked(second, outcome);
      const alone = fake.sent('trades', partition).filter((r) => r.count === 1 && r.answer === code);
      assert.equal(alone.length, 1, 'the record was sent alone once, and refused');
      break;
    }
    case ProduceActions.HOLD: {
      const outcome = await producer.send(messages);
      assert.deepEqual(outcome.refused, []);
      assert.deepEqual(outcome.held, target.map((index) => ({ index, code })), "the partition's records are held, with the code");
      assert.equal(producer.held.get('trades'), code);
      expected.acked(messages, outcome);
      // The caller keeps them and probes; the code was answered once, so the probe delivers them.
      const waiting = outcome.held.map((h) => messages[h.index]!);
      assert.deepEqual(await producer.send(waiting, true), NOTHING);
      expected.acked(waiting);
      producer.release('trades');
      break;
    }
    default:
      assert.fail(`no case for action ${String(action)}`);
  }
  // Whatever happened, the next send continues every partition's sequence.
  const next = interleave(records('trades', 24), records('quotes', 6));
  assert.deepEqual(await producer.send(next), NOTHING);
  expected.acked(next);
  assertLogs(fake, expected);
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
      const producer = await producerFor(st, fake);
      const expected = new Expected(fake);
      const messages = records('trades', 12, ['AAPL']);
      const big = 7;
      messages[big] = { topic: 'trades', key: Buffer.from('AAPL'), value: Buffer.alloc(v.bytes, 0x41) };
      const outcome = await producer.send(messages);
      assert.deepEqual(outcome.refused.map((r) => [r.index, r.code]), [[big, 10]]);
      assert.deepEqual(outcome.held, []);
      expected.acked(messages, outcome);
      assert.equal(fake.oversized > 0, v.brokerSees, v.brokerSees ? 'the broker saw batches over its limit' : 'nothing over the limit was sent');
      // The next batch on the same partition is accepted by the broker's sequence check.
      const next = records('trades', 5, ['AAPL']);
      assert.deepEqual(await producer.send(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
      assert.equal(fake.logs.get(tpOf('trades', partitionOf(Buffer.from('AAPL'), 2)))!.length, 16);
    });
  }
});

test('a batch over the topic limit is split before it is sent (compression none)', async (t) => {
  const limit = 2000;
  const fake = new FakeKafka().topic('trades', [1], limit);
  const producer = await producerFor(t, fake);
  const expected = new Expected(fake);
  const messages = records('trades', 60, SYMBOLS, 100);
  assert.deepEqual(await producer.send(messages), NOTHING);
  expected.acked(messages);
  const sent = fake.sent('trades', 0);
  assert.equal(fake.oversized, 0, 'the broker never saw a batch over the limit');
  assert.ok(sent.length > 1 && sent.every((r) => r.bytes.length <= limit && r.answer === 0), 'several batches, each within the limit');
  let next = 0;
  for (const r of sent) {
    assert.equal(r.baseSequence, next, 'sequences follow on from batch to batch');
    next += r.count;
  }
  assert.equal(next, 60);
  assert.equal(new Set(sent.map((r) => r.call)).size, sent.length, 'one batch of the partition per request');
  assertLogs(fake, expected);
});

test('a topic Kafka refuses is held, diverted, probed, then released, with valid sequences throughout', async (t) => {
  const fake = new FakeKafka().topic('trades', [1, 2]).topic('secret', [1, 2]);
  const producer = await producerFor(t, fake);
  const expected = new Expected(fake);
  const secretOf = (messages: readonly SendRecord[]) => messages.flatMap((m, i) => (m.topic === 'secret' ? [i] : []));
  fake.failing.set('secret', 29);

  const first = interleave(records('trades', 10), records('secret', 10));
  const o1 = await producer.send(first);
  assert.deepEqual(o1.refused, []);
  assert.deepEqual(sortedIndices(o1.held), secretOf(first));
  assert.ok(o1.held.every((h) => h.code === 29));
  assert.equal(producer.held.get('secret'), 29);
  expected.acked(first, o1);
  const waiting = secretOf(first).map((i) => first[i]!);

  // A normal send diverts the held topic: not one of its batches reaches the broker.
  const secretBatches = fake.batchesOf('secret');
  const second = interleave(records('trades', 6), records('secret', 6));
  const o2 = await producer.send(second);
  assert.deepEqual(o2.held, secretOf(second).map((index) => ({ index, code: 29 })));
  assert.equal(fake.batchesOf('secret'), secretBatches, 'no produce call for the held topic');
  expected.acked(second, o2);
  waiting.push(...secretOf(second).map((i) => second[i]!));

  // A probe while the topic still fails: sent, refused, held again.
  const o3 = await producer.send([...waiting], true);
  assert.ok(fake.batchesOf('secret') > secretBatches, 'the probe was sent');
  assert.deepEqual(sortedIndices(o3.held), waiting.map((_, i) => i));
  assert.deepEqual(o3.refused, []);

  // Kafka takes the topic again: the probe delivers, the caller releases it, it flows as usual.
  fake.failing.delete('secret');
  assert.deepEqual(await producer.send([...waiting], true), NOTHING);
  expected.acked(waiting);
  producer.release('secret');
  assert.equal(producer.held.has('secret'), false);
  const third = interleave(records('trades', 6), records('secret', 6));
  assert.deepEqual(await producer.send(third), NOTHING);
  expected.acked(third);
  assertLogs(fake, expected);
});

test('a network failure on one broker: only its batches are resent, and nothing is written twice', async (t) => {
  for (const fault of ['request', 'response'] as const) {
    await t.test(`the ${fault} is lost (lz4)`, async (st) => {
      const fake = new FakeKafka().topic('trades', [1, 2, 1, 2]).topic('quotes', [2, 1]);
      const producer = await producerFor(st, fake, undefined, 'lz4');
      const expected = new Expected(fake);
      fake.failNetwork(2, fault);
      const messages = interleave(records('trades', 40), records('quotes', 12));
      await assert.rejects(producer.send(messages), produceError('NETWORK'));
      assert.deepEqual(await producer.send(messages), NOTHING);
      expected.acked(messages);
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
      assert.deepEqual(await producer.send(next), NOTHING);
      expected.acked(next);
      assertLogs(fake, expected);
    });
  }
});

test('a topic missing from the metadata is held, the others are delivered', async (t) => {
  await t.test('missing when first seen', async (st) => {
    const fake = new FakeKafka().topic('trades', [1, 2]).topic('gone', [1, 2]);
    fake.missing.set('gone', 3);
    const producer = await producerFor(st, fake, ['trades']);
    const expected = new Expected(fake);
    const messages = interleave(records('trades', 10), records('gone', 6));
    const outcome = await producer.send(messages);
    assert.deepEqual(outcome.refused, []);
    assert.deepEqual(outcome.held, messages.flatMap((m, index) => (m.topic === 'gone' ? [{ index, code: 3 }] : [])));
    assert.equal(producer.held.get('gone'), 3);
    assert.equal(fake.batchesOf('gone'), 0);
    expected.acked(messages, outcome);
    assertLogs(fake, expected);
  });
  await t.test('gone between a failed send and its retry', async (st) => {
    const fake = new FakeKafka().topic('trades', [1, 2]).topic('gone', [2]);
    const producer = await producerFor(st, fake);
    const expected = new Expected(fake);
    fake.script('gone', 0, 3);
    const messages = interleave(records('trades', 10), records('gone', 6));
    await assert.rejects(producer.send(messages), produceError('UNKNOWN_TOPIC_OR_PARTITION'));
    fake.missing.set('gone', 3);
    const outcome = await producer.send(messages);
    assert.deepEqual(outcome.held, messages.flatMap((m, index) => (m.topic === 'gone' ? [{ index, code: 3 }] : [])));
    assert.equal(producer.held.get('gone'), 3);
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
      const producer = await producerFor(st, fake);
      const expected = new Expected(fake);
      fake.script('trades', p, 29);
      const messages = records('trades', 16);
      const outcome = await producer.send(messages);
      assert.deepEqual(outcome.held, indicesOf(fake, messages, 'trades', p).map((index) => ({ index, code: 29 })), "only the refused partition's records are held");
      expected.acked(messages, outcome);
      const waiting = outcome.held.map((h) => messages[h.index]!);
      assert.deepEqual(await producer.send(waiting, true), NOTHING);
      expected.acked(waiting);
      producer.release('trades');
      const next = records('trades', 16);
      assert.deepEqual(await producer.send(next), NOTHING);
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
      const producer = await producerFor(st, fake, ['trades'], compression);
      const expected = new Expected(fake);
      const messages = records('trades', 40, SYMBOLS, 60);
      const base = 1_790_000_000_000;
      // Out of order within each partition, some far apart, one without a timestamp of its own.
      const timestamps = new Float64Array(messages.map((_, i) => (i === 7 ? -1 : base + ((i * 7919) % 40) * 1000 + (i % 3 === 0 ? 86_400_000 : 0))));
      fake.script('trades', 0, 10);
      fake.failNetwork(2, 'request');
      const before = Date.now();
      await assert.rejects(producer.send(messages, false, timestamps), produceError('NETWORK'));
      assert.deepEqual(await producer.send(messages, false, timestamps), NOTHING);
      const after = Date.now();
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
