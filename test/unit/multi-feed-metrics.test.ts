// Several feeds in the metrics and probes: per-feed series with a `feed` label beside the
// unlabelled totals, /readyz naming each feed that is not streaming, /status listing the feeds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BridgeMetrics, FeedMetrics } from '../../src/metrics/metrics.ts';
import { AckWatch, readiness, statusDocument, type ProbeSource } from '../../src/metrics/probes.ts';
import { metricsRegistry } from '../../src/metrics/prometheus.ts';

function twoFeeds(cryptoState: string): { m: BridgeMetrics; p: ProbeSource } {
  const m = new BridgeMetrics();
  const stocks = new FeedMetrics('stocks');
  const crypto = new FeedMetrics('crypto');
  stocks.eventsReceived = 700;
  stocks.framesReceived = 70;
  crypto.eventsReceived = 300;
  crypto.framesReceived = 30;
  crypto.reconnects = 2;
  crypto.gaps = 1;
  stocks.state = () => 'streaming';
  crypto.state = () => cryptoState;
  m.feeds.push(stocks, crypto);
  m.eventsReceived = 1000;
  m.framesReceived = 100;
  m.reconnects = 2;
  m.gaps = 1;
  const probe = (name: string, state: string) => ({ name, state, url: `wss://feed.example/${name}`, connectionId: `c-${name}`, lastFrameAt: 1_700_000_000_000, subscriptions: name === 'stocks' ? 'T.*' : 'XT.*' });
  const p: ProbeSource = {
    metrics: m,
    feed: () => probe('stocks', 'streaming'),
    feeds: () => [probe('stocks', 'streaming'), probe('crypto', cryptoState)],
    kafka: { brokers: ['k1:9092'] },
    spool: () => ({ records: 0, bytes: 0, maxBytes: undefined, writeError: undefined }),
    held: () => [],
    readyMaxLagMs: 30_000,
  };
  return { m, p };
}

test('per-feed series carry `feed`; the unlabelled totals stay', async () => {
  const { m } = twoFeeds('waiting');
  const text = await metricsRegistry(m).metrics();
  assert.match(text, /^ws2kafka_events_received_total 1000$/m);
  assert.match(text, /^ws2kafka_feed_events_received_total\{feed="stocks"\} 700$/m);
  assert.match(text, /^ws2kafka_feed_events_received_total\{feed="crypto"\} 300$/m);
  assert.match(text, /^ws2kafka_feed_frames_received_total\{feed="crypto"\} 30$/m);
  assert.match(text, /^ws2kafka_feed_reconnects_total\{feed="stocks"\} 0$/m);
  assert.match(text, /^ws2kafka_feed_reconnects_total\{feed="crypto"\} 2$/m);
  assert.match(text, /^ws2kafka_feed_gaps_total\{feed="crypto"\} 1$/m);
  assert.match(text, /^ws2kafka_feed_streaming\{feed="stocks"\} 1$/m);
  assert.match(text, /^ws2kafka_feed_streaming\{feed="crypto"\} 0$/m);
  assert.match(m.line(), /^\[Metrics\] Received: 1000 events \(100 frames\), .*Reconnects: 2,/);
});

test('/readyz: ready only when every feed streams, each other one named', () => {
  const acks = new AckWatch();
  assert.deepEqual(readiness(twoFeeds('streaming').p, acks), { ok: true, reasons: [] });
  assert.deepEqual(readiness(twoFeeds('waiting').p, acks), { ok: false, reasons: ['the feed crypto is not streaming (waiting)'] });
});

test('/status: `feeds` lists each with its own counts; `feed` stays the first', () => {
  const s = statusDocument(twoFeeds('connecting').p, new AckWatch());
  const feeds = s['feeds'] as Array<Record<string, unknown>>;
  assert.deepEqual(
    feeds.map((f) => [f['name'], f['state'], f['url'], f['connection'], f['subscriptions'], f['received'], f['frames'], f['reconnects'], f['gaps']]),
    [
      ['stocks', 'streaming', 'wss://feed.example/stocks', 'c-stocks', 'T.*', 700, 70, 0, 0],
      ['crypto', 'connecting', 'wss://feed.example/crypto', 'c-crypto', 'XT.*', 300, 30, 2, 1],
    ],
  );
  assert.deepEqual(s['feed'], { state: 'streaming', url: 'wss://feed.example/stocks', connection: 'c-stocks', lastFrameAt: '2023-11-14T22:13:20.000Z', subscriptions: 'T.*', reconnects: 0, gaps: 0 });
});
