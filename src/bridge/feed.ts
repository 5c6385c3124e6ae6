// One feed of the bridge: its source (connection, handshake, reconnects, gaps), its routes (its own
// topic map, dead-letter and gap topics) and its counters; every feed offers its records to the
// bridge's one sink (producer, buffer, spool). Per event (the hot path): one scan of the frame, two
// Buffer views, one record object.
import type { Logger } from 'pino';
import type { FeedConfig } from '../config/feeds.ts';
import { LIMITS } from '../config/limits.ts';
import type { Ws2kError } from '../errors.ts';
import { FeedMetrics, type BridgeMetrics } from '../metrics/metrics.ts';
import { ROUTE_STATUS, Router } from '../route/route.ts';
import type { KafkaSink } from '../sink/kafka-sink.ts';
import type { SendRecord } from '../sink/producer.ts';
import type { OutRecord } from '../sink/record-queue.ts';
import { PolygonSource, type Gap } from '../source/polygon-source.ts';
import { decodeJsonString, Slices, splitFrame, SplitErrors } from '../split/split.ts';
import type { RunStateFile } from '../spool/run-state.ts';
import type { SpillOptions } from '../source/reader.ts';

export const TAG_DEAD_LETTER = 1;
export const TAG_GAP = 2;
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

/** One record alone to a dead-letter topic: reason, code, receive time, original topic and size in headers. */
export function offerDeadLetter(sink: KafkaSink, topic: string, record: SendRecord, code: string, reason: string, receivedAt: number): void {
  const headers = new Map<Buffer, Buffer>([
    [H_REASON, Buffer.from(reason)],
    [H_CODE, Buffer.from(code)],
    [H_RECEIVED, Buffer.from(String(Math.round(receivedAt)))],
    [H_TOPIC, Buffer.from(record.topic)],
    [H_SIZE, Buffer.from(String(record.value?.length ?? 0))],
  ]);
  sink.offer({ topic, key: record.key ?? undefined, value: record.value ?? Buffer.alloc(0), headers }, -TAG_DEAD_LETTER, true);
}

/** The limits and policies of run that each feed applies. */
export interface FeedLimits {
  maxEventsPerFrame: number;
  maxDepth: number;
  maxKeyBytes: number;
  maxFrameBytes: number;
  overflow: 'spool' | 'block' | 'drop';
  pingIntervalMs: number;
  silenceTimeoutMs: number;
  /** --read-ahead-bytes (0: no reading thread). */
  readAheadBytes: number;
}

export interface FeedOptions {
  feed: FeedConfig;
  limits: FeedLimits;
  sink: KafkaSink;
  metrics: BridgeMetrics;
  log: Logger;
  /** The gap records' key: the feed's name in a `feeds` list, its URL (without secrets) otherwise. */
  gapKey: (gap: Gap) => string;
  /** Where this feed records its last data time, so that a crash's window becomes a gap record. */
  runState: RunStateFile | undefined;
  /** Where the reading thread keeps frames beyond --read-ahead-bytes (with a spool); none: it pauses the socket. */
  spill?: SpillOptions | undefined;
  /** Authentication failed: the bridge must stop. */
  onFatal: (err: Ws2kError) => void;
}

export class Feed {
  readonly name: string;
  readonly config: FeedConfig;
  readonly source: PolygonSource;
  readonly counts: FeedMetrics;
  #o: FeedOptions;
  #router: Router;
  #slices: Slices;
  #on = false;
  /** When each kind of dead letter (by code) was last logged. */
  #lastRejectLog = new Map<string, number>();
  #lastDropLog = 0;
  /** Events of the frame being handled already given to the sink (for the guard's header). */
  #kept = 0;
  /** The last data time written to the run state. */
  #written = 0;

  constructor(o: FeedOptions) {
    this.#o = o;
    const f = o.feed;
    this.name = f.name;
    this.config = f;
    this.#router = new Router(f.topics, f.unknownTopic);
    this.#slices = new Slices(o.limits.maxEventsPerFrame);
    this.counts = new FeedMetrics(f.name);
    o.metrics.feeds.push(this.counts);
    this.source = new PolygonSource({
      url: f.url,
      apiKey: f.apiKey,
      ca: f.feedCa,
      subscribe: f.subscribe,
      log: o.log,
      onFrame: (frame, receivedAt, isBinary) => this.#guardFrame(frame, receivedAt, isBinary),
      onGap: (gap) => this.#onGap(gap),
      onReconnect: () => {
        o.metrics.reconnects++;
        this.counts.reconnects++;
      },
      onFatal: (err) => o.onFatal(err),
      pingIntervalMs: o.limits.pingIntervalMs,
      silenceTimeoutMs: o.limits.silenceTimeoutMs,
      maxFrameBytes: o.limits.maxFrameBytes,
      readThread: o.limits.readAheadBytes > 0,
      readAheadBytes: o.limits.readAheadBytes,
      spill: o.spill,
    });
    this.counts.state = () => this.source.state;
    const crashed = o.runState?.crashed();
    if (crashed !== undefined) {
      o.log.warn(
        { connection: crashed.connection_id, lastDataAt: new Date(crashed.last_data_at).toISOString(), pid: crashed.pid },
        'the previous run of this bridge ended without a clean stop (crash or kill): what the feed sent since its last data was never read; that window becomes a gap record',
      );
      this.source.carryGap(crashed.connection_id, crashed.last_data_at, `the bridge process (pid ${crashed.pid}) ended without a clean stop`);
    }
  }

  /** Between start() and stop(): connected or reconnecting. */
  get reading(): boolean {
    return this.#on;
  }

  /** Marks the run state unclean (a crash from now on is a gap), keeping a window carried from a crash open. */
  openRunState(): void {
    const rs = this.#o.runState;
    if (rs === undefined) return;
    // Until this run reads data, a crash leaves the previous run's open window (if any) open.
    const carried = rs.crashed();
    rs.write(carried?.connection_id ?? '', carried?.last_data_at ?? 0, false);
    this.#written = carried?.last_data_at ?? 0;
  }

  /** Called about once a second: records the last data time when it moved. */
  beat(): void {
    const at = this.source.lastFrameAt;
    if (this.#o.runState === undefined || at <= this.#written || !this.#on) return;
    this.#written = at;
    this.#o.runState.write(this.source.connectionId, at, false);
  }

  /** The last stop's hand-over (resolved when none is under way). */
  #stopped: Promise<void> = Promise.resolve();

  /** Records where reading ended: clean (a chosen stop) or not (the process is dying). */
  closeRunState(clean: boolean): void {
    this.#o.runState?.write(this.source.connectionId, this.source.lastFrameAt, clean);
  }

  /** Connects (again, after stop). */
  start(): void {
    if (this.#on) return;
    this.#on = true;
    this.source.start();
  }

  /**
   * Stops reading: a window still open is reported with `why`; what was read still goes to Kafka.
   * Resolved once every frame read was handed to the sink (see PolygonSource.stop); called again
   * while that lasts (or after), the same promise.
   */
  stop(why?: string): Promise<void> {
    if (!this.#on) return this.#stopped;
    this.#on = false;
    this.#stopped = this.source.stop(why);
    return this.#stopped;
  }

  /**
   * Everything done for one frame, guarded: whatever throws while handling it sends the frame to
   * the dead-letter topic with the error as its reason (and how many of its events were already
   * kept), counts and logs it; the connection and the process go on.
   */
  #guardFrame(frame: Buffer, receivedAt: number, isBinary: boolean): void {
    this.#o.metrics.framesReceived++;
    this.counts.framesReceived++;
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

  #onFrame(frame: Buffer, receivedAt: number): void {
    const m = this.#o.metrics;
    const counts = this.counts;
    const sink = this.#o.sink;
    const s = this.#slices;
    splitFrame(frame, s, this.#o.limits.maxDepth);
    if (s.error !== undefined) {
      this.#reject(frame, frameCode(s.error), s.error, s.errorAt);
      return;
    }
    const maxKey = this.#o.limits.maxKeyBytes;
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
      counts.eventsReceived++;
      if (key !== undefined && key.length > maxKey) {
        this.#rejectEvent(record, LIMITS.maxKeyBytes.code, `key of ${key.length} bytes is longer than --max-key-bytes ${maxKey}`);
        continue;
      }
      if (!sink.offer(record, receivedAt)) this.#overflow(record, receivedAt);
      this.#kept++;
    }
    if (data > 0) this.source.dataSeen();
  }

  #overflow(record: OutRecord, receivedAt: number): void {
    const m = this.#o.metrics;
    if (this.#o.limits.overflow === 'drop') {
      m.eventsDropped++;
      const now = Date.now();
      if (now - this.#lastDropLog > 5000) {
        this.#lastDropLog = now;
        const q = this.#o.sink.queue;
        const by = q.fullBound === 'bytes' ? `--buffer-bytes ${q.capacityBytes}` : `--buffer-size ${q.capacity}`;
        this.#o.log.warn({ code: 'BUFFER_FULL', dropped: m.eventsDropped, capacity: q.capacity, capacityBytes: q.capacityBytes, retainedBytes: q.retainedBytes }, `[BUFFER_FULL] buffer full (${by} reached): dropping events (--overflow drop); each is counted`);
      }
      return;
    }
    // block (or a spool that refused it): this event is already read, so it is kept; reading
    // pauses until Kafka catches up.
    this.#o.sink.offer(record, receivedAt, true);
    this.source.pause();
  }

  #status(event: Buffer): void {
    this.#o.metrics.statusEvents++;
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
    const m = this.#o.metrics;
    m.framesRejected++;
    this.counts.framesRejected++;
    const why = at >= 0 ? `${reason} at byte ${at}` : reason;
    m.countError(code, why);
    const headers = new Map<Buffer, Buffer>([
      [H_REASON, Buffer.from(why)],
      [H_CODE, Buffer.from(code)],
      [H_RECEIVED, Buffer.from(String(Date.now()))],
    ]);
    if (kept > 0) headers.set(H_KEPT, Buffer.from(String(kept)));
    this.#o.sink.offer({ topic: this.config.deadLetterTopic, value: frame, headers }, -TAG_DEAD_LETTER, true);
    this.#logDeadLetter(code, { reason: why, bytes: frame.length, ...(kept > 0 ? { eventsAlreadyKept: kept } : {}) }, 'bad frame: sent whole to the dead-letter topic (the connection goes on)');
  }

  /** One event of a good frame goes alone to the dead-letter topic (its frame's others go on). */
  #rejectEvent(record: OutRecord, code: string, reason: string): void {
    const m = this.#o.metrics;
    m.eventsRejected++;
    this.counts.eventsRejected++;
    m.countError(code, reason);
    offerDeadLetter(this.#o.sink, this.config.deadLetterTopic, record, code, reason, Date.now());
    this.#logDeadLetter(code, { reason, topic: record.topic }, 'bad event: sent alone to the dead-letter topic');
  }

  #logDeadLetter(code: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - (this.#lastRejectLog.get(code) ?? 0) < DEAD_LETTER_LOG_MS) return;
    this.#lastRejectLog.set(code, now);
    this.#o.log.warn({ code, ...fields, count: this.#o.metrics.errorCodes.get(code) ?? 0, topic: this.config.deadLetterTopic }, `[${code}] ${message}`);
  }

  #onGap(gap: Gap): void {
    this.#o.metrics.gaps++;
    this.counts.gaps++;
    this.#o.log.warn({ from: gap.from_iso, to: gap.to_iso, durationMs: gap.duration_ms, reason: gap.reason }, 'feed gap: no data could be received in this window');
    // The feed's name after the type, then the window as the source reports it.
    const { type, ...window } = gap;
    const record = { type, feed: this.name, ...window };
    this.#o.sink.offer({ topic: this.config.gapTopic, key: Buffer.from(this.#o.gapKey(gap)), value: Buffer.from(JSON.stringify(record)) }, -TAG_GAP, true);
  }
}
