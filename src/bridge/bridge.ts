// The pipeline of `run`: feeds (source → split → route, one per upstream WebSocket) → one sink
// (producer, buffer, spool), with the metrics every stage counts. The per-feed part (the hot path)
// is src/bridge/feed.ts; here: the shared sink and spool, the run state, the lifecycle.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { DEFAULT_FEED, singleFeed, type FeedConfig } from '../config/feeds.ts';
import type { RunConfig } from '../config/run-config.ts';
import { Ws2kError } from '../errors.ts';
import { BridgeMetrics } from '../metrics/metrics.ts';
import { subscribedEvs } from '../route/route.ts';
import { KafkaSink } from '../sink/kafka-sink.ts';
import type { PolygonSource } from '../source/polygon-source.ts';
import type { SpillOptions } from '../source/reader.ts';
import { deadLetterMaxMessageBytes } from '../config/limits.ts';
import type { SendRecord } from '../sink/producer.ts';
import { heldCode, produceErrorName } from '../sink/kafka-errors.ts';
import { lockSpool } from '../spool/lock.ts';
import { RunStateFile } from '../spool/run-state.ts';
import { Spool } from '../spool/spool.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Feed, offerDeadLetter, TAG_DEAD_LETTER, TAG_GAP } from './feed.ts';
import { warmUp } from './warm-up.ts';

/** How often the run state records the last data time: a crash's gap starts at most this early. */
const RUN_STATE_BEAT_MS = 1000;
/** Longest wait for Kafka to be ready before the feeds are subscribed anyway. */
const SOURCE_WAIT_MS = 2000;

export interface BridgeOptions {
  /** `feeds` (a config file's list) or, without it, `url` and the top-level options: one feed. */
  config: RunConfig & { url?: string | undefined; brokers: string[] };
  log: Logger;
  /** Called once when the bridge should end: reached --max-events, or a fatal error. */
  onDone: (result: { code: number; reason: string }) => void;
  /** Start the sink but connect no feed until startFeeds() (a standby of an HA group). */
  deferFeeds?: boolean;
}

/** The feeds a configuration describes: its `feeds` list, or one named "default" from the options. */
export function feedsOf(c: RunConfig & { url?: string | undefined }): FeedConfig[] {
  if (c.feeds !== undefined) return c.feeds;
  const { apiKey, feedCa, subscribe, topics, unknownTopic, deadLetterTopic, gapTopic } = c;
  return [singleFeed(requireUrl(c.url), { apiKey, feedCa, subscribe, topics, unknownTopic, deadLetterTopic, gapTopic })];
}

export class Bridge {
  readonly metrics = new BridgeMetrics();
  readonly sink: KafkaSink;
  /** In the order configured; one ("default") without a `feeds` list. */
  readonly feeds: readonly Feed[];
  #o: BridgeOptions;
  #watch: NodeJS.Timeout | undefined;
  #unlock: (() => void) | undefined;
  #beat: NodeJS.Timeout | undefined;
  /** Until the feeds are subscribed: the timer that subscribes them if Kafka is slow to be ready. */
  #sourceWait: NodeJS.Timeout | undefined;
  #kafkaReady = false;
  /** startFeeds() was called and stopFeeds() not since. */
  #feedsOn = false;
  /** A record Kafka refused, by its topic: the dead-letter topic of the feed that wrote it. */
  #deadLetterOf = new Map<string, string>();

  constructor(o: BridgeOptions) {
    this.#o = o;
    const c = o.config;
    const configs = feedsOf(c);
    const listed = c.feeds !== undefined;
    // The first feed's dead-letter topic is the sink's: a dead letter Kafka refuses there is held.
    const primaryDeadLetter = configs[0]!.deadLetterTopic;
    const wanted = new Set<string>();
    const topicConfigs: Record<string, Record<string, string>> = {};
    for (const f of configs) {
      const own = [f.unknownTopic, f.gapTopic, ...subscribedEvs(f.subscribe).map((ev) => f.topics[ev] ?? f.unknownTopic)];
      for (const t of [f.deadLetterTopic, ...own]) wanted.add(t);
      for (const t of own) if (!this.#deadLetterOf.has(t)) this.#deadLetterOf.set(t, f.deadLetterTopic);
      topicConfigs[f.deadLetterTopic] = { 'max.message.bytes': String(deadLetterMaxMessageBytes(c.maxFrameBytes)) };
    }
    // A dead letter refused in another feed's dead-letter topic goes to the first one's (once).
    for (const f of configs) this.#deadLetterOf.set(f.deadLetterTopic, primaryDeadLetter);
    let spool: Spool | undefined;
    let dir: string | undefined;
    if (c.overflow === 'spool' || c.durability === 'disk') {
      dir = c.spoolDir ?? join(ws2kafkaHome(), 'spool', 'default');
      mkdirSync(dir, { recursive: true });
      this.#unlock = lockSpool(dir);
      const opened = Spool.open({ dir, segmentBytes: c.spoolSegmentBytes, maxBytes: c.spoolMaxBytes, fsync: c.spoolFsync, fsyncIntervalMs: c.spoolFsyncIntervalMs });
      spool = opened.spool;
      for (const cut of opened.recovery.cut) {
        o.log.warn(cut, `spool recovery: cut ${cut.bytes} bytes at ${cut.segment}:${cut.offset} (${cut.problem}); a record torn by a crash is not replayed`);
      }
      if (opened.recovery.records > 0) o.log.info({ records: opened.recovery.records, dir }, 'spool recovery: replaying records not acknowledged before the last stop');
      this.metrics.spoolBytes = spool.bytes;
    }
    this.sink = new KafkaSink({
      spool,
      writeAhead: c.durability === 'disk',
      spoolFull: c.spoolFull,
      onFull: () => {
        for (const f of this.feeds) f.source.pause();
      },
      brokers: c.brokers,
      security: c.kafka,
      compression: c.compression,
      timestamp: c.timestamp,
      metadataMaxAgeMs: c.metadataMaxAgeMs,
      inflight: c.inflight,
      lingerMs: c.lingerMs,
      batchBytes: c.batchBytes,
      capacity: c.bufferSize,
      capacityBytes: c.bufferBytes,
      topics: [...wanted],
      partitions: c.partitions,
      replication: c.replication,
      topicConfig: c.topicConfig,
      metrics: this.metrics,
      log: o.log,
      onSpace: () => {
        for (const f of this.feeds) f.source.resume();
      },
      onWait: () => {
        if (!this.feeds.every((f) => f.source.canWait())) return false;
        for (const f of this.feeds) f.source.pause(true);
        return true;
      },
      onTaggedAck: (tag) => {
        if (tag === TAG_DEAD_LETTER) this.metrics.deadLettersProduced++;
        else if (tag === TAG_GAP) this.metrics.gapRecordsProduced++;
      },
      deadLetterTopic: primaryDeadLetter,
      topicConfigs,
      onRefused: (record, code, detail, receivedAt) => this.#refused(record, code, detail, receivedAt),
    });
    const limits = { maxEventsPerFrame: c.maxEventsPerFrame, maxDepth: c.maxDepth, maxKeyBytes: c.maxKeyBytes, maxFrameBytes: c.maxFrameBytes, overflow: c.overflow, pingIntervalMs: c.pingIntervalMs, silenceTimeoutMs: c.silenceTimeoutMs, readAheadBytes: c.readAheadBytes };
    this.metrics.readAhead = () => this.feeds.reduce((n, f) => n + f.source.readAhead, 0);
    this.metrics.readAheadSpilled = () => this.feeds.reduce((n, f) => n + f.source.readAheadSpilled, 0);
    this.feeds = configs.map((f) => {
      // Each feed's run state: the spool's run-state.json for "default" (as before feeds), feeds/NAME/ for the others.
      let runState: RunStateFile | undefined;
      let spill: SpillOptions | undefined;
      if (dir !== undefined) {
        const at = f.name === DEFAULT_FEED ? dir : join(dir, 'feeds', f.name);
        mkdirSync(at, { recursive: true });
        runState = new RunStateFile(at);
        // Frames the reading thread holds beyond --read-ahead-bytes wait here, raw, as read.
        spill = { dir: join(at, 'read-ahead'), maxBytes: c.spoolMaxBytes };
      }
      return new Feed({
        feed: f,
        limits,
        sink: this.sink,
        metrics: this.metrics,
        log: listed ? o.log.child({ feed: f.name }) : o.log,
        gapKey: (gap) => (listed ? f.name : gap.url),
        runState,
        spill,
        onFatal: (err) => this.#o.onDone({ code: 1, reason: listed ? `feed ${f.name}: ${err.message}` : err.message }),
      });
    });
  }

  /** The first (or only) feed's source. */
  get source(): PolygonSource {
    return this.feeds[0]!.source;
  }

  /**
   * Starts the sink, and (unless deferFeeds) reading the feeds once Kafka is ready or
   * SOURCE_WAIT_MS has passed.
   */
  start(): void {
    for (const f of this.feeds) f.openRunState();
    this.#beat = setInterval(() => {
      for (const f of this.feeds) f.beat();
    }, RUN_STATE_BEAT_MS);
    this.#beat.unref();
    this.sink.start().then(
      () => {
        this.#kafkaReady = true;
        if (this.#sourceWait !== undefined) this.#connectFeeds();
      },
      (err: unknown) => this.#o.onDone({ code: 1, reason: err instanceof Ws2kError ? `${err.message} [${err.code}]` : `Kafka: ${String(err)}` }),
    );
    // While Kafka's connections are being set up: the first live events then meet compiled code.
    const c = this.#o.config;
    if (c.warmUpEvents > 0) {
      const w = warmUp(c.warmUpEvents, c.compression, c.maxDepth);
      this.#o.log.debug({ events: w.events, ms: Math.round(w.ms) }, 'warm-up done');
    }
    if (this.#o.deferFeeds !== true) this.startFeeds();
    const max = c.maxEvents;
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
   * Connects every feed: at once when Kafka is ready, else when it is or after SOURCE_WAIT_MS
   * (subscribing once Kafka is ready keeps the first events out of memory; if it is slow, events
   * are kept, memory then the spool, until it is). Again after stopFeeds(). No-op while on.
   */
  startFeeds(): void {
    if (this.#feedsOn) return;
    this.#feedsOn = true;
    if (this.#kafkaReady) this.#connectFeeds();
    else this.#sourceWait = setTimeout(() => this.#connectFeeds(), SOURCE_WAIT_MS);
  }

  #connectFeeds(): void {
    clearTimeout(this.#sourceWait);
    this.#sourceWait = undefined;
    if (!this.#feedsOn) return;
    for (const f of this.feeds) f.start();
  }

  /**
   * Stops reading every feed (closes their connections; a window still open becomes a gap record
   * with `reason` in it) and keeps delivering what was read to Kafka. The run state is marked
   * clean: a chosen stop is no gap. startFeeds() connects them again.
   */
  stopFeeds(reason: string): void {
    clearTimeout(this.#sourceWait);
    this.#sourceWait = undefined;
    if (!this.#feedsOn) return;
    this.#feedsOn = false;
    this.#o.log.info({ reason }, 'stopped reading the feeds: what was read is still delivered to Kafka');
    for (const f of this.feeds) {
      if (!f.reading) continue;
      void f.stop(reason);
      f.closeRunState(true);
    }
  }

  /** Whether the feeds are on (startFeeds() called, stopFeeds() not since). */
  get feedsStarted(): boolean {
    return this.#feedsOn;
  }

  /** A record Kafka will never take (too large for its topic, invalid) goes to its feed's dead-letter topic. */
  #refused(record: SendRecord, code: string, detail: string, receivedAt: number): void {
    const topic = this.#deadLetterOf.get(record.topic) ?? this.feeds[0]!.config.deadLetterTopic;
    offerDeadLetter(this.sink, topic, record, code, detail, receivedAt >= 0 ? receivedAt : Date.now());
  }

  /** For /health: held topics, the spool's write error, the last error. */
  health(): Record<string, unknown> {
    const held = [...this.sink.held.topics].map(([topic, h]) => ({ topic, code: heldCode(h.code), kafkaError: produceErrorName(h.code), since: new Date(h.since).toISOString() }));
    return { held, spoolWriteError: this.sink.spoolWriteError() ?? null, lastError: this.metrics.lastError ?? null };
  }

  /** Two-step shutdown: stop reading, then wait for acknowledgements up to the deadline. */
  async stop(): Promise<{ unacknowledged: number }> {
    clearTimeout(this.#sourceWait);
    this.#sourceWait = undefined;
    if (this.#watch) clearInterval(this.#watch);
    if (this.#beat) clearInterval(this.#beat);
    const reading = this.feeds.filter((f) => f.reading);
    this.#feedsOn = false;
    // Every frame the reading threads had read (in memory or on disk) reaches the sink before the
    // drain is measured; feeds stopped earlier (stopFeeds) may still be handing theirs over. Within
    // --shutdown-timeout: past it, what is left is forgotten and the run state says so (a gap at
    // the next start), rather than the stop outlast an orchestrator's grace period.
    const handedOver = await Promise.race([
      Promise.all(this.feeds.map((f) => f.stop())).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), this.#o.config.shutdownTimeoutMs).unref()),
    ]);
    if (!handedOver) {
      for (const f of this.feeds) f.source.forgetUnread();
      this.#o.log.warn({ shutdownTimeoutMs: this.#o.config.shutdownTimeoutMs }, 'frames the reading threads had read were not all handed over within --shutdown-timeout: the rest is recorded as a gap at the next start');
    }
    const drained = await this.sink.drain(this.#o.config.shutdownTimeoutMs);
    if (!drained) this.sink.spillToSpool();
    // Spooled records are safe on disk and replayed at the next start; only memory is lost.
    const unacknowledged = drained ? 0 : this.sink.unsafe();
    const spooled = this.sink.spooled();
    if (!drained && spooled > 0) this.#o.log.warn({ spooled }, `${spooled} events are not yet in Kafka but safe in the spool: they are replayed at the next start`);
    await this.sink.close();
    for (const f of reading) f.closeRunState(handedOver);
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
    const reading = this.feeds.filter((f) => f.reading);
    for (const f of reading) {
      try {
        void f.stop();
      } catch {
        // the socket is going away with the process anyway
      }
    }
    let lost = this.sink.unsafe();
    try {
      this.sink.spillToSpool();
      lost = this.sink.unsafe();
      this.sink.closeSpool();
    } catch {
      // keep going: the run state below still lets the next start record the gap
    }
    for (const f of reading) f.closeRunState(false);
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
