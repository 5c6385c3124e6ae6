// An idempotent, acks=all producer that sends whole record batches written by record-batch.ts.
// The client (@platformatic/kafka) still does what it does well: connections, metadata, the
// producer id (InitProducerId), API versions, compression codecs, response parsing.
//
// Exactly one send() is outstanding at a time (the sink's rule). Each batch gets its partition's
// next sequence number when it is written; a failed send() is retried by calling send() again with
// the same messages array, and only the batches the broker has not acknowledged are sent again,
// byte for byte, so the broker recognises a batch it already wrote (same producer id and
// sequence) and does not write it twice. Only when the broker has lost the producer's state
// (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH) does it start
// again with a new producer id; then a batch already written may be written twice, and it is logged.
import { Producer, produceV11, protocolErrorsCodesById, Writer, type ClusterMetadata, type Connection } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { Ws2kError } from '../errors.ts';
import { batchCount, partitionOf, produceRequestBody, RecordBatchEncoder, stampBatch, type BatchRecord, type Compression, type PartitionBatch } from './record-batch.ts';

const ACKS_ALL = -1;
/** How long the broker may wait for the in-sync replicas (the request's own timeout). */
const PRODUCE_TIMEOUT_MS = 30_000;
const PRODUCE_API_KEY = 0;
/** Produce v9–v11 share one request layout (flexible versions); Kafka 2.8 and later have v9. */
const PRODUCE_MIN_VERSION = 9;
const PRODUCE_MAX_VERSION = 11;
const DUPLICATE_SEQUENCE_NUMBER = 46;
/** The broker no longer knows this producer's sequences: a new producer id is needed. */
const STATE_LOST = new Set([45, 47, 59]);

/** What send() takes: a record and its topic (the memory queue's records and the spool's both are). */
export interface SendRecord extends BatchRecord {
  topic: string;
}

interface PendingBatch extends PartitionBatch {
  count: number;
  done: boolean;
}

interface PartitionResponse {
  index: number;
  errorCode: number;
  errorMessage?: string | null;
}
interface ProduceResponse {
  responses: Array<{ name: string; partitionResponses: PartitionResponse[] }>;
}

export interface ProducerOptions {
  brokers: string[];
  compression: Compression;
  log: Logger;
}

export class BatchProducer {
  #client: Producer;
  #encoder: RecordBatchEncoder;
  #log: Logger;
  #ids: { producerId: bigint; producerEpoch: number } | undefined;
  #sequences = new Map<string, number>();
  #metadata: ClusterMetadata | undefined;
  #version = 0;
  #refresh = false;
  #idsLost = false;
  /** The messages of the send() not yet fully acknowledged, and their batches. */
  #pending: { messages: readonly SendRecord[]; batches: PendingBatch[] } | undefined;
  #roundRobin = 0;
  #order = new Int32Array(1024);
  #slots = new Int32Array(1024);

  constructor(o: ProducerOptions) {
    this.#log = o.log;
    this.#encoder = new RecordBatchEncoder(o.compression);
    this.#client = new Producer({ clientId: 'ws2kafka', bootstrapBrokers: o.brokers, retries: 0 });
  }

  /** Reads the topics' metadata, the broker's Produce versions and a producer id. */
  async prepare(topics: string[]): Promise<void> {
    if (this.#version === 0) {
      const apis = await this.#client.listApis();
      const produce = apis.find((a) => a.apiKey === PRODUCE_API_KEY);
      const max = produce?.maxVersion ?? -1;
      if (max < PRODUCE_MIN_VERSION) {
        throw new Ws2kError('KAFKA_TOO_OLD', `the broker speaks Produce up to v${max}; ws2kafka needs v${PRODUCE_MIN_VERSION} or later (Apache Kafka 2.8+)`);
      }
      this.#version = Math.min(max, PRODUCE_MAX_VERSION);
    }
    this.#metadata = await this.#client.metadata({ topics, forceUpdate: true });
    this.#ids ??= await this.#client.initIdempotentProducer({});
  }

  /**
   * Sends the messages (in order, per partition) and resolves once Kafka has acknowledged all of
   * them. After a rejection, call again with the same array: only what is unacknowledged is resent.
   */
  async send(messages: readonly SendRecord[]): Promise<void> {
    if (this.#pending?.messages !== messages) {
      this.#pending = undefined;
      await this.#ensureReady(messages);
      this.#pending = { messages, batches: this.#encode(messages) };
    } else {
      await this.#ensureReady(messages);
    }
    const pending = this.#pending;
    const metadata = this.#metadata!;
    const byLeader = new Map<number, PendingBatch[]>();
    for (const b of pending.batches) {
      if (b.done) continue;
      const leader = metadata.topics.get(b.topic)?.partitions[b.partition]?.leader ?? -1;
      if (leader < 0) {
        this.#refresh = true;
        throw new Error(`no leader known for ${b.topic}[${b.partition}]`);
      }
      const list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, [b]);
      else list.push(b);
    }
    const connections = await this.#client.connectToBrokers([...byLeader.keys()]).catch((err: unknown) => {
      this.#refresh = true;
      throw err;
    });
    const failures: string[] = [];
    await Promise.all(
      [...byLeader].map(async ([leader, batches]) => {
        const connection = connections.get(leader);
        if (connection === undefined) {
          this.#refresh = true;
          failures.push(`broker ${leader} is not in the metadata`);
          return;
        }
        const problem = await this.#produce(connection, batches);
        if (problem !== undefined) failures.push(`broker ${leader}: ${problem}`);
      }),
    );
    if (failures.length > 0) throw new Error(failures.join('; '));
    this.#pending = undefined;
  }

  async #ensureReady(messages: readonly SendRecord[]): Promise<void> {
    if (this.#idsLost || this.#ids === undefined) {
      this.#ids = await this.#client.initIdempotentProducer({});
      this.#sequences.clear();
      if (this.#idsLost && this.#pending !== undefined) this.#restamp(this.#pending.batches);
      this.#idsLost = false;
    }
    const topics = this.#metadata?.topics;
    let missing = this.#refresh || topics === undefined;
    for (let i = 0; !missing && i < messages.length; i++) if (!topics!.has(messages[i]!.topic)) missing = true;
    if (missing) {
      const wanted = new Set<string>(topics?.keys() ?? []);
      for (const m of messages) wanted.add(m.topic);
      this.#metadata = await this.#client.metadata({ topics: [...wanted], forceUpdate: true });
      this.#refresh = false;
    }
  }

  /** Writes one batch per partition, records in their order, each with its partition's next sequence. */
  #encode(messages: readonly SendRecord[]): PendingBatch[] {
    const n = messages.length;
    if (this.#order.length < n) {
      this.#order = new Int32Array(n * 2);
      this.#slots = new Int32Array(n * 2);
    }
    const slots = this.#slots;
    const order = this.#order;
    // A slot per (topic, partition) seen in this send, numbered in first-seen order.
    const slotInfo: Array<{ topic: string; partition: number; count: number; start: number }> = [];
    let lastTopic = '';
    let lastBase: number[] = [];
    const bases = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      if (m.topic !== lastTopic) {
        lastTopic = m.topic;
        let base = bases.get(lastTopic);
        if (base === undefined) {
          const count = this.#metadata!.topics.get(lastTopic)!.partitionsCount;
          base = new Array<number>(count).fill(-1);
          bases.set(lastTopic, base);
        }
        lastBase = base;
      }
      const key = m.key;
      const p = key !== undefined && key !== null ? partitionOf(key, lastBase.length) : this.#roundRobin++ % lastBase.length;
      let slot = lastBase[p]!;
      if (slot < 0) {
        slot = slotInfo.length;
        lastBase[p] = slot;
        slotInfo.push({ topic: lastTopic, partition: p, count: 0, start: 0 });
      }
      slotInfo[slot]!.count++;
      slots[i] = slot;
    }
    let start = 0;
    for (const s of slotInfo) {
      s.start = start;
      start += s.count;
    }
    const fill = slotInfo.map((s) => s.start);
    for (let i = 0; i < n; i++) order[fill[slots[i]!]!++] = i;
    const now = Date.now();
    const ids = this.#ids!;
    const batches: PendingBatch[] = [];
    for (const s of slotInfo) {
      const baseSequence = this.#nextSequence(s.topic, s.partition, s.count);
      const batch = this.#encoder.encode(messages, order, s.start, s.start + s.count, { ...ids, baseSequence }, now);
      batches.push({ topic: s.topic, partition: s.partition, batch, count: s.count, done: false });
    }
    return batches;
  }

  /** The sequence for the next `count` records of a partition (sequences wrap at 2^31). */
  #nextSequence(topic: string, partition: number, count: number): number {
    const key = `${topic}\0${partition}`;
    const seq = this.#sequences.get(key) ?? 0;
    this.#sequences.set(key, (seq + count) % 0x80000000);
    return seq;
  }

  /** After a new producer id: every unacknowledged batch gets it, and sequences from 0 again. */
  #restamp(batches: PendingBatch[]): void {
    const ids = this.#ids!;
    let resent = 0;
    for (const b of batches) {
      if (b.done) continue;
      stampBatch(b.batch, { ...ids, baseSequence: this.#nextSequence(b.topic, b.partition, batchCount(b.batch)) });
      resent += b.count;
    }
    this.#log.warn(
      { producerId: String(ids.producerId), records: resent },
      'Kafka lost this producer\'s state (its id or sequence numbers): resending under a new producer id, so records the broker had already written may appear twice',
    );
  }

  /** One Produce request to one broker; undefined when every batch in it was acknowledged. */
  #produce(connection: Connection, batches: PendingBatch[]): Promise<string | undefined> {
    const body = produceRequestBody(ACKS_ALL, PRODUCE_TIMEOUT_MS, batches);
    return new Promise((resolve) => {
      connection.send(
        PRODUCE_API_KEY,
        this.#version,
        () => Writer.create().append(body),
        produceV11.parseResponse,
        true,
        true,
        (error: Error | null, response: unknown) => {
          const parsed = (response ?? (error as { response?: unknown } | null)?.response) as ProduceResponse | undefined;
          if (parsed?.responses === undefined) {
            this.#refresh = true;
            resolve(error?.message ?? 'no response');
            return;
          }
          resolve(this.#settle(batches, parsed));
        },
      );
    });
  }

  /** Marks the acknowledged batches done; describes the others. */
  #settle(batches: PendingBatch[], response: ProduceResponse): string | undefined {
    const codes = new Map<string, PartitionResponse>();
    for (const t of response.responses) for (const p of t.partitionResponses) codes.set(`${t.name}\0${p.index}`, p);
    const problems: string[] = [];
    for (const b of batches) {
      const r = codes.get(`${b.topic}\0${b.partition}`);
      const code = r?.errorCode ?? -1;
      if (code === 0 || code === DUPLICATE_SEQUENCE_NUMBER) {
        b.done = true;
        continue;
      }
      if (STATE_LOST.has(code)) this.#idsLost = true;
      else this.#refresh = true;
      const name = (protocolErrorsCodesById)[code] ?? `error ${code}`;
      problems.push(`${b.topic}[${b.partition}]: ${name}${r?.errorMessage ? ` (${r.errorMessage})` : ''}`);
    }
    return problems.length > 0 ? problems.join(', ') : undefined;
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
