// `ws2kafka run` configuration: one table of options, loaded from a file < environment < flags.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { Ws2kError } from '../errors.ts';
import { DEFAULT_TOPICS } from '../route/route.ts';
import { parseFeeds, type FeedConfig } from './feeds.ts';
import { KAFKA_OPTIONS, kafkaFlagSpec, kafkaHelpRows, kafkaSecurityFrom, pickOption, readCaBundle, secretFromFile, type KafkaSecurity } from './kafka-options.ts';
import { LIMITS, type LimitName } from './limits.ts';
import { parseBrokers, parseBytes, parseChoice, parseDuration, parseInteger, parseMap, parseTopic, parseUrl, usage } from './parse.ts';

export const COMPRESSIONS = ['lz4', 'snappy', 'zstd', 'gzip', 'none'] as const;
export const OVERFLOWS = ['spool', 'block', 'drop'] as const;
export const DURABILITIES = ['memory', 'disk'] as const;
export const FSYNCS = ['always', 'interval', 'never'] as const;
export const SPOOL_FULL = ['block', 'drop'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const TIMESTAMPS = ['receive', 'event'] as const;

export interface RunConfig {
  url: string | undefined;
  /** The feed's API key: from --api-key / POLYGON_API_KEY, or read from --api-key-file. */
  apiKey: string | undefined;
  apiKeyFile: string | undefined;
  /** --ca: a PEM bundle of CAs for a wss:// feed (its path; the contents are feedCa). */
  ca: string | undefined;
  subscribe: string;
  brokers: string[] | undefined;
  topics: Record<string, string>;
  unknownTopic: string;
  deadLetterTopic: string;
  gapTopic: string;
  partitions: number;
  /** 'auto': min(3, the brokers in the cluster's metadata); -1: the broker's default.replication.factor. */
  replication: number | 'auto';
  /** --topic-config: configs of every topic the bridge creates (under the sink's per-topic ones). */
  topicConfig: Record<string, string>;
  /** Record timestamps: when the bridge received the frame, or the event's own `t`. */
  timestamp: (typeof TIMESTAMPS)[number];
  compression: (typeof COMPRESSIONS)[number];
  lingerMs: number;
  batchBytes: number;
  inflight: number;
  bufferSize: number;
  /** --buffer-bytes: most bytes the memory buffer keeps alive (frames and records); 0: no byte bound. */
  bufferBytes: number;
  /** --read-ahead-bytes: frames a feed's reading thread keeps before the pipeline takes them; 0: no reading thread. */
  readAheadBytes: number;
  /** Synthetic events run through the hot path at start (src/bridge/warm-up.ts); 0: none. */
  warmUpEvents: number;
  overflow: (typeof OVERFLOWS)[number];
  durability: (typeof DURABILITIES)[number];
  spoolDir: string | undefined;
  spoolMaxBytes: number;
  spoolSegmentBytes: number;
  spoolFsync: (typeof FSYNCS)[number];
  spoolFsyncIntervalMs: number;
  spoolFull: (typeof SPOOL_FULL)[number];
  metricsIntervalMs: number;
  metricsPort: number;
  metricsHost: string;
  readyMaxLagMs: number;
  metadataMaxAgeMs: number;
  /** --demo: the built-in mock feed, and the local broker when no brokers are given. */
  demo: boolean;
  maxEvents: number;
  shutdownTimeoutMs: number;
  mockRate: number;
  logLevel: (typeof LOG_LEVELS)[number];
  pingIntervalMs: number;
  silenceTimeoutMs: number;
  maxFrameBytes: number;
  maxEventsPerFrame: number;
  maxDepth: number;
  maxKeyBytes: number;
  /** --ha-group: the HA group this bridge is a member of (src/ha/); undefined: no group, stream at once. */
  haGroup: string | undefined;
  haTopic: string;
  haSessionTimeoutMs: number;
  haHeartbeatMs: number;
  haFenceMarginMs: number;
  /** Loaded from the options above, not options themselves: --ca's contents, Kafka's TLS and SASL. */
  feedCa: string | undefined;
  kafka: KafkaSecurity;
  /** The config file's `feeds` list (several feeds in one process); undefined: one feed, from the options above. */
  feeds: FeedConfig[] | undefined;
}

type Key = Exclude<keyof RunConfig, 'feedCa' | 'kafka' | 'feeds'>;

interface Option {
  key: Key;
  flag: string;
  env?: string;
  arg: string;
  help: string;
  default: string | undefined;
  parse: (option: string, value: string) => RunConfig[Key];
}

const str = (_o: string, v: string) => v;

/** --replication: `auto`, -1 (the broker's default) or a factor from 1 to 32. */
export function parseReplication(option: string, value: string): number | 'auto' {
  const v = value.trim();
  if (v === 'auto') return 'auto';
  if (!/^-?\d+$/.test(v) || (Number(v) !== -1 && (Number(v) < 1 || Number(v) > 32))) {
    throw usage(option, value, "auto (min(3, brokers)), -1 (the broker's default.replication.factor) or a whole number from 1 to 32");
  }
  return Number(v);
}

/**
 * --topic-config "retention.ms=3600000,min.insync.replicas=2" → { 'retention.ms': '3600000', ... }.
 * Keys are Kafka's topic config names (lowercase, dotted); values are passed to Kafka as given
 * (Kafka validates them when it creates the topic). A key given twice is refused.
 */
export function parseTopicConfig(option: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part.trim() : part.slice(0, eq).trim();
    const v = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (!/^[a-z][a-z0-9]*(?:\.[a-z0-9]+)*$/.test(key)) {
      throw usage(option, part, 'KEY=VALUE pairs separated by commas, KEY a topic config name in lowercase dotted form, e.g. retention.ms=3600000,min.insync.replicas=2');
    }
    if (v === '' || /\s/.test(v)) throw usage(option, part, `a value for ${key} (no spaces), e.g. ${key}=VALUE`);
    if (Object.hasOwn(out, key)) throw usage(option, value, `each topic config once (${key} is given twice)`);
    out[key] = v;
  }
  return out;
}
/** --ha-group: a name for the group id ws2kafka-ha-NAME (letters, digits, . _ -). */
export function parseHaGroup(option: string, value: string): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(value.trim())) throw usage(option, value, 'a group name of letters, digits, . _ - (at most 200)');
  return value.trim();
}
/** --buffer-bytes' default (docs/benchmarks.md: peak RSS at 300,000 events/s). */
export const BUFFER_BYTES_DEFAULT = '64MiB';
/** --read-ahead-bytes' default (docs/benchmarks.md: a burst of 2,000,000 events absorbed). */
export const READ_AHEAD_BYTES_DEFAULT = '256MiB';
const int = (min: number, max?: number) => (o: string, v: string) => parseInteger(o, v, min, max);

/** Every option of `run`: its flag, environment variable, default and help line. */
export const RUN_OPTIONS: readonly Option[] = [
  { key: 'url', flag: 'url', env: 'WEBSOCKET_URL', arg: 'URL', default: undefined, parse: parseUrl, help: 'feed to read (required unless --demo, which reads the built-in mock feed)' },
  { key: 'apiKey', flag: 'api-key', env: 'POLYGON_API_KEY', arg: 'KEY', default: undefined, parse: str, help: 'API key sent in the auth message; never logged. A key on the command line is visible to every user of the host through ps: prefer POLYGON_API_KEY or --api-key-file' },
  { key: 'apiKeyFile', flag: 'api-key-file', env: 'POLYGON_API_KEY_FILE', arg: 'FILE', default: undefined, parse: str, help: 'file holding the API key (read at start; a trailing newline is ignored)' },
  { key: 'ca', flag: 'ca', env: 'WEBSOCKET_CA', arg: 'FILE', default: undefined, parse: str, help: "PEM bundle of the CAs that sign a wss:// feed's certificate (a private CA; default: the system's CA store)" },
  { key: 'subscribe', flag: 'subscribe', env: 'SUBSCRIBE', arg: 'PARAMS', default: 'T.*,AM.*', parse: str, help: 'subscription params, comma separated' },
  { key: 'brokers', flag: 'brokers', env: 'KAFKA_BROKERS', arg: 'HOST:PORT,..', default: undefined, parse: parseBrokers, help: 'Kafka bootstrap servers (required unless --demo, which uses 127.0.0.1:9092 and starts it with `ws2kafka kafka start` when nothing answers)' },
  { key: 'topics', flag: 'topics', env: 'TOPICS', arg: 'EV=TOPIC,..', default: undefined, parse: parseMap, help: `ev to topic, merged over the defaults (${Object.entries(DEFAULT_TOPICS).map(([e, t]) => `${e}=${t}`).join(',')})` },
  { key: 'unknownTopic', flag: 'unknown-topic', env: 'UNKNOWN_TOPIC', arg: 'TOPIC', default: 'ws2kafka-unknown', parse: parseTopic, help: 'topic for events whose ev has no mapping' },
  { key: 'deadLetterTopic', flag: 'dead-letter-topic', env: 'DEAD_LETTER_TOPIC', arg: 'TOPIC', default: 'ws2kafka-dead-letter', parse: parseTopic, help: 'topic for bad frames and for records Kafka will not take (reason and code in headers; see docs/errors.md)' },
  { key: 'gapTopic', flag: 'gap-topic', env: 'GAP_TOPIC', arg: 'TOPIC', default: 'ws2kafka-gaps', parse: parseTopic, help: 'topic for disconnect (gap) records' },
  { key: 'partitions', flag: 'partitions', env: 'KAFKA_PARTITIONS', arg: 'N', default: '-1', parse: int(-1, 100_000), help: "partitions of topics the bridge creates (-1: the broker's default)" },
  { key: 'replication', flag: 'replication', env: 'KAFKA_REPLICATION', arg: 'auto|N', default: 'auto', parse: parseReplication, help: "replication factor of topics the bridge creates (auto: min(3, brokers in the cluster); -1: the broker's default.replication.factor)" },
  { key: 'topicConfig', flag: 'topic-config', env: 'TOPIC_CONFIG', arg: 'KEY=VALUE,..', default: undefined, parse: parseTopicConfig, help: "configs of the topics the bridge creates, e.g. retention.ms=3600000,min.insync.replicas=2 (a topic's own, such as the dead-letter topic's max.message.bytes, win)" },
  { key: 'timestamp', flag: 'timestamp', env: 'TIMESTAMP', arg: TIMESTAMPS.join('|'), default: 'receive', parse: (o, v) => parseChoice(o, v, TIMESTAMPS), help: "record timestamps: when the bridge received the frame (kept through the spool), or the event's own `t` (ms; Polygon's few ns timestamps converted)" },
  { key: 'compression', flag: 'compression', env: 'KAFKA_COMPRESSION', arg: COMPRESSIONS.join('|'), default: 'lz4', parse: (o, v) => parseChoice(o, v, COMPRESSIONS), help: 'producer compression' },
  { key: 'lingerMs', flag: 'linger', env: 'KAFKA_LINGER', arg: 'DURATION', default: '5ms', parse: parseDuration, help: 'longest wait to fill a batch' },
  { key: 'batchBytes', flag: 'batch-bytes', env: 'KAFKA_BATCH_BYTES', arg: 'BYTES', default: '1048576', parse: int(1024, 64 * 1024 * 1024), help: 'a batch is sent once its values reach this size' },
  { key: 'metadataMaxAgeMs', flag: 'metadata-max-age', env: 'KAFKA_METADATA_MAX_AGE', arg: 'DURATION', default: '5m', parse: parseDuration, help: 'the topics\' metadata is read again when older than this, so partitions added to a topic are used (Kafka\'s metadata.max.age.ms)' },
  { key: 'inflight', flag: 'inflight', env: 'KAFKA_INFLIGHT', arg: 'N', default: '5', parse: int(1, 5), help: 'produce requests in flight per broker, and batches per partition (1 to 5; the idempotent producer keeps order within 5)' },
  { key: 'bufferSize', flag: 'buffer-size', env: 'KAFKA_BUFFER_SIZE', arg: 'EVENTS', default: '200000', parse: int(1000, 50_000_000), help: 'events held in memory between socket and Kafka' },
  { key: 'bufferBytes', flag: 'buffer-bytes', env: 'KAFKA_BUFFER_BYTES', arg: 'BYTES', default: BUFFER_BYTES_DEFAULT, parse: (o, v) => parseBytes(o, v, 64 * 1024, 1024 ** 4, true), help: "bytes the memory buffer keeps alive: the frames its events are read from (each counted whole, once) and each record's objects; when reached, --overflow applies as for --buffer-size. Sizes: 256MB (10^6), 256MiB or 256m (2^20), 1GiB; 64KiB to 1TiB, or 0 (no byte bound)" },
  { key: 'warmUpEvents', flag: 'warm-up-events', env: 'WARM_UP_EVENTS', arg: 'N', default: '100000', parse: int(0, 10_000_000), help: 'synthetic events run once through splitting, the buffer and the record-batch encoder at start, before the feeds are subscribed, so that the first live events meet compiled code (0: none)' },
  { key: 'readAheadBytes', flag: 'read-ahead-bytes', env: 'READ_AHEAD_BYTES', arg: 'BYTES', default: READ_AHEAD_BYTES_DEFAULT, parse: (o, v) => (v.trim() === '0' ? 0 : parseBytes(o, v, 1024 * 1024, 1024 ** 4)), help: 'frames each feed\'s reading thread keeps, as they came, while the pipeline is busy (a burst): the socket is read at its own rate up to this, then paused. 1MiB to 1TiB, or 0: read the socket on the main thread (no reading thread)' },
  { key: 'overflow', flag: 'overflow', env: 'OVERFLOW', arg: OVERFLOWS.join('|'), default: 'spool', parse: (o, v) => parseChoice(o, v, OVERFLOWS), help: 'when the memory buffer is full: spool (write to the disk spool, replay in order), block (pause reading the socket) or drop (discard and count)' },
  { key: 'durability', flag: 'durability', env: 'DURABILITY', arg: DURABILITIES.join('|'), default: 'memory', parse: (o, v) => parseChoice(o, v, DURABILITIES), help: 'disk: every event is written to the spool before it is produced, so a crash loses nothing read (see docs/operations.md)' },
  { key: 'spoolDir', flag: 'spool-dir', env: 'SPOOL_DIR', arg: 'DIR', default: undefined, parse: (_o, v) => v, help: 'the spool directory, one per bridge (default: ~/.cache/ws2kafka/spool/default)' },
  { key: 'spoolMaxBytes', flag: 'spool-max-bytes', env: 'SPOOL_MAX_BYTES', arg: 'BYTES', default: String(10 * 1024 * 1024 * 1024), parse: int(4096), help: 'most unacknowledged bytes the spool holds' },
  { key: 'spoolSegmentBytes', flag: 'spool-segment-bytes', env: 'SPOOL_SEGMENT_BYTES', arg: 'BYTES', default: String(64 * 1024 * 1024), parse: int(4096), help: 'size at which a new spool segment file is started' },
  { key: 'spoolFsync', flag: 'spool-fsync', env: 'SPOOL_FSYNC', arg: FSYNCS.join('|'), default: 'interval', parse: (o, v) => parseChoice(o, v, FSYNCS), help: 'when spool writes are forced to disk: after every write, every --spool-fsync-interval, or never (the OS decides)' },
  { key: 'spoolFsyncIntervalMs', flag: 'spool-fsync-interval', env: 'SPOOL_FSYNC_INTERVAL', arg: 'DURATION', default: '100ms', parse: parseDuration, help: 'the interval of --spool-fsync interval' },
  { key: 'spoolFull', flag: 'spool-full', env: 'SPOOL_FULL', arg: SPOOL_FULL.join('|'), default: 'block', parse: (o, v) => parseChoice(o, v, SPOOL_FULL), help: 'when the spool is full: block (pause reading the socket) or drop (discard and count); a loud warning either way' },
  { key: 'metricsIntervalMs', flag: 'metrics-interval', env: 'METRICS_INTERVAL', arg: 'DURATION', default: '30s', parse: parseDuration, help: 'how often the metrics line is printed (0: never)' },
  { key: 'metricsPort', flag: 'metrics-port', env: 'METRICS_PORT', arg: 'PORT', default: '9464', parse: int(0, 65535), help: 'Prometheus /metrics, /livez, /readyz, /status and /health on --metrics-host (0: off)' },
  { key: 'metricsHost', flag: 'metrics-host', env: 'METRICS_HOST', arg: 'HOST', default: '127.0.0.1', parse: (_o, v) => v, help: 'address the metrics and probe endpoints listen on (0.0.0.0: every interface, for Prometheus or Kubernetes probes from outside the host)' },
  { key: 'readyMaxLagMs', flag: 'ready-max-lag', env: 'READY_MAX_LAG', arg: 'DURATION', default: '30s', parse: parseDuration, help: '/readyz answers 503 when events are waiting and Kafka has acknowledged nothing for this long' },
  { key: 'maxEvents', flag: 'max-events', env: 'MAX_EVENTS', arg: 'N', default: '0', parse: int(0), help: 'exit 0 once N events are acknowledged by Kafka (0: run until stopped)' },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout', env: 'SHUTDOWN_TIMEOUT', arg: 'DURATION', default: '10s', parse: parseDuration, help: 'how long shutdown waits for acknowledgements' },
  { key: 'pingIntervalMs', flag: 'ping-interval', env: 'PING_INTERVAL', arg: 'DURATION', default: '20s', parse: parseDuration, help: 'how often the bridge pings the feed' },
  { key: 'silenceTimeoutMs', flag: 'silence-timeout', env: 'SILENCE_TIMEOUT', arg: 'DURATION', default: '30s', parse: parseDuration, help: 'no frame and no pong for this long: the connection is dead, reconnect' },
  { key: 'mockRate', flag: 'mock-rate', env: 'MOCK_RATE', arg: 'EVENTS_PER_S', default: '1000', parse: int(1, 1_000_000), help: 'rate of the built-in mock feed (only with --demo)' },
  ...(Object.keys(LIMITS) as LimitName[]).map((key) => {
    const l = LIMITS[key];
    return { key, flag: l.flag, env: l.env, arg: 'N', default: String(l.default), parse: int(l.min, l.max), help: `${l.help} [${l.code}]` };
  }),
  { key: 'haGroup', flag: 'ha-group', env: 'HA_GROUP', arg: 'NAME', default: undefined, parse: parseHaGroup, help: 'standby pair: bridges started with the same group name elect one active member through a Kafka consumer group (ws2kafka-ha-NAME); only it reads the feeds (see docs/operations.md)' },
  { key: 'haTopic', flag: 'ha-topic', env: 'HA_TOPIC', arg: 'TOPIC', default: 'ws2kafka-ha', parse: parseTopic, help: "the HA group's control topic: its partition 0 is the active member's, which writes a heartbeat record there every --ha-heartbeat (compacted; created when missing)" },
  { key: 'haSessionTimeoutMs', flag: 'ha-session-timeout', env: 'HA_SESSION_TIMEOUT', arg: 'DURATION', default: '10s', parse: parseDuration, help: "the group's session.timeout.ms: a member not heard from for this long is dropped and a standby made active (within the broker's group.min/max.session.timeout.ms, 6s to 30m by default)" },
  { key: 'haHeartbeatMs', flag: 'ha-heartbeat', env: 'HA_HEARTBEAT', arg: 'DURATION', default: '1s', parse: parseDuration, help: "the group's heartbeat.interval.ms, and how often the active member writes its heartbeat record" },
  { key: 'haFenceMarginMs', flag: 'ha-fence-margin', env: 'HA_FENCE_MARGIN', arg: 'DURATION', default: '3s', parse: parseDuration, help: 'the active member stops reading the feeds after --ha-session-timeout minus this without an answer from the group coordinator, before another can be made active' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', arg: LOG_LEVELS.join('|'), default: 'info', parse: (o, v) => parseChoice(o, v, LOG_LEVELS), help: 'log verbosity (logs go to stderr as JSON lines)' },
];

export function runHelp(): string {
  const rows = RUN_OPTIONS.map((o) => {
    const left = `  --${o.flag} ${o.arg}`;
    const def = o.default === undefined ? '' : ` [default: ${o.default}]`;
    const env = o.env ? ` (env ${o.env})` : '';
    return `${left.padEnd(38)} ${o.help}${def}${env}`;
  });
  return [
    'Usage: ws2kafka run [options]',
    '',
    'Bridges a Polygon-protocol WebSocket feed into Kafka: one record per event, bytes unchanged,',
    'keyed by symbol. A feed (--url) and Kafka (--brokers) are required; --demo runs the whole',
    'pipeline on embedded defaults instead: the built-in mock feed and, without --brokers, the local broker.',
    'Precedence: --config file < environment < flags.',
    '',
    'Options:',
    `${'  --config FILE'.padEnd(38)} JSON or YAML file with any of the options below, by flag name, and \`feeds\`: a list of several feeds read by one process (name, url, api-key or api-key-file, subscribe, topics, dead-letter-topic, gap-topic...; docs/configuration.md, "Several feeds")`,
    `${'  --demo'.padEnd(38)} the built-in mock feed instead of --url, and without --brokers the local broker at 127.0.0.1:9092 (started when nothing answers); never writes a real feed's topics by accident (env DEMO=1)`,
    ...rows,
    `${'  -h, --help'.padEnd(38)} this text`,
    '',
    'Kafka connection (the same options for verify and bench; see docs/configuration.md):',
    ...kafkaHelpRows(38),
    '',
  ].join('\n');
}

/** The parseArgs option table of `run`. */
export function runFlagSpec(): Record<string, { type: 'string' } | { type: 'boolean' }> {
  const spec: Record<string, { type: 'string' } | { type: 'boolean' }> = { config: { type: 'string' }, demo: { type: 'boolean' } };
  for (const o of RUN_OPTIONS) spec[o.flag] = { type: 'string' };
  return { ...spec, ...kafkaFlagSpec() };
}

/** Every key a config file may hold: run's options and the Kafka connection options. */
export function configFileKeys(): Set<string> {
  return new Set([...RUN_OPTIONS.map((o) => o.flag), ...KAFKA_OPTIONS.map((o) => o.flag), 'demo', 'feeds']);
}

/**
 * Where a config file fails to parse, without the parser's excerpt of the text (the file may hold
 * a password or an API key): YAML's line, column and code, JSON's position.
 */
function whereInvalid(err: unknown): string {
  const e = err as { linePos?: Array<{ line: number; col: number }>; code?: unknown; message?: unknown };
  const at = e.linePos?.[0];
  if (at !== undefined) return `at line ${at.line}, column ${at.col}${typeof e.code === 'string' ? ` (${e.code})` : ''}`;
  const m = /position (\d+)(?: \(line (\d+) column (\d+)\))?/.exec(String(e.message));
  if (m) return m[2] !== undefined ? `at line ${m[2]}, column ${m[3]}` : `at character ${m[1]}`;
  return /end of JSON input/.test(String(e.message)) ? 'it ends too soon' : 'the text is not shown, it may hold secrets';
}

/** Reads a --config file (JSON or YAML, one object of options by flag name); unknown keys are named. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Ws2kError('USAGE', `--config '${path}' cannot be read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Ws2kError('USAGE', `--config '${path}' is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${whereInvalid(err)}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw usage('--config', path, 'a file holding one object of options');
  const known = configFileKeys();
  for (const k of Object.keys(data)) {
    if (!known.has(k)) throw new Ws2kError('USAGE', `--config '${path}': unknown option '${k}'; options are: ${[...known].join(', ')}`);
  }
  return data as Record<string, unknown>;
}

/** Merges file < env < flags, parses and validates every value; reads the files options name. */
export async function loadRunConfig(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv = process.env): Promise<RunConfig> {
  const configPath = typeof flags['config'] === 'string' ? flags['config'] : undefined;
  const file = configPath ? await readConfigFile(configPath) : {};
  const sources = { flags, env, file, configPath };
  const config: Partial<Record<Key, unknown>> = {};
  const levels = new Map<Key, number>();
  for (const o of RUN_OPTIONS) {
    const picked = pickOption(o, sources);
    levels.set(o.key, picked?.level ?? 0);
    const raw = picked?.value ?? o.default;
    config[o.key] = raw === undefined ? undefined : o.parse(picked?.source ?? `--${o.flag}`, raw);
  }
  config.topics = { ...DEFAULT_TOPICS, ...(config.topics as Record<string, string> | undefined) };
  config.topicConfig ??= {};
  const c = config as Omit<RunConfig, 'feedCa' | 'kafka' | 'demo' | 'feeds'>;
  // The API key or its file: the higher level wins (flag > environment > config file).
  if (c.apiKeyFile !== undefined && c.apiKey !== undefined && levels.get('apiKeyFile') === levels.get('apiKey')) {
    throw new Ws2kError('USAGE', '--api-key and --api-key-file are both given: give one of them (the file keeps the key out of ps)');
  }
  let apiKey = c.apiKey;
  if (c.apiKeyFile !== undefined && (c.apiKey === undefined || levels.get('apiKeyFile')! > levels.get('apiKey')!)) {
    let text: string;
    try {
      text = await readFile(c.apiKeyFile, 'utf8');
    } catch (err) {
      throw new Ws2kError('USAGE', `--api-key-file '${c.apiKeyFile}' cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): expected a file holding the feed's API key`);
    }
    apiKey = secretFromFile(text);
    if (apiKey === '') throw new Ws2kError('USAGE', `--api-key-file '${c.apiKeyFile}' is empty: expected the feed's API key`);
  }
  if (c.ca !== undefined && c.url !== undefined && !c.url.startsWith('wss:')) {
    throw new Ws2kError('USAGE', `--ca '${c.ca}' is for a wss:// feed, but --url is not wss://`);
  }
  const feedCa = c.ca === undefined ? undefined : await readCaBundle('ca', c.ca);
  const kafka = await kafkaSecurityFrom(sources);
  const demoEnv = env['DEMO'];
  const demo = flags['demo'] === true || (demoEnv !== undefined && /^(1|true|yes)$/i.test(demoEnv)) || file['demo'] === true;
  let feeds: FeedConfig[] | undefined;
  if (file['feeds'] !== undefined && configPath !== undefined) {
    // The list replaces --url: a URL beside it (from the file, the environment or a flag) is a mistake.
    if (c.url !== undefined) throw new Ws2kError('USAGE', `--config '${configPath}' lists feeds, and ${levels.get('url') === 3 ? '--url' : levels.get('url') === 2 ? 'WEBSOCKET_URL' : 'url in the file'} gives one more: give each feed's url in the list`);
    if (demo) throw new Ws2kError('USAGE', `--config '${configPath}' lists feeds: --demo (the built-in mock feed) cannot be added to them`);
    const { topics, subscribe, unknownTopic, deadLetterTopic, gapTopic } = c;
    feeds = await parseFeeds(file['feeds'], configPath, { apiKey, feedCa, topics, subscribe, unknownTopic, deadLetterTopic, gapTopic });
  }
  return { ...c, apiKey, feedCa, kafka, demo, feeds };
}
