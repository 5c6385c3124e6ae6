// The rung's topics: created fresh before it, deleted after; their end offsets are what Kafka has
// acknowledged (sampled while the feed runs, for any pipeline).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer } from '@platformatic/kafka';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';

const PARTITIONS = 6;

function admin(brokers: string[], security: KafkaSecurity | undefined): Admin {
  return new Admin({ clientId: 'ws2kafka-bench', bootstrapBrokers: [...brokers], ...kafkaClientOptions(security, brokers) });
}

/** Deletes those of `topics` that exist. */
export async function deleteTopics(brokers: string[], topics: string[], security?: KafkaSecurity): Promise<void> {
  const a = admin(brokers, security);
  try {
    const existing = new Set(await a.listTopics());
    const mine = topics.filter((t) => existing.has(t));
    if (mine.length > 0) await a.deleteTopics({ topics: mine });
  } finally {
    await a.close();
  }
}

/**
 * Creates `topics` empty (deleting them first when they exist, as --peer's fixed names need).
 * Deletion is asynchronous in Kafka: creation is retried until the old topic is gone.
 */
export async function freshTopics(brokers: string[], topics: string[], security?: KafkaSecurity, timeoutMs = 60_000): Promise<void> {
  await deleteTopics(brokers, topics, security);
  const deadline = Date.now() + timeoutMs;
  const a = admin(brokers, security);
  try {
    for (;;) {
      const existing = new Set(await a.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length === 0) return;
      try {
        // The broker stamps each record when it appends it (LogAppendTime), so the audit's latency
        // (record timestamp minus the event's t) runs to Kafka, whatever the producer's timestamp.
        await a.createTopics({ topics: missing, partitions: PARTITIONS, replicas: 1, configs: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
  } finally {
    await a.close();
  }
}

/** Reads the sum of the topics' end offsets (records acknowledged), reusing one client. */
export class OffsetSampler {
  #consumer: Consumer;
  #topics: string[];
  constructor(brokers: string[], topics: string[], security?: KafkaSecurity) {
    this.#topics = topics;
    this.#consumer = new Consumer({ groupId: `ws2kafka-bench-${randomUUID()}`, clientId: 'ws2kafka-bench', bootstrapBrokers: [...brokers], ...kafkaClientOptions(security, brokers) });
  }
  async total(): Promise<number> {
    const ends = await this.#consumer.listOffsets({ topics: [...this.#topics] });
    let sum = 0;
    for (const offsets of ends.values()) for (const o of offsets) sum += Number(o);
    return sum;
  }
  async close(): Promise<void> {
    await this.#consumer.close(true).catch(() => undefined);
  }
}
