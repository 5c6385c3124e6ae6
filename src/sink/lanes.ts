// The state the producer keeps per partition and per broker: the batches of a partition waiting
// for Kafka (in sequence order), and per leader broker a lane with its requests in flight.
//
// One lane per leader broker: a broker that is down or slow holds back only the partitions it
// leads. Per partition, up to `maxInflight` batches are on the wire at once (Kafka keeps order and
// de-duplicates within 5 per partition for an idempotent producer), one per request (Kafka takes
// one batch per partition per request). When a batch fails, its partition stops sending, waits for
// the answers of everything it has in flight, then resends every batch it has not had
// acknowledged, in order, with the same sequence numbers (the rule of the Java client and
// librdkafka): Kafka writes each one once, whichever copy arrives.
import type { PartitionBatch } from './record-batch.ts';
import type { SendOutcome, SendRecord } from './producer.ts';

export const PIECE_PENDING = 0;
export const PIECE_DONE = 1;
export const PIECE_REFUSED = 2;
export const PIECE_HELD = 3;
/** Dropped by the caller (an HA member's role taken): its answer, if one comes, is ignored. */
export const PIECE_DISCARDED = 4;
/** Never sent, and handed back to the caller (Chunk.onParked): its partition's leader is away. */
export const PIECE_PARKED = 5;

/**
 * A partition whose leader has failed, been slow (its oldest request unanswered) or been unknown
 * for this long is parked: the records waiting for it that were never sent, and those of later
 * submits, are handed back to the caller (which keeps them in the spool, in order, and sends them
 * once the leader answers), so that they no longer hold back what the other brokers could take.
 */
export const PARK_AFTER_MS = 2000;

/** What one submit() asked for: its records, and what became of them so far. */
export interface Chunk {
  messages: readonly SendRecord[];
  /** Each message's timestamp (ms since the epoch; negative: the time it is encoded), if given. */
  timestamps: ArrayLike<number> | undefined;
  /** The order of the messages by partition (pieces index into it). */
  order: Int32Array;
  outcome: SendOutcome;
  /** 1 for each message Kafka has acknowledged. */
  acked: Uint8Array;
  /** Pieces not settled yet. */
  left: number;
  resolve: (outcome: SendOutcome) => void;
  /** Records of held or parked partitions, sent to see whether they go now: never parked. */
  probe: boolean;
  /**
   * Takes back records of a parked partition (indices into messages, in order), at once: when
   * the submit is written, or when its partition is parked. None: this submit is never parked.
   */
  onParked: ((indices: number[], topic: string, partition: number) => void) | undefined;
}

/** One batch for one partition: records messages[order[from..to)] of its chunk, in that order. */
export interface Piece extends PartitionBatch {
  part: Part;
  chunk: Chunk;
  from: number;
  to: number;
  base: number;
  state: number;
  /** On the wire: sent, its answer not yet come. */
  sent: boolean;
  /** Ever put on the wire (Kafka may have written it): it stays here until acknowledged. */
  everSent: boolean;
  /** The lane it was last sent on (the leader then; it may lead no more). */
  lane: Lane | undefined;
}

/** A partition: its batches not yet acknowledged, and whether it may send now. */
export interface Part {
  tp: string;
  topic: string;
  partition: number;
  /** Unsettled pieces in sequence order; those sent come first. */
  pieces: Piece[];
  /** Pieces sent whose answer has not come yet. */
  inflight: number;
  /** A piece failed: send nothing new until every answer is in, then resend from the first unsettled. */
  recovering: boolean;
  /** Not before this time (Date.now()): the retry backoff. */
  readyAt: number;
  backoffMs: number;
  /** What to do with a piece once the partition has nothing in flight (split, refuse). */
  fixes: Array<{ piece: Piece; code: number; detail: string; split: boolean }>;
  /** Hold its pieces (Kafka's code) once nothing is in flight. */
  holdCode: number | undefined;
  /** The next sequence number to give. */
  nextSeq: number;
  /**
   * Kafka has acknowledged a batch of this partition under the current producer id. Until then one
   * batch at a time: a broker with no state for the producer accepts a first batch with any
   * sequence, so a later batch overtaking a failed first one would be written before it.
   */
  confirmed: boolean;
  /** When Kafka last acknowledged a batch of it (Date.now()): after CONFIRMED_FOR_MS, unconfirmed again. */
  ackedAt: number;
  /** Since when it has had no leader (Date.now(); 0: it has one). */
  leaderlessSince: number;
}

/**
 * How long an acknowledgement keeps a partition confirmed. Kafka forgets an idle producer's state
 * after producer.id.expiration.ms (1 day by default); an hour keeps well inside it, so a partition
 * idle for longer (a weekend) starts again with one batch at a time.
 */
export const CONFIRMED_FOR_MS = 3_600_000;

/** A leader broker's lane: its requests in flight and how it fares (for /status). */
export interface Lane {
  broker: number;
  inflight: number;
  /** When each request in flight was sent (Date.now()), oldest first: answers come in order. */
  sentAt: number[];
  requests: number;
  failures: number;
  /** When a request to it last succeeded (Date.now(), 0: never). */
  lastOkAt: number;
  /** Since when its requests fail (0: they do not). */
  failingSince: number;
  lastError: string | undefined;
}

/**
 * A lane whose oldest request has waited this long counts as slow: its partitions no longer hold
 * back new batches for the others (the sink goes on feeding the brokers that answer).
 */
export const LANE_SLOW_MS = 1000;

/** Since when a lane has failed, or its oldest request has waited (0: neither). */
export function troubleSince(lane: Lane | undefined): number {
  if (lane === undefined) return 0;
  return lane.failingSince !== 0 ? lane.failingSince : (lane.sentAt[0] ?? 0);
}

/**
 * The pieces at the end of a partition's queue that can be handed back: never sent, not of a
 * probe, of a submit that takes parked records back. Those before stay (Kafka may have written a
 * piece once sent; the caller's probes must go in their place).
 */
export function parkable(part: Part): number {
  let at = part.pieces.length;
  while (at > 0) {
    const p = part.pieces[at - 1]!;
    if (p.everSent || p.chunk.probe || p.chunk.onParked === undefined) break;
    at--;
  }
  return at;
}

/** Failing (its requests fail) or slow (its oldest request unanswered for LANE_SLOW_MS). */
export function laneStalled(lane: Lane | undefined, now: number): boolean {
  if (lane === undefined) return false;
  return lane.failingSince !== 0 || (lane.sentAt.length > 0 && now - lane.sentAt[0]! >= LANE_SLOW_MS);
}

/** What /status shows of a broker. */
export interface BrokerState {
  broker: number;
  /** idle: it leads nothing the bridge writes now (its last error, if any, stays shown). */
  state: 'up' | 'failing' | 'slow' | 'idle';
  inflight: number;
  partitionsLed: number;
  requests: number;
  failures: number;
  lastAcknowledgedAt: string | null;
  failingSince: string | null;
  lastError: string | null;
}

export function newPart(topic: string, partition: number, nextSeq: number): Part {
  return { tp: `${topic}\0${partition}`, topic, partition, pieces: [], inflight: 0, recovering: false, readyAt: 0, backoffMs: 0, fixes: [], holdCode: undefined, nextSeq, confirmed: false, ackedAt: 0, leaderlessSince: 0 };
}

export function newLane(broker: number): Lane {
  return { broker, inflight: 0, sentAt: [], requests: 0, failures: 0, lastOkAt: 0, failingSince: 0, lastError: undefined };
}

/** The next piece of a partition to put on the wire, if it may send one now. */
export function nextToSend(part: Part, maxInflight: number, now: number): Piece | undefined {
  const confirmed = part.confirmed && now - part.ackedAt < CONFIRMED_FOR_MS;
  if (part.recovering || part.inflight >= (confirmed ? maxInflight : 1) || part.readyAt > now) return undefined;
  for (const p of part.pieces) if (!p.sent) return p;
  return undefined;
}

/** Removes a settled piece from its partition and counts it off its chunk (resolving it when last). */
export function settle(piece: Piece, state: number): void {
  piece.state = state;
  const pieces = piece.part.pieces;
  const at = pieces.indexOf(piece);
  if (at >= 0) pieces.splice(at, 1);
  const chunk = piece.chunk;
  if (state === PIECE_DONE) for (let k = piece.from; k < piece.to; k++) chunk.acked[chunk.order[k]!] = 1;
  if (--chunk.left === 0) chunk.resolve(chunk.outcome);
}

export function brokerState(lane: Lane, partitionsLed: number, now = Date.now()): BrokerState {
  const iso = (t: number) => (t === 0 ? null : new Date(t).toISOString());
  const state = partitionsLed === 0 && lane.inflight === 0 ? 'idle' : lane.failingSince !== 0 ? 'failing' : laneStalled(lane, now) ? 'slow' : lane.lastOkAt !== 0 ? 'up' : 'idle';
  return {
    broker: lane.broker,
    state,
    inflight: lane.inflight,
    partitionsLed,
    requests: lane.requests,
    failures: lane.failures,
    lastAcknowledgedAt: iso(lane.lastOkAt),
    failingSince: iso(lane.failingSince),
    lastError: lane.lastError ?? null,
  };
}
