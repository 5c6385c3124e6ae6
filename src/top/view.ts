// What `top` shows, as a pure function: (previous reading, current reading, terminal width) →
// lines. Rates are counter differences between the two readings over the time between them; the
// ack latency comes from histogram buckets when the bridge exports a histogram (the latency of
// the last interval), otherwise from its quantile gauges (since the start, said so on screen).
// No terminal, no clock, no network here: test/unit/top-view.test.ts drives it with fixed text.
import { ago, bar, bytes, clock, count, every, lineText, rate, seconds, seg, type Line, type Segment } from './format.ts';
import { bucketsOf, byLabel, hasFamily, quantileOfBuckets, valueOf, type Exposition } from './prom-text.ts';
import type { Reading, StatusDoc } from './reading.ts';

/** The series `top` reads (src/metrics/prometheus.ts, docs/metrics.md). */
export const SERIES = {
  received: 'ws2kafka_events_received_total',
  frames: 'ws2kafka_frames_received_total',
  produced: 'ws2kafka_events_produced_total',
  dropped: 'ws2kafka_events_dropped_total',
  framesRejected: 'ws2kafka_frames_rejected_total',
  eventsRejected: 'ws2kafka_events_rejected_total',
  recordsRefused: 'ws2kafka_records_refused_total',
  spoolWriteErrors: 'ws2kafka_spool_write_errors_total',
  deadLetters: 'ws2kafka_dead_letters_produced_total',
  reconnects: 'ws2kafka_reconnects_total',
  gaps: 'ws2kafka_gaps_total',
  gapRecords: 'ws2kafka_gap_records_produced_total',
  spooled: 'ws2kafka_events_spooled_total',
  replayed: 'ws2kafka_events_replayed_total',
  buffer: 'ws2kafka_buffer_events',
  capacity: 'ws2kafka_buffer_capacity_events',
  spoolBytes: 'ws2kafka_spool_bytes',
  heldRecords: 'ws2kafka_held_records',
  oldest: 'ws2kafka_oldest_unacked_age_seconds',
  latency: 'ws2kafka_ack_latency_seconds',
  produceErrors: 'ws2kafka_produce_errors_total',
  errors: 'ws2kafka_errors_total',
  cpu: 'ws2kafka_process_process_cpu_seconds_total',
  rss: 'ws2kafka_process_process_resident_memory_bytes',
  heap: 'ws2kafka_process_nodejs_heap_size_used_bytes',
  loopP99: 'ws2kafka_process_nodejs_eventloop_lag_p99_seconds',
} as const;

export interface Unreachable {
  reason: string;
  /** Wall ms of the first failed attempt in a row. */
  since: number;
  attempts: number;
}

export interface ViewInput {
  /** The bridge's base URL, as shown. */
  url: string;
  intervalMs: number;
  width: number;
  /** Wall ms now (the header's clock). */
  now: number;
  previous: Reading | undefined;
  /** The latest reading that succeeded. */
  current: Reading | undefined;
  /** Set while the latest attempts failed. */
  unreachable?: Unreachable | undefined;
  /** A single screen (--once): nothing is retried. */
  once?: boolean;
  /** At most this many topic rows (default 12). */
  maxTopics?: number;
}

/** The screen as text lines, each at most `width` visible characters; SGR colours when `color`. */
export function viewLines(v: ViewInput, color: boolean): string[] {
  return renderView(v).map((l) => lineText(l, v.width, color));
}

export function renderView(v: ViewInput): Line[] {
  const lines: Line[] = [header(v)];
  const cur = v.current;
  if (v.unreachable !== undefined) {
    const u = v.unreachable;
    lines.push([seg('unreachable: ', 'red'), seg(u.reason, 'red')]);
    if (v.once !== true) lines.push([seg(`retrying every ${every(v.intervalMs)}: ${u.attempts} failed attempt${u.attempts === 1 ? '' : 's'} since ${clock(u.since)}`, 'dim')]);
    if (cur === undefined) return lines;
    lines.push([seg(`the figures below are the last answer, at ${clock(cur.at)}`, 'dim')], []);
    return [...lines, ...body(undefined, cur, v)];
  }
  if (cur === undefined) return [...lines, [seg('connecting…', 'dim')]];
  return [...lines, ...body(v.previous, cur, v)];
}

function header(v: ViewInput): Line {
  const up = v.unreachable === undefined ? v.current?.status?.uptimeS : undefined;
  return [
    seg(' ws2kafka top ', 'inverse'),
    seg(`  ${v.url}`, 'bold'),
    seg(`   ${clock(v.now)}  every ${every(v.intervalMs)}${up !== undefined ? `  up ${seconds(up)}` : ''}`),
    seg('   q quit', 'dim'),
  ];
}

/** Counter reading helpers over two readings. */
class Pair {
  readonly prev: Exposition | undefined;
  readonly cur: Exposition;
  readonly dt: number;

  constructor(prev: Reading | undefined, cur: Reading) {
    this.cur = cur.metrics;
    this.dt = prev === undefined ? 0 : (cur.at - prev.at) / 1000;
    this.prev = prev !== undefined && this.dt > 0 ? prev.metrics : undefined;
  }

  value(name: string, labels?: Record<string, string>): number | undefined {
    return valueOf(this.cur, name, labels);
  }

  /** Per second between the readings; undefined without a previous reading or after a restart (the counter went down). */
  rate(name: string, labels?: Record<string, string>): number | undefined {
    if (this.prev === undefined) return undefined;
    const b = valueOf(this.cur, name, labels);
    if (b === undefined) return undefined;
    // A labelled series appears at its first count: absent before means 0.
    const a = valueOf(this.prev, name, labels) ?? (labels !== undefined ? 0 : undefined);
    if (a === undefined || b < a) return undefined;
    return (b - a) / this.dt;
  }

  /** The increase since the previous reading (0 without one). */
  increase(name: string): number {
    const b = valueOf(this.cur, name);
    const a = this.prev === undefined ? undefined : valueOf(this.prev, name);
    return a === undefined || b === undefined || b < a ? 0 : b - a;
  }
}

const LABEL = 18;
const COL = 13;
const pad = (s: string, n: number) => (s.length >= n ? s + ' ' : s.padEnd(n));
const right = (s: string, n: number) => s.padStart(n);

function body(prevReading: Reading | undefined, cur: Reading, v: ViewInput): Line[] {
  const p = new Pair(prevReading, cur);
  const s = cur.status;
  const lines: Line[] = [...feedLines(s, cur, prevReading?.status, prevReading?.at, v.now), []];

  lines.push([seg(pad('EVENTS', LABEL), 'bold'), seg(right('per second', COL), 'bold'), seg(right('total', COL + 2), 'bold')]);
  const flow: Array<[string, string, string?]> = [
    ['received', SERIES.received],
    ['produced (acked)', SERIES.produced],
    ['spooled', SERIES.spooled],
    ['replayed', SERIES.replayed],
    ['dropped', SERIES.dropped, 'red'],
    ['dead letters', SERIES.deadLetters, 'yellow'],
  ];
  for (const [label, name, alarm] of flow) {
    if (!hasFamily(cur.metrics, name)) continue;
    const total = p.value(name);
    const row: Line = [seg(pad(label, LABEL)), seg(right(rate(p.rate(name)), COL)), seg(right(count(total), COL + 2))];
    if (alarm !== undefined && (total ?? 0) > 0) for (const x of row) x.style = alarm as Segment['style'];
    if (name === SERIES.received && hasFamily(cur.metrics, SERIES.frames)) row.push(seg(`   frames ${rate(p.rate(SERIES.frames))}`, 'dim'));
    lines.push(row);
  }
  lines.push([]);
  lines.push(latencyLine(prevReading, cur));
  const used = p.value(SERIES.buffer);
  const capacity = p.value(SERIES.capacity);
  if (used !== undefined && capacity !== undefined) {
    const full = capacity > 0 ? used / capacity : 0;
    lines.push([
      seg(pad('buffer', LABEL)),
      seg(`${count(used)} / ${count(capacity)} events  `),
      seg(bar(used, capacity, 20), full >= 0.9 ? 'red' : full >= 0.5 ? 'yellow' : 'green'),
      seg(`  ${(full * 100).toFixed(1)} %`),
    ]);
  }
  lines.push(spoolLine(p, s));
  const oldestS = s?.oldestUnacknowledgedMs !== undefined ? s.oldestUnacknowledgedMs / 1000 : p.value(SERIES.oldest);
  lines.push([seg(pad('oldest unacked', LABEL)), seg(seconds(oldestS), (oldestS ?? 0) >= 5 ? 'yellow' : undefined)]);
  lines.push([], ...topicLines(p, s, v.maxTopics ?? 12), [], ...problemLines(p, s, v.now), [], processLine(p));
  return lines;
}

function feedLines(s: StatusDoc | undefined, cur: Reading, prev: StatusDoc | undefined, prevAt: number | undefined, now: number): Line[] {
  if (s === undefined) return [[seg(pad('feed', 7)), seg(`/status not available (${cur.statusError ?? 'no answer'}): feed state unknown`, 'dim')]];
  const state = s.feed?.state ?? 'unknown';
  const feed: Line = [seg(pad('feed', 7)), seg(state, state === 'streaming' ? 'green' : 'yellow')];
  if (s.ready !== undefined) feed.push(seg('  '), s.ready.ok ? seg('READY', 'green') : seg('NOT READY', 'red'));
  if (s.feed?.lastFrameAt !== undefined) feed.push(seg(`  last frame ${ago(s.feed.lastFrameAt, now)}`));
  if (s.feed?.subscriptions !== undefined) feed.push(seg(`  ${s.feed.subscriptions}`));
  if (s.feed?.url !== undefined) feed.push(seg(`  ${s.feed.url}`, 'dim'));
  const lines: Line[] = [feed];
  if (s.ready !== undefined && !s.ready.ok && s.ready.reasons.length > 0) lines.push([seg(pad('', 7)), seg(s.ready.reasons.join('; '), 'red')]);
  if (s.kafka !== undefined) {
    const kafka: Line = [seg(pad('kafka', 7)), seg((s.kafka.brokers ?? []).join(',') || '?')];
    kafka.push(seg(`  last ack ${ago(s.kafka.lastAcknowledgedAt, now)}`));
    lines.push(kafka);
    const before = new Map((prev?.kafka?.perBroker ?? []).map((b) => [b.broker, b]));
    const dt = prevAt === undefined ? 0 : (cur.at - prevAt) / 1000;
    for (const b of (s.kafka.perBroker ?? []).slice(0, 8)) {
      const requests = b.requests !== undefined && before.get(b.broker)?.requests !== undefined && dt > 0 ? (b.requests - before.get(b.broker)!.requests!) / dt : undefined;
      const failing = b.failingSince !== undefined ? ` for ${ago(b.failingSince, now).replace(/ ago$/, '')}` : '';
      const row: Line = [seg(pad('', 7)), seg(`broker ${b.broker} `), seg(pad(`${b.state ?? '?'}${failing}`, 7), b.state === 'failing' ? 'red' : b.state === 'up' ? 'green' : 'dim')];
      row.push(seg(` in flight ${count(b.inflight)}  leads ${count(b.partitionsLed)}  requests ${requests !== undefined && requests >= 0 ? rate(requests) : count(b.requests)}`));
      if ((b.failures ?? 0) > 0) row.push(seg(`  failures ${count(b.failures)}`, 'yellow'));
      if (b.lastError !== undefined && b.state === 'failing') row.push(seg(`  ${b.lastError}`, 'red'));
      lines.push(row);
    }
    const leaderless = s.kafka.leaderlessPartitions ?? [];
    if (leaderless.length > 0) lines.push([seg(pad('', 7)), seg(`no leader: ${leaderless.join(', ')}`, 'red')]);
  }
  return lines;
}

function latencyLine(prev: Reading | undefined, cur: Reading): Line {
  const label = seg(pad('ack latency', LABEL));
  const fam = cur.metrics.families.get(SERIES.latency);
  if (fam?.type === 'histogram') {
    const after = bucketsOf(cur.metrics, SERIES.latency);
    const before = prev === undefined ? [] : bucketsOf(prev.metrics, SERIES.latency);
    const q = (x: number) => quantileOfBuckets(before, after, x);
    const p50 = q(0.5);
    if (p50 === undefined) return [label, seg('no acknowledgement in the interval', 'dim')];
    return [label, seg(`p50 ${seconds(p50)}   p99 ${seconds(q(0.99))}`), seg(prev === undefined ? '   (since start)' : `   (last ${seconds((cur.at - prev.at) / 1000)})`, 'dim')];
  }
  if (fam !== undefined) {
    const g = (x: string) => valueOf(cur.metrics, SERIES.latency, { quantile: x });
    return [label, seg(`p50 ${seconds(g('0.5'))}   p99 ${seconds(g('0.99'))}   max ${seconds(g('1'))}`), seg('   (since start)', 'dim')];
  }
  return [label, seg('not exported', 'dim')];
}

function spoolLine(p: Pair, s: StatusDoc | undefined): Line {
  const b = s?.spool?.bytes ?? p.value(SERIES.spoolBytes);
  const line: Line = [seg(pad('spool', LABEL)), seg(bytes(b))];
  if (s?.spool?.records !== undefined) line.push(seg(`  ${count(s.spool.records)} records`));
  if (s?.spool?.maxBytes !== undefined) line.push(seg(`  of ${bytes(s.spool.maxBytes)}`, 'dim'));
  if (s?.spool?.writeError !== undefined) line.push(seg(`  write error [${s.spool.writeError.code}] ${s.spool.writeError.message}`, 'red'));
  return line;
}

/** Families with a `topic` label (counters and gauges of the bridge, process series aside). */
function topicFamilies(e: Exposition): Array<{ name: string; title: string; counter: boolean }> {
  const out: Array<{ name: string; title: string; counter: boolean }> = [];
  for (const f of e.families.values()) {
    if (!f.name.startsWith('ws2kafka_') || f.name.startsWith('ws2kafka_process_')) continue;
    const sample = f.samples.find((x) => x.labels['topic'] !== undefined);
    if (sample === undefined) continue;
    const title = f.name.replace(/^ws2kafka_/, '').replace(/^topic_/, '').replace(/_total$/, '').replaceAll('_', ' ');
    out.push({ name: sample.name, title, counter: f.type === 'counter' });
  }
  return out.slice(0, 3);
}

function topicLines(p: Pair, s: StatusDoc | undefined, maxRows: number): Line[] {
  const families = topicFamilies(p.cur);
  const held = new Map((s?.kafka?.held ?? []).map((h) => [h.topic, h]));
  const columns = families.map((f) => ({ ...f, values: byLabel(p.cur, f.name, 'topic') }));
  const topics = new Set<string>(held.keys());
  for (const c of columns) for (const t of c.values.keys()) topics.add(t);
  const width = Math.max(24, ...[...topics].map((t) => t.length + 2));
  const head: Line = [seg(pad('TOPIC', width), 'bold')];
  for (const c of columns) head.push(seg(right(c.counter ? `${c.title}/s` : c.title, COL + 4), 'bold'), ...(c.counter ? [seg(right('total', COL), 'bold')] : []));
  const lines: Line[] = [head];
  if (topics.size === 0) {
    lines.push([seg(families.length === 0 ? 'this bridge exports no per-topic series (a `topic` label) in /metrics' : 'no topic has a count yet', 'dim')]);
    return lines;
  }
  const sorted = [...topics].sort();
  for (const t of sorted.slice(0, maxRows)) {
    const row: Line = [seg(pad(t, width))];
    for (const c of columns) {
      if (c.counter) row.push(seg(right(rate(p.rate(c.name, { topic: t })), COL + 4)), seg(right(count(c.values.get(t)), COL)));
      else row.push(seg(right(count(c.values.get(t)), COL + 4)));
    }
    const h = held.get(t);
    if (h !== undefined) row.push(seg(`  HELD [${h.code}]${h.since !== undefined ? ` since ${h.since}` : ''}`, 'yellow'));
    lines.push(row);
  }
  if (sorted.length > maxRows) lines.push([seg(`… ${sorted.length - maxRows} more topics`, 'dim')]);
  return lines;
}

function problemLines(p: Pair, s: StatusDoc | undefined, now: number): Line[] {
  const lines: Line[] = [[seg('PROBLEMS', 'bold')]];
  lines.push(countsLine(p, 'gaps', [['', SERIES.gaps], ['reconnects', SERIES.reconnects]]));
  lines.push(countsLine(p, 'to dead letters', [['frames', SERIES.framesRejected], ['events', SERIES.eventsRejected], ['refused by Kafka', SERIES.recordsRefused]]));
  lines.push(countsLine(p, 'held records', [['', SERIES.heldRecords], ['spool write errors', SERIES.spoolWriteErrors]]));
  lines.push(byCodeLine('produce errors', p, SERIES.produceErrors));
  lines.push(byCodeLine('errors by code', p, SERIES.errors));
  const last = s?.lastError;
  lines.push(
    last === undefined
      ? [seg(pad('last error', LABEL)), seg(s === undefined ? '– (no /status)' : 'none', 'dim')]
      : [seg(pad('last error', LABEL)), seg(`[${last.code}] `, 'red'), seg(last.message), seg(last.at !== undefined ? `  (${ago(last.at, now)})` : '', 'dim')],
  );
  return lines;
}

/** A label, then `name n` for each series present: yellow when above 0, red when it grew since the last reading. */
function countsLine(p: Pair, label: string, items: Array<[string, string]>): Line {
  const line: Line = [seg(pad(label, LABEL))];
  for (const [name, series] of items) {
    const n = p.value(series);
    if (n === undefined) continue;
    line.push(seg(name === '' ? '' : `${name} `), seg(count(n), p.increase(series) > 0 ? 'red' : n > 0 ? 'yellow' : undefined), seg('    '));
  }
  return line;
}

function byCodeLine(label: string, p: Pair, name: string): Line {
  const line: Line = [seg(pad(label, LABEL))];
  const codes = [...byLabel(p.cur, name, 'code')].sort((a, b) => b[1] - a[1]);
  if (codes.length === 0) return [...line, seg('none', 'dim')];
  for (const [code, n] of codes) {
    const r = p.rate(name, { code });
    line.push(seg(code, r !== undefined && r > 0 ? 'red' : 'yellow'), seg(` ${count(n)}${r !== undefined && r > 0 ? ` (${rate(r)})` : ''}   `));
  }
  return line;
}

function processLine(p: Pair): Line {
  const cpu = p.rate(SERIES.cpu);
  const parts = [
    `cpu ${cpu === undefined ? '–' : `${Math.round(cpu * 100)} %`}`,
    `rss ${bytes(p.value(SERIES.rss))}`,
    `heap ${bytes(p.value(SERIES.heap))}`,
    `event loop p99 ${seconds(p.value(SERIES.loopP99))}`,
  ];
  return [seg(pad('process', LABEL), 'dim'), seg(parts.join('   '), 'dim')];
}
