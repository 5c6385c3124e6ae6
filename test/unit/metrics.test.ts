import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { BridgeMetrics } from '../../src/metrics/metrics.ts';
import { COUNTERS, GAUGES, LABELLED, metricsRegistry } from '../../src/metrics/prometheus.ts';

test('docs/metrics.md documents exactly the exported ws2kafka series', async () => {
  const doc = await readFile(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(ws2kafka_[a-z_]+)` \|/gm)].map((m) => m[1]).sort();
  const registry = metricsRegistry(new BridgeMetrics());
  const exported = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !n.startsWith('ws2kafka_process_')).sort();
  assert.deepEqual(documented, exported);
  assert.deepEqual(exported, [...COUNTERS.map((c) => c[0]), ...GAUGES.map((g) => g[0]), ...LABELLED.map((l) => l[0])].sort());
});

test('the metrics line has the old tool\'s shape and counts acknowledgements', async () => {
  const m = new BridgeMetrics();
  m.eventsReceived = 10;
  m.framesReceived = 2;
  m.bufferCapacity = 100;
  m.bufferUsed = 3;
  for (let i = 0; i < 7; i++) m.recordAck(2000 + i * 1000);
  const line = m.line(Date.now() + 1000);
  assert.match(line, /^\[Metrics\] Received: 10 events \(2 frames\), Produced: 7, Dropped: 0, Rejected: 0, Buffer: 3\/100, Rate: \d+\/s, Lag p99: 8\.\d ms, Reconnects: 0, Spooled: 0, Replayed: 0, Spool: 0\.0 MB, Oldest: 0 ms$/);
  const text = await metricsRegistry(m).metrics();
  assert.match(text, /^ws2kafka_events_produced_total 7$/m);
  assert.match(text, /^ws2kafka_buffer_events 3$/m);
});

test('produce errors and problems are counted by code', async () => {
  const m = new BridgeMetrics();
  m.countProduceError('NOT_LEADER_OR_FOLLOWER');
  m.countProduceError('NOT_LEADER_OR_FOLLOWER');
  m.countProduceError('NETWORK');
  m.countError('KAFKA_RECORD_TOO_LARGE', 'a record of 2000000 bytes');
  const text = await metricsRegistry(m).metrics();
  assert.match(text, /^ws2kafka_produce_errors_total\{code="NOT_LEADER_OR_FOLLOWER"\} 2$/m);
  assert.match(text, /^ws2kafka_produce_errors_total\{code="NETWORK"\} 1$/m);
  assert.match(text, /^ws2kafka_errors_total\{code="KAFKA_RECORD_TOO_LARGE"\} 1$/m);
  assert.equal(m.lastError?.code, 'KAFKA_RECORD_TOO_LARGE');
});
