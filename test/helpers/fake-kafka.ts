// A fake Kafka broker behind the producer's ProducerClient interface (src/sink/kafka-client.ts),
// for test/unit/producer.test.ts and producer-lanes.test.ts.
//
// It decodes every record batch it receives (lengths, magic, CRC32C, each record) and checks
// sequences as Kafka's idempotence does, per producer id and partition: the next expected sequence
// is written to the partition's log, a batch it already wrote is answered DUPLICATE_SEQUENCE_NUMBER
// (46), a gap OUT_OF_ORDER_SEQUENCE_NUMBER (45); with no state for the producer id on the partition
// yet, the first batch is written whatever its sequence (Kafka's ProducerStateManager checks none
// when it has no producer epoch recorded), and the sequence after it is expected next; a batch over the topic's max.message.bytes is
// answered MESSAGE_TOO_LARGE (10), a batch sent to a broker that does not lead the partition
// NOT_LEADER_OR_FOLLOWER (6, naming the leader when `hints` is on, KIP-951). Faults are scripted
// per partition (one code per batch received, before or after it is written), per topic, per
// record value, or per broker (a lost request or a lost response; a broker paused, answering late,
// or down); the metadata can be slow, stale or failing. Anything a real broker would reject that no
// test scripted (a bad batch, a sequence gap that no batch sent before covers, a sequence reused
// for other bytes, two batches of one partition in one request, more than 5 batches of a partition
// in flight) is a violation, and so is a first batch written with a sequence other than 0 (Kafka
// takes it, but a producer that starts every partition at 0 sent it ahead of an earlier one: the
// records land out of order); every test ends by asserting there were none.
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { crc32c, Reader, readRecordsBatch } from '@platformatic/kafka';
import type { PartitionResponse, ProduceResponse, ProducerClient, TopicsMetadata } from '../../src/sink/kafka-client.ts';
import type { PartitionBatch } from '../../src/sink/record-batch.ts';

// ---------------------------------------------------------------------------------------------
// Reading record batches (v2) as a broker does.

export const HEADER_BYTES = 61;

export interface StoredRecord {
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

export const tpOf = (topic: string, partition: number) => `${topic}[${partition}]`;

/** Kafka's idempotence keeps (and de-duplicates) the last 5 batches per producer and partition. */
const KAFKA_MAX_INFLIGHT = 5;

/** One batch as a broker received it (a copy: the producer may restamp its own buffer later). */
export interface Received {
  /** Which produce() call brought it (0, 1, ...). */
  call: number;
  broker: number;
  bytes: Buffer;
  producerId: bigint;
  baseSequence: number;
  count: number;
  /** The code answered; null when the request was lost before the broker read it. */
  answer: number | null;
  /** Metadata requests answered when it arrived. */
  metadataAnswered: number;
  /** Batches of its partition in flight when it arrived, itself included. */
  inflight: number;
}

/** A code for the next batch of a partition: answered instead of writing it, or `{ written }`: written, then answered that code. */
export type Scripted = number | { written: number };
/** A produce() call whose request is lost (nothing written) or whose response is (written); null: no fault. */
export type NetworkFault = 'request' | 'response' | null;
/** A broker down: its requests fail at once (connection refused), or hang until it is up again (then time out). */
export type Down = 'reject' | 'hang';

interface PartitionAnswer extends PartitionResponse {
  currentLeader?: { leaderId: number; leaderEpoch: number };
}

export class FakeKafka implements ProducerClient {
  /** Leader broker of each partition, per topic (-1: none). */
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
  /** KIP-951: NOT_LEADER_OR_FOLLOWER names the partition's leader (currentLeader). */
  hints = false;
  /** The metadata answers these leaders (a copy taken by freezeMetadata) instead of the true ones. */
  #stale: Map<string, number[]> | undefined;
  /** Metadata answers this late. */
  metadataDelayMs = 0;
  /** The next this many metadata requests fail (no broker answers). */
  metadataFailures = 0;
  readonly logs = new Map<string, StoredRecord[]>();
  readonly received = new Map<string, Received[]>();
  readonly violations: string[] = [];
  calls = 0;
  metadataCalls = 0;
  metadataAnswered = 0;
  producerIds = 0;
  oversized = 0;
  /** Requests in flight per broker: now, and the most at once. */
  readonly inflight = new Map<number, number>();
  readonly maxInflight = new Map<number, number>();
  /** Batches in flight per partition ("topic[p]"): now, and the most at once. */
  readonly tpInflight = new Map<string, number>();
  readonly tpMaxInflight = new Map<string, number>();
  /** Requests refused by a broker that is down, per broker. */
  readonly refused = new Map<number, number>();
  #script = new Map<string, Scripted[]>();
  #network = new Map<number, NetworkFault[]>();
  #delays = new Map<number, number>();
  #sequences = new Map<string, { next: number; written: Map<number, Buffer> }>();
  /** Per partition, "producerId/baseSequence" of every batch sent to any broker (on arrival, read or not). */
  #offered = new Map<string, Set<string>>();
  #paused = new Map<number, { until: Promise<void>; resume: () => void }>();
  #down = new Map<number, Down>();
  #hung = new Map<number, Array<(err: Error) => void>>();

  topic(name: string, leaders: number[], maxMessageBytes = 1_048_588): this {
    this.leaders.set(name, leaders);
    this.limits.set(name, maxMessageBytes);
    return this;
  }

  /** The next batches received for a partition are answered these, one each (0: as usual; 46: written, then answered 46). */
  script(topic: string, partition: number, ...codes: Scripted[]): void {
    this.#script.set(tpOf(topic, partition), codes);
  }

  /** The next produce() calls to a broker, one fault each (null: none). */
  failNetwork(broker: number, ...faults: NetworkFault[]): void {
    this.#network.set(broker, faults);
  }

  /** A broker answers after `ms` (others after one tick), to order responses across brokers. */
  delay(broker: number, ms: number): void {
    this.#delays.set(broker, ms);
  }

  /** Requests to the broker wait (unread) until resume(); then they are read and answered in order. */
  pause(broker: number): void {
    if (this.#paused.has(broker)) return;
    let resume!: () => void;
    const until = new Promise<void>((r) => (resume = r));
    this.#paused.set(broker, { until, resume });
  }

  resume(broker: number): void {
    this.#paused.get(broker)?.resume();
    this.#paused.delete(broker);
  }

  down(broker: number, how: Down): void {
    this.#down.set(broker, how);
  }

  /** The broker is back; requests that hung on it time out (nothing of them was written). */
  up(broker: number): void {
    this.#down.delete(broker);
    for (const fail of this.#hung.get(broker)?.splice(0) ?? []) fail(new Error(`broker ${broker}: request timed out`));
  }

  /** From now on the metadata names the leaders as they are now, whatever moves after. */
  freezeMetadata(): void {
    this.#stale = new Map([...this.leaders].map(([t, l]) => [t, [...l]]));
  }

  thawMetadata(): void {
    this.#stale = undefined;
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

  async metadata(topics: string[]): Promise<TopicsMetadata> {
    this.metadataCalls++;
    if (this.metadataDelayMs > 0) await sleep(this.metadataDelayMs);
    if (this.metadataFailures > 0) {
      this.metadataFailures--;
      throw new Error('metadata: connection refused');
    }
    const md: TopicsMetadata = { leaders: new Map(), missing: new Map() };
    for (const t of topics) {
      const leaders = (this.#stale ?? this.leaders).get(t);
      const code = this.missing.get(t);
      if (code !== undefined || leaders === undefined) md.missing.set(t, code ?? 3);
      else md.leaders.set(t, [...leaders]);
    }
    this.metadataAnswered++;
    return md;
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
    const arrived = batches.map((b) => ({ topic: b.topic, partition: b.partition, tp: tpOf(b.topic, b.partition), bytes: Buffer.from(b.batch) }));
    const seen = new Set<string>();
    for (const b of arrived) {
      if (seen.has(b.tp)) this.violations.push(`call ${call}: two batches for ${b.tp} in one request`);
      seen.add(b.tp);
    }
    const tpInflight = this.#enter(call, broker, arrived);
    try {
      const down = this.#down.get(broker);
      if (down === 'hang') await new Promise<never>((_, reject) => this.#hung.set(broker, [...(this.#hung.get(broker) ?? []), reject]));
      await this.#paused.get(broker)?.until;
      const ms = this.#delays.get(broker) ?? 0;
      await (ms > 0 ? sleep(ms) : tick());
      if (down === 'reject' || this.#down.has(broker)) {
        this.refused.set(broker, (this.refused.get(broker) ?? 0) + 1);
        throw new Error(`broker ${broker}: connection refused`);
      }
      const fault = this.#network.get(broker)?.shift() ?? null;
      const responses = new Map<string, PartitionResponse[]>();
      for (const [i, b] of arrived.entries()) {
        const answer = this.#receive(call, broker, b.topic, b.partition, b.bytes, fault === 'request', tpInflight[i]!);
        let list = responses.get(b.topic);
        if (list === undefined) responses.set(b.topic, (list = []));
        list.push(answer);
      }
      if (fault !== null) throw new Error(`broker ${broker}: connection reset (${fault} lost)`);
      return { responses: [...responses].map(([name, partitionResponses]) => ({ name, partitionResponses })) };
    } finally {
      this.#leave(broker, arrived);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Counts the request and its batches in flight; returns each batch's partition's count. */
  #enter(call: number, broker: number, arrived: ReadonlyArray<{ tp: string; bytes: Buffer }>): number[] {
    const counts: number[] = [];
    const now = (this.inflight.get(broker) ?? 0) + 1;
    this.inflight.set(broker, now);
    this.maxInflight.set(broker, Math.max(now, this.maxInflight.get(broker) ?? 0));
    for (const { tp, bytes } of arrived) {
      if (bytes.length >= HEADER_BYTES) {
        let offered = this.#offered.get(tp);
        if (offered === undefined) this.#offered.set(tp, (offered = new Set()));
        offered.add(`${bytes.readBigInt64BE(43)}/${bytes.readInt32BE(53)}`);
      }
      const n = (this.tpInflight.get(tp) ?? 0) + 1;
      this.tpInflight.set(tp, n);
      this.tpMaxInflight.set(tp, Math.max(n, this.tpMaxInflight.get(tp) ?? 0));
      if (n > KAFKA_MAX_INFLIGHT) this.violations.push(`call ${call}: ${n} batches of ${tp} in flight (Kafka de-duplicates within ${KAFKA_MAX_INFLIGHT})`);
      counts.push(n);
    }
    return counts;
  }

  #leave(broker: number, arrived: ReadonlyArray<{ tp: string }>): void {
    this.inflight.set(broker, this.inflight.get(broker)! - 1);
    for (const { tp } of arrived) this.tpInflight.set(tp, this.tpInflight.get(tp)! - 1);
  }

  #receive(call: number, broker: number, topic: string, partition: number, bytes: Buffer, lost: boolean, inflight: number): PartitionAnswer {
    const tp = tpOf(topic, partition);
    let batch: DecodedBatch;
    try {
      batch = decodeBatch(bytes);
    } catch (err) {
      this.violations.push(`${tp}: ${(err as Error).message}`);
      return { index: partition, errorCode: 2 }; // CORRUPT_MESSAGE
    }
    const r: Received = { call, broker, bytes, producerId: batch.producerId, baseSequence: batch.baseSequence, count: batch.records.length, answer: null, metadataAnswered: this.metadataAnswered, inflight };
    const list = this.received.get(tp);
    if (list === undefined) this.received.set(tp, [r]);
    else list.push(r);
    if (lost) return { index: partition, errorCode: -1 };
    const answer: PartitionAnswer = { index: partition, errorCode: this.#answer(broker, topic, partition, bytes, batch) };
    r.answer = answer.errorCode;
    if (answer.errorCode === 6 && this.hints) answer.currentLeader = { leaderId: this.leaders.get(topic)?.[partition] ?? -1, leaderEpoch: 7 };
    return answer;
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
    // Answered after the batch is written (or found a duplicate): a scripted 46, or { written }.
    const after = typeof scripted === 'object' ? scripted.written : scripted === 46 ? 46 : 0;
    if (typeof scripted === 'number' && scripted !== 0 && scripted !== 46) return scripted;
    const failing = this.failing.get(topic);
    if (failing !== undefined) return failing;
    for (const rec of batch.records) {
      const code = this.poison.get(rec.value?.toString() ?? '');
      if (code !== undefined) return code;
    }
    // Idempotence, per producer id and partition. No state for the producer id yet: Kafka writes
    // the batch whatever its sequence, and expects the one after it next.
    const key = `${batch.producerId}/${tp}`;
    let seq = this.#sequences.get(key);
    if (seq === undefined) {
      this.#sequences.set(key, (seq = { next: batch.baseSequence, written: new Map() }));
      if (batch.baseSequence !== 0) this.violations.push(`${tp}: producer ${batch.producerId}'s first batch written has sequence ${batch.baseSequence}: Kafka, with no state for the producer, took it ahead of sequences 0..${batch.baseSequence - 1}`);
    }
    if (batch.baseSequence === seq.next) {
      seq.written.set(batch.baseSequence, bytes);
      seq.next += batch.records.length;
      let log = this.logs.get(tp);
      if (log === undefined) this.logs.set(tp, (log = []));
      log.push(...batch.records);
      return after; // 0, or what was scripted to follow the write
    }
    const before = seq.written.get(batch.baseSequence);
    if (before !== undefined) {
      if (!before.equals(bytes)) this.violations.push(`${tp}: producer ${batch.producerId} reused sequence ${batch.baseSequence} for other bytes`);
      return 46; // DUPLICATE_SEQUENCE_NUMBER
    }
    // A gap. A producer sending several batches at once meets it legitimately when a batch ahead
    // of this one failed or is still on its way (to this broker or another, the leader having
    // moved): Kafka answers 45 and the producer resends both in order. Only a gap that no batch
    // the producer sent covers is a violation.
    if (!this.#offered.get(tp)?.has(`${batch.producerId}/${seq.next}`)) this.violations.push(`${tp}: producer ${batch.producerId} sent sequence ${batch.baseSequence}, the broker expects ${seq.next}`);
    return 45; // OUT_OF_ORDER_SEQUENCE_NUMBER
  }
}
