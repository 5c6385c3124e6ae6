// An idempotent, acks=all producer that sends whole record batches written by record-batch.ts.
// The Kafka client is reached through the small ProducerClient interface (kafka-client.ts), so
// tests can put a fake broker behind it.
//
// Exactly one send() is outstanding at a time (the sink's rule). Each batch gets its partition's
// next sequence number when it is written; a failed send() is retried by calling send() again with
// the same messages array, and only the batches the broker has not acknowledged are sent again,
// byte for byte, so the broker recognises a batch it already wrote (same producer id and
// sequence) and does not write it twice.
//
// What each Kafka error does is one table (kafka-errors.ts): retry, refresh metadata, new producer
// id (then a batch already written may be written twice, and it is logged), split the batch,
// refuse a record (returned to the caller for the dead-letter topic), or hold a topic (its records
// are returned to the caller, which keeps them in the spool; later sends divert that topic's
// records the same way until the caller releases it). A batch never exceeds its topic's
// max.message.bytes: a larger one is split before it is sent, and a single record that is still
// too large is refused without being sent. Kafka takes one batch per partition per request, so
// the pieces of a split partition go out in successive rounds, in sequence order.
import type { Logger } from 'pino';
import type { KafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError } from '../errors.ts';
import { errorCodeName, platformaticClient, type PartitionResponse, type ProduceResponse, type ProducerClient } from './kafka-client.ts';
import { produceAction, produceErrorName, ProduceActions } from './kafka-errors.ts';
import { batchCount, partitionOf, RecordBatchEncoder, stampBatch, type BatchRecord, type Compression, type PartitionBatch } from './record-batch.ts';

/** Produce v9–v11 share one request layout (flexible versions); Kafka 2.8 and later have v9. */
const PRODUCE_MIN_VERSION = 9;
const PRODUCE_MAX_VERSION = 11;
/** Kafka's default max.message.bytes (topic) and message.max.bytes (broker). */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const MESSAGE_TOO_LARGE = 10;
/** How long prepare() waits for topics just created to appear in the metadata. */
const PREPARE_WAIT_MS = 10_000;

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
  constructor(message: string, codes: string[]) {
    super(message);
    this.name = 'ProduceError';
    this.codes = codes;
  }
}

const PIECE_PENDING = 0;
const PIECE_DONE = 1;
const PIECE_REFUSED = 2;
const PIECE_HELD = 3;

/** One batch for one partition: records messages[order[from..to)] in that order. */
interface Piece extends PartitionBatch {
  tp: string;
  order: Int32Array;
  from: number;
  to: number;
  base: number;
  state: number;
  /** In a request whose response has not come yet: a hold answered by another broker leaves it alone. */
  inFlight: boolean;
}

/** The send() not yet fully settled: its messages, their pieces, and what became of them so far. */
interface PendingSend {
  messages: readonly SendRecord[];
  /** Each message's timestamp (ms since the epoch; negative: the time it is encoded), if given. */
  timestamps: ArrayLike<number> | undefined;
  pieces: Piece[];
  outcome: SendOutcome;
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
}

/** Kafka's own default of metadata.max.age.ms. */
export const DEFAULT_METADATA_MAX_AGE_MS = 300_000;

export class BatchProducer {
  #client: ProducerClient;
  #security: KafkaSecurity | undefined;
  #encoder: RecordBatchEncoder;
  #log: Logger;
  #ids: { producerId: bigint; producerEpoch: number } | undefined;
  #sequences = new Map<string, number>();
  #leaders = new Map<string, number[]>();
  #limits = new Map<string, number>();
  /** Topics that cannot be written for now, with Kafka's code. */
  #held = new Map<string, number>();
  #version = 0;
  #refresh = false;
  #idsLost = false;
  #maxAgeMs: number;
  /** When the metadata was last read (Date.now()). */
  #metadataAt = 0;
  /** The messages of the send() not yet fully settled, and their pieces. */
  #pending: PendingSend | undefined;
  #roundRobin = 0;
  #order = new Int32Array(1024);
  #slots = new Int32Array(1024);

  constructor(o: ProducerOptions) {
    this.#log = o.log;
    this.#encoder = new RecordBatchEncoder(o.compression);
    this.#client = o.client ?? platformaticClient(o.brokers, o.security);
    this.#security = o.security;
    this.#maxAgeMs = o.metadataMaxAgeMs ?? DEFAULT_METADATA_MAX_AGE_MS;
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
    // Topics created a moment ago may not be in every broker's metadata yet: wait for them a
    // little (up to PREPARE_WAIT_MS) before holding them as unknown.
    for (let waited = 0; ; waited += 250) {
      await this.#readMetadata(topics, waited < PREPARE_WAIT_MS);
      const late = topics.filter((t) => !this.#leaders.has(t) && this.#held.get(t) === UNKNOWN_TOPIC_OR_PARTITION);
      if (late.length === 0 || waited >= PREPARE_WAIT_MS) break;
      for (const t of late) this.#held.delete(t);
      await new Promise((r) => setTimeout(r, 250));
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

  /**
   * Sends the messages (in order, per partition) and resolves once Kafka has acknowledged all of
   * them, except those the outcome names (refused, or held). Rejects (a ProduceError) when some
   * batch must be tried again: call again with the same array, and only what is unsettled is
   * resent. `probe`: the messages are of held topics, sent to see whether they are writable now.
   * `timestamps[i]`: the record timestamp of messages[i] (ms since the epoch); a negative one, or
   * none given, is the time the batch is written (see RecordBatchEncoder.encode).
   */
  async send(messages: readonly SendRecord[], probe = false, timestamps?: ArrayLike<number>): Promise<SendOutcome> {
    if (this.#pending?.messages !== messages) {
      this.#pending = undefined;
      await this.#ensureReady(messages, probe);
      const outcome: SendOutcome = { refused: [], held: [] };
      this.#pending = { messages, timestamps, pieces: this.#encode(messages, timestamps, probe, outcome), outcome };
    } else {
      await this.#ensureReady(messages, probe);
    }
    const pending = this.#pending;
    for (;;) {
      // A round: the first unsettled piece of every partition, grouped by leader.
      const first = new Map<string, Piece>();
      for (const p of pending.pieces) if (p.state === PIECE_PENDING && !first.has(p.tp)) first.set(p.tp, p);
      if (first.size === 0) break;
      const byLeader = new Map<number, Piece[]>();
      const failures: string[] = [];
      const codes: string[] = [];
      for (const p of first.values()) {
        const leader = this.#leaders.get(p.topic)?.[p.partition] ?? -1;
        if (leader < 0) {
          this.#refresh = true;
          failures.push(`no leader known for ${p.topic}[${p.partition}]`);
          codes.push('LEADER_NOT_AVAILABLE');
          continue;
        }
        p.inFlight = true;
        const list = byLeader.get(leader);
        if (list === undefined) byLeader.set(leader, [p]);
        else list.push(p);
      }
      await Promise.all(
        [...byLeader].map(async ([leader, pieces]) => {
          try {
            const response = await this.#client.produce(leader, this.#version, pieces).finally(() => {
              for (const p of pieces) p.inFlight = false;
            });
            this.#settle(pending, pieces, response, failures, codes);
          } catch (err) {
            this.#refresh = true;
            failures.push(`broker ${leader}: ${(err as Error).message}`);
            codes.push(errorCodeName(err, this.#security));
          }
        }),
      );
      if (failures.length > 0) throw new ProduceError(failures.join('; '), codes);
    }
    this.#pending = undefined;
    return pending.outcome;
  }

  async #ensureReady(messages: readonly SendRecord[], probe: boolean): Promise<void> {
    if (this.#idsLost || this.#ids === undefined) {
      this.#ids = await this.#client.initProducerId();
      this.#sequences.clear();
      if (this.#idsLost && this.#pending !== undefined) this.#restamp(this.#pending.pieces);
      this.#idsLost = false;
    }
    let missing = this.#refresh || probe || Date.now() - this.#metadataAt > this.#maxAgeMs;
    const held = this.#held;
    for (let i = 0; !missing && i < messages.length; i++) {
      const topic = messages[i]!.topic;
      if (!this.#leaders.has(topic) && !held.has(topic)) missing = true;
    }
    if (missing) {
      // Held topics are read only when probed: a deleted topic would fail every other read.
      const wanted = new Set<string>();
      for (const t of this.#leaders.keys()) if (!held.has(t)) wanted.add(t);
      for (const m of messages) if (probe || !held.has(m.topic)) wanted.add(m.topic);
      await this.#readMetadata([...wanted]);
      this.#refresh = false;
    }
    // Pieces of a pending send whose topic disappeared: held.
    const pending = this.#pending;
    if (pending !== undefined) {
      for (const p of pending.pieces) {
        if (p.state === PIECE_PENDING && !this.#leaders.has(p.topic)) this.#holdTopic(pending, p.topic, this.#held.get(p.topic) ?? UNKNOWN_TOPIC_OR_PARTITION);
      }
    }
  }

  async #readMetadata(topics: string[], quiet = false): Promise<void> {
    if (topics.length === 0) return;
    const md = await this.#client.metadata(topics);
    this.#metadataAt = Date.now();
    for (const [topic, leaders] of md.leaders) {
      const before = this.#leaders.get(topic)?.length;
      if (before !== undefined && before !== leaders.length) {
        this.#log.info({ topic, partitions: leaders.length, before }, `topic ${topic} now has ${leaders.length} partitions (was ${before}): keys are spread over all of them from now on (a key's new partition may differ from its old one)`);
      }
      this.#leaders.set(topic, leaders);
    }
    for (const [topic, code] of md.missing) {
      this.#leaders.delete(topic);
      if (!this.#held.has(topic) && !quiet) this.#log.warn({ topic, code: produceErrorName(code) }, `Kafka cannot give the metadata of topic ${topic} (${produceErrorName(code)}): its records wait in the spool until it can`);
      this.#held.set(topic, code);
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

  /** Writes the batches of a send: per partition, records in their order, within the topic's limit. */
  #encode(messages: readonly SendRecord[], timestamps: ArrayLike<number> | undefined, probe: boolean, outcome: SendOutcome): Piece[] {
    const n = messages.length;
    if (this.#order.length < n) {
      this.#order = new Int32Array(n * 2);
      this.#slots = new Int32Array(n * 2);
    }
    const slots = this.#slots;
    const order = this.#order;
    const held = this.#held;
    const checkHeld = held.size > 0 && !probe;
    // A slot per (topic, partition) seen in this send, numbered in first-seen order.
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
    const pieces: Piece[] = [];
    const now = Date.now();
    for (const s of slotInfo) {
      const tp = `${s.topic}\0${s.partition}`;
      const base = this.#sequences.get(tp) ?? 0;
      const next = this.#encodeRange(messages, timestamps, order, s.start, s.start + s.count, s.topic, s.partition, tp, base, now, pieces, outcome);
      this.#sequences.set(tp, next % 0x80000000);
    }
    return pieces;
  }

  /**
   * Encodes records order[from..to) as one batch with sequence `base`, or, when that batch is over
   * the topic's max.message.bytes, as two halves (recursively). A single record over the limit
   * is refused, not sent. Returns the next sequence.
   */
  #encodeRange(
    messages: readonly SendRecord[],
    timestamps: ArrayLike<number> | undefined,
    order: Int32Array,
    from: number,
    to: number,
    topic: string,
    partition: number,
    tp: string,
    base: number,
    now: number,
    out: Piece[],
    outcome: SendOutcome,
  ): number {
    const batch = this.#encoder.encode(messages, order, from, to, { ...this.#ids!, baseSequence: base % 0x80000000 }, now, timestamps);
    const limit = this.limitOf(topic);
    if (batch.length <= limit) {
      out.push({ topic, partition, tp, batch, order, from, to, base: base % 0x80000000, state: PIECE_PENDING, inFlight: false });
      return base + (to - from);
    }
    if (to - from > 1) {
      const mid = from + ((to - from) >> 1);
      const next = this.#encodeRange(messages, timestamps, order, from, mid, topic, partition, tp, base, now, out, outcome);
      return this.#encodeRange(messages, timestamps, order, mid, to, topic, partition, tp, next, now, out, outcome);
    }
    const index = order[from]!;
    outcome.refused.push({ index, code: MESSAGE_TOO_LARGE, detail: `the record is ${batch.length} bytes as a batch, over max.message.bytes ${limit} of topic ${topic}` });
    return base;
  }

  /** After a new producer id: every unsettled batch gets it, and sequences from 0 again. */
  #restamp(pieces: Piece[]): void {
    const ids = this.#ids!;
    let resent = 0;
    for (const p of pieces) {
      if (p.state !== PIECE_PENDING) continue;
      const base = this.#sequences.get(p.tp) ?? 0;
      p.base = base;
      stampBatch(p.batch, { ...ids, baseSequence: base });
      this.#sequences.set(p.tp, (base + batchCount(p.batch)) % 0x80000000);
      resent += p.to - p.from;
    }
    this.#log.warn(
      { producerId: String(ids.producerId), records: resent },
      "Kafka lost this producer's state (its id or sequence numbers): resending under a new producer id, so records the broker had already written may appear twice",
    );
  }

  /**
   * The unsettled pieces of a partition after `at` get sequences from `base` on (after a piece
   * was refused or held: the broker never wrote it, so its sequence numbers are free again).
   */
  #renumber(pieces: Piece[], tp: string, base: number): void {
    const ids = this.#ids!;
    let next = base;
    for (const p of pieces) {
      if (p.tp !== tp || p.state !== PIECE_PENDING) continue;
      if (p.base !== next % 0x80000000) {
        p.base = next % 0x80000000;
        stampBatch(p.batch, { ...ids, baseSequence: p.base });
      }
      next += p.to - p.from;
    }
    this.#sequences.set(tp, next % 0x80000000);
  }

  /** Every unsettled piece of a topic becomes held; its partitions' sequences are freed. */
  #holdTopic(pending: PendingSend, topic: string, code: number): void {
    const firstBase = new Map<string, number>();
    for (const p of pending.pieces) {
      // A piece in flight at another broker is settled by its own response.
      if (p.topic !== topic || p.state !== PIECE_PENDING || p.inFlight) continue;
      p.state = PIECE_HELD;
      if (!firstBase.has(p.tp)) firstBase.set(p.tp, p.base);
      for (let k = p.from; k < p.to; k++) pending.outcome.held.push({ index: p.order[k]!, code });
    }
    for (const [tp, base] of firstBase) this.#sequences.set(tp, base);
    if (!this.#held.has(topic)) {
      this.#log.warn({ topic, code: produceErrorName(code) }, `Kafka refuses writes to topic ${topic} (${produceErrorName(code)}): its records wait in the spool and are tried again until it accepts them; the other topics keep flowing`);
    }
    this.#held.set(topic, code);
  }

  /** Applies a Produce response to the pieces sent in it. */
  #settle(pending: PendingSend, pieces: Piece[], response: ProduceResponse, failures: string[], codes: string[]): void {
    const byTp = new Map<string, PartitionResponse>();
    for (const t of response.responses) for (const p of t.partitionResponses) byTp.set(`${t.name}\0${p.index}`, p);
    // Acknowledged pieces first: a hold that follows must not take back what Kafka has written.
    for (const piece of pieces) if (produceAction(byTp.get(piece.tp)?.errorCode ?? -1) === ProduceActions.OK) piece.state = PIECE_DONE;
    for (const piece of pieces) {
      if (piece.state !== PIECE_PENDING) continue; // acknowledged, or held by an earlier piece of its topic
      const r = byTp.get(piece.tp);
      const code = r?.errorCode ?? -1;
      const action = produceAction(code);
      const name = produceErrorName(code);
      const what = () => `${piece.topic}[${piece.partition}]: ${name}${r?.errorMessage ? ` (${r.errorMessage})` : ''}`;
      switch (action) {
        case ProduceActions.OK:
          piece.state = PIECE_DONE;
          break;
        case ProduceActions.HOLD:
          this.#holdTopic(pending, piece.topic, code);
          break;
        case ProduceActions.SPLIT:
        case ProduceActions.REFUSE:
          if (piece.to - piece.from > 1) this.#split(pending.pieces, piece);
          else {
            piece.state = PIECE_REFUSED;
            pending.outcome.refused.push({ index: piece.order[piece.from]!, code, detail: `Kafka refused the record: ${what()}` });
            this.#renumber(pending.pieces, piece.tp, piece.base);
          }
          break;
        case ProduceActions.NEW_ID:
          this.#idsLost = true;
          failures.push(what());
          codes.push(name);
          break;
        case ProduceActions.REFRESH:
          this.#refresh = true;
          failures.push(what());
          codes.push(name);
          break;
        default:
          failures.push(what());
          codes.push(name);
      }
    }
  }

  /** Replaces a piece by its two halves, re-encoded with the same sequences in order. */
  #split(pieces: Piece[], piece: Piece): void {
    const at = pieces.indexOf(piece);
    const mid = piece.from + ((piece.to - piece.from) >> 1);
    const { messages, timestamps } = this.#pending!;
    const now = Date.now();
    const halves: Piece[] = [];
    const outcome = this.#pending!.outcome;
    const next = this.#encodeRange(messages, timestamps, piece.order, piece.from, mid, piece.topic, piece.partition, piece.tp, piece.base, now, halves, outcome);
    this.#encodeRange(messages, timestamps, piece.order, mid, piece.to, piece.topic, piece.partition, piece.tp, next, now, halves, outcome);
    // A half whose single record was refused up front freed its sequence: renumber what follows.
    pieces.splice(at, 1, ...halves);
    this.#renumber(pieces, piece.tp, piece.base);
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
