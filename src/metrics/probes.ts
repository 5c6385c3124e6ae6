// The probes of a running bridge, in the Kubernetes sense, and its /status document:
// - /livez: the event loop answers (this handler ran).
// - /readyz: subscribed to the feed (to every feed, when there are several); Kafka acknowledged something within --ready-max-lag, or
//   nothing is waiting that long; the spool below its limit and writable.
// - /status: one JSON document of what an operator asks first (feed, Kafka, buffer, spool, the
//   oldest unacknowledged event, gaps, held topics, the last error with its code), with Kafka's
//   state per broker (its lane: up, failing or idle, requests in flight, partitions it leads).
// Pure over what it is given: run.ts wires the bridge in; tests drive it with plain objects.
import type { BridgeMetrics } from './metrics.ts';

/** One feed as the probes see it. */
export interface FeedProbe {
  state: string;
  url: string;
  connectionId: string;
  lastFrameAt: number;
  subscriptions: string;
}

export interface ProbeSource {
  metrics: BridgeMetrics;
  /** The first (or only) feed: /status's `feed` object. */
  feed: () => FeedProbe;
  /** Every feed, by name, in the order configured (with `metrics.feeds`); default: `feed` alone. */
  feeds?: () => Array<FeedProbe & { name: string }>;
  kafka: {
    brokers: readonly string[];
    /** Each leader broker's delivery lane (state, requests in flight, partitions led, last error). */
    lanes?: () => unknown[];
    /** Partitions with records waiting and no leader now. */
    leaderless?: () => string[];
    /** Partitions parked (their leader away): records kept, since when. */
    parked?: () => unknown[];
  };
  spool: () => { records: number; bytes: number; maxBytes: number | undefined; writeError: { code: string; message: string } | undefined };
  held: () => unknown[];
  readyMaxLagMs: number;
}

/** Tracks when Kafka last acknowledged anything (polled: no clock read per event). */
export class AckWatch {
  #last = 0;
  #at: number;

  /** `at`: when watching began (counts as progress: a bridge just started is not stuck). */
  constructor(at = Date.now()) {
    this.#at = at;
  }

  /** Call now and then (every second): notes progress since the previous call. */
  poll(m: BridgeMetrics, now = Date.now()): void {
    const total = m.eventsProduced + m.deadLettersProduced + m.gapRecordsProduced;
    if (total !== this.#last) {
      this.#last = total;
      this.#at = now;
    }
  }

  /** Wall ms of the last progress seen (the start, before any). */
  get at(): number {
    return this.#at;
  }
}

export interface Readiness {
  ok: boolean;
  reasons: string[];
}

export function readiness(p: ProbeSource, acks: AckWatch, now = Date.now()): Readiness {
  const reasons: string[] = [];
  const feeds = p.feeds?.() ?? [{ name: '', ...p.feed() }];
  for (const feed of feeds) {
    if (feed.state !== 'streaming') reasons.push(feeds.length > 1 ? `the feed ${feed.name} is not streaming (${feed.state})` : `the feed is not streaming (${feed.state})`);
  }
  const oldest = p.metrics.oldestUnackedMs(now);
  const quiet = now - acks.at;
  if (oldest > p.readyMaxLagMs && quiet > p.readyMaxLagMs) {
    reasons.push(`Kafka has acknowledged nothing for ${quiet} ms while events wait (the oldest for ${oldest} ms; --ready-max-lag ${p.readyMaxLagMs} ms)`);
  }
  const spool = p.spool();
  if (spool.maxBytes !== undefined && spool.bytes >= spool.maxBytes) reasons.push(`the spool is full (${spool.bytes} of ${spool.maxBytes} bytes)`);
  if (spool.writeError !== undefined) reasons.push(`the spool cannot be written (${spool.writeError.code})`);
  return { ok: reasons.length === 0, reasons };
}

export function statusDocument(p: ProbeSource, acks: AckWatch, now = Date.now()): Record<string, unknown> {
  const m = p.metrics;
  const feed = p.feed();
  const spool = p.spool();
  const iso = (t: number) => (t > 0 ? new Date(t).toISOString() : null);
  const feeds = (p.feeds?.() ?? [{ name: m.feeds[0]?.name ?? 'default', ...feed }]).map((f) => {
    const c = m.feeds.find((x) => x.name === f.name);
    return {
      name: f.name,
      state: f.state,
      url: f.url,
      connection: f.connectionId || null,
      lastFrameAt: iso(f.lastFrameAt),
      subscriptions: f.subscriptions,
      reconnects: c?.reconnects ?? m.reconnects,
      gaps: c?.gaps ?? m.gaps,
      received: c?.eventsReceived ?? m.eventsReceived,
      frames: c?.framesReceived ?? m.framesReceived,
      framesRejected: c?.framesRejected ?? m.framesRejected,
      eventsRejected: c?.eventsRejected ?? m.eventsRejected,
    };
  });
  const first = feeds[0];
  return {
    ready: readiness(p, acks, now),
    // The first feed, as before there could be several (its own reconnects and gaps).
    feed: { state: feed.state, url: feed.url, connection: feed.connectionId || null, lastFrameAt: iso(feed.lastFrameAt), subscriptions: feed.subscriptions, reconnects: first?.reconnects ?? m.reconnects, gaps: first?.gaps ?? m.gaps },
    feeds,
    kafka: {
      brokers: p.kafka.brokers,
      perBroker: p.kafka.lanes?.() ?? [],
      leaderlessPartitions: p.kafka.leaderless?.() ?? [],
      parkedPartitions: p.kafka.parked?.() ?? [],
      lastAcknowledgedAt: m.eventsProduced + m.deadLettersProduced + m.gapRecordsProduced > 0 ? iso(acks.at) : null,
      produceErrors: Object.fromEntries(m.produceErrorCodes),
      held: p.held(),
    },
    events: { received: m.eventsReceived, produced: m.eventsProduced, dropped: m.eventsDropped, framesRejected: m.framesRejected, eventsRejected: m.eventsRejected, recordsRefused: m.recordsRefused, deadLetters: m.deadLettersProduced },
    buffer: { events: m.bufferUsed, capacity: m.bufferCapacity, bytes: m.bufferQueue?.retainedBytes ?? 0, capacityBytes: m.bufferQueue?.capacityBytes ?? 0, readAheadBytes: m.readAhead?.() ?? 0, readAheadSpilledBytes: m.readAheadSpilled?.() ?? 0 },
    spool: { records: spool.records, bytes: spool.bytes, maxBytes: spool.maxBytes ?? null, writeError: spool.writeError ?? null },
    oldestUnacknowledgedMs: m.oldestUnackedMs(now),
    errors: Object.fromEntries(m.errorCodes),
    lastError: m.lastError ?? null,
    uptimeS: Math.round((now - m.startedAt) / 1000),
  };
}
