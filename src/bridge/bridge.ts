// The pipeline of `run`: source → split → route → sink, with the metrics every stage counts.
// Per event (the hot path): one scan of the frame, two Buffer views, one record object.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RunConfig } from '../config/run-config.ts';
import { Ws2kError } from '../errors.ts';
import { BridgeMetrics } from '../metrics/metrics.ts';
import { ROUTE_STATUS, Router, subscribedEvs } from '../route/route.ts';
import { KafkaSink } from '../sink/kafka-sink.ts';
import type { OutRecord } from '../sink/record-queue.ts';
import { PolygonSource, type Gap } from '../source/polygon-source.ts';
import { decodeJsonString, Slices, splitFrame, SplitErrors } from '../split/split.ts';
import { deadLetterMaxMessageBytes, LIMITS } from '../config/limits.ts';
import type { SendRecord } from '../sink/producer.ts';
import { heldCode, produceErrorName } from '../sink/kafka-errors.ts';
import { lockSpool } from '../spool/lock.ts';
import { RunStateFile } from '../spool/run-state.ts';
import { Spool } from '../spool/spool.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const TAG_DEAD_LETTER = 1;
const TAG_GAP = 2;
/** How often the run state records the last data time: a crash's gap starts at most this early. */
const RUN_STATE_BEAT_MS = 1000;
/** Longest wait for Kafka to be ready before the feed is subscribed anyway. */
const SOURCE_WAIT_MS = 2000;
const H_REASON = Buffer.from('ws2kafka.reason');
const H_CODE = Buffer.from('ws2kafka.code');
const H_RECEIVED = Buffer.from('ws2kafka.received_at');
const H_TOPIC = Buffer.from('ws2kafka.original_topic');
const H_SIZE = Buffer.from('ws2kafka.size');
const H_KEPT = Buffer.from('ws2kafka.events_kept');
/** How often a kind of dead letter is logged at most (each is counted). */
const DEAD_LETTER_LOG_MS = 5000;

/** Our error code for a splitter error (docs/errors.md). */
function frameCode(error: string): string {
  if (error === SplitErrors.INVALID_UTF8) return 'INVALID_UTF8';
  if (error === SplitErrors.TOO_MANY) return LIMITS.maxEventsPerFrame.code;
  if (error === SplitErrors.TOO_DEEP) return LIMITS.maxDepth.code;
  return 'MALFORMED_FRAME';
}

export interface BridgeOptions {
  config: RunConfig & { url: string; brokers: string[] };
  log: Logger;
  /** Called once when the bridge should end: reached --max-events, or a fatal error. */
  onDone: (result: { code: number; reason: string }) => void;
}

export class Bridge {
  readonly metrics = new BridgeMetrics();
  readonly source: PolygonSource;
  readonly sink: KafkaSink;
  #o: BridgeOptions;
  #router: Router;
  #slices: Slices;
  /** When each kind of dead letter (by code) was last logged. */
  #lastRejectLog = new Map<string, number>();
  #lastDropLog = 0;
  #watch: NodeJS.Timeout | undefined;
  #unlock: (() => void) | undefined;
  #runState: RunStateFile | undefined;
  #beat: NodeJS.Timeout | undefined;
  /** Until the feed is subscribed: the timer that subscribes it if Kafka is slow to be ready. */
  #sourceWait: NodeJS.Timeout | undefined;

  constructor(o: BridgeOptions) {
    this.#o = o;
    const c = o.config;
    this.#router = new Router(c.topics, c.unknownTopic);
    this.#slices = new Slices(c.maxEventsPerFrame);
    const wanted = new Set<string>([c.unknownTopic, c.deadLetterTopic, c.gapTopic]);
    for (const ev of subscribedEvs(c.subscribe)) wanted.add(c.topics[ev] ?? c.unknownTopic);
    let spool: Spool | undefined;
    if (c.overflow === 'spool' || c.durability === 'disk') {
      const dir = c.spoolDir ?? join(ws2kafkaHome(), 'spool', 'default');
      mkdirSync(dir, { recursive: true });
      this.#unlock = lockSpool(dir);
      const opened = Spool.open({ dir, segmentBytes: c.spoolSegmentBytes, maxBytes: c.spoolMaxBytes, fsync: c.spoolFsync, fsyncIntervalMs: c.spoolFsyncIntervalMs });
      spool = opened.spool;
      for (const cut of opened.recovery.cut) {
        o.log.warn(cut, `spool recovery: cut ${cut.bytes} bytes at ${cut.segment}:${cut.offset} (${cut.problem}); a record torn by a crash is not replayed`);
      }
      if (opened.recovery.records > 0) o.log.info({ records: opened.recovery.records, dir }, 'spool recovery: replaying records not acknowledged before the last stop');
      this.metrics.spoolBytes = spool.bytes;
      this.#runState = new RunStateFile(dir);
    }
    this.sink = new KafkaSink({
      spool,
      writeAhead: c.durability === 'disk',
      spoolFull: c.spoolFull,
      onFull: () => this.source.pause(),
      brokers: c.brokers,
      security: c.kafka,
      compression: c.compression,
      timestamp: c.timestamp,
      metadataMaxAgeMs: c.metadataMaxAgeMs,
      inflight: c.inflight,
      lingerMs: c.lingerMs,
      batchBytes: c.batchBytes,
      capacity: c.bufferSize,
      topics: [...wanted],
      partitions: c.partitions,
      replication: c.replication,
      topicConfig: c.topicConfig,
      metrics: this.metrics,
      log: o.log,
      onSpace: () => this.source.resume(),
      onTaggedAck: (tag) => {
        if (tag === TAG_DEAD_LETTER) this.metrics.deadLettersProduced++;
        else if (tag === TAG_GAP) this.metrics.gapRecordsProduced++;
      },
      deadLetterTopic: c.deadLetterTopic,
      topicConfigs: { [c.deadLetterTopic]: { 'max.message.bytes': String(deadLetterMaxMessageBytes(c.maxFrameBytes)) } },
      onRefused: (record, code, detail, receivedAt) => this.#refused(record, code, detail, receivedAt),
    });
    this.source = new PolygonSource({
      url: c.url,
      apiKey: c.apiKey,
      ca: c.feedCa,
      subscribe: c.subscribe,
      log: o.log,
      onFrame: (frame, receivedAt, isBinary) => this.#guardFrame(frame, receivedAt, isBinary),
      onGap: (gap) => this.#onGap(gap),
      onReconnect: () => this.metrics.reconnects++,
      onFatal: (err) => this.#o.onDone({ code: 1, reason: err.message }),
      pingIntervalMs: c.pingIntervalMs,
      silenceTimeoutMs: c.silenceTimeoutMs,
      maxFrameBytes: c.maxFrameBytes,
    });
    const crashed = this.#runState?.crashed();
    if (crashed !== undefined) {
      o.log.warn(
        { connection: crashed.connection_id, lastDataAt: new Date(crashed.last_data_at).toISOString(), pid: crashed.pid },
        'the previous run of this bridge ended without a clean stop (crash or kill): what the feed sent since its last data was never read; that window becomes a gap record',
      );
      this.source.carryGap(crashed.connection_id, crashed.last_data_at, `the bridge process (pid ${crashed.pid}) ended without a clean stop`);
    }
  }

  /** Starts the sink, and reading the feed once Kafka is ready or SOURCE_WAIT_MS has passed. */
  start(): void {
    const rs = this.#runState;
    if (rs !== undefined) {
      // Until this run reads data, a crash leaves the previous run's open window (if any) open.
      const carried = rs.crashed();
      rs.write(carried?.connection_id ?? '', carried?.last_data_at ?? 0, false);
      let written = carried?.last_data_at ?? 0;
      this.#beat = setInterval(() => {
        const at = this.source.lastFrameAt;
        if (at > written) {
          written = at;
          rs.write(this.source.connectionId, at, false);
        }
      }, RUN_STATE_BEAT_MS);
      this.#beat.unref();
    }
    // Subscribe once Kafka is ready (topics, metadata, producer id), so the first events do not
    // wait in memory for it; if it is not ready within SOURCE_WAIT_MS, subscribe anyway: events
    // are kept (memory, then the spool) until it is.
    const startSource = () => {
      if (this.#sourceWait === undefined) return;
      clearTimeout(this.#sourceWait);
      this.#sourceWait = undefined;
      this.source.start();
    };
    this.#sourceWait = setTimeout(startSource, SOURCE_WAIT_MS);
    this.sink.start().then(startSource, (err: unknown) => this.#o.onDone({ code: 1, reason: err instanceof Ws2kError ? `${err.message} [${err.code}]` : `Kafka: ${String(err)}` }));
    const max = this.#o.config.maxEvents;
    if (max > 0) {
      this.#watch = setInterval(() => {
        if (this.metrics.eventsProduced >= max) {
          clearInterval(this.#watch);
          this.#o.onDone({ code: 0, reason: `${this.metrics.eventsProduced} events acknowledged (--max-events ${max})` });
        }
      }, 20);
    }
  }

  /**
   * Everything done for one frame, guarded: whatever throws while handling it sends the frame to
   * the dead-letter topic with the error as its reason (and how many of its events were already
   * kept), counts and logs it; the connection and the process go on.
   */
  #guardFrame(frame: Buffer, receivedAt: number, isBinary: boolean): void {
    this.metrics.framesReceived++;
    if (isBinary) {
      this.#reject(frame, 'BINARY_FRAME', 'binary frame', -1);
      return;
    }
    this.#kept = 0;
    try {
      this.#onFrame(frame, receivedAt);
    } catch (err) {
      this.#reject(frame, 'FRAME_HANDLER_ERROR', `handling the frame failed: ${(err as Error).message}`, -1, this.#kept);
    }
  }

  /** Events of the frame being handled already given to the sink (for the guard's header). */
  #kept = 0;

  #onFrame(frame: Buffer, receivedAt: number): void {
    const m = this.metrics;
    const s = this.#slices;
    splitFrame(frame, s, this.#o.config.maxDepth);
    if (s.error !== undefined) {
      this.#reject(frame, frameCode(s.error), s.error, s.errorAt);
      return;
    }
    const maxKey = this.#o.config.maxKeyBytes;
    const router = this.#router;
    const topics = router.topics;
    let data = 0;
    for (let e = 0; e < s.count; e++) {
      const escaped = s.escaped[e] === 1;
      const evS = s.evStart[e]!;
      const topic = escaped && evS >= 0 ? router.routeName(decodeJsonString(frame, evS, s.evEnd[e]!)) : router.route(frame, evS, s.evEnd[e]!);
      if (topic === ROUTE_STATUS) {
        this.#status(frame.subarray(s.start[e], s.end[e]));
        continue;
      }
      data++;
      const ks = s.keyStart[e]!;
      const key = ks < 0 ? undefined : escaped ? Buffer.from(decodeJsonString(frame, ks, s.keyEnd[e]!)) : frame.subarray(ks, s.keyEnd[e]);
      // One shape for every record (key may be undefined: a null key in Kafka).
      const record = { topic: topics[topic]!, key, value: frame.subarray(s.start[e], s.end[e]) } as OutRecord;
      m.eventsReceived++;
      if (key !== undefined && key.length > maxKey) {
        this.#rejectEvent(record, LIMITS.maxKeyBytes.code, `key of ${key.length} bytes is longer than --max-key-bytes ${maxKey}`);
        continue;
      }
      if (!this.sink.offer(record, receivedAt)) this.#overflow(record, receivedAt);
      this.#kept++;
    }
    if (data > 0) this.source.dataSeen();
  }

  #overflow(record: OutRecord, receivedAt: number): void {
    if (this.#o.config.overflow === 'drop') {
      this.metrics.eventsDropped++;
      const now = Date.now();
      if (now - this.#lastDropLog > 5000) {
        this.#lastDropLog = now;
        this.#o.log.warn({ dropped: this.metrics.eventsDropped, capacity: this.sink.queue.capacity }, 'buffer full: dropping events (--overflow drop); each is counted');
      }
      return;
    }
    // block (or a spool that refused it): this event is already read, so it is kept; reading
    // pauses until Kafka catches up.
    this.sink.offer(record, receivedAt, true);
    this.source.pause();
  }

  #status(event: Buffer): void {
    this.metrics.statusEvents++;
    let parsed: { status?: unknown; message?: unknown };
    try {
      parsed = JSON.parse(event.toString()) as { status?: unknown; message?: unknown };
    } catch {
      return;
    }
    this.source.status(typeof parsed.status === 'string' ? parsed.status : '', typeof parsed.message === 'string' ? parsed.message : '');
  }

  /**
   * A frame goes whole to the dead-letter topic: reason (with the byte offset where it is known)
   * and code in headers; counted, and logged at most every DEAD_LETTER_LOG_MS per code.
   */
  #reject(frame: Buffer, code: string, reason: string, at: number, kept = 0): void {
    const m = this.metrics;
    m.framesRejected++;
    const why = at >= 0 ? `${reason} at byte ${at}` : reason;
    m.countError(code, why);
    const headers = new Map<Buffer, Buffer>([
      [H_REASON, Buffer.from(why)],
      [H_CODE, Buffer.from(code)],
      [H_RECEIVED, Buffer.from(String(Date.now()))],
    ]);
    if (kept > 0) headers.set(H_KEPT, Buffer.from(String(kept)));
    this.sink.offer({ topic: this.#o.config.deadLetterTopic, value: frame, headers }, -TAG_DEAD_LETTER, true);
    this.#logDeadLetter(code, { reason: why, bytes: frame.length, ...(kept > 0 ? { eventsAlreadyKept: kept } : {}) }, 'bad frame: sent whole to the dead-letter topic (the connection goes on)');
  }

  /** One event of a good frame goes alone to the dead-letter topic (its frame's others go on). */
  #rejectEvent(record: OutRecord, code: string, reason: string): void {
    this.metrics.eventsRejected++;
    this.metrics.countError(code, reason);
    this.#deadLetter(record, code, reason, Date.now());
    this.#logDeadLetter(code, { reason, topic: record.topic }, 'bad event: sent alone to the dead-letter topic');
  }

  /** A record Kafka will never take (too large for its topic, invalid) goes to the dead-letter topic. */
  #refused(record: SendRecord, code: string, detail: string, receivedAt: number): void {
    this.#deadLetter(record, code, detail, receivedAt >= 0 ? receivedAt : Date.now());
  }

  #deadLetter(record: SendRecord, code: string, reason: string, receivedAt: number): void {
    const headers = new Map<Buffer, Buffer>([
      [H_REASON, Buffer.from(reason)],
      [H_CODE, Buffer.from(code)],
      [H_RECEIVED, Buffer.from(String(Math.round(receivedAt)))],
      [H_TOPIC, Buffer.from(record.topic)],
      [H_SIZE, Buffer.from(String(record.value?.length ?? 0))],
    ]);
    this.sink.offer({ topic: this.#o.config.deadLetterTopic, key: record.key ?? undefined, value: record.value ?? Buffer.alloc(0), headers }, -TAG_DEAD_LETTER, true);
  }

  #logDeadLetter(code: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - (this.#lastRejectLog.get(code) ?? 0) < DEAD_LETTER_LOG_MS) return;
    this.#lastRejectLog.set(code, now);
    this.#o.log.warn({ code, ...fields, count: this.metrics.errorCodes.get(code) ?? 0, topic: this.#o.config.deadLetterTopic }, `[${code}] ${message}`);
  }

  /** For /health: held topics, the spool's write error, the last error. */
  health(): Record<string, unknown> {
    const held = [...this.sink.held.topics].map(([topic, h]) => ({ topic, code: heldCode(h.code), kafkaError: produceErrorName(h.code), since: new Date(h.since).toISOString() }));
    return { held, spoolWriteError: this.sink.spoolWriteError() ?? null, lastError: this.metrics.lastError ?? null };
  }

  #onGap(gap: Gap): void {
    this.metrics.gaps++;
    this.#o.log.warn({ from: gap.from_iso, to: gap.to_iso, durationMs: gap.duration_ms, reason: gap.reason }, 'feed gap: no data could be received in this window');
    this.sink.offer({ topic: this.#o.config.gapTopic, key: Buffer.from(gap.url), value: Buffer.from(JSON.stringify(gap)) }, -TAG_GAP, true);
  }

  /** Two-step shutdown: stop reading, then wait for acknowledgements up to the deadline. */
  async stop(): Promise<{ unacknowledged: number }> {
    clearTimeout(this.#sourceWait);
    this.#sourceWait = undefined;
    if (this.#watch) clearInterval(this.#watch);
    if (this.#beat) clearInterval(this.#beat);
    this.source.stop();
    const drained = await this.sink.drain(this.#o.config.shutdownTimeoutMs);
    if (!drained) this.sink.spillToSpool();
    // Spooled records are safe on disk and replayed at the next start; only memory is lost.
    const unacknowledged = drained ? 0 : this.sink.unsafe();
    const spooled = this.sink.spooled();
    if (!drained && spooled > 0) this.#o.log.warn({ spooled }, `${spooled} events are not yet in Kafka but safe in the spool: they are replayed at the next start`);
    await this.sink.close();
    this.#runState?.write(this.source.connectionId, this.source.lastFrameAt, true);
    this.#unlock?.();
    return { unacknowledged };
  }

  /**
   * The last resort, when an error escaped every handler: stop reading, move what memory holds
   * into the spool (if there is one), and write the run state as a crash at the last frame, so
   * the next start replays the spool and records the window it could not read as a gap.
   * Synchronous: the process exits right after. Returns the events that could not be kept.
   */
  emergencyStop(): number {
    clearTimeout(this.#sourceWait);
    if (this.#watch) clearInterval(this.#watch);
    if (this.#beat) clearInterval(this.#beat);
    try {
      this.source.stop();
    } catch {
      // the socket is going away with the process anyway
    }
    let lost = this.sink.unsafe();
    try {
      this.sink.spillToSpool();
      lost = this.sink.unsafe();
      this.sink.closeSpool();
    } catch {
      // keep going: the run state below still lets the next start record the gap
    }
    this.#runState?.write(this.source.connectionId, this.source.lastFrameAt, false);
    this.#unlock?.();
    return lost;
  }

  /** performance.now() as the sink's clock: exported for tests that inject frames. */
  static now(): number {
    return performance.now();
  }
}

export function requireUrl(url: string | undefined): string {
  if (!url) throw new Ws2kError('USAGE', '--url is required here');
  return url;
}
