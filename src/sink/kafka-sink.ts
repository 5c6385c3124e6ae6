// The Kafka side: an idempotent producer with acks=all, fed in arrival order from the in-memory
// RecordQueue and, when that is full (or --durability disk), from the disk spool.
//
// Order: the spool only ever holds records older than those in the memory queue (apart from the
// batches in flight), and is sent first. When the queue is full, its oldest records not in flight
// move to the end of the spool and the new record joins the queue; while Kafka is unavailable (or
// with --durability disk) new records go to the spool itself. So records reach the producer in
// arrival order, per-key order holds, and only the overflow takes the slower path through the
// disk: once Kafka keeps up again, new events stay in memory while the spool drains ahead of them.
// Several batches are in flight at once (the producer delivers per leader broker, producer.ts);
// they may be settled out of order, so each store releases a batch only once every batch taken
// from it before has been settled. An event counts as produced only when Kafka has acknowledged
// it; a spooled record leaves the spool only then.
//
// A partition whose leader stays away is parked (producer.ts): its records go to a store of their
// own (held-store.ts, under <spool-dir>/parked), in order, and are sent from there once the leader
// answers; a batch from memory whose only unsettled records are batches already sent to that
// leader leaves the queue's order (detached, kept aside until Kafka answers), so the queue keeps
// moving and the other brokers are fed for as long as the leader is away.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { KafkaSecurity } from '../config/kafka-options.ts';
import { ErrorCodes, type Ws2kError } from '../errors.ts';
import { classifyKafkaError, diagnoseKafkaError, isKafkaConnectionCode } from '../kafka/connection-errors.ts';
import type { BridgeMetrics } from '../metrics/metrics.ts';
import { NO_HEADERS, type SpoolRecord } from '../spool/codec.ts';
import { eventTimeMs } from '../split/split.ts';
import type { Spool } from '../spool/spool.ts';
import { HeldStore } from './held-store.ts';
import { createMissingTopics } from './topic-admin.ts';
import { heldCode, produceErrorName } from './kafka-errors.ts';
import type { ProducerClient } from './kafka-client.ts';
import { BatchProducer, ProduceError, type SendOutcome, type SendRecord } from './producer.ts';
import { RecordQueue, type OutRecord } from './record-queue.ts';

export interface SinkOptions {
  brokers: string[];
  /** TLS and SASL towards Kafka (plaintext when undefined). */
  security?: KafkaSecurity | undefined;
  compression: 'lz4' | 'snappy' | 'zstd' | 'gzip' | 'none';
  lingerMs: number;
  batchBytes: number;
  capacity: number;
  /** Most bytes the memory queue keeps alive (frames and records, RecordQueue.retainedBytes); 0 or absent: no byte bound. */
  capacityBytes?: number;
  /** Topics to create (when missing) before the first record is sent. */
  topics: string[];
  partitions: number;
  replication: number | 'auto';
  /** Configs of every topic the sink creates (--topic-config), under topicConfigs. */
  topicConfig?: Record<string, string>;
  metrics: BridgeMetrics;
  log: Logger;
  /** The disk spool, for --overflow spool or --durability disk. */
  spool?: Spool | undefined;
  /** Every record goes through the spool first (write-ahead). */
  writeAhead?: boolean;
  /** What to do when the spool is full: pause the socket (block) or discard and count (drop). */
  spoolFull?: 'block' | 'drop';
  /** Called when the buffers are full and reading should pause (block policies). */
  onFull: () => void;
  /** Called when a full buffer has room again (resume a paused socket). */
  onSpace: () => void;
  /**
   * The memory buffer is full while Kafka takes records (only slower than they come): asks the
   * feeds to wait, their frames kept unread by their reading threads. True: they wait (onSpace
   * resumes them); false: they cannot hold more, and what follows goes to the spool.
   */
  onWait?: () => boolean;
  /** Called for each acknowledged control record (pushed with receivedAt = -tag). */
  onTaggedAck?: (tag: number) => void;
  /** The dead-letter topic: a record Kafka refuses there is held, never dead-lettered again. */
  deadLetterTopic?: string;
  /** Topic configs for topics the sink creates (e.g. the dead-letter topic's max.message.bytes). */
  topicConfigs?: Record<string, Record<string, string>>;
  /** A record Kafka will never take (our error code, detail, its receive time in wall ms or a negative tag). */
  onRefused?: (record: SendRecord, code: 'KAFKA_RECORD_TOO_LARGE' | 'KAFKA_RECORD_REFUSED', detail: string, receivedAt: number) => void;
  /** A client for tests (a fake broker); the real one by default. */
  client?: ProducerClient;
  /**
   * Record timestamps: when the bridge received the event ('receive', the default, kept through
   * the spool), or the event's own `t` where it has a numeric one ('event', else its receive
   * time). Control records (receivedAt a negative tag) get the time they are sent.
   */
  timestamp?: 'receive' | 'event';
  /** Metadata older than this is read again before a send (added partitions are used). */
  metadataMaxAgeMs?: number;
  /** Requests in flight per broker, and batches per partition (--inflight, 1 to 5). */
  inflight?: number;
}

/** A batch handed to the producer: where its records come from, and what became of them. */
interface Taken {
  n: number;
  from: 'memory' | 'spool' | 'held' | 'parked';
  /** Receive times (performance.now() ms, or a negative tag for control records), for latency. */
  times: Float64Array;
  /** Receive times as wall-clock ms (a spooled record's from the run that read it); -1 for control records. */
  received: Float64Array;
  messages: readonly SendRecord[];
  /** 1 for each record Kafka has acknowledged (filled by the producer as answers come). */
  acked: Uint8Array;
  /** The held topic probed (from 'held'), or the parked partition's store key (from 'parked'). */
  topic: string;
  /** 1 for each record handed back for a parked partition (kept in the parked store). */
  parked?: Uint8Array;
  /** Out of its store's order (only batches sent to parked partitions unsettled): in #detached. */
  detached?: boolean;
  /** Settled: acknowledged, refused or held, record by record. */
  done: boolean;
  /** What became of its records besides being acknowledged (once done). */
  outcome?: SendOutcome;
  /** Its refusals and held records handled (in the order batches were taken). */
  processed?: boolean;
  /** Discarded (discardUndelivered): its settlement, if it comes, is ignored. */
  dropped?: boolean;
}

/** A memory record as the spool keeps it (wall-clock receive time; control records their tag). */
function toSpoolRecord(record: OutRecord, receivedAtWall: number): SpoolRecord {
  const headers = record.headers instanceof Map ? [...record.headers] : NO_HEADERS;
  return { topic: record.topic, key: record.key, value: record.value, headers, receivedAt: receivedAtWall };
}

/** The parked store's key of a partition ('#' is never in a topic name). */
const parkKey = (topic: string, partition: number) => `${topic}#${partition}`;
function parseParkKey(key: string): { topic: string; partition: number } {
  const at = key.lastIndexOf('#');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

/**
 * How long Kafka may be unavailable (not ready at start, or failing) before new events go to the
 * spool even though the memory buffer has room: long enough that creating topics at start-up does
 * not send a fast feed through the disk, short enough that an outage keeps little in memory.
 */
const SPILL_AFTER_MS = 2000;
/** How long Kafka may acknowledge nothing while records wait before it counts as unavailable. */
const INFLIGHT_STUCK_MS = 10_000;
/** How soon records that found no room in the spool (full, or a write error) are tried again. */
const FLUSH_RETRY_MS = 500;
/** How often, at most, a failed start probes the listener for a TLS or SASL mismatch. */
const PROBE_EVERY_MS = 30_000;
const ORIGIN = performance.timeOrigin;

export class KafkaSink {
  readonly queue: RecordQueue;
  #o: SinkOptions;
  #producer: BatchProducer;
  #ready = false;
  #closed = false;
  /** Batches handed to the producer and not yet released from their store, in the order taken. */
  #out: Taken[] = [];
  /** Records read from the spool and not acknowledged to it yet. */
  #spoolTaken = 0;
  /** The probe of a held topic in flight. */
  #probe: Taken | undefined;
  /** Held topics with an empty store, waiting for earlier batches to be handled before they flow. */
  #releaseLater = new Set<string>();
  /** Records of topics Kafka refuses for now, kept apart so the other topics keep flowing. */
  readonly held: HeldStore;
  /** Records of parked partitions (their leader away), by "topic#partition". */
  readonly parked: HeldStore;
  /** The batches of parked partitions in flight, by store key (one per partition). */
  #parkProbes = new Map<string, Taken>();
  /** Batches from memory detached from the queue's order, until Kafka settles them. */
  #detached: Taken[] = [];
  #probeTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  #failingSince = 0;
  /** When Kafka last acknowledged anything (Date.now()). */
  #lastAckAt = Date.now();
  #createdAt = Date.now();
  /** The memory queue went to the spool at a stop (spillToSpool): nothing more is accounted. */
  #spilled = false;
  #spillTimer: NodeJS.Timeout | undefined;
  #lastFailureLog = 0;
  #lastRefusedConnectionLog = 0;
  #lastProbeAt = 0;
  /** Why the start failed for good (TLS or SASL refused): nothing will be acknowledged. */
  #fatal: Ws2kError | undefined;
  #lastSpoolFullLog = 0;
  #lastOverflowLog = 0;
  #lastRefusedLog = 0;
  #lastSpoolErrorLog = 0;
  #flushRetry: NodeJS.Timeout | undefined;
  #lastHeldLog = 0;
  #heldDropped = 0;
  #parkedDropped = 0;
  #waiters: Array<() => void> = [];
  /** The wait between attempts to reach Kafka at start, and what ends it early. */
  #startWait: NodeJS.Timeout | undefined;
  #wakeStart: (() => void) | undefined;
  #wasFull = false;
  /** The feeds were asked to wait (onWait) rather than fill the spool: lifted by onSpace. */
  #softWait = false;
  /** True while new records go straight to the spool: Kafka unavailable, or --durability disk. */
  #toDisk: boolean;
  /** The spool has been used since it was last empty (for the "drained" log line). */
  #spoolUsed: boolean;
  /** Records on their way into the spool, appended once per event-loop turn. */
  #pending: SpoolRecord[] = [];
  #flushScheduled = false;
  /** Delivery paused (pauseDelivery): records are kept, nothing is sent. */
  #paused = false;

  constructor(o: SinkOptions) {
    this.#o = o;
    this.queue = new RecordQueue(o.capacity, o.capacityBytes);
    o.metrics.bufferCapacity = o.capacity;
    o.metrics.bufferQueue = this.queue;
    this.#toDisk = o.spool !== undefined && o.writeAhead === true;
    this.#spoolUsed = (o.spool?.size ?? 0) > 0;
    this.#producer = new BatchProducer({
      brokers: o.brokers,
      security: o.security,
      compression: o.compression,
      log: o.log,
      ...(o.client ? { client: o.client } : {}),
      ...(o.metadataMaxAgeMs !== undefined ? { metadataMaxAgeMs: o.metadataMaxAgeMs } : {}),
      ...(o.inflight !== undefined ? { maxInflight: o.inflight } : {}),
      onFailure: (err) => this.#failed(err),
      onAnswer: (ok) => this.#answered(ok),
    });
    this.held = new HeldStore({ spool: o.spool?.options, memoryCapacity: o.capacity });
    for (const topic of this.held.recover()) {
      // Held by an earlier run: still held until a probe shows Kafka takes it.
      this.#producer.hold(topic, -1);
      o.log.warn({ topic }, `records of topic ${topic} held by an earlier run (Kafka refused the topic) wait in the spool; it is tried again shortly`);
    }
    o.metrics.heldRecords = this.held.size;
    this.parked = new HeldStore({ spool: o.spool?.options, memoryCapacity: o.capacity, dirName: 'parked' });
    for (const key of this.parked.recover()) {
      const { topic, partition } = parseParkKey(key);
      this.#producer.park(topic, partition);
      o.log.warn({ topic, partition }, `records of ${topic}[${partition}] parked by an earlier run (its leader was away) wait in the spool; they are sent before newer ones once its leader answers`);
    }
    o.metrics.parkedRecords = this.parked.size;
  }

  /**
   * Takes a record. False only when nothing can hold it (no spool and the queue is full): the
   * caller applies its overflow policy. `force` (control records) always goes in.
   */
  offer(record: OutRecord, receivedAt: number, force = false): boolean {
    if (this.#toDisk) {
      this.#toSpool(record, receivedAt);
      return true;
    }
    if (!this.queue.push(record, receivedAt, force && this.#o.spool === undefined)) {
      if (this.#o.spool === undefined) {
        this.#wasFull = true;
        return false;
      }
      if (!force && this.#ready && !this.#toDisk && this.#failingSince === 0 && this.#o.onWait?.() === true) {
        // A burst while Kafka keeps up only slowly: the frames wait unread (compact, as they came)
        // rather than every record go the slower way through the disk.
        this.queue.push(record, receivedAt, true);
        this.#wasFull = true;
        this.#softWait = true;
        this.#o.metrics.bufferUsed = this.queue.size;
        this.#kick();
        return true;
      }
      this.#overflowToSpool();
      this.queue.push(record, receivedAt, true);
    }
    this.#o.metrics.bufferUsed = this.queue.size;
    this.#kick();
    return true;
  }

  /**
   * The memory queue is full: its oldest tenth (after the batch in flight) moves to the end of the
   * spool, which holds only older records, so order is kept and there is room again.
   */
  #overflowToSpool(): void {
    const spool = this.#o.spool!;
    const keep = this.queue.taken;
    const now = Date.now();
    if (now - this.#lastOverflowLog > 5000) {
      this.#lastOverflowLog = now;
      this.#o.log.warn({ buffered: this.queue.size, spooled: spool.size, spool: spool.options.dir }, 'memory buffer full: its oldest events go to the disk spool (sent ahead of newer ones, in order)');
    }
    this.#spoolUsed = true;
    // Enough to be below 90 % of both bounds (a tenth of the events when the event bound is full).
    this.queue.takeRange(keep, this.queue.countToFree(keep, 0.9), (r, at) => this.#toSpool(r, at));
  }

  /**
   * How long Kafka has been unavailable (ms), or 0 while it counts as available: not ready since
   * start, every broker failing for SPILL_AFTER_MS, or nothing acknowledged for INFLIGHT_STUCK_MS
   * while batches wait (a first request to fresh topics can take seconds). One broker down while
   * the others acknowledge is not an outage: its partitions wait, the rest flows.
   */
  #unavailableFor(): number {
    const now = Date.now();
    const since = !this.#ready ? this.#createdAt : this.#failingSince;
    if (since !== 0 && now - since > SPILL_AFTER_MS) return now - since;
    if (this.#out.length > 0 && now - this.#lastAckAt > INFLIGHT_STUCK_MS) return now - this.#lastAckAt;
    return 0;
  }

  /**
   * When Kafka is unavailable (#unavailableFor), switches to the spool: what waits in memory
   * (older than anything new) goes first, and is then safe on disk too. Checked by a timer (not
   * per record: it reads the clock). True when spooling.
   */
  #spillIfUnavailable(): boolean {
    const spool = this.#o.spool;
    if (spool === undefined || this.#closed) return false;
    if (this.#toDisk) return true;
    const waitedMs = this.#unavailableFor();
    if (waitedMs === 0) return false;
    this.#toDisk = true;
    this.#spoolUsed = true;
    const moved = this.#queueToSpool(false);
    this.#o.log.warn({ spool: spool.options.dir, moved, waitedMs }, `Kafka has not acknowledged anything for ${waitedMs} ms (unreachable or too slow): new events go to the disk spool (replayed in order once it is back)`);
    return true;
  }

  /**
   * Moves the memory queue into the spool, oldest first: all of it (`withInflight`, at a stop:
   * records of batches in flight that Kafka has acknowledged stay out; the others may still reach
   * Kafka too, a duplicate at most), or what follows the batches in flight.
   */
  #queueToSpool(withInflight: boolean): number {
    let moved = 0;
    const acked = withInflight ? this.#ackedInQueue() : undefined;
    this.queue.takeAfter(withInflight ? 0 : this.queue.taken, (record, at, index) => {
      if (acked !== undefined && index < acked.length && acked[index] === 1) return;
      this.#toSpool(record, at);
      moved++;
    });
    this.#o.metrics.bufferUsed = this.queue.size;
    return moved;
  }

  /** Which of the queue's taken records Kafka has acknowledged (by place from the head). */
  #ackedInQueue(): Uint8Array {
    const out = new Uint8Array(this.queue.taken);
    let at = 0;
    for (const t of this.#out) {
      if (t.from !== 'memory') continue;
      // Handled: acknowledged, or gone to the dead-letter topic, the held or parked store; else what Kafka has.
      const handled = t.processed === true ? new Uint8Array(t.n).fill(1) : t.acked.slice();
      if (t.parked !== undefined) for (let i = 0; i < t.n; i++) if (t.parked[i] === 1) handled[i] = 1;
      out.set(handled, at);
      at += t.n;
    }
    return out;
  }

  /**
   * At a stop that Kafka did not let finish: what is still only in memory goes to the spool, to be
   * replayed at the next start. Returns how many records were moved.
   */
  spillToSpool(): number {
    const spool = this.#o.spool;
    if (spool === undefined || (this.queue.size === 0 && this.#detached.length === 0)) return 0;
    // Detached batches are older than the queue: what Kafka has not acknowledged of them goes first.
    let detached = 0;
    for (const t of this.#detached.splice(0)) {
      for (let i = 0; i < t.n; i++) {
        if (t.acked[i] === 1 || t.parked?.[i] === 1) continue;
        this.#toSpool(t.messages[i] as OutRecord, t.times[i]!);
        detached++;
      }
    }
    if (this.queue.taken > 0 && (spool.size > 0 || this.#pending.length > 0)) {
      this.#o.log.warn(
        { records: this.queue.taken, spooled: spool.size },
        'stopping with batches in flight from memory and newer events in the spool: those batches are appended after them (kept, but replayed after newer events)',
      );
    }
    const moved = this.#queueToSpool(true) + detached;
    // The batch in flight is in the spool now: its late acknowledgement must not touch the queue.
    this.#spilled = true;
    this.#flushPending();
    return moved;
  }

  /** After an offer: a full batch goes now if the producer wants it, a partial one after --linger. */
  #kick(): void {
    if (!this.#ready) return;
    if (this.queue.untakenBytes < this.#o.batchBytes) this.#lingerTimer ??= setTimeout(() => this.#send(), this.#o.lingerMs);
    else if (this.#producer.wantsMore()) this.#send();
  }

  #toSpool(record: OutRecord, receivedAt: number): void {
    // Control records keep their negative tag; events their wall-clock receive time.
    this.#pending.push(toSpoolRecord(record, receivedAt < 0 ? receivedAt : ORIGIN + receivedAt));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushPending());
    }
  }

  /** Appends the records waiting for the spool; then sends (`kick`) unless called while sending. */
  #flushPending(kick = true): void {
    this.#flushScheduled = false;
    const spool = this.#o.spool!;
    if (this.#pending.length === 0) return;
    const errorsBefore = spool.writeErrors;
    const written = spool.append(this.#pending);
    this.#o.metrics.eventsSpooled += written;
    if (spool.writeErrors !== errorsBefore) this.#spoolWriteFailed(spool);
    this.#o.metrics.spoolBytes = spool.bytes;
    if (written === this.#pending.length) this.#pending = [];
    else {
      const left = this.#pending.length - written;
      const now = Date.now();
      if (now - this.#lastSpoolFullLog > 5000) {
        this.#lastSpoolFullLog = now;
        this.#o.log.warn(
          { spoolBytes: spool.bytes, maxBytes: spool.options.maxBytes, policy: this.#o.spoolFull ?? 'block', waiting: left },
          this.#o.spoolFull === 'drop' ? 'SPOOL FULL: dropping events (--spool-full drop); each is counted' : 'SPOOL FULL: pausing the socket until Kafka drains the spool (--spool-full block)',
        );
      }
      // Try again soon even if nothing is acknowledged meanwhile (a disk that had no room may have
      // room again; with --durability disk nothing reaches Kafka before the spool takes it).
      this.#flushRetry ??= setTimeout(() => {
        this.#flushRetry = undefined;
        if (!this.#closed && !this.#flushScheduled && this.#pending.length > 0) this.#flushPending();
      }, FLUSH_RETRY_MS);
      if (this.#o.spoolFull === 'drop') {
        // Events are dropped and counted; control records (gaps, dead letters) wait for room.
        const kept = this.#pending.slice(written).filter((r) => r.receivedAt < 0);
        this.#o.metrics.eventsDropped += left - kept.length;
        this.#pending = kept;
      } else {
        this.#pending = this.#pending.slice(written);
        this.#wasFull = true;
        this.#o.onFull();
      }
    }
    if (kick) this.#kick();
  }

  /**
   * A spool write failed (ENOSPC, EIO, EROFS): nothing partial was kept, the records not written
   * wait under the --spool-full policy as if the spool were full; counted, logged with its code.
   */
  #spoolWriteFailed(spool: Spool): void {
    const m = this.#o.metrics;
    const e = spool.writeError;
    m.spoolWriteErrors++;
    m.countError('SPOOL_WRITE_FAILED', `${e?.code ?? 'EUNKNOWN'}: ${e?.message ?? ''}`);
    const now = Date.now();
    if (now - this.#lastSpoolErrorLog > 5000) {
      this.#lastSpoolErrorLog = now;
      this.#o.log.error(
        { code: 'SPOOL_WRITE_FAILED', errno: e?.code, err: e?.message, spool: spool.options.dir, policy: this.#o.spoolFull ?? 'block', writeErrors: m.spoolWriteErrors },
        `[SPOOL_WRITE_FAILED] the spool cannot be written (${e?.code ?? 'error'}): ${this.#o.spoolFull === 'drop' ? 'events that do not fit are dropped and counted (--spool-full drop)' : 'reading pauses until Kafka drains what is kept (--spool-full block)'}; writing is tried again`,
      );
    }
  }

  /** The spool's last write error, while writes fail. */
  spoolWriteError(): { code: string; message: string } | undefined {
    const e = this.#o.spool?.writeError;
    return e === undefined ? undefined : { code: e.code, message: e.message };
  }

  /** Creates missing topics, retrying while Kafka is unreachable; then starts sending. */
  async start(): Promise<void> {
    if (this.#o.spool !== undefined) {
      this.#spillTimer = setInterval(() => {
        if (this.queue.size > 0) this.#spillIfUnavailable();
      }, SPILL_AFTER_MS / 4);
      this.#spillTimer.unref();
    }
    // Held topics are probed on time even when nothing else is sent; and while batches are in
    // flight, a broker turned slow stops holding back the others (the producer wants more again).
    // Partitions whose leader stays away are parked (the producer cannot tell by itself: a dead
    // broker answers nothing), and batches waiting only for them are detached.
    this.#probeTimer = setInterval(() => {
      if (!this.#ready || this.#closed || this.#paused) return;
      // Room made other than by an acknowledgement (memory moved to the spool) resumes the feeds too:
      // a feed waiting in its reading thread (which can hold frames on disk) never waits for nothing.
      this.#checkSpace();
      this.#producer.tick();
      if (this.#out.length > 0 && this.#producer.parked().length > 0) this.#detachParked();
      if ((this.held.topics.size > 0 && this.#probe === undefined) || this.parked.topics.size > 0 || this.#out.length > 0) this.#send();
    }, 250);
    this.#probeTimer.unref();
    let delay = 500;
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        await this.#createTopics();
        break;
      } catch (err) {
        // TLS or SASL settings Kafka refuses (or crossed TLS and plaintext): retrying cannot help,
        // so the start fails now with the code instead of looking like an unreachable Kafka.
        // The listener is probed (when the error alone says nothing) at most every 30 s.
        const probe = Date.now() - this.#lastProbeAt >= PROBE_EVERY_MS;
        if (probe) this.#lastProbeAt = Date.now();
        const refused = await diagnoseKafkaError(err, this.#o.security, this.#o.brokers, { probe });
        if (refused !== undefined) {
          this.#fatal = refused;
          this.#o.metrics.countError(refused.code, refused.message);
          this.#o.log.error({ code: refused.code, brokers: this.#o.brokers }, `[${refused.code}] ${refused.message}`);
          throw refused;
        }
        this.#o.log.warn(
          { brokers: this.#o.brokers, attempt, err: (err as Error).message, buffered: this.queue.size, spooled: this.#o.spool?.size ?? 0 },
          `Kafka at ${this.#o.brokers.join(',')} is unreachable or refused topic creation; retrying in ${delay} ms (events are kept meanwhile)`,
        );
        // A stop meanwhile ends the wait at once (close() wakes it).
        await new Promise<void>((r) => {
          this.#startWait = setTimeout(r, delay);
          this.#wakeStart = r;
        });
        delay = Math.min(delay * 2, 5000);
      }
    }
    if (this.#closed) return;
    this.#ready = true;
    this.#o.log.info({ topics: this.#o.topics }, 'Kafka is ready');
    this.#send();
  }

  async #createTopics(): Promise<void> {
    const o = this.#o;
    await createMissingTopics({ brokers: o.brokers, security: o.security, topics: o.topics, partitions: o.partitions, replication: o.replication, topicConfig: o.topicConfig, configs: o.topicConfigs ?? {}, log: o.log });
    await this.#producer.prepare(o.topics);
    const dlq = o.deadLetterTopic;
    const wanted = Number(dlq === undefined ? NaN : o.topicConfigs?.[dlq]?.['max.message.bytes']);
    if (dlq !== undefined && Number.isFinite(wanted) && this.#producer.limitOf(dlq) < wanted) {
      o.log.warn(
        { topic: dlq, maxMessageBytes: this.#producer.limitOf(dlq), largestDeadLetter: wanted },
        `the dead-letter topic ${dlq} takes records up to ${this.#producer.limitOf(dlq)} bytes, less than the largest frame the bridge accepts: a larger dead letter would be held in the spool (raise its max.message.bytes to ${wanted})`,
      );
    }
  }


  /**
   * Hands batches to the producer while it wants more: a held topic's probe when due (one at a
   * time), then the spool (older records), then the memory queue. Batches from memory stay in the
   * queue, taken, until Kafka has them; at most half the queue may be taken, and at most a
   * queue's worth read ahead from the spool, so a broker that holds back its partitions for long
   * costs bounded memory while the others flow.
   */
  #send(): void {
    if (this.#lingerTimer) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    if (!this.#ready || this.#closed || this.#paused) return;
    if (this.held.topics.size > 0 && this.#probe === undefined) {
      // A held topic whose probe is due goes first: one batch, whatever the main flow holds.
      const topic = this.held.due(Date.now());
      if (topic !== undefined) {
        const records = this.held.takeProbe(topic, this.#o.batchBytes);
        if (records.length > 0) this.#submit(this.#fromSpoolRecords(records, 'held', topic));
      }
    }
    // Each parked partition whose leader answers again: its oldest records, one batch at a time.
    for (let now = Date.now(); this.parked.topics.size > this.#parkProbes.size; ) {
      const key = this.parked.due(now, (k) => {
        if (this.#parkProbes.has(k)) return false;
        const { topic, partition } = parseParkKey(k);
        return this.#producer.canSend(topic, partition);
      });
      if (key === undefined) break;
      const records = this.parked.takeProbe(key, this.#o.batchBytes);
      if (records.length === 0) break;
      this.#submit(this.#fromSpoolRecords(records, 'parked', key));
    }
    const spool = this.#o.spool;
    if (spool !== undefined && this.#pending.length > 0) this.#flushPending(false);
    const capacity = this.queue.capacity;
    while (this.#producer.wantsMore()) {
      if (spool !== undefined && (spool.unread > 0 || this.#pending.length > 0)) {
        // Records still waiting for room in a full spool are older than the queue: wait for them.
        if (spool.unread === 0 || this.#spoolTaken >= capacity) break;
        const records = spool.read(this.#o.batchBytes);
        if (records.length === 0) break;
        this.#spoolTaken += records.length;
        this.#submit(this.#fromSpoolRecords(records, 'spool', ''));
        continue;
      }
      if (this.queue.size === this.queue.taken) break;
      if (this.queue.taken >= capacity / 2) {
        // Half the buffer waits for Kafka (a broker slow or away): what follows goes to the spool
        // now, so the brokers that answer are fed from there without waiting for the buffer to fill.
        if (spool === undefined || this.#toDisk) break;
        this.#spoolUsed = true;
        const now = Date.now();
        if (now - this.#lastOverflowLog > 5000) {
          this.#lastOverflowLog = now;
          this.#o.log.warn({ inFlight: this.queue.taken, buffered: this.queue.size, spooled: spool.size, spool: spool.options.dir }, 'half the memory buffer waits for Kafka: newer events go through the disk spool (sent in order behind it) while the brokers that answer keep being fed');
        }
        this.#queueToSpool(false);
        this.#flushPending(false);
        if (spool.unread === 0) break;
        continue;
      }
      const { records, times } = this.queue.take(this.#o.batchBytes);
      const received = new Float64Array(times.length);
      for (let i = 0; i < times.length; i++) received[i] = times[i]! < 0 ? -1 : ORIGIN + times[i]!;
      this.#submit({ n: records.length, from: 'memory', times, received, messages: records, acked: new Uint8Array(records.length), topic: '', done: false });
    }
    if (this.#out.length === 0 && this.#probe === undefined && this.#parkProbes.size === 0 && this.#detached.length === 0) this.#idle();
  }

  /** A batch of spool (or held) records; their receive times as performance.now() ms or their tag. */
  #fromSpoolRecords(records: SpoolRecord[], from: 'spool' | 'held' | 'parked', topic: string): Taken {
    const times = new Float64Array(records.length);
    const received = new Float64Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const t = records[i]!.receivedAt;
      // Latency counts from this run's start at the earliest; the timestamp keeps the real receive time.
      times[i] = t < 0 ? t : Math.max(0, t - ORIGIN);
      received[i] = t < 0 ? -1 : t;
    }
    return { n: records.length, from, times, received, messages: records, acked: new Uint8Array(records.length), topic, done: false };
  }

  #submit(batch: Taken): void {
    if (batch.from === 'held') this.#probe = batch;
    else if (batch.from === 'parked') this.#parkProbes.set(batch.topic, batch);
    else this.#out.push(batch);
    const probe = batch.from === 'held' || batch.from === 'parked';
    const onParked = probe ? undefined : (indices: number[], topic: string, partition: number) => this.#parkRecords(batch, indices, topic, partition);
    // A copy: --timestamp event overwrites it with each event's own time.
    void this.#producer.submit(batch.messages, this.#timestamps(batch.messages, batch.received.slice()), probe, batch.acked, onParked).then((outcome) => this.#settled(batch, outcome));
  }

  /** Records of a parked partition handed back by the producer: into its store, in order. */
  #parkRecords(batch: Taken, indices: number[], topic: string, partition: number): void {
    if (batch.dropped === true || this.#spilled) return;
    const mask = (batch.parked ??= new Uint8Array(batch.n));
    const records: SpoolRecord[] = [];
    for (const i of indices) {
      mask[i] = 1;
      const t = batch.times[i]!;
      records.push(batch.from === 'memory' ? toSpoolRecord(batch.messages[i] as OutRecord, t < 0 ? t : batch.received[i]!) : (batch.messages[i] as SpoolRecord));
    }
    this.parked.add(parkKey(topic, partition), -1, records);
    this.#o.metrics.parkedRecords = this.parked.size;
    const dropped = this.parked.dropped - this.#parkedDropped;
    if (dropped > 0) {
      // Without a spool the parked store is memory, bounded by --buffer-size: beyond it, counted and said.
      this.#o.metrics.eventsDropped += dropped;
      this.#parkedDropped = this.parked.dropped;
      const now = Date.now();
      if (now - this.#lastHeldLog > 5000) {
        this.#lastHeldLog = now;
        this.#o.log.warn({ topic, partition, dropped: this.parked.dropped, inMemory: this.parked.inMemory }, `${topic}[${partition}]: its leader is away and the parked records fill memory (no spool: --buffer-size ${this.#o.capacity}): events are dropped and counted`);
      }
    }
  }

  /**
   * Batches from memory at the head of the queue whose unsettled records all wait for parked
   * partitions (batches sent before the park, retried there until Kafka answers) leave the
   * queue's order: the queue releases them and the batches behind, and they are kept aside.
   */
  #detachParked(): void {
    let any = false;
    for (const t of this.#out) {
      if (t.done || t.detached === true || t.from !== 'memory') continue;
      if (!this.#producer.onlyParkedLeft(t.acked)) continue;
      t.detached = true;
      any = true;
    }
    if (!any) return;
    const refusals: Array<() => void> = [];
    this.#release(refusals);
    for (const refuse of refusals) refuse();
    this.#send();
  }

  /**
   * A batch's record timestamps, from its receive times (wall ms, -1 for control records): as
   * they are, or with --timestamp event each event's own `t` where it has one. The event time is
   * read again from the record's bytes here, so nothing more is kept per record, in memory or in
   * the spool.
   */
  #timestamps(messages: readonly SendRecord[], received: Float64Array): Float64Array {
    if (this.#o.timestamp !== 'event') return received;
    for (let i = 0; i < received.length; i++) {
      const value = messages[i]!.value;
      if (received[i]! < 0 || value === undefined) continue;
      const t = eventTimeMs(value);
      if (t === t) received[i] = t; // NaN: no `t` of its own, the receive time stays
    }
    return received;
  }

  #idle(): void {
    if (this.#o.spool && !this.#o.writeAhead && this.#spoolUsed && this.#o.spool.size === 0 && this.#pending.length === 0) {
      this.#spoolUsed = false;
      this.#o.log.info('the spool is drained: back to the memory buffer');
    }
    if (this.#waiters.length > 0 && this.#pendingTotal() === 0) for (const w of this.#waiters.splice(0)) w();
  }

  #pendingTotal(): number {
    return this.queue.size + (this.#o.spool?.size ?? 0) + this.#pending.length + this.#detachedLeft() + this.parked.size + this.#parkProbes.size;
  }

  /** Records of detached batches not acknowledged (nor parked) yet. */
  #detachedLeft(): number {
    let n = 0;
    for (const t of this.#detached) for (let i = 0; i < t.n; i++) if (t.acked[i] === 0 && t.parked?.[i] !== 1) n++;
    return n;
  }

  /** A broker answered (ok: it acknowledged something): Kafka is available; feed the producer. */
  #answered(ok: boolean): void {
    if (this.#spilled || this.#closed) return;
    if (ok) {
      this.#lastAckAt = Date.now();
      if (this.#failingSince !== 0) {
        this.#o.log.info({ downMs: Date.now() - this.#failingSince }, 'Kafka accepts records again');
        this.#failingSince = 0;
      }
      if (this.#toDisk && !this.#o.writeAhead) {
        // Kafka answers again: new events stay in memory, behind what the spool holds.
        this.#toDisk = false;
        this.#o.log.info({ spooled: this.#o.spool!.size }, 'Kafka acknowledges again: new events go to the memory buffer, the spool drains ahead of them');
      }
    }
    this.#send();
  }

  /**
   * Every record of a batch is acknowledged, refused or held: account for it, then release from
   * the memory queue and the spool what is settled in order (a batch settled before an older one
   * waits for it there; its records are not sent again).
   */
  #settled(batch: Taken, outcome: SendOutcome): void {
    if (this.#spilled || this.#closed || batch.dropped === true) return;
    batch.done = true;
    batch.outcome = outcome;
    const now = performance.now();
    const m = this.#o.metrics;
    const onTaggedAck = this.#o.onTaggedAck;
    // Records the outcome names (refused: dead letters; held: kept apart) are not acknowledged.
    // A probe's are handled now (one probe at a time); a batch's of the main flow in the order the
    // batches were taken (#release), since they settle out of order and held records must join
    // their topic's store in arrival order.
    const refusals: Array<() => void> = [];
    let skip: Uint8Array | undefined;
    if (batch.from === 'held' || batch.from === 'parked') {
      if (outcome.refused.length + outcome.held.length > 0) skip = this.#settleOutcome(batch, outcome, refusals);
    } else if (outcome.refused.length + outcome.held.length > 0) {
      skip = new Uint8Array(batch.n);
      for (const r of outcome.refused) skip[r.index] = 1;
      for (const h of outcome.held) skip[h.index] = 1;
    }
    const times = batch.times;
    // Records handed back for a parked partition are acknowledged later, from the parked store.
    if (batch.parked !== undefined) {
      skip ??= new Uint8Array(batch.n);
      for (let i = 0; i < batch.n; i++) if (batch.parked[i] === 1) skip[i] = 1;
    }
    // Events per topic, counted per run of one topic (a batch is mostly a few long runs).
    let runTopic = '';
    let run = 0;
    for (let i = 0; i < batch.n; i++) {
      if (skip !== undefined && skip[i] === 1) continue;
      const t = times[i]!;
      if (t < 0) {
        onTaggedAck?.(-t);
        continue;
      }
      m.recordAck(Math.round((now - t) * 1000));
      const topic = batch.messages[i]!.topic;
      if (topic !== runTopic) {
        if (run > 0) m.countTopic(runTopic, run);
        runTopic = topic;
        run = 0;
      }
      run++;
    }
    if (run > 0) m.countTopic(runTopic, run);
    if (batch.from === 'held') {
      // A probe of a held topic: what is still refused waits for the next probe.
      this.#probe = undefined;
      const left = skip === undefined ? [] : outcome.held.map((h) => batch.messages[h.index] as SpoolRecord);
      if (this.held.probed(batch.topic, left, Date.now())) this.#releaseHeld(batch.topic);
      m.heldRecords = this.held.size;
    } else if (batch.from === 'parked') {
      // A parked partition's batch: acknowledged, the next goes at once; none left: it flows as before.
      this.#parkProbes.delete(batch.topic);
      const left = outcome.held.map((h) => batch.messages[h.index] as SpoolRecord);
      if (this.parked.probed(batch.topic, left, Date.now())) this.#unpark(batch.topic);
      m.parkedRecords = this.parked.size;
    } else if (this.#detached.includes(batch)) {
      // Detached: already out of its store; its refusals and held records are handled now.
      if (outcome.refused.length + outcome.held.length > 0) this.#settleOutcome(batch, outcome, refusals);
      this.#detached.splice(this.#detached.indexOf(batch), 1);
    } else {
      this.#release(refusals);
    }
    for (const refuse of refusals) refuse();
    if (this.#pending.length > 0 && !this.#flushScheduled) this.#flushPending();
    this.#checkSpace();
    this.#send();
  }

  /** The buffer has room again after being full: the feeds take frames again. */
  #checkSpace(): void {
    if (this.#wasFull && this.queue.below(0.9) && !(this.#o.spool?.full ?? false) && this.#pending.length === 0) {
      this.#wasFull = false;
      this.#softWait = false;
      this.#o.onSpace();
    }
  }

  /**
   * A parked partition whose store is empty flows as before. Its records were handed back at once
   * (when written, or when parked), so none can still be on their way to the store.
   */
  #unpark(key: string): void {
    const { topic, partition } = parseParkKey(key);
    const since = this.parked.topics.get(key)?.since ?? Date.now();
    this.parked.remove(key);
    this.#producer.unpark(topic, partition);
    this.#o.log.info({ topic, partition, parkedMs: Date.now() - since }, `${topic}[${partition}]: its leader answers and everything parked for it is delivered: it flows as before`);
  }

  /**
   * A held topic whose store is empty flows normally again, unless batches taken before may still
   * add held records of it (not handled yet): then once they are, so that its records keep their
   * order.
   */
  #releaseHeld(topic: string): void {
    if (this.#out.some((t) => t.processed !== true && t.messages.some((r) => r.topic === topic))) {
      this.#releaseLater.add(topic);
      return;
    }
    this.#releaseLater.delete(topic);
    this.held.remove(topic);
    this.#producer.release(topic);
    this.#o.log.info({ topic }, `topic ${topic} accepts records again: everything held for it is delivered, it flows normally`);
  }

  /**
   * Handles the refusals and held records of settled batches in the order they were taken, then
   * releases the handled batches at the front of each store, in order.
   */
  #release(refusals: Array<() => void>): void {
    const m = this.#o.metrics;
    for (const t of this.#out) {
      if (!t.done) {
        if (t.detached === true) continue;
        break;
      }
      if (t.processed) continue;
      const o = t.outcome!;
      if (o.refused.length + o.held.length > 0) this.#settleOutcome(t, o, refusals);
      t.processed = true;
    }
    for (const topic of this.#releaseLater) if (this.held.isEmpty(topic)) this.#releaseHeld(topic);
    let memory = 0;
    let spool = 0;
    // Per store, the batches handled before the first one that is not.
    let memoryOpen = false;
    let spoolOpen = false;
    const keep: Taken[] = [];
    for (const t of this.#out) {
      const open = t.from === 'memory' ? memoryOpen : spoolOpen;
      if ((t.processed === true || t.detached === true) && !open) {
        if (t.from === 'memory') memory += t.n;
        else spool += t.n;
        if (t.processed !== true) this.#detached.push(t);
        continue;
      }
      if (t.from === 'memory') memoryOpen = true;
      else spoolOpen = true;
      keep.push(t);
    }
    this.#out = keep;
    if (memory > 0) {
      this.queue.release(memory);
      m.bufferUsed = this.queue.size;
    }
    if (spool > 0) {
      this.#o.spool!.ack(spool);
      this.#spoolTaken -= spool;
      m.eventsReplayed += spool;
      m.spoolBytes = this.#o.spool!.bytes;
    }
  }

  /**
   * Refused records go to the dead-letter topic (through onRefused); records of held topics move
   * to the held store, in order. Returns a mask (1: not acknowledged) by index in the batch.
   */
  #settleOutcome(batch: Taken, outcome: SendOutcome, refusals: Array<() => void>): Uint8Array {
    const skip = new Uint8Array(batch.messages.length);
    const m = this.#o.metrics;
    const receivedAt = (index: number): number => {
      const t = batch.times[index]!;
      return t < 0 ? t : batch.received[index]!;
    };
    for (const r of outcome.refused) {
      const record = batch.messages[r.index]!;
      skip[r.index] = 1;
      if (record.topic === this.#o.deadLetterTopic) {
        // A dead letter refused: it is kept (held), never dead-lettered again.
        outcome.held.push({ index: r.index, code: r.code });
        continue;
      }
      m.countError(r.code === 10 ? 'KAFKA_RECORD_TOO_LARGE' : 'KAFKA_RECORD_REFUSED', r.detail);
      m.recordsRefused++;
      // Offered once the batch has left the queue (an offer may start the next send).
      const at = receivedAt(r.index);
      refusals.push(() => this.#o.onRefused?.(record, r.code === 10 ? 'KAFKA_RECORD_TOO_LARGE' : 'KAFKA_RECORD_REFUSED', r.detail, at));
      const now = Date.now();
      if (now - this.#lastRefusedLog > 5000) {
        this.#lastRefusedLog = now;
        const ours = r.code === 10 ? 'KAFKA_RECORD_TOO_LARGE' : 'KAFKA_RECORD_REFUSED';
        this.#o.log.warn({ topic: record.topic, code: ours, kafkaError: produceErrorName(r.code), detail: r.detail, refused: m.recordsRefused, deadLetterTopic: this.#o.deadLetterTopic }, `[${ours}] Kafka will not take a record: sent to the dead-letter topic (the others go on)`);
      }
    }
    const probe = batch.from === 'held' || batch.from === 'parked';
    if (outcome.held.length > 0 && !probe) {
      // In order, by topic: each held topic's records join its store.
      const byTopic = new Map<string, { code: number; records: SpoolRecord[] }>();
      outcome.held.sort((a, b) => a.index - b.index);
      for (const h of outcome.held) {
        const record = batch.messages[h.index]!;
        skip[h.index] = 1;
        let entry = byTopic.get(record.topic);
        if (entry === undefined) byTopic.set(record.topic, (entry = { code: h.code, records: [] }));
        entry.records.push(batch.from === 'memory' ? toSpoolRecord(record as OutRecord, receivedAt(h.index)) : (record as SpoolRecord));
      }
      for (const [topic, { code, records }] of byTopic) {
        const ours = heldCode(code);
        m.countError(ours, `${produceErrorName(code)} for topic ${topic}`);
        this.held.add(topic, code, records);
        const now = Date.now();
        if (now - this.#lastHeldLog > 5000) {
          this.#lastHeldLog = now;
          this.#o.log.warn(
            { topic, code: ours, kafkaError: produceErrorName(code), held: this.held.size, inMemory: this.held.inMemory },
            `[${ours}] Kafka refuses topic ${topic} (${produceErrorName(code)}): its records wait ${this.#o.spool ? 'in the spool' : 'in memory'} and are tried again every few seconds; the other topics keep flowing`,
          );
        }
      }
      m.heldRecords = this.held.size;
      m.eventsDropped += this.held.dropped - this.#heldDropped;
      this.#heldDropped = this.held.dropped;
    } else if (probe) {
      // A probe's records still refused stay in their store (held or parked).
      for (const h of outcome.held) skip[h.index] = 1;
    }
    return skip;
  }

  /** A produce attempt failed (the producer retries it): counted by code, logged at most every 5 s. */
  #failed(err: ProduceError): void {
    if (this.#spilled) return;
    const m = this.#o.metrics;
    m.produceErrors++;
    // A TLS or SASL refusal (credentials revoked, a certificate expired while running): the batch
    // is retried and events wait in the spool as for any failure, but under its own code, loudly.
    const refused = err.codes.find((c) => isKafkaConnectionCode(c));
    const codes = err.codes;
    for (const c of new Set(codes)) m.countProduceError(c);
    const now = Date.now();
    if (refused !== undefined) {
      const detail = classifyKafkaError(err.cause ?? err, this.#o.security, this.#o.brokers)?.message ?? `${ErrorCodes[refused].summary} (${err.message})`;
      m.countError(refused, detail);
      if (now - this.#lastRefusedConnectionLog > 5000) {
        this.#lastRefusedConnectionLog = now;
        this.#o.log.error(
          { code: refused, buffered: this.queue.size, spooled: this.#o.spool?.size ?? 0 },
          `[${refused}] Kafka refuses the connection: ${detail}. Events are kept (${this.#o.spool ? 'in the spool' : 'in memory'}) and batches are retried until it is fixed`,
        );
      }
    } else {
      m.setLastError(`KAFKA_PRODUCE_FAILED`, `${codes.join(',')}: ${err.message}`);
    }
    if (this.#failingSince === 0) {
      this.#failingSince = now;
      // Feeds waiting for acknowledgements (a soft pause) take frames again: while Kafka fails,
      // what does not fit in memory goes to the spool, which survives a restart.
      if (this.#softWait) {
        this.#softWait = false;
        this.#wasFull = false;
        this.#o.onSpace();
      }
    }
    if (refused === undefined && now - this.#lastFailureLog > 5000) {
      this.#lastFailureLog = now;
      this.#o.log.warn(
        { err: err.message, codes, buffered: this.queue.size, spooled: this.#o.spool?.size ?? 0, brokers: this.#producer.brokers().filter((b) => b.state === 'failing').map((b) => b.broker) },
        'producing to Kafka failed; the partitions concerned resend their batches in order (the others keep flowing)',
      );
    }
  }

  /**
   * Stops delivering (an HA member fenced: it must not produce once another member may be made
   * active): nothing more is sent, retries included, until resumeDelivery(); what is kept stays.
   */
  pauseDelivery(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#producer.pause();
  }

  resumeDelivery(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#producer.resume();
    this.#send();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Forgets every event not acknowledged, in memory and in the spool, batches in flight included
   * (an HA member whose role another member took: that member's takeover gap covers them, and
   * delivering them now would put them after its events). Records of held topics stay. Returns
   * how many records were discarded.
   */
  discardUndelivered(): number {
    let n = this.#detachedLeft();
    for (const t of [...this.#out, ...this.#detached]) t.dropped = true;
    this.#out = [];
    this.#detached = [];
    for (const p of this.#parkProbes.values()) p.dropped = true;
    this.#parkProbes.clear();
    for (const key of [...this.parked.topics.keys()]) n += this.parked.clear(key);
    this.#o.metrics.parkedRecords = 0;
    if (this.#probe !== undefined) {
      // The held store keeps its probe's records: they are probed again.
      this.#probe.dropped = true;
      this.#probe = undefined;
    }
    this.#producer.discard();
    n += this.queue.size + this.#pending.length;
    this.queue.takeAfter(0, () => undefined);
    this.#pending = [];
    const spool = this.#o.spool;
    if (spool !== undefined) {
      spool.rewind();
      this.#spoolTaken = 0;
      while (spool.unread > 0) {
        const records = spool.read(8 << 20);
        if (records.length === 0) break;
        spool.ack(records.length);
        n += records.length;
      }
      this.#o.metrics.spoolBytes = spool.bytes;
    }
    this.#o.metrics.bufferUsed = this.queue.size;
    if (!this.#o.writeAhead) this.#toDisk = false;
    this.#failingSince = 0;
    this.#lastAckAt = Date.now();
    if (this.#wasFull) {
      this.#wasFull = false;
      this.#softWait = false;
      this.#o.onSpace();
    }
    this.#idle();
    return n;
  }

  /** Each broker's lane as /status shows it. */
  brokers(): ReturnType<BatchProducer['brokers']> {
    return this.#producer.brokers();
  }

  /** Partitions with records waiting and no leader now. */
  leaderless(): string[] {
    return this.#producer.leaderless();
  }

  /** Parked partitions (their leader away) as /status shows them: records kept, since when. */
  parkedPartitions(): Array<{ partition: string; records: number; since: string }> {
    const out: Array<{ partition: string; records: number; since: string }> = [];
    for (const name of this.#producer.parked()) {
      const at = name.lastIndexOf('[');
      const key = parkKey(name.slice(0, at), Number(name.slice(at + 1, -1)));
      const since = this.parked.topics.get(key)?.since;
      out.push({ partition: name, records: this.parked.sizeOfKey(key), since: new Date(since ?? Date.now()).toISOString() });
    }
    return out;
  }

  /**
   * The receive time (wall ms) of the oldest event not yet acknowledged, if known: spool batches
   * in flight, the head of the memory queue, or the oldest record in the spool.
   */
  oldestUnacknowledged(): number | undefined {
    let oldest = Infinity;
    for (const t of [...this.#detached, ...this.#out]) {
      if ((t.from !== 'spool' && t.detached !== true) || t.done) continue;
      for (let i = 0; i < t.n; i++) {
        if (t.times[i]! >= 0 && t.acked[i] === 0) {
          oldest = Math.min(oldest, ORIGIN + t.times[i]!);
          break;
        }
      }
    }
    const t = this.queue.oldestTime();
    if (t !== undefined && t >= 0) oldest = Math.min(oldest, ORIGIN + t);
    const s = this.#o.spool?.oldestReceivedAt();
    if (s !== undefined && s >= 0) oldest = Math.min(oldest, s);
    const p = this.parked.oldestReceivedAt();
    if (p !== undefined) oldest = Math.min(oldest, p);
    return oldest === Infinity ? undefined : oldest;
  }

  /** Resolves true when everything buffered and spooled has been acknowledged, false after timeoutMs. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.#pending.length > 0) this.#flushPending();
    // Kafka refused the connection at start, or delivery is paused (a fenced HA member): waiting
    // cannot help (the spool keeps what it can).
    if (this.#fatal !== undefined || this.#paused) return Promise.resolve(this.#pendingTotal() === 0);
    if (this.#pendingTotal() === 0 && this.#out.length === 0 && this.#detached.length === 0) return Promise.resolve(true);
    if (this.#ready) this.#send();
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Records in the spool, not yet acknowledged. */
  spooled(): number {
    return this.#o.spool?.size ?? 0;
  }

  /** Records neither acknowledged nor safe on disk (what a stop now would lose). */
  unsafe(): number {
    return this.queue.size + this.#pending.length + this.held.inMemory + this.parked.inMemory + this.#detachedLeft();
  }

  /** Closes the spools at once (the last resort: the process exits next). */
  closeSpool(): void {
    this.#closed = true;
    if (this.#pending.length > 0) this.#flushPending(false);
    this.#o.spool?.close();
    this.held.close();
    this.parked.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#startWait) clearTimeout(this.#startWait);
    this.#wakeStart?.();
    if (this.#spillTimer) clearInterval(this.#spillTimer);
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    if (this.#flushRetry) clearTimeout(this.#flushRetry);
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    if (this.#pending.length > 0) this.#flushPending();
    this.#o.spool?.close();
    this.held.close();
    this.parked.close();
    await this.#producer.close().catch(() => undefined);
  }
}
