// The bridge's counters: plain fields, incremented on the hot path; read by the periodic metrics
// line and by the Prometheus endpoint. One naming scheme: ws2kafka_<what>_<unit>.
import { Histogram } from './histogram.ts';

/**
 * What one feed counts (several feeds in one process): exported with a `feed` label beside the
 * bridge's totals, which sum every feed's (and which the metrics line prints).
 */
export class FeedMetrics {
  readonly name: string;
  eventsReceived = 0;
  framesReceived = 0;
  framesRejected = 0;
  eventsRejected = 0;
  reconnects = 0;
  gaps = 0;
  /** The feed's connection state (the source's), read when exported. */
  state: () => string = () => 'waiting';

  constructor(name: string) {
    this.name = name;
  }
}

export class BridgeMetrics {
  eventsReceived = 0;
  framesReceived = 0;
  /** Acknowledged by Kafka. */
  eventsProduced = 0;
  /** Discarded under --overflow drop. */
  eventsDropped = 0;
  /** Frames that were not JSON arrays of objects (sent whole to the dead-letter topic). */
  framesRejected = 0;
  deadLettersProduced = 0;
  statusEvents = 0;
  reconnects = 0;
  gaps = 0;
  gapRecordsProduced = 0;
  produceErrors = 0;
  /** Failed produce attempts by Kafka's error name (or NETWORK, TIMEOUT). */
  readonly produceErrorCodes = new Map<string, number>();
  /** Events acknowledged, by topic. */
  readonly producedByTopic = new Map<string, number>();
  /** Problems by our error code (errors.ts): dead letters, held topics, spool write errors. */
  readonly errorCodes = new Map<string, number>();
  lastError: { code: string; message: string; at: string } | undefined;
  /** Records Kafka will never take, sent to the dead-letter topic. */
  recordsRefused = 0;
  /** Events of a frame sent alone to the dead-letter topic (e.g. a key over --max-key-bytes). */
  eventsRejected = 0;
  /** Records of held topics (Kafka refuses the topic for now), waiting in the spool. */
  heldRecords = 0;
  /** Records of parked partitions (their leader away), kept until it answers. */
  parkedRecords = 0;
  /** Failed spool writes (ENOSPC, EIO, EROFS). */
  spoolWriteErrors = 0;
  /** --ha-group (src/ha/): 1 while this member is the group's active one; times it became active. */
  haActive = 0;
  haTakeovers = 0;
  /** HA: events read and not delivered when another member took the role (discarded). */
  haDiscarded = 0;
  /** Records written to the disk spool, and spooled records acknowledged by Kafka. */
  eventsSpooled = 0;
  eventsReplayed = 0;
  spoolBytes = 0;
  /** The wall-clock receive time of the oldest event not yet acknowledged (set by the bridge). */
  oldestAt: () => number | undefined = () => undefined;
  bufferUsed = 0;
  bufferCapacity = 0;
  /**
   * The memory queue (the sink's RecordQueue, set by the sink), read when exported: the bytes it
   * keeps alive and its byte bound (--buffer-bytes; 0: none). Undefined: both read as 0.
   */
  bufferQueue: { readonly retainedBytes: number; readonly capacityBytes: number } | undefined;
  /** Bytes the feeds' reading threads hold, read and not yet taken (set by the bridge; read when exported). */
  readAhead: (() => number) | undefined;
  /** Bytes of frames the reading threads keep on disk beyond --read-ahead-bytes (set by the bridge). */
  readAheadSpilled: (() => number) | undefined;
  /** Receive → acknowledgement, in µs: since start, and since the last metrics line. */
  readonly latency = new Histogram();
  readonly intervalLatency = new Histogram();
  readonly startedAt = Date.now();
  /** Per feed, in the order configured (one, "default", without a `feeds` list). */
  readonly feeds: FeedMetrics[] = [];
  #lastLineAt = Date.now();
  #lastLineProduced = 0;

  /** Age of the oldest event not yet acknowledged, ms (0 when none is waiting). */
  oldestUnackedMs(now = Date.now()): number {
    const t = this.oldestAt();
    return t === undefined ? 0 : Math.max(0, Math.round(now - t));
  }

  /** Counts a problem under our error code and remembers it as the last error. */
  countError(code: string, message: string): void {
    this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
    this.setLastError(code, message);
  }

  setLastError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date().toISOString() };
  }

  countTopic(topic: string, n: number): void {
    this.producedByTopic.set(topic, (this.producedByTopic.get(topic) ?? 0) + n);
  }

  countProduceError(code: string): void {
    this.produceErrorCodes.set(code, (this.produceErrorCodes.get(code) ?? 0) + 1);
  }

  recordAck(latencyUs: number): void {
    this.eventsProduced++;
    this.latency.record(latencyUs);
    this.intervalLatency.record(latencyUs);
  }

  /** The old tool's line, extended. Rate is acknowledged events per second since the last line. */
  line(now = Date.now()): string {
    const seconds = Math.max(0.001, (now - this.#lastLineAt) / 1000);
    const rate = Math.round((this.eventsProduced - this.#lastLineProduced) / seconds);
    const p99 = (this.intervalLatency.quantile(0.99) / 1000).toFixed(1);
    this.#lastLineAt = now;
    this.#lastLineProduced = this.eventsProduced;
    this.intervalLatency.reset();
    return (
      `[Metrics] Received: ${this.eventsReceived} events (${this.framesReceived} frames), Produced: ${this.eventsProduced}, ` +
      `Dropped: ${this.eventsDropped}, Rejected: ${this.framesRejected}, Buffer: ${this.bufferUsed}/${this.bufferCapacity}, ` +
      `Rate: ${rate}/s, Lag p99: ${p99} ms, Reconnects: ${this.reconnects}, ` +
      `Spooled: ${this.eventsSpooled}, Replayed: ${this.eventsReplayed}, Spool: ${(this.spoolBytes / 1048576).toFixed(1)} MB, Oldest: ${this.oldestUnackedMs(now)} ms`
    );
  }
}
