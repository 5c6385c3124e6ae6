// The Kafka side: an idempotent producer with acks=all, fed from the RecordQueue in order.
// One produce request is in flight at a time and a failed one is sent again, unchanged, before
// anything after it: per-key order holds across retries. An event counts as produced only when
// Kafka has acknowledged it.
import { performance } from 'node:perf_hooks';
import { Admin, ProduceAcks, Producer } from '@platformatic/kafka';
import type { Logger } from 'pino';
import type { BridgeMetrics } from '../metrics/metrics.ts';
import { RecordQueue, type OutRecord } from './record-queue.ts';

export interface SinkOptions {
  brokers: string[];
  compression: 'lz4' | 'snappy' | 'zstd' | 'gzip' | 'none';
  lingerMs: number;
  batchBytes: number;
  capacity: number;
  /** Topics to create (when missing) before the first record is sent. */
  topics: string[];
  partitions: number;
  replication: number;
  metrics: BridgeMetrics;
  log: Logger;
  /** Called when a full buffer has room again (resume a paused socket). */
  onSpace: () => void;
  /** Called for each acknowledged record that was pushed with a tag (control records). */
  onTaggedAck?: (tag: number) => void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

export class KafkaSink {
  readonly queue: RecordQueue;
  #o: SinkOptions;
  #producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  #ready = false;
  #closed = false;
  /** The batch in flight (or waiting to be retried): its length. 0 when idle. */
  #inflight = 0;
  #lingerTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = RETRY_MIN_MS;
  #failingSince = 0;
  #lastFailureLog = 0;
  #waiters: Array<() => void> = [];
  #wasFull = false;

  constructor(o: SinkOptions) {
    this.#o = o;
    this.queue = new RecordQueue(o.capacity);
    o.metrics.bufferCapacity = o.capacity;
    this.#producer = new Producer({
      clientId: 'ws2kafka',
      bootstrapBrokers: o.brokers,
      idempotent: true,
      acks: ProduceAcks.ALL,
      ...(o.compression === 'none' ? {} : { compression: o.compression }),
      autocreateTopics: true,
      retries: 0,
    });
  }

  /**
   * Buffers a record. False when the buffer is full (the caller applies its overflow policy);
   * `force` (control records) always succeeds.
   */
  offer(record: OutRecord, receivedAt: number, force = false): boolean {
    if (!this.queue.push(record, receivedAt, force)) {
      this.#wasFull = true;
      return false;
    }
    this.#o.metrics.bufferUsed = this.queue.size;
    if (this.#ready && this.#inflight === 0) {
      if (this.queue.bytes >= this.#o.batchBytes) this.#send();
      else this.#lingerTimer ??= setTimeout(() => this.#send(), this.#o.lingerMs);
    }
    return true;
  }

  /** Creates missing topics, retrying while Kafka is unreachable; then starts sending. */
  async start(): Promise<void> {
    let delay = 500;
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        await this.#createTopics();
        break;
      } catch (err) {
        this.#o.log.warn(
          { brokers: this.#o.brokers, attempt, err: (err as Error).message, buffered: this.queue.size },
          `Kafka at ${this.#o.brokers.join(',')} is unreachable or refused topic creation; retrying in ${delay} ms (events are buffered meanwhile)`,
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
    this.#ready = true;
    this.#o.log.info({ topics: this.#o.topics }, 'Kafka is ready');
    if (this.queue.size > 0) this.#send();
  }

  async #createTopics(): Promise<void> {
    const admin = new Admin({ clientId: 'ws2kafka-admin', bootstrapBrokers: this.#o.brokers, retries: 0, connectTimeout: 5000, requestTimeout: 10_000 });
    try {
      const existing = new Set(await admin.listTopics());
      const missing = this.#o.topics.filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await admin.createTopics({ topics: missing, partitions: this.#o.partitions, replicas: this.#o.replication });
        this.#o.log.info({ topics: missing }, 'created topics');
      }
      await this.#producer.metadata({ topics: this.#o.topics, forceUpdate: true });
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  #send(): void {
    if (this.#lingerTimer) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    if (this.#inflight !== 0 || this.queue.size === 0 || !this.#ready) return;
    const n = this.queue.countWithin(this.#o.batchBytes);
    this.#inflight = n;
    this.#produce(this.queue.peek(n));
  }

  #produce(messages: OutRecord[]): void {
    this.#producer.send({ messages }).then(
      () => this.#acked(messages.length),
      (err: unknown) => this.#failed(messages, err),
    );
  }

  #acked(n: number): void {
    const now = performance.now();
    const m = this.#o.metrics;
    const onTaggedAck = this.#o.onTaggedAck;
    this.queue.shift(n, (receivedAt) => {
      // Control records carry a negative receive time: a tag, not an event.
      if (receivedAt < 0) onTaggedAck?.(-receivedAt);
      else m.recordAck(Math.round((now - receivedAt) * 1000));
    });
    m.bufferUsed = this.queue.size;
    this.#inflight = 0;
    if (this.#failingSince !== 0) {
      this.#o.log.info({ downMs: Date.now() - this.#failingSince }, 'Kafka accepts records again');
      this.#failingSince = 0;
    }
    this.#retryDelay = RETRY_MIN_MS;
    if (this.#wasFull && this.queue.size < this.queue.capacity * 0.9) {
      this.#wasFull = false;
      this.#o.onSpace();
    }
    if (this.queue.size > 0) this.#send();
    else if (this.#waiters.length > 0) for (const w of this.#waiters.splice(0)) w();
  }

  #failed(messages: OutRecord[], err: unknown): void {
    this.#o.metrics.produceErrors++;
    const now = Date.now();
    if (this.#failingSince === 0) this.#failingSince = now;
    if (now - this.#lastFailureLog > 5000) {
      this.#lastFailureLog = now;
      this.#o.log.warn(
        { err: (err as Error).message, batch: messages.length, buffered: this.queue.size, retryInMs: this.#retryDelay },
        'producing to Kafka failed; the same batch is retried (nothing after it is sent first)',
      );
    }
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#produce(messages);
    }, this.#retryDelay);
    this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX_MS);
  }

  /** Resolves when everything buffered has been acknowledged, or false after timeoutMs. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.queue.size === 0 && this.#inflight === 0) return Promise.resolve(true);
    if (this.#ready) this.#send();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    await this.#producer.close().catch(() => undefined);
  }
}
