// The Kafka client as the producer sees it: the ProducerClient interface (what BatchProducer needs:
// Produce versions, metadata, a producer id, one Produce request to one broker, topic limits) and
// its real implementation on @platformatic/kafka, which keeps doing what it does well: connections,
// metadata, InitProducerId, API versions, DescribeConfigs and response parsing. Tests put a fake
// broker behind the same interface (test/unit/producer.test.ts).
import type { Socket } from 'node:net';
import { Admin, ConfigResourceTypes, Producer, produceV11, Writer, type Connection } from '@platformatic/kafka';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { classifyKafkaError } from '../kafka/connection-errors.ts';
import { produceErrorName } from './kafka-errors.ts';
import { produceRequestBody, type PartitionBatch } from './record-batch.ts';

const ACKS_ALL = -1;
/** How long the broker may wait for the in-sync replicas (the request's own timeout). */
const PRODUCE_TIMEOUT_MS = 30_000;
const PRODUCE_API_KEY = 0;
const UNKNOWN_TOPIC_OR_PARTITION = 3;

export interface PartitionResponse {
  index: number;
  errorCode: number;
  errorMessage?: string | null;
}
export interface ProduceResponse {
  responses: Array<{ name: string; partitionResponses: PartitionResponse[] }>;
}

/** Leaders by partition for the topics that exist; Kafka's error code for those that do not. */
export interface TopicsMetadata {
  leaders: Map<string, number[]>;
  missing: Map<string, number>;
}

/** What the producer needs of a Kafka client (platformaticClient below; a fake broker in tests). */
export interface ProducerClient {
  /** The highest Produce version the cluster speaks. */
  produceVersion(): Promise<number>;
  metadata(topics: string[]): Promise<TopicsMetadata>;
  initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }>;
  /** One Produce request to one broker; rejects when no response came (network, timeout). */
  produce(broker: number, version: number, batches: readonly PartitionBatch[]): Promise<ProduceResponse>;
  /** Each topic's max.message.bytes (topics it cannot read are left out). */
  maxMessageBytes(topics: string[]): Promise<Map<string, number>>;
  /**
   * Resets the connections produce requests went out on (TCP RST, unsent bytes dropped): a
   * request still in the kernel's send buffer, or being retransmitted across a partition, must not
   * reach the broker later. Requests on them fail; the next produce connects again.
   */
  abort?(): void;
  close(): Promise<void>;
}

/**
 * A name for a failure without a Kafka error code: its protocol error, our code for a failed
 * connection (TLS, SASL: docs/errors.md), or the kind of failure.
 */
export function errorCodeName(err: unknown, security?: KafkaSecurity): string {
  const code = apiCodeOf(err);
  if (code !== undefined) return produceErrorName(code);
  const connection = classifyKafkaError(err, security);
  if (connection !== undefined) return connection.code;
  const c = (err as { code?: unknown } | null)?.code;
  if (c === 'PLT_KFK_TIMEOUT') return 'TIMEOUT';
  return 'NETWORK';
}

/**
 * Kafka's error code inside an error of the client (it nests them), if there is one. A code inside
 * a failed connection (SASL_AUTHENTICATION_FAILED of the handshake, under the client's network or
 * authentication error) is not the request's: the whole request failed (kafka-sink.ts gives it
 * its connection code), no topic or partition is to blame.
 */
export function apiCodeOf(err: unknown, depth = 0): number | undefined {
  if (err === null || typeof err !== 'object' || depth > 5) return undefined;
  const e = err as { apiCode?: unknown; errors?: unknown; cause?: unknown; message?: unknown; code?: unknown };
  if (e.code === 'PLT_KFK_NETWORK' || e.code === 'PLT_KFK_AUTHENTICATION') return undefined;
  if (typeof e.apiCode === 'number') return e.apiCode;
  if (typeof e.message === 'string' && e.message.startsWith('Unknown topic ')) return UNKNOWN_TOPIC_OR_PARTITION;
  if (Array.isArray(e.errors)) {
    for (const x of e.errors) {
      const c = apiCodeOf(x, depth + 1);
      if (c !== undefined) return c;
    }
  }
  return apiCodeOf(e.cause, depth + 1);
}

/** The real client: @platformatic/kafka's Producer (and an Admin for topic configs). */
export function platformaticClient(brokers: string[], security?: KafkaSecurity): ProducerClient {
  const connection = kafkaClientOptions(security, brokers);
  const client = new Producer({ clientId: 'ws2kafka', bootstrapBrokers: brokers, retries: 0, ...connection });
  let admin: Admin | undefined;
  /** Connections produce requests were sent on (abort() resets them). */
  const used = new Set<Connection>();
  const leadersOf = async (topics: string[]): Promise<Map<string, number[]>> => {
    const md = await client.metadata({ topics, forceUpdate: true });
    const leaders = new Map<string, number[]>();
    for (const t of topics) {
      const tm = md.topics.get(t);
      if (tm !== undefined) leaders.set(t, tm.partitions.map((p) => p.leader));
    }
    return leaders;
  };
  return {
    async produceVersion() {
      const apis = await client.listApis();
      return apis.find((a) => a.apiKey === PRODUCE_API_KEY)?.maxVersion ?? -1;
    },
    async metadata(topics) {
      try {
        return { leaders: await leadersOf(topics), missing: new Map() };
      } catch (err) {
        if (apiCodeOf(err) === undefined) throw err;
      }
      // Some topic cannot be described (deleted, not authorised): find which, one by one.
      const leaders = new Map<string, number[]>();
      const missing = new Map<string, number>();
      for (const t of topics) {
        try {
          for (const [k, v] of await leadersOf([t])) leaders.set(k, v);
        } catch (err) {
          const code = apiCodeOf(err);
          if (code === undefined) throw err;
          missing.set(t, code);
        }
      }
      return { leaders, missing };
    },
    initProducerId: () => client.initIdempotentProducer({}),
    async produce(broker, version, batches) {
      const connections = await client.connectToBrokers([broker]);
      const connection = connections.get(broker);
      if (connection === undefined) throw new Error(`broker ${broker} is not in the metadata`);
      used.add(connection);
      return produceOn(connection, version, batches);
    },
    abort() {
      for (const c of used) (c.socket as Socket | undefined)?.resetAndDestroy();
      used.clear();
    },
    async maxMessageBytes(topics) {
      admin ??= new Admin({ clientId: 'ws2kafka-admin', bootstrapBrokers: brokers, retries: 0, connectTimeout: 5000, requestTimeout: 10_000, ...connection });
      const described = await admin.describeConfigs({ resources: topics.map((t) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName: t, configurationKeys: ['max.message.bytes'] })) });
      const limits = new Map<string, number>();
      for (const d of described) {
        const v = d.configs.find((c) => c.name === 'max.message.bytes')?.value;
        const n = Number(v);
        if (v !== null && v !== undefined && Number.isFinite(n) && n > 0) limits.set(d.resourceName, n);
      }
      return limits;
    },
    async close() {
      await admin?.close().catch(() => undefined);
      await client.close();
    },
  };
}

function produceOn(connection: Connection, version: number, batches: readonly PartitionBatch[]): Promise<ProduceResponse> {
  const body = produceRequestBody(ACKS_ALL, PRODUCE_TIMEOUT_MS, batches);
  return new Promise((resolve, reject) => {
    connection.send(
      PRODUCE_API_KEY,
      version,
      () => Writer.create().append(body),
      produceV11.parseResponse,
      true,
      true,
      (error: Error | null, response: unknown) => {
        // A response with partition errors comes as an error carrying the parsed response.
        const parsed = (response ?? (error as { response?: unknown } | null)?.response) as ProduceResponse | undefined;
        if (parsed?.responses === undefined) reject(error ?? new Error('no response'));
        else resolve(parsed);
      },
    );
  });
}
