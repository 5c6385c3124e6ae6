// One registry of error codes. Every code is documented in docs/errors.md (a test checks both ways).
// `retryable` says whether trying the same thing again can help.

export const ErrorCodes = {
  USAGE: { retryable: false, summary: 'A command line or configuration value is not accepted.' },
  MISSING_SETTING: { retryable: false, summary: 'run needs a feed (--url) and Kafka (--brokers) unless --demo is given.' },
  UNKNOWN_COMMAND: { retryable: false, summary: 'The subcommand does not exist.' },
  NOT_IMPLEMENTED: { retryable: false, summary: 'The subcommand exists but is not built yet.' },
  JAVA_MISSING: { retryable: false, summary: 'The local broker needs Java 17 or newer on PATH.' },
  MAVEN_MISSING: { retryable: false, summary: 'Fetching the Kafka broker needs Maven (mvn) on PATH.' },
  KAFKA_FETCH_FAILED: { retryable: true, summary: 'Maven could not resolve the Apache Kafka broker artifacts.' },
  KAFKA_FORMAT_FAILED: { retryable: false, summary: 'Formatting the KRaft log directory failed.' },
  KAFKA_START_FAILED: { retryable: true, summary: 'The local broker exited or did not answer metadata requests in time.' },
  KAFKA_STOP_FAILED: { retryable: true, summary: 'The local broker did not exit after SIGTERM and SIGKILL.' },
  KAFKA_TOO_OLD: { retryable: false, summary: 'The cluster is older than Apache Kafka 2.8 (no Produce v9), which run needs.' },
  KAFKA_TLS_UNTRUSTED: { retryable: false, summary: "The broker's TLS certificate is not signed by a trusted CA (--kafka-ca, or the system store)." },
  KAFKA_TLS_HOSTNAME_MISMATCH: { retryable: false, summary: "The broker's TLS certificate does not name the host or IP address connected to." },
  KAFKA_TLS_CERT_EXPIRED: { retryable: false, summary: "The broker's TLS certificate has expired (or is not valid yet)." },
  KAFKA_TLS_CLIENT_CERT: { retryable: false, summary: 'The broker refused the TLS connection over the client certificate: it requires one, or does not accept the one given.' },
  KAFKA_TLS_HANDSHAKE_FAILED: { retryable: false, summary: 'The TLS handshake with the broker failed for another reason (protocol, cipher, a malformed certificate).' },
  KAFKA_TLS_TO_PLAINTEXT: { retryable: false, summary: 'TLS was attempted towards a listener that speaks plaintext.' },
  KAFKA_PLAINTEXT_TO_TLS: { retryable: false, summary: 'Plaintext was attempted towards a listener that expects TLS.' },
  KAFKA_SASL_AUTH_FAILED: { retryable: false, summary: 'The broker rejected the SASL credentials (user name and password, or the OAUTHBEARER token).' },
  KAFKA_SASL_MECHANISM: { retryable: false, summary: 'The listener does not enable the SASL mechanism asked for (or has no SASL at all).' },
  KAFKA_SASL_REQUIRED: { retryable: false, summary: 'The listener requires SASL authentication and no --kafka-sasl was given.' },
  AUTH_FAILED: { retryable: false, summary: 'The feed rejected the API key (auth_failed).' },
  SPOOL_LOCKED: { retryable: false, summary: 'Another running bridge uses the same spool directory.' },
  KAFKA_PORT_BUSY: { retryable: false, summary: 'Another program that is not a Kafka broker holds the port.' },
  FEED_LISTEN_FAILED: { retryable: true, summary: 'The feed server (mock) could not listen on its host and port.' },
  PROXY_OPEN_WITHOUT_KEYS: { retryable: false, summary: 'proxy: listening on a non-loopback address needs --client-keys.' },
  TOO_MANY_CLIENTS: { retryable: true, summary: 'proxy: --max-clients connections were open; a new client got max_connections and a 1013 close.' },
  PROXY_STATS_UNAUTHORIZED: { retryable: false, summary: "proxy: GET /stats without one of the client keys (Authorization: Bearer KEY) got 401." },
  REPLAY_FILE_UNREADABLE: { retryable: false, summary: 'The --replay file cannot be read or holds no frames.' },
  MOCK_STATS_FAILED: { retryable: true, summary: "verify could not fetch or understand the mock's /stats." },
  VERIFY_SETTLE_TIMEOUT: { retryable: true, summary: 'The topics kept growing: verify gave up waiting for them to settle.' },
  VERIFY_READ_FAILED: { retryable: true, summary: 'verify could not read the topics from Kafka.' },
  BENCH_FAILED: { retryable: true, summary: 'bench could not run a rung: a process it started failed or did not get ready.' },
  PERF_TEST_FAILED: { retryable: true, summary: "bench --ceiling: Kafka's kafka-producer-perf-test could not be run or printed no result." },
  MALFORMED_FRAME: { retryable: false, summary: 'A frame is not a JSON array of objects (or not valid JSON): sent whole to the dead-letter topic.' },
  INVALID_UTF8: { retryable: false, summary: 'A text frame is not valid UTF-8: sent whole to the dead-letter topic, the connection stays up.' },
  BINARY_FRAME: { retryable: false, summary: 'The feed sent a binary frame (Polygon sends text only): sent whole to the dead-letter topic.' },
  FRAME_HANDLER_ERROR: { retryable: false, summary: 'Handling a frame threw: the frame went whole to the dead-letter topic with the error as its reason.' },
  FRAME_TOO_LARGE: { retryable: true, summary: 'A frame was larger than --max-frame-bytes: the WebSocket library closed the connection (1009); reconnect and a gap record.' },
  TOO_MANY_EVENTS: { retryable: false, summary: 'A frame held more events than --max-events-per-frame: sent whole to the dead-letter topic.' },
  TOO_DEEP: { retryable: false, summary: 'A frame nested deeper than --max-depth: sent whole to the dead-letter topic.' },
  KEY_TOO_LONG: { retryable: false, summary: 'An event key was longer than --max-key-bytes: the event went alone to the dead-letter topic.' },
  KAFKA_RECORD_TOO_LARGE: { retryable: false, summary: "A record is larger than its topic's max.message.bytes even alone: sent to the dead-letter topic." },
  KAFKA_RECORD_REFUSED: { retryable: false, summary: 'Kafka refused a record for good (INVALID_RECORD, CORRUPT_MESSAGE, INVALID_TIMESTAMP, POLICY_VIOLATION): sent to the dead-letter topic.' },
  KAFKA_TOPIC_AUTHORIZATION: { retryable: true, summary: "The principal may not write a topic: its records wait in the spool, the other topics flow." },
  KAFKA_CLUSTER_AUTHORIZATION: { retryable: true, summary: 'The principal lacks a cluster permission (idempotent write): records wait in the spool.' },
  KAFKA_INVALID_TOPIC: { retryable: true, summary: 'Kafka calls the topic name invalid: its records wait in the spool.' },
  KAFKA_UNKNOWN_TOPIC: { retryable: true, summary: 'A topic does not exist (deleted, or not created): its records wait in the spool until it does.' },
  KAFKA_TOPIC_UNWRITABLE: { retryable: true, summary: 'Kafka refuses a topic for another lasting reason (a cluster setting): its records wait in the spool.' },
  KAFKA_PRODUCE_FAILED: { retryable: true, summary: 'A produce request failed for now (leader change, replicas, network): the same batch is retried, in order.' },
  BUFFER_FULL: { retryable: true, summary: 'The memory buffer reached --buffer-size events or --buffer-bytes (the message says which): --overflow drop drops and counts events, block pauses reading.' },
  SPOOL_WRITE_FAILED: { retryable: true, summary: 'The spool could not be written (ENOSPC, EIO, EROFS): the --spool-full policy applies until it can.' },
  HA_FENCED: { retryable: true, summary: 'HA: the active member heard nothing from the group coordinator for --ha-session-timeout minus --ha-fence-margin: it stopped reading the feeds.' },
  HA_GROUP_UNAVAILABLE: { retryable: true, summary: 'HA: joining the group failed (Kafka unreachable, or the session timeout outside the broker\'s limits): joined again with backoff.' },
  HA_HEARTBEAT_FAILED: { retryable: true, summary: 'HA: the active member could not write a heartbeat record to the control topic.' },
  INTERNAL_ERROR: { retryable: true, summary: 'An error escaped every handler: the bridge kept what it could in the spool and exited non-zero.' },
} as const satisfies Record<string, { retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class Ws2kError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Ws2kError';
    this.code = code;
    this.retryable = ErrorCodes[code].retryable;
  }
}

export function isWs2kError(err: unknown): err is Ws2kError {
  return err instanceof Ws2kError;
}
