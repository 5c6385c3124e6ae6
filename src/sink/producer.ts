// An idempotent, acks=all producer that sends whole record batches written by record-batch.ts.
// The Kafka client is reached through the small ProducerClient interface (kafka-client.ts), so
// tests can put a fake broker behind it.
//
// submit() takes the records of one batch of the sink (memory queue or spool), writes them as one
// record batch per partition (each with its partition's next sequence numbers) and resolves once
// every record is acknowledged, refused or held. Several submits may be outstanding: they are
// written in the order submitted, and each partition's batches go out in that order. Delivery runs
// per leader broker (lanes.ts): up to `maxInflight` requests in flight per broker and batches per
// partition, so a broker that is down or slow holds back only the partitions it leads. A failed
// batch is retried here, never by the caller: its partition waits for everything it has in flight,
// then resends what Kafka has not acknowledged, byte for byte (same producer id and sequence), so
// the broker recognises a batch it already wrote and does not write it twice.
//
// What each Kafka error does is one table (kafka-errors.ts): retry, refresh metadata (with the
// new leader the broker names, KIP-951, when it does), new producer id (then a batch already
// written may be written twice, and it is logged), split the batch, refuse a record (returned in
// the outcome for the dead-letter topic), or hold a topic (its records are returned in the outcome,
// and the caller keeps them in the spool; later submits divert that topic's records the same way
// until the caller releases it). A batch never exceeds its topic's max.message.bytes: a larger one
// is split before it is sent, and a single record still too large is refused without being sent.
// A partition without a leader waits alone while the metadata is read again every half second.
// A partition whose leader has been away (failing, slow or unknown) for PARK_AFTER_MS is parked:
// what waits for it and was never sent goes back to the caller (submit's onParked), as do its
// records in later submits, until the caller unparks it; batches already sent stay and are retried.
import type { Logger } from 'pino';
import type { KafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError } from '../errors.ts';
import { errorCodeName, platformaticClient, type PartitionResponse, type ProduceResponse, type ProducerClient } from './kafka-client.ts';
import { produceAction, produceErrorName, ProduceActions } from './kafka-errors.ts';
import { partitionOf, RecordBatchEncoder, stampBatch, type BatchRecord, type Compression } from './record-batch.ts';
import { brokerState, laneStalled, newLane, newPart, nextToSend, PARK_AFTER_MS, parkable, PIECE_DISCARDED, PIECE_DONE, PIECE_HELD, PIECE_PARKED, PIECE_PENDING, PIECE_REFUSED, settle, troubleSince, type BrokerState, type Chunk, type Lane, type Part, type Piece } from './lanes.ts';

/** Produce v9–v11 share one request layout (flexible versions); Kafka 2.8 and later have v9. */
const PRODUCE_MIN_VERSION = 9;
const PRODUCE_MAX_VERSION = 11;
/** Kafka's default max.message.bytes (topic) and message.max.bytes (broker). */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const MESSAGE_TOO_LARGE = 10;
/** How long prepare() waits for topics just created to appear in the metadata. */
const PREPARE_WAIT_MS = 10_000;
/** How long prepare() waits for fresh partitions' leaders. */
const LEADER_WAIT_MS = 2_000;
/** How often prepare() reads the metadata again while it waits. */
const PREPARE_POLL_MS = 100;

/** What send() takes: a record and its topic (the memory queue's records and the spool's both are). */
export interface SendRecord extends BatchRecord {
  topic: string;
}



/** A record the broker will never take: its index in the messages and why. */
export interface Refusal {
  index: number;
  code: number;
  detail: string;
}

/** What became of the records of one send() besides being acknowledged. */
export interface SendOutcome {
  /** Records the broker will never take (for the dead-letter topic). */
  refused: Refusal[];
  /** Records of held topics (index, Kafka's code): not sent, or refused for now. */
  held: Array<{ index: number; code: number }>;
}

/** A send() that failed as a whole for now; `codes` are Kafka's names (or NETWORK). */
export class ProduceError extends Error {
  readonly codes: string[];
  /** The client's error, when the whole request (or the metadata read) failed: it says why. */
  constructor(message: string, codes: string[], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ProduceError';
    this.codes = codes;
  }
}

export interface ProducerOptions {
  brokers: string[];
  /** TLS and SASL towards Kafka (plaintext when undefined). */
  security?: KafkaSecurity | undefined;
  compression: Compression;
  log: Logger;
  /** A client of our own for tests (a fake broker); the real one by default. */
  client?: ProducerClient;
  /** Metadata older than this is read again before a send, so added partitions are used (ms). */
  metadataMaxAgeMs?: number;
  /** Requests in flight per broker, and batches per partition (1 to 5; --inflight). */
  maxInflight?: number;
  /** The first retry of a failed batch waits this long, doubling up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Each failed attempt (a request lost, or partitions answered with an error), for metrics and logs. */
  onFailure?: (err: ProduceError, broker: number) => void;
  /** After each answer from a broker (ok: something was acknowledged): the caller may submit more. */
  onAnswer?: (ok: boolean) => void;
}

/** Kafka's own default of metadata.max.age.ms. */
export const DEFAULT_METADATA_MAX_AGE_MS = 300_000;
/** Kafka keeps order and de-duplicates up to 5 batches in flight per partition (idempotence). */
export const MAX_INFLIGHT = 5;
const RETRY_MIN_MS = 100;
/**
 * Retries of a partition back off up to this. A partition that waits for its broker does not wait
 * that long for a new one: the metadata is read every WAITING_REFRESH_MS meanwhile, and a new
 * leader ends the backoff, so it flows within about that of the election.
 */
const RETRY_MAX_MS = 5000;
/** How long wantsMore() trusts the state #pump computed while requests are in flight. */
const WANTS_FRESH_MS = 200;
/** How often the metadata is read again while a partition has no leader or waits to retry. */
const WAITING_REFRESH_MS = 500;
const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
/** Metadata errors of a topic that pass by themselves: LEADER_NOT_AVAILABLE, BROKER_NOT_AVAILABLE, REPLICA_NOT_AVAILABLE. */
const TRANSIENT_METADATA_CODES: ReadonlySet<number> = new Set([5, 8, 9]);
/** How long close() waits for the client to close its connections. */
const CLOSE_WAIT_MS = 3000;

export class BatchProducer {
  #client: ProducerClient;
  #security: KafkaSecurity | undefined;
  #encoder: RecordBatchEncoder;
  #log: Logger;
  #o: ProducerOptions;
  #ids: { producerId: bigint; producerEpoch: number } | undefined;
  #parts = new Map<string, Part>();
  #lanes = new Map<number, Lane>();
  #leaders = new Map<string, number[]>();
  #limits = new Map<string, number>();
  /** Topics that cannot be written for now, with Kafka's code. */
  #held = new Map<string, number>();
  #version = 0;
  #idsLost = false;
  #renewing = false;
  #maxAgeMs: number;
  #maxInflight: number;
  /** When the metadata was last read (Date.now()). */
  #metadataAt = 0;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  #refreshTimer: NodeJS.Timeout | undefined;
  #pumpTimer: NodeJS.Timeout | undefined;
  #pumpAt = Infinity;
  /** Submits not yet written into batches (they wait for metadata or a producer id, in order). */
  #admitting = 0;
  #gate: Promise<void> = Promise.resolve();
  #inflight = 0;
  #closed = false;
  #roundRobin = 0;
  /**
   * Leaders named by a broker that no longer leads a partition (KIP-951), by "topic\0partition",
   * with that broker: kept over a metadata read that still names it (older than the broker's word).
   */
  #hints = new Map<string, { leader: number; not: number }>();
  #wants = true;
  #wantsAt = 0;
  /** Parked partitions, per topic (park()). */
  #parked = new Map<string, Set<number>>();
  /** Delivery paused (an HA member fenced): nothing is put on the wire until resume(). */
  #paused = false;
  /** Bumped by discard(): submits admitted after it from before it are dropped. */
  #epoch = 0;

  constructor(o: ProducerOptions) {
    this.#o = o;
    this.#log = o.log;
    this.#encoder = new RecordBatchEncoder(o.compression);
    this.#client = o.client ?? platformaticClient(o.brokers, o.security);
    this.#security = o.security;
    this.#maxAgeMs = o.metadataMaxAgeMs ?? DEFAULT_METADATA_MAX_AGE_MS;
    this.#maxInflight = Math.max(1, Math.min(MAX_INFLIGHT, o.maxInflight ?? MAX_INFLIGHT));
  }

  /** Reads the topics' metadata and limits, the broker's Produce versions and a producer id. */
  async prepare(topics: string[]): Promise<void> {
    if (this.#version === 0) {
      const max = await this.#client.produceVersion();
      if (max < PRODUCE_MIN_VERSION) {
        throw new Ws2kError('KAFKA_TOO_OLD', `the broker speaks Produce up to v${max}; ws2kafka needs v${PRODUCE_MIN_VERSION} or later (Apache Kafka 2.8+)`);
      }
      this.#version = Math.min(max, PRODUCE_MAX_VERSION);
    }
    // Topics created a moment ago may not be in every broker's metadata yet, or not yet with a
    // leader for every partition: wait for them a little (up to PREPARE_WAIT_MS) before holding
    // them as unknown, so that the first events do not wait for a later metadata read.
    for (let waited = 0; ; waited += PREPARE_POLL_MS) {
      await this.#readMetadata(topics, waited < PREPARE_WAIT_MS);
      const unknown = topics.filter((t) => !this.#leaders.has(t) && this.#held.get(t) === UNKNOWN_TOPIC_OR_PARTITION);
      const leaderless = topics.filter((t) => this.#leaders.get(t)?.some((l) => l < 0) ?? false);
      // A partition whose broker is down at the start waits alone later: a leader is waited for
      // only briefly (a topic created a moment ago gets its leaders within milliseconds).
      if ((unknown.length === 0 && (leaderless.length === 0 || waited >= LEADER_WAIT_MS)) || waited >= PREPARE_WAIT_MS) break;
      for (const t of unknown) this.#held.delete(t);
      await new Promise((r) => setTimeout(r, PREPARE_POLL_MS));
    }
    this.#ids ??= await this.#client.initProducerId();
  }

  /** Topics held now, with Kafka's error code. */
  get held(): ReadonlyMap<string, number> {
    return this.#held;
  }

  /** Marks a topic held (e.g. its records wait in the spool from an earlier run). */
  hold(topic: string, code: number): void {
    this.#held.set(topic, code);
  }

  /** The caller has no more records of a held topic waiting: send it normally again. */
  release(topic: string): void {
    this.#held.delete(topic);
  }

  /** A topic's max.message.bytes as read from Kafka (or Kafka's default). */
  limitOf(topic: string): number {
    return this.#limits.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Requests in flight, over all brokers. */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * True when every partition that can send now has put all its batches on the wire: a new
   * submit would be sent at once. Partitions that cannot send (their broker failing, no leader,
   * waiting to retry) do not count, so the others keep being fed while they wait.
   */
  wantsMore(): boolean {
    if (this.#paused || this.#admitting > 0 || this.#idsLost || this.#renewing) return false;
    // Kept by #pump; read again when older than WANTS_FRESH_MS (a lane may have turned slow since).
    if (!this.#wants && this.#inflight > 0) {
      const now = Date.now();
      if (now - this.#wantsAt > WANTS_FRESH_MS) {
        this.#wants = this.#computeWants(now);
        this.#wantsAt = now;
      }
    }
    return this.#wants;
  }

  /**
   * Whether every partition that can send now has all its batches on the wire. Partitions of a
   * lane that fails or is slow (laneStalled), without a leader, or waiting to retry do not count.
   */
  #computeWants(now: number): boolean {
    for (const part of this.#parts.values()) {
      if (part.pieces.length === 0 || part.recovering || part.readyAt > now) continue;
      const leader = this.#leaderOf(part);
      if (leader < 0 || laneStalled(this.#lanes.get(leader), now)) continue;
      // Its slots are taken by batches on a stalled lane (a leader it had before): it cannot send either.
      if (part.inflight >= this.#maxInflight && part.pieces.some((p) => p.sent && laneStalled(p.lane, now))) continue;
      for (const p of part.pieces) if (!p.sent) return false;
    }
    return true;
  }

  /** Each leader broker's lane: requests in flight, partitions led, how it fares. */
  brokers(): BrokerState[] {
    const led = new Map<number, number>();
    for (const leaders of this.#leaders.values()) for (const l of leaders) led.set(l, (led.get(l) ?? 0) + 1);
    for (const l of led.keys()) if (l >= 0 && !this.#lanes.has(l)) this.#lanes.set(l, newLane(l));
    return [...this.#lanes.values()].sort((a, b) => a.broker - b.broker).map((lane) => brokerState(lane, led.get(lane.broker) ?? 0));
  }

  /** Partitions that have records waiting and no leader now ("topic[partition]"). */
  leaderless(): string[] {
    const out: string[] = [];
    for (const part of this.#parts.values()) if (part.pieces.length > 0 && this.#leaderOf(part) < 0) out.push(`${part.topic}[${part.partition}]`);
    return out;
  }

  /**
   * Sends the messages (in order, per partition) and resolves once Kafka has acknowledged all of
   * them, except those the outcome names (refused, or held). Never rejects: failures are retried
   * (and reported through onFailure) until they succeed. `probe`: the messages are of held topics,
   * sent to see whether they are writable now. `timestamps[i]`: the record timestamp of
   * messages[i] (ms since the epoch); a negative one, or none given, is the time it is written.
   * `acked`, if given, gets a 1 at each message's index as soon as Kafka acknowledges it (so a stop
   * can tell what of an unfinished submit is written already).
   */
  submit(messages: readonly SendRecord[], timestamps?: ArrayLike<number>, probe = false, acked?: Uint8Array, onParked?: Chunk['onParked']): Promise<SendOutcome> {
    return new Promise((resolve) => {
      const chunk: Chunk = { messages, timestamps, order: new Int32Array(messages.length), outcome: { refused: [], held: [] }, acked: acked ?? new Uint8Array(messages.length), left: 0, resolve, probe, onParked };
      this.#admitting++;
      const epoch = this.#epoch;
      // A submit that throws must not stop the ones behind it (the chain would stay rejected).
      this.#gate = this.#gate.then(() => this.#admit(chunk, probe, epoch)).catch((err: unknown) => this.#log.error({ err }, 'writing a batch failed; the submits behind it go on'));
    });
  }

  async #admit(chunk: Chunk, probe: boolean, epoch: number): Promise<void> {
    try {
      for (let delay = this.#o.retryMinMs ?? RETRY_MIN_MS; !this.#closed && epoch === this.#epoch; delay = Math.min(delay * 2, 5000)) {
        try {
          await this.#ensureReady(chunk.messages, probe);
          break;
        } catch (err) {
          this.#o.onFailure?.(new ProduceError(`reading metadata: ${(err as Error).message}`, [errorCodeName(err, this.#security)], err), -1);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.#admitting--;
    }
    // Closed, or discarded meanwhile: never settled (the caller dropped it too).
    if (this.#closed || epoch !== this.#epoch) return;
    this.#encode(chunk, probe);
    if (chunk.left === 0) chunk.resolve(chunk.outcome);
    else this.#pump();
  }

  async #ensureReady(messages: readonly SendRecord[], probe: boolean): Promise<void> {
    if (this.#ids === undefined) this.#ids = await this.#client.initProducerId();
    let missing = probe || Date.now() - this.#metadataAt > this.#maxAgeMs;
    const held = this.#held;
    for (let i = 0; !missing && i < messages.length; i++) {
      const topic = messages[i]!.topic;
      if (!this.#leaders.has(topic) && !held.has(topic)) missing = true;
    }
    if (missing) await this.#readMetadata(this.#wanted(messages, probe));
  }

  /** The topics whose metadata to read: those known and not held, and those of the messages. */
  #wanted(messages: readonly SendRecord[], probe: boolean): string[] {
    // Held topics are read only when probed: a deleted topic would fail every other read.
    const held = this.#held;
    const wanted = new Set<string>();
    for (const t of this.#leaders.keys()) if (!held.has(t)) wanted.add(t);
    for (const m of messages) if (probe || !held.has(m.topic)) wanted.add(m.topic);
    return [...wanted];
  }

  async #readMetadata(topics: string[], quiet = false): Promise<void> {
    if (topics.length === 0) return;
    const md = await this.#client.metadata(topics);
    this.#metadataAt = Date.now();
    for (const [topic, read] of md.leaders) {
      const leaders = this.#withHints(topic, read);
      const before = this.#leaders.get(topic);
      if (before !== undefined && before.length !== leaders.length) {
        this.#log.info({ topic, partitions: leaders.length, before: before.length }, `topic ${topic} now has ${leaders.length} partitions (was ${before.length}): keys are spread over all of them from now on (a key's new partition may differ from its old one)`);
      }
      if (before !== undefined) {
        for (let p = 0; p < leaders.length && p < before.length; p++) {
          if (before[p] === leaders[p] || leaders[p]! < 0) continue;
          this.#log.info({ topic, partition: p, leader: leaders[p], was: before[p] }, `${topic}[${p}] is led by broker ${leaders[p]} now (was ${before[p]})`);
          // A new leader: what waited for the old one goes now, not after its backoff.
          const part = this.#parts.get(`${topic}\0${p}`);
          if (part !== undefined && part.readyAt > 0) {
            part.readyAt = 0;
            part.backoffMs = 0;
          }
        }
      }
      this.#leaders.set(topic, leaders);
    }
    for (const [topic, code] of md.missing) {
      const known = this.#leaders.get(topic);
      if (known !== undefined && TRANSIENT_METADATA_CODES.has(code)) {
        // A known topic whose leaders are being elected (a broker restarting): its partitions wait
        // without a leader (the metadata is read every 0.5 s), their batches kept as they are. A
        // hold would take back batches the broker may have written before it went away.
        this.#leaders.set(topic, new Array<number>(known.length).fill(-1));
        continue;
      }
      this.#leaders.delete(topic);
      if (!this.#held.has(topic) && !quiet) this.#log.warn({ topic, code: produceErrorName(code) }, `Kafka cannot give the metadata of topic ${topic} (${produceErrorName(code)}): its records wait in the spool until it can`);
      this.#held.set(topic, code);
      this.#holdParts(topic, code);
    }
    const unknown = [...md.leaders.keys()].filter((t) => !this.#limits.has(t));
    if (unknown.length > 0) {
      const limits = await this.#client.maxMessageBytes(unknown).catch((err: unknown) => {
        this.#log.warn({ topics: unknown, err: (err as Error).message }, `could not read max.message.bytes of the topics; assuming Kafka's default ${KAFKA_DEFAULT_MAX_MESSAGE_BYTES}`);
        return new Map<string, number>();
      });
      for (const t of unknown) this.#limits.set(t, limits.get(t) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES);
    }
  }

  /** Reads the metadata again soon (once at a time; a request meanwhile runs it once more after). */
  #refresh(): void {
    if (this.#closed) return;
    if (this.#refreshing !== undefined) {
      this.#refreshAgain = true;
      return;
    }
    this.#refreshing = this.#readMetadata(this.#wanted([], false))
      .catch((err: unknown) => this.#o.onFailure?.(new ProduceError(`reading metadata: ${(err as Error).message}`, [errorCodeName(err, this.#security)], err), -1))
      .finally(() => {
        this.#refreshing = undefined;
        if (this.#refreshAgain) {
          this.#refreshAgain = false;
          this.#refresh();
        }
        this.#pump();
      });
  }

  #part(topic: string, partition: number): Part {
    const tp = `${topic}\0${partition}`;
    let part = this.#parts.get(tp);
    if (part === undefined) this.#parts.set(tp, (part = newPart(topic, partition, 0)));
    return part;
  }

  #leaderOf(part: Part): number {
    return this.#leaders.get(part.topic)?.[part.partition] ?? -1;
  }

  #lane(broker: number): Lane {
    let lane = this.#lanes.get(broker);
    if (lane === undefined) this.#lanes.set(broker, (lane = newLane(broker)));
    return lane;
  }

  /** Writes the batches of a submit: per partition, records in their order, within the topic's limit. */
  #encode(chunk: Chunk, probe: boolean): void {
    const { messages, outcome, order } = chunk;
    const n = messages.length;
    const slots = new Int32Array(n);
    const held = this.#held;
    const checkHeld = held.size > 0 && !probe;
    const checkParked = this.#parked.size > 0 && !probe && chunk.onParked !== undefined;
    let lastParked: Set<number> | undefined;
    /** Indices of records of parked partitions, by "topic\0partition", in order. */
    let parkedNow: Map<string, { topic: string; partition: number; indices: number[] }> | undefined;
    // A slot per (topic, partition) seen in this submit, numbered in first-seen order.
    const slotInfo: Array<{ topic: string; partition: number; count: number; start: number }> = [];
    let lastTopic = '';
    let lastBase: number[] = [];
    let lastLeaders: number[] | undefined;
    let lastLimit = 0;
    const bases = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      if (m.topic !== lastTopic) {
        lastTopic = m.topic;
        lastLeaders = checkHeld && held.has(lastTopic) ? undefined : this.#leaders.get(lastTopic);
        lastLimit = this.limitOf(lastTopic);
        lastParked = checkParked ? this.#parked.get(lastTopic) : undefined;
        let base = bases.get(lastTopic);
        if (base === undefined && lastLeaders !== undefined) {
          base = new Array<number>(lastLeaders.length).fill(-1);
          bases.set(lastTopic, base);
        }
        lastBase = base ?? [];
      }
      if (lastLeaders === undefined) {
        // A held topic (or one without metadata): not sent; the caller keeps it.
        outcome.held.push({ index: i, code: held.get(lastTopic) ?? UNKNOWN_TOPIC_OR_PARTITION });
        slots[i] = -1;
        continue;
      }
      const key = m.key;
      const size = (m.value?.length ?? 0) + (key?.length ?? 0);
      if (size > lastLimit) {
        // Larger than the topic takes, before compression: refused, as the Java client refuses a
        // record over max.request.size whatever compression would make of it.
        outcome.refused.push({ index: i, code: MESSAGE_TOO_LARGE, detail: `the record is ${size} bytes (key and value), over max.message.bytes ${lastLimit} of topic ${lastTopic}` });
        slots[i] = -1;
        continue;
      }
      const p = key !== undefined && key !== null ? partitionOf(key, lastBase.length) : this.#roundRobin++ % lastBase.length;
      if (lastParked !== undefined && lastParked.has(p)) {
        // A parked partition: handed back at once, in order, behind what was parked before.
        parkedNow ??= new Map();
        const tp = `${lastTopic}\0${p}`;
        let entry = parkedNow.get(tp);
        if (entry === undefined) parkedNow.set(tp, (entry = { topic: lastTopic, partition: p, indices: [] }));
        entry.indices.push(i);
        slots[i] = -1;
        continue;
      }
      let slot = lastBase[p]!;
      if (slot < 0) {
        slot = slotInfo.length;
        lastBase[p] = slot;
        slotInfo.push({ topic: lastTopic, partition: p, count: 0, start: 0 });
      }
      slotInfo[slot]!.count++;
      slots[i] = slot;
    }
    let start = 0;
    for (const s of slotInfo) {
      s.start = start;
      start += s.count;
    }
    const fill = slotInfo.map((s) => s.start);
    for (let i = 0; i < n; i++) if (slots[i]! >= 0) order[fill[slots[i]!]!++] = i;
    const now = Date.now();
    for (const s of slotInfo) {
      const part = this.#part(s.topic, s.partition);
      const pieces: Piece[] = [];
      part.nextSeq = this.#encodeRange(chunk, s.start, s.start + s.count, part, part.nextSeq, now, pieces) % 0x80000000;
      for (const p of pieces) part.pieces.push(p);
      chunk.left += pieces.length;
    }
    if (parkedNow !== undefined) for (const e of parkedNow.values()) chunk.onParked!(e.indices, e.topic, e.partition);
  }

  /**
   * Encodes records order[from..to) as one batch with sequence `base`, or, when that batch is over
   * the topic's max.message.bytes, as two halves (recursively). A single record over the limit
   * is refused, not sent. Returns the next sequence.
   */
  #encodeRange(chunk: Chunk, from: number, to: number, part: Part, base: number, now: number, out: Piece[]): number {
    const { messages, timestamps, order } = chunk;
    const batch = this.#encoder.encode(messages, order, from, to, { ...this.#ids!, baseSequence: base % 0x80000000 }, now, timestamps);
    const limit = this.limitOf(part.topic);
    if (batch.length <= limit) {
      out.push({ topic: part.topic, partition: part.partition, part, chunk, batch, from, to, base: base % 0x80000000, state: PIECE_PENDING, sent: false, everSent: false, lane: undefined });
      return base + (to - from);
    }
    if (to - from > 1) {
      const mid = from + ((to - from) >> 1);
      const next = this.#encodeRange(chunk, from, mid, part, base, now, out);
      return this.#encodeRange(chunk, mid, to, part, next, now, out);
    }
    chunk.outcome.refused.push({ index: order[from]!, code: MESSAGE_TOO_LARGE, detail: `the record is ${batch.length} bytes as a batch, over max.message.bytes ${limit} of topic ${part.topic}` });
    return base;
  }

  /** Puts on the wire what may go now: per leader broker, requests of one batch per partition. */
  #pump(): void {
    if (this.#closed || this.#renewing || this.#paused) return;
    if (this.#idsLost) {
      if (this.#inflight === 0) void this.#renewIds();
      return;
    }
    const now = Date.now();
    let wait = Infinity;
    let leaderless = false;
    const byLeader = new Map<number, Part[]>();
    for (const part of this.#parts.values()) {
      if (part.pieces.length === 0 || part.recovering) continue;
      if (part.readyAt > now) {
        wait = Math.min(wait, part.readyAt - now);
        continue;
      }
      const leader = this.#leaderOf(part);
      if (leader < 0) {
        leaderless = true;
        if (part.leaderlessSince === 0) part.leaderlessSince = now;
        continue;
      }
      part.leaderlessSince = 0;
      const list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, [part]);
      else list.push(part);
    }
    for (const [leader, parts] of byLeader) {
      const lane = this.#lane(leader);
      while (lane.inflight < this.#maxInflight) {
        const pieces: Piece[] = [];
        for (const part of parts) {
          const p = nextToSend(part, this.#maxInflight, now);
          if (p === undefined) continue;
          p.sent = true;
          p.everSent = true;
          p.lane = lane;
          part.inflight++;
          pieces.push(p);
        }
        if (pieces.length === 0) break;
        this.#request(lane, pieces);
      }
    }
    if (leaderless || (wait !== Infinity && wait > WAITING_REFRESH_MS / 2)) this.#refreshIn(WAITING_REFRESH_MS);
    if (wait !== Infinity) this.#pumpIn(wait);
    this.#wantsAt = now;
    this.#wants = this.#computeWants(now);
  }

  #pumpIn(ms: number): void {
    const at = Date.now() + ms;
    if (this.#pumpTimer !== undefined && this.#pumpAt <= at) return;
    if (this.#pumpTimer !== undefined) clearTimeout(this.#pumpTimer);
    this.#pumpAt = at;
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      this.#pumpAt = Infinity;
      this.#pump();
    }, ms);
  }

  #refreshIn(ms: number): void {
    this.#refreshTimer ??= setTimeout(() => {
      this.#refreshTimer = undefined;
      this.#refresh();
    }, ms);
  }

  #request(lane: Lane, pieces: Piece[]): void {
    lane.inflight++;
    lane.sentAt.push(Date.now());
    lane.requests++;
    this.#inflight++;
    this.#client.produce(lane.broker, this.#version, pieces).then(
      (response) => this.#answered(lane, pieces, response),
      (err: unknown) => this.#lost(lane, pieces, err),
    );
  }

  /** A response: each piece acknowledged, or what its error's action says. */
  #answered(lane: Lane, pieces: Piece[], response: ProduceResponse): void {
    lane.inflight--;
    lane.sentAt.shift();
    this.#inflight--;
    if (this.#closed) return;
    const byTp = new Map<string, PartitionResponse>();
    for (const t of response.responses) for (const p of t.partitionResponses) byTp.set(`${t.name}\0${p.index}`, p);
    const failures: string[] = [];
    const codes: string[] = [];
    let ok = false;
    let refresh = false;
    for (const piece of pieces) {
      const part = piece.part;
      part.inflight--;
      // Discarded while on the wire (discard()): whatever Kafka said, nothing waits for it.
      if (piece.state === PIECE_DISCARDED) continue;
      const r = byTp.get(part.tp);
      const code = r?.errorCode ?? -1;
      const action = produceAction(code);
      const name = produceErrorName(code);
      const what = `${part.topic}[${part.partition}]: ${name}${r?.errorMessage ? ` (${r.errorMessage})` : ''}`;
      switch (action) {
        case ProduceActions.OK:
          ok = true;
          settle(piece, PIECE_DONE);
          part.confirmed = true;
          part.ackedAt = Date.now();
          if (part.pieces.length === 0 || !part.recovering) part.backoffMs = 0;
          break;
        case ProduceActions.HOLD:
          this.#holdTopic(part.topic, code);
          break;
        case ProduceActions.SPLIT:
        case ProduceActions.REFUSE:
          part.fixes.push({ piece, code, detail: `Kafka refused the record: ${what}`, split: piece.to - piece.from > 1 });
          this.#fail(part, 0);
          break;
        case ProduceActions.NEW_ID:
          // Out of order behind a batch of the same partition that failed: that one is resent first.
          if (code !== OUT_OF_ORDER_SEQUENCE_NUMBER || !(part.recovering || part.pieces[0] !== piece)) this.#idsLost = true;
          failures.push(what);
          codes.push(name);
          this.#fail(part);
          break;
        case ProduceActions.REFRESH: {
          refresh = true;
          // KIP-951: the broker names the new leader; use it at once (the metadata follows).
          const hint = (r as { currentLeader?: { leaderId: number } } | undefined)?.currentLeader?.leaderId ?? -1;
          this.#hints.delete(part.tp);
          if (hint >= 0 && hint !== lane.broker) {
            this.#hints.set(part.tp, { leader: hint, not: lane.broker });
            this.#setLeader(part, hint);
          }
          failures.push(what);
          codes.push(name);
          this.#fail(part);
          break;
        }
        default:
          failures.push(what);
          codes.push(name);
          this.#fail(part);
      }
    }
    const now = Date.now();
    if (ok || failures.length === 0) {
      lane.lastOkAt = now;
      lane.failingSince = 0;
    }
    if (failures.length > 0) {
      lane.failures++;
      lane.lastError = codes[0];
      if (!ok && lane.failingSince === 0) lane.failingSince = now;
      this.#o.onFailure?.(new ProduceError(`broker ${lane.broker}: ${failures.join('; ')}`, codes), lane.broker);
    }
    for (const piece of pieces) if (piece.part.recovering && piece.part.inflight === 0) this.#recover(piece.part);
    if (refresh) this.#refresh();
    this.#pump();
    this.#o.onAnswer?.(ok);
  }

  /** A request without a response (connection lost, timeout): all its pieces are resent. */
  #lost(lane: Lane, pieces: Piece[], err: unknown): void {
    lane.inflight--;
    lane.sentAt.shift();
    this.#inflight--;
    if (this.#closed) return;
    const code = errorCodeName(err, this.#security);
    lane.failures++;
    lane.lastError = code;
    if (lane.failingSince === 0) lane.failingSince = Date.now();
    for (const piece of pieces) {
      piece.part.inflight--;
      if (piece.state !== PIECE_DISCARDED) this.#fail(piece.part);
    }
    this.#o.onFailure?.(new ProduceError(`broker ${lane.broker}: ${(err as Error).message}`, [code], err), lane.broker);
    for (const piece of pieces) if (piece.part.recovering && piece.part.inflight === 0) this.#recover(piece.part);
    this.#refresh();
    this.#pump();
    this.#o.onAnswer?.(false);
  }

  /** The leaders read, except where the metadata names a broker that said it no longer leads (#hints). */
  #withHints(topic: string, leaders: number[]): number[] {
    if (this.#hints.size === 0) return leaders;
    let out = leaders;
    for (let p = 0; p < leaders.length; p++) {
      const tp = `${topic}\0${p}`;
      const hint = this.#hints.get(tp);
      if (hint === undefined) continue;
      if (leaders[p] !== hint.not) this.#hints.delete(tp);
      else {
        if (out === leaders) out = leaders.slice();
        out[p] = hint.leader;
      }
    }
    return out;
  }

  #setLeader(part: Part, leader: number): void {
    const leaders = this.#leaders.get(part.topic);
    if (leaders === undefined || part.partition >= leaders.length) return;
    const copy = leaders.slice();
    copy[part.partition] = leader;
    this.#leaders.set(part.topic, copy);
  }

  /** A piece of the partition failed: it sends nothing new, and resends once all answers are in. */
  #fail(part: Part, backoffMs?: number): void {
    part.recovering = true;
    if (backoffMs !== undefined) return;
    const min = this.#o.retryMinMs ?? RETRY_MIN_MS;
    part.backoffMs = Math.min(part.backoffMs === 0 ? min : part.backoffMs * 2, this.#o.retryMaxMs ?? RETRY_MAX_MS);
  }

  /**
   * The partition has nothing in flight any more: apply its splits and refusals, or its hold, give
   * its unsettled batches from the first one split or refused on consecutive sequences (a refused
   * batch freed its numbers; Kafka wrote none of them, nor any batch behind it) and send them all
   * again, in order, after the backoff. Batches ahead of that one keep their sequences: one may be
   * written already (its answer lost, or an error after the write) while batches behind it were
   * acknowledged, and a batch behind those must not take their numbers.
   */
  #recover(part: Part): void {
    part.recovering = false;
    if (part.holdCode !== undefined) {
      this.#holdPart(part, part.holdCode);
      return;
    }
    const fixes = part.fixes.splice(0);
    let from = -1;
    for (const f of fixes) {
      const at = f.piece.state === PIECE_PENDING ? part.pieces.indexOf(f.piece) : -1;
      if (at >= 0 && (from < 0 || at < from)) from = at;
    }
    const start = from >= 0 ? part.pieces[from]!.base : undefined;
    for (const f of fixes) {
      if (f.piece.state !== PIECE_PENDING) continue;
      if (f.split) this.#split(f.piece);
      else {
        f.piece.chunk.outcome.refused.push({ index: f.piece.chunk.order[f.piece.from]!, code: f.code, detail: f.detail });
        settle(f.piece, PIECE_REFUSED);
      }
    }
    if (start !== undefined && !this.#idsLost) this.#renumber(part, from, start);
    for (const p of part.pieces) p.sent = false;
    part.readyAt = Date.now() + part.backoffMs;
  }

  /** Replaces a piece by its two halves, re-encoded with the same sequences in order. */
  #split(piece: Piece): void {
    const part = piece.part;
    const at = part.pieces.indexOf(piece);
    const mid = piece.from + ((piece.to - piece.from) >> 1);
    const now = Date.now();
    const halves: Piece[] = [];
    const next = this.#encodeRange(piece.chunk, piece.from, mid, part, piece.base, now, halves);
    this.#encodeRange(piece.chunk, mid, piece.to, part, next, now, halves);
    part.pieces.splice(at, 1, ...halves);
    // The chunk waits for the halves instead (a half refused up front is in the outcome already).
    piece.chunk.left += halves.length - 1;
    if (piece.chunk.left === 0) piece.chunk.resolve(piece.chunk.outcome);
  }

  /** The partition's unsettled pieces from index `from` on get sequences from `base` on. */
  #renumber(part: Part, from: number, base: number): void {
    const ids = this.#ids!;
    let next = base;
    for (const p of part.pieces.slice(from)) {
      if (p.base !== next % 0x80000000) {
        p.base = next % 0x80000000;
        stampBatch(p.batch, { ...ids, baseSequence: p.base });
      }
      next += p.to - p.from;
    }
    part.nextSeq = next % 0x80000000;
  }

  /** A topic Kafka refuses: later submits divert it, and its partitions hold what they have. */
  #holdTopic(topic: string, code: number): void {
    if (!this.#held.has(topic)) {
      this.#log.warn({ topic, code: produceErrorName(code) }, `Kafka refuses writes to topic ${topic} (${produceErrorName(code)}): its records wait in the spool and are tried again until it accepts them; the other topics keep flowing`);
    }
    this.#held.set(topic, code);
    this.#holdParts(topic, code);
  }

  /** Each partition of the topic holds its unsettled pieces, once what it has in flight is answered. */
  #holdParts(topic: string, code: number): void {
    for (const part of this.#parts.values()) {
      if (part.topic !== topic || part.pieces.length === 0) continue;
      part.holdCode = code;
      part.recovering = true;
      if (part.inflight === 0) this.#recover(part);
    }
  }

  #holdPart(part: Part, code: number): void {
    part.holdCode = undefined;
    part.fixes.length = 0;
    const first = part.pieces[0];
    if (first !== undefined) part.nextSeq = first.base;
    for (const p of part.pieces.slice()) {
      for (let k = p.from; k < p.to; k++) p.chunk.outcome.held.push({ index: p.chunk.order[k]!, code });
      settle(p, PIECE_HELD);
    }
    part.readyAt = 0;
    part.backoffMs = 0;
  }

  /** After a new producer id: every unsettled batch gets it, and sequences from 0 again. */
  async #renewIds(): Promise<void> {
    this.#renewing = true;
    try {
      this.#ids = await this.#client.initProducerId();
      const ids = this.#ids;
      let resent = 0;
      for (const part of this.#parts.values()) {
        let seq = 0;
        for (const p of part.pieces) {
          p.base = seq;
          stampBatch(p.batch, { ...ids, baseSequence: seq });
          seq += p.to - p.from;
          p.sent = false;
          resent += p.to - p.from;
        }
        part.nextSeq = seq;
        part.confirmed = false;
        part.recovering = false;
        part.fixes.length = 0;
      }
      this.#idsLost = false;
      this.#log.warn(
        { producerId: String(ids.producerId), records: resent },
        "Kafka lost this producer's state (its id or sequence numbers): resending under a new producer id, so records the broker had already written may appear twice",
      );
    } catch (err) {
      this.#o.onFailure?.(new ProduceError(`a new producer id: ${(err as Error).message}`, [errorCodeName(err, this.#security)], err), -1);
      await new Promise((r) => setTimeout(r, this.#o.retryMaxMs ?? RETRY_MAX_MS));
    } finally {
      this.#renewing = false;
    }
    this.#pump();
  }

  /**
   * Parks the partitions whose leader has been away (failing, slow, unknown) for PARK_AFTER_MS
   * and that have records waiting. Called by the caller's timer (a dead broker answers nothing
   * that would run it otherwise).
   */
  tick(now = Date.now()): void {
    if (this.#closed || this.#paused) return;
    for (const part of this.#parts.values()) {
      if (part.pieces.length === 0 || this.isParked(part.topic, part.partition)) continue;
      const leader = this.#leaderOf(part);
      if (leader < 0 && part.leaderlessSince === 0) part.leaderlessSince = Date.now();
      const since = leader < 0 ? part.leaderlessSince : troubleSince(this.#lanes.get(leader));
      if (since === 0 || now - since < PARK_AFTER_MS || parkable(part) === part.pieces.length) continue;
      // A whole cluster waiting (acks=all while a dead broker is still in every ISR) is not one
      // broker away: parking would only send everything the slower way once it moves again.
      if (leader >= 0 && !this.#okSince(since, leader)) continue;
      this.#log.warn(
        { topic: part.topic, partition: part.partition, leader, waitedMs: now - since },
        `${part.topic}[${part.partition}]: ${leader < 0 ? 'no leader' : `its leader, broker ${leader}, has not answered`} for ${now - since} ms: its records are parked in the spool (in order) while the other partitions flow, and sent once it answers`,
      );
      this.park(part.topic, part.partition);
    }
  }

  /**
   * From now on records of the partition are handed back (submit's onParked), those waiting and
   * never sent at once, those of later submits when they are written, until unpark().
   */
  park(topic: string, partition: number): void {
    let set = this.#parked.get(topic);
    if (set === undefined) this.#parked.set(topic, (set = new Set()));
    set.add(partition);
    const part = this.#parts.get(`${topic}\0${partition}`);
    if (part === undefined) return;
    const at = parkable(part);
    const moved = part.pieces.splice(at);
    if (moved.length === 0) return;
    // Never sent: their sequence numbers are given again.
    part.nextSeq = moved[0]!.base;
    for (const p of moved) {
      const indices: number[] = [];
      for (let k = p.from; k < p.to; k++) indices.push(p.chunk.order[k]!);
      p.state = PIECE_PARKED;
      p.chunk.onParked!(indices, topic, partition);
      if (--p.chunk.left === 0) p.chunk.resolve(p.chunk.outcome);
    }
  }

  /** Whether a broker other than `except` has acknowledged anything after `since`. */
  #okSince(since: number, except: number): boolean {
    for (const lane of this.#lanes.values()) if (lane.broker !== except && lane.lastOkAt > since) return true;
    return false;
  }

  /** The caller has sent everything it parked of the partition: it flows as before. */
  unpark(topic: string, partition: number): void {
    const set = this.#parked.get(topic);
    set?.delete(partition);
    if (set?.size === 0) this.#parked.delete(topic);
  }

  isParked(topic: string, partition: number): boolean {
    return this.#parked.get(topic)?.has(partition) ?? false;
  }

  /** Parked partitions ("topic[partition]"). */
  parked(): string[] {
    const out: string[] = [];
    for (const [topic, set] of this.#parked) for (const p of set) out.push(`${topic}[${p}]`);
    return out;
  }

  /** Whether a batch for the partition would be sent now: its leader known and answering. */
  canSend(topic: string, partition: number, now = Date.now()): boolean {
    const leader = this.#leaders.get(topic)?.[partition] ?? -1;
    return leader >= 0 && !laneStalled(this.#lanes.get(leader), now);
  }

  /**
   * True when everything of a submit (known by its `acked` array) still unsettled waits on parked
   * partitions (batches sent before the park, kept for their retries): the caller need not keep
   * its place for it.
   */
  onlyParkedLeft(acked: Uint8Array): boolean {
    let found = false;
    for (const part of this.#parts.values()) {
      for (const p of part.pieces) {
        if (p.chunk.acked !== acked) continue;
        if (!this.isParked(part.topic, part.partition)) return false;
        found = true;
      }
    }
    return found;
  }

  /**
   * Puts nothing more on the wire (retries included) until resume(); requests on the wire are cut
   * (their connections reset: a request retransmitted across a network partition could otherwise
   * reach Kafka after another member's records) and resent, in order, once resumed. For an HA member that lost the group coordinator: it must stop producing
   * before another member can be made active.
   */
  pause(): void {
    this.#paused = true;
    this.#wants = false;
    // What is on the wire fails now (retried once resumed), rather than reach Kafka later.
    this.#client.abort?.();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#wants = true;
    this.#pump();
  }

  /**
   * Forgets every record not acknowledged: batches waiting, batches on the wire (their answers are
   * ignored), submits not yet admitted (never settled). The next batch goes under a new producer
   * id, so sequences start afresh whatever became of those on the wire. For an HA member whose
   * role another member took: the records are covered by that member's takeover gap.
   */
  discard(): void {
    this.#epoch++;
    this.#parked.clear();
    for (const part of this.#parts.values()) {
      for (const p of part.pieces) p.state = PIECE_DISCARDED;
      part.pieces = [];
      part.fixes.length = 0;
      part.holdCode = undefined;
      part.recovering = false;
      part.readyAt = 0;
      part.backoffMs = 0;
    }
    this.#idsLost = true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pumpTimer) clearTimeout(this.#pumpTimer);
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    // A connection whose requests never end (a broker that stopped answering) must not hold the
    // stop: closing waits at most CLOSE_WAIT_MS.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#client.close(), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]).finally(() => clearTimeout(timer));
  }
}
