// `ws2kafka top` without a terminal: the Prometheus text parser, quantiles from histogram
// buckets, and the view as lines from fixed readings (rates, latency, topics, problems, the
// unreachable screen, a narrow terminal).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineText, seg } from '../../src/top/format.ts';
import { bucketsOf, byLabel, parsePromText, parseSample, quantileOfBuckets, valueOf } from '../../src/top/prom-text.ts';
import { baseUrl, readStatus, type Reading, type StatusDoc } from '../../src/top/reading.ts';
import { viewLines, type ViewInput } from '../../src/top/view.ts';

// A piece of a real /metrics answer (ws2kafka run 0.1.0, prom-client 15, 2026-11-26).
const REAL = `# HELP ws2kafka_process_process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE ws2kafka_process_process_cpu_seconds_total counter
ws2kafka_process_process_cpu_seconds_total 1.271923

# HELP ws2kafka_process_nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, incremental or weakcb.
# TYPE ws2kafka_process_nodejs_gc_duration_seconds histogram
ws2kafka_process_nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 11
ws2kafka_process_nodejs_gc_duration_seconds_bucket{le="0.01",kind="minor"} 15
ws2kafka_process_nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} 15
ws2kafka_process_nodejs_gc_duration_seconds_sum{kind="minor"} 0.013528432004153728
ws2kafka_process_nodejs_gc_duration_seconds_count{kind="minor"} 15
ws2kafka_process_nodejs_gc_duration_seconds_bucket{le="0.001",kind="major"} 0
ws2kafka_process_nodejs_gc_duration_seconds_bucket{le="0.01",kind="major"} 1
ws2kafka_process_nodejs_gc_duration_seconds_bucket{le="+Inf",kind="major"} 1
ws2kafka_process_nodejs_gc_duration_seconds_sum{kind="major"} 0.008203921999782324
ws2kafka_process_nodejs_gc_duration_seconds_count{kind="major"} 1

# HELP ws2kafka_events_received_total Events read from the WebSocket (status events excluded)
# TYPE ws2kafka_events_received_total counter
ws2kafka_events_received_total 11143

# HELP ws2kafka_produce_errors_total Failed produce attempts (each is retried, in order), label code: Kafka's error name, NETWORK or TIMEOUT
# TYPE ws2kafka_produce_errors_total counter

# HELP ws2kafka_oldest_unacked_age_seconds Age of the oldest event read and not yet acknowledged by Kafka
# TYPE ws2kafka_oldest_unacked_age_seconds gauge
ws2kafka_oldest_unacked_age_seconds 0.004

# HELP ws2kafka_ack_latency_seconds Receive-to-acknowledgement latency since start, by quantile (0.5, 0.99, 1)
# TYPE ws2kafka_ack_latency_seconds gauge
ws2kafka_ack_latency_seconds{quantile="0.5"} 0.004095
ws2kafka_ack_latency_seconds{quantile="0.99"} 0.056319
ws2kafka_ack_latency_seconds{quantile="1"} 0.093731
`;

test('parser: families with their type and help, samples, histogram parts under their family, a labelled family with no samples yet', () => {
  const e = parsePromText(REAL);
  assert.equal(e.skipped, 0);
  assert.equal(e.families.get('ws2kafka_events_received_total')?.type, 'counter');
  assert.equal(valueOf(e, 'ws2kafka_events_received_total'), 11143);
  assert.equal(valueOf(e, 'ws2kafka_process_process_cpu_seconds_total'), 1.271923);
  assert.match(e.families.get('ws2kafka_produce_errors_total')!.help, /^Failed produce attempts/);
  assert.deepEqual(e.families.get('ws2kafka_produce_errors_total')!.samples, []);
  assert.equal(byLabel(e, 'ws2kafka_produce_errors_total', 'code').size, 0);
  const gc = e.families.get('ws2kafka_process_nodejs_gc_duration_seconds')!;
  assert.equal(gc.type, 'histogram');
  assert.equal(gc.samples.length, 10);
  assert.equal(e.families.has('ws2kafka_process_nodejs_gc_duration_seconds_bucket'), false);
  assert.deepEqual(bucketsOf(e, 'ws2kafka_process_nodejs_gc_duration_seconds', { kind: 'major' }), [
    { le: 0.001, count: 0 },
    { le: 0.01, count: 1 },
    { le: Infinity, count: 1 },
  ]);
  assert.equal(valueOf(e, 'ws2kafka_ack_latency_seconds', { quantile: '0.99' }), 0.056319);
  assert.equal(valueOf(e, 'ws2kafka_ack_latency_seconds', { quantile: '0.9' }), undefined);
  assert.equal(valueOf(e, 'ws2kafka_nothing_total'), undefined);
});

test('parser: escapes in label values and help, special values, exponents, timestamps, spaces; unreadable lines skipped', () => {
  const e = parsePromText(
    [
      '# HELP x_total a \\\\ backslash\\nand a newline',
      '# TYPE x_total counter',
      'x_total{code="a\\"b\\\\c\\nd",other="é,}{"} 1.5e3 1700000000000',
      'x_total{ code = "plain" , } +Inf',
      'y NaN',
      'z -Inf',
      'w .5',
      '# a comment that is neither HELP nor TYPE',
      'broken{code="unterminated} 1',
      'novalue',
      'bad 1 2 3',
      'notanumber abc',
      '',
    ].join('\n'),
  );
  assert.equal(e.families.get('x_total')!.help, 'a \\ backslash\nand a newline');
  const samples = e.families.get('x_total')!.samples;
  assert.deepEqual(samples[0], { name: 'x_total', labels: { code: 'a"b\\c\nd', other: 'é,}{' }, value: 1500 });
  assert.deepEqual(samples[1], { name: 'x_total', labels: { code: 'plain' }, value: Infinity });
  assert.ok(Number.isNaN(valueOf(e, 'y')!));
  assert.equal(valueOf(e, 'z'), -Infinity);
  assert.equal(valueOf(e, 'w'), 0.5);
  assert.equal(e.skipped, 4);
  assert.equal(parseSample('a{b="c"} 2')?.value, 2);
  assert.equal(parseSample('1a 2'), undefined);
  // Without labels asked: the sum of a counter split by a label.
  assert.equal(valueOf(parsePromText('c_total{topic="a"} 2\nc_total{topic="b"} 3\n'), 'c_total'), 5);
});

test('quantiles from cumulative buckets: interpolated inside a bucket, over the difference of two readings; none when nothing was observed or after a restart', () => {
  const before = [
    { le: 0.001, count: 0 },
    { le: 0.005, count: 100 },
    { le: 0.01, count: 100 },
    { le: 0.1, count: 100 },
    { le: Infinity, count: 100 },
  ];
  // 100 more observations: 50 in (0.005, 0.01], 48 in (0.01, 0.1], 2 above 0.1.
  const after = [
    { le: 0.001, count: 0 },
    { le: 0.005, count: 100 },
    { le: 0.01, count: 150 },
    { le: 0.1, count: 198 },
    { le: Infinity, count: 200 },
  ];
  assert.equal(quantileOfBuckets(before, after, 0.5), 0.01); // rank 50: the end of (0.005, 0.01]
  assert.ok(Math.abs(quantileOfBuckets(before, after, 0.25)! - 0.0075) < 1e-12); // rank 25: halfway through it
  assert.ok(Math.abs(quantileOfBuckets(before, after, 0.74)! - (0.01 + 0.09 * (24 / 48))) < 1e-12);
  assert.equal(quantileOfBuckets(before, after, 0.99), 0.1); // in +Inf: the highest finite bound
  // Since the start (no earlier reading): 100 in (0.001, 0.005] first.
  assert.ok(Math.abs(quantileOfBuckets([], after, 0.25)! - 0.003) < 1e-12);
  assert.equal(quantileOfBuckets(after, after, 0.5), undefined);
  assert.equal(quantileOfBuckets(after, before, 0.5), undefined);
  assert.equal(quantileOfBuckets([], [], 0.5), undefined);
});

/** /metrics as prom-client writes it, for the series `top` reads. */
function exposition(v: Partial<Record<string, number>>, extra = ''): string {
  const counters = ['events_received', 'frames_received', 'events_produced', 'events_dropped', 'frames_rejected', 'events_rejected', 'records_refused', 'spool_write_errors', 'dead_letters_produced', 'reconnects', 'gaps', 'gap_records_produced', 'events_spooled', 'events_replayed'];
  let text = '';
  for (const c of counters) text += `# HELP ws2kafka_${c}_total ${c}\n# TYPE ws2kafka_${c}_total counter\nws2kafka_${c}_total ${v[c] ?? 0}\n\n`;
  for (const g of ['buffer_events', 'buffer_capacity_events', 'spool_bytes', 'held_records', 'oldest_unacked_age_seconds']) {
    text += `# HELP ws2kafka_${g} ${g}\n# TYPE ws2kafka_${g} gauge\nws2kafka_${g} ${v[g] ?? 0}\n\n`;
  }
  text += `# HELP ws2kafka_process_process_cpu_seconds_total cpu\n# TYPE ws2kafka_process_process_cpu_seconds_total counter\nws2kafka_process_process_cpu_seconds_total ${v['cpu'] ?? 0}\n\n`;
  return text + extra;
}

const STATUS: StatusDoc = readStatus({
  ready: { ok: true, reasons: [] },
  feed: { state: 'streaming', url: 'ws://127.0.0.1:18781/mock', connection: 'c1', lastFrameAt: '2026-11-26T23:30:00.000Z', subscriptions: 'T.*,AM.*', reconnects: 0, gaps: 0 },
  kafka: { brokers: ['127.0.0.1:9092'], lastAcknowledgedAt: '2026-11-26T23:30:00.000Z', produceErrors: {}, held: [] },
  events: {},
  buffer: { events: 3, capacity: 200000 },
  spool: { records: 0, bytes: 0, maxBytes: 10737418240, writeError: null },
  oldestUnacknowledgedMs: 3,
  errors: {},
  lastError: null,
  uptimeS: 9,
});

const T0 = Date.parse('2026-11-26T23:30:01.000Z');

function reading(at: number, text: string, status: StatusDoc | undefined = STATUS): Reading {
  return { at, metrics: parsePromText(text), status };
}

function view(over: Partial<ViewInput>): string[] {
  return viewLines({ url: 'http://127.0.0.1:9464', intervalMs: 1000, width: 120, now: T0 + 2000, previous: undefined, current: undefined, ...over }, false);
}

const row = (lines: string[], start: string) => lines.find((l) => l.startsWith(start)) ?? assert.fail(`no line starting with '${start}' in\n${lines.join('\n')}`);

test('view: rates are counter differences over the time between the two readings; totals are the current values', () => {
  const a = reading(T0, exposition({ events_received: 10_000, frames_received: 500, events_produced: 9_000, events_spooled: 100, cpu: 1 }));
  const b = reading(T0 + 2000, exposition({ events_received: 14_000, frames_received: 700, events_produced: 13_000, events_spooled: 100, buffer_events: 1000, buffer_capacity_events: 200_000, cpu: 1.5 }));
  const lines = view({ previous: a, current: b });
  assert.match(row(lines, 'received'), /^received\s+2,000\/s\s+14,000\s+frames 100\/s$/);
  assert.match(row(lines, 'produced (acked)'), /\s2,000\/s\s+13,000$/);
  assert.match(row(lines, 'spooled'), /\s0\/s\s+100$/);
  assert.match(row(lines, 'buffer'), /1,000 \/ 200,000 events\s+\[#\.{19}\]\s+0\.5 %/);
  assert.match(row(lines, 'process'), /cpu 25 %/);
  assert.match(row(lines, 'feed'), /streaming\s+READY/);
  assert.match(row(lines, 'kafka'), /127\.0\.0\.1:9092\s+last ack 3\.00 s ago/);
  assert.match(row(lines, 'oldest unacked'), /3\.0 ms/);
  assert.match(lines[0]!, /ws2kafka top\s+http:\/\/127\.0\.0\.1:9464 .* every 1s\s+up 9\.00 s\s+q quit/);
  // The first screen has no earlier reading: no rates, totals all the same.
  assert.match(row(view({ current: b }), 'received'), /^received\s+–\s+14,000/);
  // A bridge restarted between the readings (counters went down): no rate rather than a negative one.
  assert.match(row(view({ previous: b, current: a }), 'received'), /^received\s+–\s+10,000/);
});

test('view: ack latency from the quantile gauges (since start) or, when a histogram is exported, from its buckets over the interval', () => {
  const gauges = `# TYPE ws2kafka_ack_latency_seconds gauge\nws2kafka_ack_latency_seconds{quantile="0.5"} 0.004095\nws2kafka_ack_latency_seconds{quantile="0.99"} 0.056319\nws2kafka_ack_latency_seconds{quantile="1"} 0.093731\n`;
  assert.match(row(view({ current: reading(T0, exposition({}, gauges)) }), 'ack latency'), /p50 4\.1 ms\s+p99 56 ms\s+max 94 ms\s+\(since start\)/);
  const histogram = (n: [number, number, number, number]) =>
    `# TYPE ws2kafka_ack_latency_seconds histogram\n` +
    [0.001, 0.005, 0.025, Infinity].map((le, i) => `ws2kafka_ack_latency_seconds_bucket{le="${le === Infinity ? '+Inf' : le}"} ${n[i]}`).join('\n') +
    `\nws2kafka_ack_latency_seconds_count ${n[3]}\n`;
  const a = reading(T0, exposition({}, histogram([0, 1000, 1000, 1000])));
  const b = reading(T0 + 1000, exposition({}, histogram([0, 1000, 1900, 2000])));
  // Of the 1000 in the interval: 900 in (5, 25] ms, 100 above: p50 at 5 + 20 * 500/900 ms, p99 the highest bound.
  assert.match(row(view({ previous: a, current: b }), 'ack latency'), /p50 16 ms\s+p99 25 ms\s+\(last 1\.00 s\)/);
  assert.match(row(view({ previous: b, current: b }), 'ack latency'), /no acknowledgement in the interval/);
  assert.match(row(view({ current: a }), 'ack latency'), /p50 3\.0 ms .*\(since start\)/);
});

test('view: per-topic counts and rates from series with a topic label, held topics from /status; produce errors by code with their rate; the last error', () => {
  const topics = (t: number, q: number) =>
    `# HELP ws2kafka_topic_events_produced_total per topic\n# TYPE ws2kafka_topic_events_produced_total counter\n` +
    `ws2kafka_topic_events_produced_total{topic="trades-x"} ${t}\nws2kafka_topic_events_produced_total{topic="quotes-x"} ${q}\n\n`;
  const errors = (n: number) =>
    `# TYPE ws2kafka_produce_errors_total counter\nws2kafka_produce_errors_total{code="NOT_LEADER_OR_FOLLOWER"} ${n}\n` +
    (n > 3 ? `ws2kafka_produce_errors_total{code="NETWORK"} 4\n` : '') +
    `# TYPE ws2kafka_errors_total counter\nws2kafka_errors_total{code="KAFKA_TOPIC_AUTHORIZATION"} 2\n`;
  const status = readStatus({
    ...STATUS,
    ready: { ok: false, reasons: ['the feed is not streaming (reconnecting)'] },
    feed: { state: 'reconnecting' },
    kafka: { brokers: ['b1:9092', 'b2:9092'], lastAcknowledgedAt: null, held: [{ topic: 'secret-x', code: 'KAFKA_TOPIC_AUTHORIZATION', since: '2026-11-26T23:29:00.000Z' }] },
    lastError: { code: 'KAFKA_TOPIC_AUTHORIZATION', message: 'Kafka refuses topic secret-x', at: '2026-11-26T23:29:58.000Z' },
  });
  const a = reading(T0, exposition({ gaps: 1, reconnects: 1 }, topics(100, 50) + errors(3)), status);
  const b = reading(T0 + 1000, exposition({ gaps: 2, reconnects: 2, held_records: 7 }, topics(600, 50) + errors(5)), status);
  const lines = view({ previous: a, current: b });
  assert.match(row(lines, 'TOPIC'), /^TOPIC\s+events produced\/s\s+total$/);
  assert.match(row(lines, 'trades-x'), /^trades-x\s+500\/s\s+600$/);
  assert.match(row(lines, 'quotes-x'), /^quotes-x\s+0\/s\s+50$/);
  assert.match(row(lines, 'secret-x'), /HELD \[KAFKA_TOPIC_AUTHORIZATION\] since 2026-11-26T23:29:00\.000Z/);
  // Topics in name order, so rows keep their place from one refresh to the next.
  assert.ok(lines.indexOf(row(lines, 'quotes-x')) < lines.indexOf(row(lines, 'secret-x')));
  assert.ok(lines.indexOf(row(lines, 'secret-x')) < lines.indexOf(row(lines, 'trades-x')));
  assert.match(row(lines, 'produce errors'), /NOT_LEADER_OR_FOLLOWER 5 \(2\.0\/s\)\s+NETWORK 4 \(4\.0\/s\)/);
  assert.match(row(lines, 'errors by code'), /KAFKA_TOPIC_AUTHORIZATION 2$/);
  assert.match(row(lines, 'last error'), /\[KAFKA_TOPIC_AUTHORIZATION\] Kafka refuses topic secret-x\s+\(5\.00 s ago\)/);
  assert.match(row(lines, 'gaps'), /^gaps\s+2\s+reconnects 2$/);
  assert.match(row(lines, 'held records'), /^held records\s+7\s+spool write errors 0$/);
  assert.match(row(lines, 'feed'), /reconnecting\s+NOT READY/);
  assert.ok(lines.some((l) => l.includes('the feed is not streaming (reconnecting)')));
  assert.match(row(lines, 'kafka'), /b1:9092,b2:9092\s+last ack never/);
  // Without such series: said so.
  assert.ok(view({ current: reading(T0, exposition({})) }).some((l) => /exports no per-topic series/.test(l)));
  // Without /status (an older bridge): the metrics all the same, and why the rest is missing.
  const bare: Reading = { at: T0, metrics: parsePromText(exposition({ events_received: 5 })), status: undefined, statusError: '/status answered HTTP 404' };
  const old = view({ current: bare });
  assert.match(row(old, 'feed'), /\/status not available \(\/status answered HTTP 404\)/);
  assert.match(row(old, 'received'), /\s5\s+frames/);
});

test('view: Kafka per broker (the delivery lanes in /status): state, requests per second, failures, partitions without a leader', () => {
  const lanes = (r1: number, r2: number) =>
    readStatus({
      ...STATUS,
      kafka: {
        brokers: ['127.0.0.1:9192'],
        lastAcknowledgedAt: '2026-11-26T23:30:00.000Z',
        held: [],
        perBroker: [
          { broker: 1, state: 'up', inflight: 2, partitionsLed: 6, requests: r1, failures: 0, lastAcknowledgedAt: '2026-11-26T23:30:00.000Z', failingSince: null, lastError: null },
          { broker: 2, state: 'failing', inflight: 0, partitionsLed: 3, requests: r2, failures: 4, lastAcknowledgedAt: null, failingSince: '2026-11-26T23:29:51.000Z', lastError: 'NETWORK: connect ECONNREFUSED' },
        ],
        leaderlessPartitions: ['trades-x/2'],
      },
    });
  const a = reading(T0, exposition({}), lanes(100, 7));
  const b = reading(T0 + 2000, exposition({}), lanes(300, 7));
  const lines = view({ previous: a, current: b });
  assert.match(row(lines, '       broker 1'), /broker 1 up\s+in flight 2\s+leads 6\s+requests 100\/s$/);
  assert.match(row(lines, '       broker 2'), /broker 2 failing for 12\.0 s\s+in flight 0\s+leads 3\s+requests 0\/s\s+failures 4\s+NETWORK: connect ECONNREFUSED$/);
  assert.match(row(lines, '       no leader'), /no leader: trades-x\/2$/);
  // The first screen: totals instead of rates.
  assert.match(row(view({ current: a }), '       broker 1'), /requests 100$/);
});

test('view: unreachable says why and keeps the last figures (without rates) when there are any', () => {
  const u = { reason: 'connect ECONNREFUSED 127.0.0.1:9464', since: T0, attempts: 3 };
  const none = view({ unreachable: u });
  assert.equal(none[1], 'unreachable: connect ECONNREFUSED 127.0.0.1:9464');
  assert.match(none[2]!, /^retrying every 1s: 3 failed attempts since \d\d:\d\d:\d\d$/);
  assert.equal(none.length, 3);
  const last = reading(T0 - 1000, exposition({ events_received: 42 }));
  const kept = view({ unreachable: u, current: last, previous: reading(T0 - 2000, exposition({ events_received: 2 })) });
  assert.equal(kept[1], 'unreachable: connect ECONNREFUSED 127.0.0.1:9464');
  assert.match(kept[3]!, /^the figures below are the last answer, at \d\d:\d\d:\d\d$/);
  assert.match(row(kept, 'received'), /^received\s+–\s+42/);
  assert.deepEqual(view({}).slice(1), ['connecting…']);
});

test('view: a narrow terminal gets lines cut to its width (counted without colour codes), the figures first', () => {
  const a = reading(T0, exposition({ events_received: 10_000, events_produced: 9_000 }));
  const b = reading(T0 + 1000, exposition({ events_received: 12_000, events_produced: 11_000 }));
  const ESC = String.fromCharCode(27);
  const plain = (l: string) => l.replaceAll(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '');
  for (const width of [20, 40, 60]) {
    for (const color of [false, true]) {
      const lines = viewLines({ url: 'http://127.0.0.1:9464', intervalMs: 1000, width, now: T0, previous: a, current: b }, color);
      for (const l of lines) {
        const visible = plain(l);
        assert.ok(visible.length <= width, `${JSON.stringify(visible)} is longer than ${width}`);
      }
      if (width >= 40) assert.match(row(lines.map(plain), 'received'), /2,000\/s/);
    }
  }
  assert.equal(lineText([seg('abcdef'), seg('ghij', 'red')], 8, false), 'abcdefg…');
  assert.equal(lineText([seg('abc'), seg('defgh', 'red')], 6, true), 'abc\x1b[31mde…\x1b[0m');
  assert.equal(lineText([seg('a\x1b[2Jb\n')], 10, false), 'a [2Jb', 'control characters from the bridge never reach the terminal');
});

test('the URL as typed: host:port, a trailing slash or /metrics, https kept', () => {
  assert.equal(baseUrl('127.0.0.1:9464'), 'http://127.0.0.1:9464');
  assert.equal(baseUrl('http://host:9464/'), 'http://host:9464');
  assert.equal(baseUrl('http://host:9464/metrics'), 'http://host:9464');
  assert.equal(baseUrl('https://bridge.example/ws2kafka/status?x=1'), 'https://bridge.example/ws2kafka');
  assert.throws(() => baseUrl('http://'));
});

test('readStatus keeps the fields of the right type and drops the rest', () => {
  assert.deepEqual(readStatus('nope'), {});
  assert.deepEqual(readStatus({ feed: { state: 3, url: 'x' }, spool: { bytes: '1', records: 2 }, lastError: { message: 'no code' }, ready: { ok: 'yes' } }), { feed: { url: 'x' }, spool: { records: 2 } });
});
