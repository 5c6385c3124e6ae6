// Topic administration for the sink: the topics the bridge writes are created when missing, before
// the first record is sent (with the configured partitions and replication, --topic-config, and
// configs of their own where given: the dead-letter topic's max.message.bytes). Then every topic
// the bridge writes is checked: replication 1 or min.insync.replicas 1 is warned about.
import { Admin, ConfigResourceTypes, type ClusterMetadata } from '@platformatic/kafka';
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
  /** 'auto': min(3, the brokers in the cluster's metadata); -1: the broker's default. */
  replication: number | 'auto';
  /** Configs of every topic created (--topic-config); a topic's own configs win. */
  topicConfig?: Record<string, string> | undefined;
  /** Configs per topic; topics with the same configs are created together. */
  configs: Record<string, Record<string, string>>;
  log: Logger;
}

/** Replication `auto`: three copies where the cluster has three brokers, else one per broker. */
export function autoReplication(brokers: number): number {
  return Math.max(1, Math.min(3, brokers));
}

/** Topics grouped by the configs they are created with (one CreateTopics request per group). */
export function creationGroups(topics: string[], common: Record<string, string>, own: Record<string, Record<string, string>>): Array<{ topics: string[]; configs: Record<string, string> | undefined }> {
  const groups = new Map<string, { topics: string[]; configs: Record<string, string> | undefined }>();
  for (const t of topics) {
    const merged = { ...common, ...own[t] };
    const configs = Object.keys(merged).length > 0 ? merged : undefined;
    const key = JSON.stringify(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const g = groups.get(key);
    if (g) g.topics.push(t);
    else groups.set(key, { topics: [t], configs });
  }
  return [...groups.values()];
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
    const groups = creationGroups(missing, o.topicConfig ?? {}, o.configs);
    let replicas = o.replication === 'auto' ? -1 : o.replication;
    if (o.replication === 'auto' && missing.length > 0) {
      const brokers = (await admin.metadata({ topics: [], forceUpdate: true })).brokers.size;
      replicas = autoReplication(brokers);
      o.log.info({ brokers, replication: replicas }, `replication auto: ${replicas} (min(3, ${brokers} brokers))`);
    }
    const create = (topics: string[], configs: Record<string, string> | undefined) =>
      admin.createTopics({
        topics,
        partitions: o.partitions,
        replicas,
        ...(configs ? { configs: Object.entries(configs).map(([name, value]) => ({ name, value })) } : {}),
      });
    const present = o.topics.filter((t) => existing.has(t));
    for (const g of groups) {
      try {
        await create(g.topics, g.configs);
        present.push(...g.topics);
        o.log.info({ topics: g.topics, configs: g.configs }, 'created topics');
      } catch (err) {
        const code = apiCodeOf(err);
        if (code === undefined) throw err;
        if (g.configs !== undefined && (code === INVALID_CONFIG || code === POLICY_VIOLATION)) {
          // A managed service may cap a setting (Confluent Cloud caps max.message.bytes): the topic
          // is created with the cluster's defaults instead, and the difference is said.
          try {
            await create(g.topics, undefined);
            present.push(...g.topics);
            o.log.warn({ topics: g.topics, refusedConfigs: g.configs, err: (err as Error).message }, `Kafka refused the configs of ${g.topics.join(', ')}: created with the cluster's defaults instead (check --topic-config; dead letters larger than the dead-letter topic's max.message.bytes will be held in the spool)`);
            continue;
          } catch (again) {
            if (apiCodeOf(again) === undefined) throw again;
          }
        }
        o.log.warn({ topics: g.topics, err: (err as Error).message }, 'Kafka refused to create topics; records for them wait in the spool until they exist and may be written');
      }
    }
    await warnUnprotected(admin, present, o.log);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** What makes acks=all meaningful for a topic: its replicas and min.insync.replicas. */
export interface TopicDurability {
  topic: string;
  /** The fewest replicas of any of its partitions. */
  replication: number;
  /** Undefined when Kafka did not say (no DESCRIBE_CONFIGS permission). */
  minInsyncReplicas: number | undefined;
}

/** The topics of `durability` that acks=all does not protect: one copy, or one in-sync replica enough. */
export function unprotected(durability: TopicDurability[]): TopicDurability[] {
  return durability.filter((d) => d.replication <= 1 || d.minInsyncReplicas === 1);
}

/**
 * Reads each topic's replication (metadata) and min.insync.replicas (DescribeConfigs). The topics
 * exist, some maybe created a moment ago: the metadata is read again (up to `waitMs`) until every
 * one of them shows its partitions; one that still does not is left out.
 */
export async function readDurability(admin: Admin, present: string[], waitMs = 3000): Promise<TopicDurability[]> {
  if (present.length === 0) return [];
  const deadline = Date.now() + waitMs;
  const complete = (m: ClusterMetadata) => present.every((t) => (m.topics.get(t)?.partitions.length ?? 0) > 0);
  let metadata: ClusterMetadata | undefined;
  for (;;) {
    try {
      metadata = await admin.metadata({ topics: present, forceUpdate: true });
      if (complete(metadata)) break;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (metadata === undefined) return [];
  // Without DESCRIBE_CONFIGS permission the replication is still checked.
  const described = await admin.describeConfigs({ resources: present.map((t) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: t, configurationKeys: ['min.insync.replicas'] })) }).catch(() => []);
  const minIsr = new Map<string, number>();
  for (const d of described) {
    const n = Number(d.configs.find((c) => c.name === 'min.insync.replicas')?.value ?? NaN);
    if (Number.isInteger(n) && n > 0) minIsr.set(d.resourceName, n);
  }
  const out: TopicDurability[] = [];
  for (const topic of present) {
    const partitions = metadata.topics.get(topic)?.partitions ?? [];
    if (partitions.length === 0) continue;
    let replication = Infinity;
    for (const p of partitions) replication = Math.min(replication, p.replicas.length);
    out.push({ topic, replication, minInsyncReplicas: minIsr.get(topic) });
  }
  return out;
}

/**
 * The warning at start: the topics the bridge writes whose acknowledged records a single broker's
 * loss can take. Never fatal (a single-node broker has only such topics); a check Kafka does not
 * answer is logged at debug and skipped.
 */
async function warnUnprotected(admin: Admin, topics: string[], log: Logger): Promise<void> {
  let durability: TopicDurability[];
  try {
    durability = await readDurability(admin, topics);
  } catch (err) {
    log.debug({ topics, err: (err as Error).message }, 'could not read the replication of the topics (the check is skipped)');
    return;
  }
  const weak = unprotected(durability);
  if (weak.length === 0) return;
  log.warn(
    { topics: weak.map((d) => d.topic), replication: Object.fromEntries(weak.map((d) => [d.topic, d.replication])), minInsyncReplicas: Object.fromEntries(weak.map((d) => [d.topic, d.minInsyncReplicas ?? null])) },
    `topics with replication 1 or min.insync.replicas 1: ${weak.map((d) => `${d.topic} (replication ${d.replication}, min.insync.replicas ${d.minInsyncReplicas ?? '?'})`).join(', ')}; acks=all then protects nothing: a broker's loss can lose acknowledged events`,
  );
}
