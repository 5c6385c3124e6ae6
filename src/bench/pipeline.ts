// What a rung and a burst share: fresh topics, `ws2kafka mock` in its own process, the pipeline
// (`ws2kafka run` or a peer) in its own, the wait until it subscribes, and the cleanup after.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaChildOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError } from '../errors.ts';
import type { MockStats } from '../mock/stats.ts';
import { freePort, shell, ws2kafka, type Child } from './children.ts';
import type { PeerSpec } from './peers.ts';
import { deleteTopics, freshTopics, OffsetSampler } from './topics.ts';

export const MIX = 'T=90,AM=10';
const START_TIMEOUT_MS = 60_000;

export interface PipelineOptions {
  /** Kafka for bench's own clients (topics, offset samples, the audit). */
  brokers: string[];
  /** Kafka for the pipeline when it differs (--link-delay: the delay link); `brokers` when absent. */
  pipelineBrokers?: string[] | undefined;
  /** `ws2kafka run --inflight N`; run's default when absent. */
  inflight?: number | undefined;
  security?: KafkaSecurity | undefined;
  /** undefined: `ws2kafka run`. */
  peer: PeerSpec | undefined;
  /** The mock's port for a peer without fresh topics (an arbitrary --peer command). */
  mockPort: number;
  /** A word in the topic names (the offered rate, `burst`). */
  tag: string;
  /** The mock's arguments besides its port and mix: --rate, --batch, --duration or --events. */
  mockArgs: string[];
  /** BENCH_RATE in a peer's environment. */
  rate: number;
  /** Processes started, so that an interrupted bench can stop them. */
  live: Set<Child>;
}

export interface Pipeline {
  mock: Child;
  statsUrl: string;
  url: string;
  pipeline: Child;
  /** The bridge's /metrics (undefined for a peer). */
  metricsUrl: string | undefined;
  topics: string[];
  /** The bridge's gap topic (undefined for a peer). */
  gapTopic: string | undefined;
  routes: Record<string, string>;
  sampler: OffsetSampler;
  /** The mock's stats when the pipeline subscribed (its timeline's start). */
  started: MockStats;
  /** Stops what it started, deletes the topics and the spool directory. */
  close(): Promise<void>;
}

export async function bridgeMetrics(url: string): Promise<string> {
  try {
    return await (await fetch(url)).text();
  } catch {
    return '';
  }
}

export async function mockStats(url: string): Promise<MockStats> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()) as MockStats;
}

/** Starts the mock and the pipeline and waits until the pipeline has subscribed (the mock's timeline starts). */
export async function startPipeline(o: PipelineOptions): Promise<Pipeline> {
  const id = randomUUID().slice(0, 8);
  const name = (what: string) => `bench-${id}-${o.tag}-${what}`;
  const fixed = o.peer !== undefined && !o.peer.freshTopics;
  const data = fixed ? { trades: 'trades', aggregates: 'aggregates' } : { trades: name('trades'), aggregates: name('aggregates') };
  const extra = o.peer === undefined ? [name('unknown'), name('dead-letter'), name('gaps')] : [];
  const topics = [data.trades, data.aggregates];
  const routes = { T: data.trades, A: data.aggregates, AM: data.aggregates };
  const children: Child[] = [];
  const start = (c: Child) => {
    children.push(c);
    o.live.add(c);
    return c;
  };
  // Each bridge its own spool directory (SPOOL_DIR: a bridge without a spool ignores it).
  const spoolDir = await mkdtemp(join(tmpdir(), 'ws2kafka-bench-spool-'));
  const sampler = new OffsetSampler(o.brokers, topics, o.security);
  const close = async () => {
    await sampler.close();
    for (const c of children) {
      await c.stop(5000).catch(() => undefined);
      o.live.delete(c);
    }
    await deleteTopics(o.brokers, [...topics, ...extra], o.security).catch(() => undefined);
    await rm(spoolDir, { recursive: true, force: true });
  };
  try {
    await freshTopics(o.brokers, topics, o.security);
    const port = fixed ? o.mockPort : await freePort();
    const mock = start(ws2kafka('mock', ['mock', '--port', String(port), '--mix', MIX, ...o.mockArgs]));
    const statsUrl = (await mock.waitFor(/stats at (\S+)/, 30_000, 'its start-up line'))[1] ?? '';
    const url = `ws://127.0.0.1:${port}/mock`;
    const pipelineBrokers = (o.pipelineBrokers ?? o.brokers).join(',');

    let metricsUrl: string | undefined;
    let pipeline: Child;
    if (o.peer === undefined) {
      // The bridge connects as bench does: flags for the files and names, the password in its environment.
      const child = kafkaChildOptions(o.security);
      const metricsPort = await freePort();
      metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      pipeline = start(
        ws2kafka('ws2kafka run', [
          'run', '--url', url, '--brokers', pipelineBrokers, '--subscribe', 'T.*,AM.*',
          '--topics', `T=${data.trades},A=${data.aggregates},AM=${data.aggregates}`,
          '--unknown-topic', extra[0]!, '--dead-letter-topic', extra[1]!, '--gap-topic', extra[2]!,
          '--metrics-port', String(metricsPort), '--metrics-interval', '1s', '--log-level', 'warn',
          ...(o.inflight !== undefined ? ['--inflight', String(o.inflight)] : []),
          ...child.args,
        ], { SPOOL_DIR: spoolDir, ...child.env }),
      );
    } else {
      pipeline = start(
        shell(o.peer.label, o.peer.command, {
          WEBSOCKET_URL: url, KAFKA_BROKERS: pipelineBrokers, BENCH_RATE: String(o.rate), SPOOL_DIR: spoolDir,
          TRADES_TOPIC: data.trades, AGGREGATES_TOPIC: data.aggregates,
        }),
      );
    }

    // The timeline starts when the pipeline subscribes.
    const deadline = Date.now() + START_TIMEOUT_MS;
    let stats = await mockStats(statsUrl);
    while (stats.startedAt === null) {
      if (pipeline.exit !== undefined) throw new Ws2kError('BENCH_FAILED', `${pipeline.name} exited (${pipeline.exit.code ?? pipeline.exit.signal}) before subscribing to the mock:\n${pipeline.tail()}`);
      if (Date.now() > deadline) throw new Ws2kError('BENCH_FAILED', `${pipeline.name} did not subscribe to ${url} within ${START_TIMEOUT_MS / 1000}s:\n${pipeline.tail()}`);
      await sleep(50);
      stats = await mockStats(statsUrl);
    }
    return { mock, statsUrl, url, pipeline, metricsUrl, topics, gapTopic: extra[2], routes, sampler, started: stats, close };
  } catch (err) {
    await close();
    throw err;
  }
}
