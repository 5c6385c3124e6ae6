// Follows the control topic: every member, standby or active, reads the group's heartbeats as they
// are written, so it knows who is active (for /status) and, the moment it is made active, what the
// previous active member had acknowledged (the takeover gaps). Its own consumer group, with a
// name of its own: it reads every partition, from the start (the topic is compacted by group).
import { randomUUID } from 'node:crypto';
import { Consumer, type MessagesStream } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { GroupWords, parseHeartbeat } from './heartbeat.ts';

export interface TailOptions {
  brokers: string[];
  security: KafkaSecurity | undefined;
  topic: string;
  group: string;
  log: Logger;
}

/** How long a failed read waits before it starts again. */
const RESTART_MS = 1000;

export class ControlTail {
  readonly words: GroupWords;
  #o: TailOptions;
  #consumer: Consumer | undefined;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  /** Per partition: the next offset to read. */
  #position = new Map<number, bigint>();
  #closed = false;
  #restart: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  constructor(o: TailOptions) {
    this.#o = o;
    this.words = new GroupWords(o.group);
  }

  start(): void {
    void this.#open();
  }

  async #open(): Promise<void> {
    if (this.#closed) return;
    const o = this.#o;
    const consumer = new Consumer({ groupId: `ws2kafka-ha-tail-${randomUUID()}`, clientId: 'ws2kafka-ha-tail', bootstrapBrokers: o.brokers, ...kafkaClientOptions(o.security, o.brokers) });
    this.#consumer = consumer;
    consumer.on('error', () => undefined); // failures come back through consume() and the stream
    try {
      const stream = await consumer.consume({ topics: [o.topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
      this.#stream = stream;
      stream.on('data', (record) => {
        const h = parseHeartbeat(record.value);
        if (h !== undefined) this.words.add(h);
        this.#position.set(record.partition, record.offset + 1n);
        this.#wake();
      });
      stream.on('error', (err: Error) => this.#failed(err));
    } catch (err) {
      this.#failed(err);
    }
  }

  #failed(err: unknown): void {
    if (this.#closed) return;
    this.#o.log.warn({ err: (err as Error)?.message ?? String(err), topic: this.#o.topic }, `ha: reading the control topic ${this.#o.topic} failed; reading it again in ${RESTART_MS} ms`);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#stream = undefined;
    void consumer?.close(true).catch(() => undefined);
    clearTimeout(this.#restart);
    this.#restart = setTimeout(() => void this.#open(), RESTART_MS);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /**
   * Resolves true once everything written to the topic before this call has been read (its end
   * offsets reached), false after timeoutMs or when the end offsets cannot be read.
   */
  async caughtUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let ends: bigint[] | undefined;
    while (ends === undefined && Date.now() < deadline) {
      const consumer = this.#consumer;
      if (consumer !== undefined) {
        try {
          ends = (await consumer.listOffsets({ topics: [this.#o.topic] })).get(this.#o.topic);
        } catch {
          // not reachable yet: try again until the deadline
        }
      }
      if (ends === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    if (ends === undefined) return false;
    const done = () => ends.every((end, p) => end === 0n || (this.#position.get(p) ?? 0n) >= end);
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restart);
    this.#wake();
    const stream = this.#stream;
    this.#stream = undefined;
    await stream?.close().catch(() => undefined);
    await this.#consumer?.close(true).catch(() => undefined);
  }
}
