// /readyz and /status over plain objects: each reason for not being ready, and the way back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BridgeMetrics } from '../../src/metrics/metrics.ts';
import { AckWatch, readiness, statusDocument, type ProbeSource } from '../../src/metrics/probes.ts';

function source(over: Partial<{ state: string; oldestAt: number | undefined; spoolBytes: number; writeError: { code: string; message: string } | undefined }> = {}): ProbeSource {
  const m = new BridgeMetrics();
  m.oldestAt = () => over.oldestAt;
  return {
    metrics: m,
    feed: () => ({ state: over.state ?? 'streaming', url: 'wss://feed.example/stocks', connectionId: 'c1', lastFrameAt: 1_700_000_000_000, subscriptions: 'T.*' }),
    kafka: { brokers: ['k1:9092'] },
    spool: () => ({ records: 0, bytes: over.spoolBytes ?? 0, maxBytes: 1000, writeError: over.writeError }),
    held: () => [],
    readyMaxLagMs: 30_000,
  };
}

test('ready: streaming, nothing waiting, spool fine', () => {
  const acks = new AckWatch();
  assert.deepEqual(readiness(source(), acks), { ok: true, reasons: [] });
});

test('not ready: the feed is not streaming', () => {
  const r = readiness(source({ state: 'waiting' }), new AckWatch());
  assert.equal(r.ok, false);
  assert.match(r.reasons[0]!, /not streaming \(waiting\)/);
});

test('not ready: events wait longer than --ready-max-lag and Kafka acknowledged nothing meanwhile; ready again after progress', () => {
  const now = Date.now();
  const p = source({ oldestAt: now - 40_000 });
  const acks = new AckWatch(now - 35_000);
  acks.poll(p.metrics, now - 1000);
  const r = readiness(p, acks, now);
  assert.equal(r.ok, false);
  assert.match(r.reasons[0]!, /acknowledged nothing for 35000 ms/);
  // Kafka acknowledges again (a backlog draining): ready, even though the oldest is still old.
  p.metrics.recordAck(1000);
  acks.poll(p.metrics, now);
  assert.equal(readiness(p, acks, now).ok, true);
});

test('not ready: the spool is full or cannot be written', () => {
  assert.match(readiness(source({ spoolBytes: 1000 }), new AckWatch()).reasons.join(), /spool is full/);
  assert.match(readiness(source({ writeError: { code: 'ENOSPC', message: 'no space' } }), new AckWatch()).reasons.join(), /cannot be written \(ENOSPC\)/);
});

test('/status names the feed, Kafka, the buffer, the spool and the last error with its code', () => {
  const p = source({ oldestAt: Date.now() - 500 });
  p.metrics.countError('KAFKA_RECORD_TOO_LARGE', 'a record of 2 MB');
  p.metrics.countProduceError('NOT_LEADER_OR_FOLLOWER');
  const s = statusDocument(p, new AckWatch()) as Record<string, Record<string, unknown>>;
  assert.equal(s['feed']!['state'], 'streaming');
  assert.deepEqual(s['kafka']!['brokers'], ['k1:9092']);
  assert.deepEqual(s['kafka']!['produceErrors'], { NOT_LEADER_OR_FOLLOWER: 1 });
  assert.equal(s['kafka']!['lastAcknowledgedAt'], null);
  assert.equal((s['lastError'] as unknown as { code: string }).code, 'KAFKA_RECORD_TOO_LARGE');
  assert.ok((s['oldestUnacknowledgedMs'] as unknown as number) >= 500);
});
