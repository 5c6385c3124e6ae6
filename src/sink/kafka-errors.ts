// One table from every Kafka error code the produce path can meet to one action. Pure: the
// producer (producer.ts) reads it for each partition of a Produce response; tests check it case
// by case (test/unit/producer.test.ts). Codes are Kafka's (the protocol's error table), names as
// Kafka spells them; a code missing from the table is retried as it is, and still shows up in
// /metrics with its name (`ws2kafka_produce_errors_total{code}`), so nothing is retried unseen.
//
// Actions:
// - retry:    send the same batch again, byte for byte (same producer id and sequence).
// - refresh:  the leader moved or is unknown: read the metadata again, then resend.
// - new_id:   the broker lost this producer's state: a new producer id, batches restamped.
// - split:    the batch is too large: send its records in smaller batches; a single record that is
//             still too large is refused.
// - refuse:   this record will never be accepted: with more than one record in the batch, split
//             until the one at fault is alone, then send it to the dead-letter topic.
// - hold:     the topic cannot be written now (authorization, unknown or invalid topic, a setting
//             of the cluster): its records wait in the spool, the other topics keep flowing, and
//             the topic is tried again every few seconds until the cause is fixed.

export const ProduceActions = {
  OK: 'ok',
  RETRY: 'retry',
  REFRESH: 'refresh',
  NEW_ID: 'new_id',
  SPLIT: 'split',
  REFUSE: 'refuse',
  HOLD: 'hold',
} as const;
export type ProduceAction = (typeof ProduceActions)[keyof typeof ProduceActions];

const A = ProduceActions;

/** code → [Kafka's name, action]. */
export const PRODUCE_ERRORS: ReadonlyMap<number, readonly [string, ProduceAction]> = new Map<number, readonly [string, ProduceAction]>([
  [0, ['NONE', A.OK]],
  // The broker already wrote this batch (same producer id and sequence): a retry's success.
  [46, ['DUPLICATE_SEQUENCE_NUMBER', A.OK]],
  [-1, ['UNKNOWN_SERVER_ERROR', A.RETRY]],
  [7, ['REQUEST_TIMED_OUT', A.RETRY]],
  [13, ['NETWORK_EXCEPTION', A.RETRY]],
  [19, ['NOT_ENOUGH_REPLICAS', A.RETRY]],
  [20, ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', A.RETRY]],
  [51, ['CONCURRENT_TRANSACTIONS', A.RETRY]],
  [89, ['THROTTLING_QUOTA_EXCEEDED', A.RETRY]],
  [3, ['UNKNOWN_TOPIC_OR_PARTITION', A.REFRESH]],
  [5, ['LEADER_NOT_AVAILABLE', A.REFRESH]],
  [6, ['NOT_LEADER_OR_FOLLOWER', A.REFRESH]],
  [8, ['BROKER_NOT_AVAILABLE', A.REFRESH]],
  [9, ['REPLICA_NOT_AVAILABLE', A.REFRESH]],
  [56, ['KAFKA_STORAGE_ERROR', A.REFRESH]],
  [74, ['FENCED_LEADER_EPOCH', A.REFRESH]],
  [75, ['UNKNOWN_LEADER_EPOCH', A.REFRESH]],
  [100, ['UNKNOWN_TOPIC_ID', A.REFRESH]],
  [103, ['INCONSISTENT_TOPIC_ID', A.REFRESH]],
  [108, ['NEW_LEADER_ELECTED', A.REFRESH]],
  [45, ['OUT_OF_ORDER_SEQUENCE_NUMBER', A.NEW_ID]],
  [47, ['INVALID_PRODUCER_EPOCH', A.NEW_ID]],
  [59, ['UNKNOWN_PRODUCER_ID', A.NEW_ID]],
  [90, ['PRODUCER_FENCED', A.NEW_ID]],
  [10, ['MESSAGE_TOO_LARGE', A.SPLIT]],
  [18, ['RECORD_LIST_TOO_LARGE', A.SPLIT]],
  [2, ['CORRUPT_MESSAGE', A.REFUSE]],
  [32, ['INVALID_TIMESTAMP', A.REFUSE]],
  [44, ['POLICY_VIOLATION', A.REFUSE]],
  [87, ['INVALID_RECORD', A.REFUSE]],
  [17, ['INVALID_TOPIC_EXCEPTION', A.HOLD]],
  [29, ['TOPIC_AUTHORIZATION_FAILED', A.HOLD]],
  [31, ['CLUSTER_AUTHORIZATION_FAILED', A.HOLD]],
  [53, ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', A.HOLD]],
  [21, ['INVALID_REQUIRED_ACKS', A.HOLD]],
  [35, ['UNSUPPORTED_VERSION', A.HOLD]],
  [42, ['INVALID_REQUEST', A.HOLD]],
  [43, ['UNSUPPORTED_FOR_MESSAGE_FORMAT', A.HOLD]],
  [58, ['SASL_AUTHENTICATION_FAILED', A.HOLD]],
  [76, ['UNSUPPORTED_COMPRESSION_TYPE', A.HOLD]],
]);

/** The action for a code: the table's, or retry for a code it does not know. */
export function produceAction(code: number): ProduceAction {
  return PRODUCE_ERRORS.get(code)?.[1] ?? A.RETRY;
}

/** Kafka's name for a code (`error 123` for one the table does not know). */
export function produceErrorName(code: number): string {
  return PRODUCE_ERRORS.get(code)?.[0] ?? `KAFKA_ERROR_${code}`;
}

/**
 * Our error code (errors.ts) for records held or refused because of a Kafka error: what the
 * operator sees in the log, /metrics and /health, with what to do in docs/errors.md.
 */
export function heldCode(code: number): 'KAFKA_TOPIC_AUTHORIZATION' | 'KAFKA_CLUSTER_AUTHORIZATION' | 'KAFKA_INVALID_TOPIC' | 'KAFKA_UNKNOWN_TOPIC' | 'KAFKA_TOPIC_UNWRITABLE' {
  switch (code) {
    case 29:
      return 'KAFKA_TOPIC_AUTHORIZATION';
    case 31:
    case 53:
      return 'KAFKA_CLUSTER_AUTHORIZATION';
    case 17:
      return 'KAFKA_INVALID_TOPIC';
    case 3:
    case 100:
      return 'KAFKA_UNKNOWN_TOPIC';
    default:
      return 'KAFKA_TOPIC_UNWRITABLE';
  }
}
