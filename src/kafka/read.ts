// Reads topics from the beginning up to the end offsets they had when the read began. Used by the
// tests and by `verify`: the same consumer code that users rely on, no mock.
import { randomUUID } from 'node:crypto';
import { Consumer, type Message } from '@platformatic/kafka';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';

export type ReadRecord = Message<Buffer, Buffer, Buffer, Buffer>;

export interface ReadOptions {
  brokers: string[];
  /** TLS and SASL towards Kafka (plaintext when undefined). */
  security?: KafkaSecurity | undefined;
  topics: string[];
  timeoutMs?: number;
  onRecord: (record: ReadRecord) => void;
  /** Once the end offsets are known, before the first record: their sum per topic (for progress). */
  onEnds?: (ends: Map<string, bigint>) => void;
}

/** Calls onRecord for every record now in `topics`; resolves with the count per topic. */
export async function readToEnd(o: ReadOptions): Promise<Map<string, number>> {
  const consumer = new Consumer({ groupId: `ws2kafka-read-${randomUUID()}`, clientId: 'ws2kafka-read', bootstrapBrokers: o.brokers, ...kafkaClientOptions(o.security, o.brokers) });
  const counts = new Map(o.topics.map((t) => [t, 0]));
  try {
    const ends = await consumer.listOffsets({ topics: o.topics });
    const remaining = new Map<string, bigint>();
    const sums = new Map<string, bigint>(o.topics.map((t) => [t, 0n]));
    for (const [topic, offsets] of ends) {
      offsets.forEach((end, partition) => {
        if (end > 0n) remaining.set(`${topic}:${partition}`, end);
        sums.set(topic, (sums.get(topic) ?? 0n) + end);
      });
    }
    o.onEnds?.(sums);
    if (remaining.size === 0) return counts;
    const stream = await consumer.consume({ topics: o.topics, mode: 'earliest', autocommit: false, maxWaitTime: 200 });
    const timeoutMs = o.timeoutMs ?? 60_000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`reading ${o.topics.join(',')}: ${remaining.size} partitions not read to their end within ${timeoutMs} ms`));
        }, timeoutMs);
        stream.on('data', (record: ReadRecord) => {
          const key = `${record.topic}:${record.partition}`;
          const end = remaining.get(key);
          if (end === undefined || record.offset >= end) return; // written after the read began
          counts.set(record.topic, (counts.get(record.topic) ?? 0) + 1);
          o.onRecord(record);
          if (record.offset + 1n >= end) {
            remaining.delete(key);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          }
        });
        stream.on('error', (err: Error) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } finally {
      await stream.close();
    }
    return counts;
  } finally {
    await consumer.close(true);
  }
}
