// /metrics (Prometheus text format, via prom-client), the probes and /status on --metrics-host.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { BridgeMetrics } from './metrics.ts';

type CounterField =
  | 'eventsSpooled'
  | 'eventsReplayed'
  | 'eventsReceived'
  | 'framesReceived'
  | 'eventsProduced'
  | 'eventsDropped'
  | 'framesRejected'
  | 'eventsRejected'
  | 'recordsRefused'
  | 'deadLettersProduced'
  | 'reconnects'
  | 'gaps'
  | 'gapRecordsProduced'
  | 'spoolWriteErrors'
  | 'haTakeovers'
  | 'haDiscarded';

/** Every exported series; docs/metrics.md documents each (a test checks both ways). */
export const COUNTERS: ReadonlyArray<[string, CounterField, string]> = [
  ['ws2kafka_events_received_total', 'eventsReceived', 'Events read from the WebSocket (status events excluded)'],
  ['ws2kafka_frames_received_total', 'framesReceived', 'WebSocket frames read'],
  ['ws2kafka_events_produced_total', 'eventsProduced', 'Events acknowledged by Kafka'],
  ['ws2kafka_events_dropped_total', 'eventsDropped', 'Events discarded because the buffer was full under --overflow drop'],
  ['ws2kafka_frames_rejected_total', 'framesRejected', 'Frames sent whole to the dead-letter topic (malformed, not UTF-8, binary, or their handling failed)'],
  ['ws2kafka_events_rejected_total', 'eventsRejected', 'Events of good frames sent alone to the dead-letter topic (a key over --max-key-bytes)'],
  ['ws2kafka_records_refused_total', 'recordsRefused', 'Records Kafka will never take (too large for the topic, invalid), sent to the dead-letter topic'],
  ['ws2kafka_spool_write_errors_total', 'spoolWriteErrors', 'Spool writes that failed (ENOSPC, EIO, EROFS): the --spool-full policy applied'],
  ['ws2kafka_dead_letters_produced_total', 'deadLettersProduced', 'Rejected frames acknowledged by Kafka in the dead-letter topic'],
  ['ws2kafka_reconnects_total', 'reconnects', 'WebSocket reconnections'],
  ['ws2kafka_gaps_total', 'gaps', 'Disconnect windows (gaps) closed by a reconnection'],
  ['ws2kafka_gap_records_produced_total', 'gapRecordsProduced', 'Gap records acknowledged by Kafka in the gap topic'],
  ['ws2kafka_events_spooled_total', 'eventsSpooled', 'Events written to the disk spool'],
  ['ws2kafka_events_replayed_total', 'eventsReplayed', 'Spooled events acknowledged by Kafka (and so removed from the spool)'],
  ['ws2kafka_ha_discarded_events_total', 'haDiscarded', 'HA group: events this member read and had not delivered when another member took the role (after a fence or a demotion): discarded, covered by that member\'s takeover gap'],
  ['ws2kafka_ha_takeovers_total', 'haTakeovers', 'Times this member of an HA group (--ha-group) became the active one and started its feeds (elected, took over, or resumed after fencing)'],
];

export const GAUGES: ReadonlyArray<[string, string]> = [
  ['ws2kafka_buffer_events', 'Events in memory waiting for Kafka'],
  ['ws2kafka_buffer_capacity_events', 'Capacity of the in-memory buffer'],
  ['ws2kafka_buffer_bytes', 'Bytes the in-memory buffer keeps alive: the frames its events are views of (each counted whole, once) and the records\' objects'],
  ['ws2kafka_buffer_capacity_bytes', 'Byte bound of the in-memory buffer (--buffer-bytes; 0: none)'],
  ['ws2kafka_spool_bytes', 'Unacknowledged bytes in the disk spool'],
  ['ws2kafka_oldest_unacked_age_seconds', 'Age of the oldest event read and not yet acknowledged by Kafka'],
  ['ws2kafka_ack_latency_seconds', 'Receive-to-acknowledgement latency since start, by quantile (0.5, 0.99, 1)'],
  ['ws2kafka_held_records', 'Records of topics Kafka refuses for now (authorization, unknown topic), waiting in the spool'],
  ['ws2kafka_feed_streaming', 'Per feed (label feed): 1 while the feed is subscribed and streaming, 0 otherwise'],
  ['ws2kafka_ha_active', 'HA group (--ha-group): 1 while this member is the active one (reads the feeds), 0 as a standby (or without a group)'],
  ['ws2kafka_read_ahead_bytes', 'Bytes the feeds\' reading threads have read and the pipeline has not taken yet, in memory (a burst waiting, at most --read-ahead-bytes per feed)'],
  ['ws2kafka_read_ahead_spilled_bytes', 'Bytes of frames the feeds\' reading threads keep on disk beyond --read-ahead-bytes (with a spool), read back in order at the pipeline\'s rate'],
  ['ws2kafka_parked_records', 'Records of partitions whose leader broker is away (parked), waiting in the spool to be sent in order once it answers'],
];

/** A gauge's help text, by name (GAUGES is what docs/metrics.md is checked against). */
function gaugeHelp(name: string): string {
  const found = GAUGES.find(([n]) => n === name);
  if (found === undefined) throw new Error(`no help for gauge ${name}`);
  return found[1];
}

type FeedField = 'eventsReceived' | 'framesReceived' | 'framesRejected' | 'eventsRejected' | 'reconnects' | 'gaps';

/** Per feed (label `feed`): each sums, over the feeds, to the unlabelled total of the same name without `feed_`. */
export const PER_FEED: ReadonlyArray<[string, FeedField, string]> = [
  ['ws2kafka_feed_events_received_total', 'eventsReceived', 'Events read from the feed\'s WebSocket, label feed (status events excluded)'],
  ['ws2kafka_feed_frames_received_total', 'framesReceived', 'WebSocket frames read from the feed, label feed'],
  ['ws2kafka_feed_frames_rejected_total', 'framesRejected', 'Frames of the feed sent whole to a dead-letter topic, label feed'],
  ['ws2kafka_feed_events_rejected_total', 'eventsRejected', 'Events of the feed\'s good frames sent alone to a dead-letter topic, label feed'],
  ['ws2kafka_feed_reconnects_total', 'reconnects', 'WebSocket reconnections of the feed, label feed'],
  ['ws2kafka_feed_gaps_total', 'gaps', 'Disconnect windows (gaps) of the feed recorded, label feed'],
];

/** Counters with a label: `code`, or `topic`. */
export const LABELLED: ReadonlyArray<[string, string]> = [
  ['ws2kafka_produce_errors_total', 'Failed produce attempts (each is retried, in order), label code: Kafka\'s error name, NETWORK or TIMEOUT'],
  ['ws2kafka_errors_total', 'Problems by ws2kafka error code (docs/errors.md): dead letters, held topics, spool write errors, frame handler errors'],
  ['ws2kafka_topic_events_produced_total', 'Events acknowledged by Kafka, label topic (control records, dead letters and gaps, not counted)'],
  ...PER_FEED.map(([name, , help]): [string, string] => [name, help]),
];

export function metricsRegistry(m: BridgeMetrics): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ws2kafka_process_' });
  for (const [name, field, help] of COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(m[field]);
      },
    });
  }
  new Gauge({ name: 'ws2kafka_buffer_events', help: gaugeHelp('ws2kafka_buffer_events'), registers: [registry], collect() { this.set(m.bufferUsed); } });
  new Gauge({ name: 'ws2kafka_buffer_capacity_events', help: gaugeHelp('ws2kafka_buffer_capacity_events'), registers: [registry], collect() { this.set(m.bufferCapacity); } });
  new Gauge({ name: 'ws2kafka_buffer_bytes', help: gaugeHelp('ws2kafka_buffer_bytes'), registers: [registry], collect() { this.set(m.bufferQueue?.retainedBytes ?? 0); } });
  new Gauge({ name: 'ws2kafka_buffer_capacity_bytes', help: gaugeHelp('ws2kafka_buffer_capacity_bytes'), registers: [registry], collect() { this.set(m.bufferQueue?.capacityBytes ?? 0); } });
  new Gauge({ name: 'ws2kafka_spool_bytes', help: gaugeHelp('ws2kafka_spool_bytes'), registers: [registry], collect() { this.set(m.spoolBytes); } });
  new Gauge({ name: 'ws2kafka_held_records', help: gaugeHelp('ws2kafka_held_records'), registers: [registry], collect() { this.set(m.heldRecords); } });
  new Gauge({ name: 'ws2kafka_read_ahead_bytes', help: gaugeHelp('ws2kafka_read_ahead_bytes'), registers: [registry], collect() { this.set(m.readAhead?.() ?? 0); } });
  new Gauge({ name: 'ws2kafka_read_ahead_spilled_bytes', help: gaugeHelp('ws2kafka_read_ahead_spilled_bytes'), registers: [registry], collect() { this.set(m.readAheadSpilled?.() ?? 0); } });
  new Gauge({ name: 'ws2kafka_parked_records', help: gaugeHelp('ws2kafka_parked_records'), registers: [registry], collect() { this.set(m.parkedRecords); } });
  const labelled = (name: string, help: string, label: string, counts: Map<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of counts) this.inc({ [label]: value }, n);
      },
    });
  labelled(LABELLED[0]![0], LABELLED[0]![1], 'code', m.produceErrorCodes);
  labelled(LABELLED[1]![0], LABELLED[1]![1], 'code', m.errorCodes);
  labelled(LABELLED[2]![0], LABELLED[2]![1], 'topic', m.producedByTopic);
  for (const [name, field, help] of PER_FEED) {
    new Counter({
      name,
      help,
      labelNames: ['feed'],
      registers: [registry],
      collect() {
        this.reset();
        for (const f of m.feeds) this.inc({ feed: f.name }, f[field]);
      },
    });
  }
  new Gauge({
    name: 'ws2kafka_feed_streaming',
    help: gaugeHelp('ws2kafka_feed_streaming'),
    labelNames: ['feed'],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of m.feeds) this.set({ feed: f.name }, f.state() === 'streaming' ? 1 : 0);
    },
  });
  new Gauge({ name: 'ws2kafka_ha_active', help: gaugeHelp('ws2kafka_ha_active'), registers: [registry], collect() { this.set(m.haActive); } });
  new Gauge({ name: 'ws2kafka_oldest_unacked_age_seconds', help: gaugeHelp('ws2kafka_oldest_unacked_age_seconds'), registers: [registry], collect() { this.set(m.oldestUnackedMs() / 1000); } });
  new Gauge({
    name: 'ws2kafka_ack_latency_seconds',
    help: gaugeHelp('ws2kafka_ack_latency_seconds'),
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      this.set({ quantile: '0.5' }, m.latency.quantile(0.5) / 1e6);
      this.set({ quantile: '0.99' }, m.latency.quantile(0.99) / 1e6);
      this.set({ quantile: '1' }, m.latency.max / 1e6);
    },
  });
  return registry;
}

/** What the HTTP endpoints answer besides /metrics. */
export interface Endpoints {
  /** /health (kept for earlier deployments): 200 while the feed is streaming, with details. */
  healthy: () => boolean;
  details: () => Record<string, unknown>;
  /** /readyz: 200 or 503 with the reasons. */
  ready: () => { ok: boolean; reasons: string[] };
  /** /status: one JSON document. */
  status: () => Record<string, unknown>;
}

/**
 * Serves /metrics, /livez, /readyz, /status and /health on host:port; resolves with the server,
 * or undefined if the address is taken.
 */
export function serveMetrics(registry: Registry, port: number, host: string, e: Endpoints): Promise<Server | undefined> {
  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (path === '/livez') {
      json(res, 200, { ok: true });
    } else if (path === '/readyz') {
      const r = e.ready();
      json(res, r.ok ? 200 : 503, r);
    } else if (path === '/status') {
      json(res, 200, e.status());
    } else if (path === '/health') {
      const ok = e.healthy();
      json(res, ok ? 200 : 503, { ok, ...e.details() });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => resolve(server));
  });
}
