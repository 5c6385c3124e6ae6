// Topic administration for the sink: the topics the bridge writes are created when missing, before
// the first record is sent (with the configured partitions and replication, and configs of their
// own where given: the dead-letter topic's max.message.bytes).
import { Admin } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { apiCodeOf } from './kafka-client.ts';

const INVALID_CONFIG = 40;
const POLICY_VIOLATION = 44;

export interface TopicSetup {
  brokers: string[];
  /** TLS and SASL towards Kafka (plaintext when undefined). */
  security?: KafkaSecurity | undefined;
  topics: string[];
  partitions: number;
  replication: number;
  /** Configs per topic (created one by one); the other topics are created together. */
  configs: Record<string, Record<string, string>>;
  log: Logger;
}

/**
 * Creates the topics that do not exist. Throws when Kafka cannot be reached (the caller retries);
 * a creation Kafka refuses (no permission, a policy) is logged and not fatal: records for such a
 * topic are held in the spool until it exists and may be written.
 */
export async function createMissingTopics(o: TopicSetup): Promise<void> {
  const admin = new Admin({ clientId: 'ws2kafka-admin', bootstrapBrokers: o.brokers, retries: 0, connectTimeout: 5000, requestTimeout: 10_000, ...kafkaClientOptions(o.security, o.brokers) });
  try {
    const existing = new Set(await admin.listTopics());
    const missing = o.topics.filter((t) => !existing.has(t));
    const plain = missing.filter((t) => o.configs[t] === undefined);
    const groups = [...(plain.length > 0 ? [{ topics: plain, configs: undefined }] : []), ...missing.filter((t) => o.configs[t] !== undefined).map((t) => ({ topics: [t], configs: o.configs[t] }))];
    const create = (topics: string[], configs: Record<string, string> | undefined) =>
      admin.createTopics({
        topics,
        partitions: o.partitions,
        replicas: o.replication,
        ...(configs ? { configs: Object.entries(configs).map(([name, value]) => ({ name, value })) } : {}),
      });
    for (const g of groups) {
      try {
        await create(g.topics, g.configs);
        o.log.info({ topics: g.topics, configs: g.configs }, 'created topics');
      } catch (err) {
        const code = apiCodeOf(err);
        if (code === undefined) throw err;
        if (g.configs !== undefined && (code === INVALID_CONFIG || code === POLICY_VIOLATION)) {
          // A managed service may cap a setting (Confluent Cloud caps max.message.bytes): the topic
          // is created with the cluster's defaults instead, and the difference is said.
          try {
            await create(g.topics, undefined);
            o.log.warn({ topics: g.topics, refusedConfigs: g.configs, err: (err as Error).message }, "Kafka refused the topic's configs: created it with the cluster's defaults instead (dead letters larger than its max.message.bytes will be held in the spool)");
            continue;
          } catch (again) {
            if (apiCodeOf(again) === undefined) throw again;
          }
        }
        o.log.warn({ topics: g.topics, err: (err as Error).message }, 'Kafka refused to create topics; records for them wait in the spool until they exist and may be written');
      }
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
}
