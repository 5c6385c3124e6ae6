// `bench --ceiling`: the machine's own limits on the same records.
//   receive: `ws2kafka mock` (asked for more than it can send) into one receive-only WebSocket client
//            in this process that only counts events (a byte scan, no parsing);
//   producer: Kafka's kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance, from the
//            local broker's jars) sending events captured from that feed, 500 keys, acks=all,
//            idempotence, lz4, linger 5 ms, batch 256 KiB (as docs/benchmarks.md, issue #2).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { KafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError } from '../errors.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { Slices, splitFrame } from '../split/split.ts';
import { freePort, ws2kafka, type Child } from './children.ts';
import type { CeilingResult } from './result.ts';
import { MIX } from './rung.ts';
import { deleteTopics, freshTopics } from './topics.ts';

const RECEIVE_WARMUP_MS = 2000;
const RECEIVE_MS = 8000;
const PAYLOADS = 10_000;
export const PRODUCER_SETTINGS = 'acks=all enable.idempotence=true compression.type=lz4 linger.ms=5 batch.size=262144';
const EVENT = Buffer.from('{"ev":');

function countEvents(frame: Buffer): number {
  let n = 0;
  let i = frame.indexOf(EVENT);
  while (i >= 0) {
    n++;
    i = frame.indexOf(EVENT, i + 6);
  }
  return n;
}

/** Events/s one receive-only client gets from the mock, and the first events' bytes (the payloads). */
export async function receiveCeiling(batch: number, live: Set<Child>): Promise<{ eventsPerS: number; payloads: Buffer[] }> {
  const port = await freePort();
  const mock = ws2kafka('mock (ceiling)', ['mock', '--port', String(port), '--rate', '5000000', '--batch', String(batch), '--mix', MIX, '--duration', `${RECEIVE_WARMUP_MS + RECEIVE_MS + 30_000}ms`]);
  live.add(mock);
  try {
    // The mock's timeline runs from its start; it is stopped once measured (a slow start-up on a
    // busy machine must not end it inside the measurement).
    await mock.waitFor(/stats at (\S+)/, 30_000, 'its start-up line');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/mock`);
    let events = 0;
    const payloads: Buffer[] = [];
    const slices = new Slices(100_000);
    ws.on('message', (data: Buffer) => {
      events += countEvents(data);
      if (payloads.length < PAYLOADS && data.indexOf('"status"') < 0) {
        splitFrame(data, slices);
        for (let e = 0; e < slices.count && payloads.length < PAYLOADS; e++) payloads.push(Buffer.from(data.subarray(slices.start[e], slices.end[e])));
      }
    });
    ws.on('error', () => {});
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send('{"action":"auth","params":"bench"}');
    ws.send('{"action":"subscribe","params":"T.*,AM.*"}');
    await sleep(RECEIVE_WARMUP_MS);
    const e0 = events;
    const t0 = performance.now();
    await sleep(RECEIVE_MS);
    const eventsPerS = (events - e0) / ((performance.now() - t0) / 1000);
    ws.terminate();
    return { eventsPerS, payloads };
  } finally {
    await mock.stop(5000);
    live.delete(mock);
  }
}

/** The newest Kafka libs directory that `ws2kafka kafka start` fetched. */
export function kafkaLibs(home = ws2kafkaHome()): { version: string; libs: string } | undefined {
  let versions: string[];
  try {
    versions = readdirSync(join(home, 'kafka')).filter((v) => /^\d+\.\d+/.test(v));
  } catch {
    return undefined;
  }
  const cmp = (a: string, b: string) => {
    const x = a.split('.').map(Number);
    const y = b.split('.').map(Number);
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  };
  const v = versions.sort(cmp).at(-1);
  return v === undefined ? undefined : { version: v, libs: join(home, 'kafka', v, 'libs') };
}

/** A Java properties value: backslashes, and line breaks escaped. */
function javaValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** A JAAS string literal. */
function jaasString(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The Java client's properties for the same TLS and SASL settings (for kafka-producer-perf-test's
 * --producer.config; the file holds the password, so it is written 0600 and deleted after).
 * Needs PEM support in the Java client (Kafka 2.7+). OAUTHBEARER from a token file has no
 * counterpart without a login handler of our own: refused.
 */
export function javaClientProperties(s: KafkaSecurity | undefined, keystoreFile: string | undefined): string {
  if (s === undefined || (s.tls === undefined && s.sasl === undefined)) return '';
  const lines: string[] = [];
  const protocol = s.tls !== undefined ? (s.sasl !== undefined ? 'SASL_SSL' : 'SSL') : 'SASL_PLAINTEXT';
  lines.push(`security.protocol=${protocol}`);
  if (s.tls !== undefined) {
    if (s.tls.caFile !== undefined) lines.push('ssl.truststore.type=PEM', `ssl.truststore.location=${javaValue(s.tls.caFile)}`);
    if (s.tls.insecure) lines.push('ssl.endpoint.identification.algorithm=');
    if (keystoreFile !== undefined) lines.push('ssl.keystore.type=PEM', `ssl.keystore.location=${javaValue(keystoreFile)}`);
  }
  if (s.sasl !== undefined) {
    const a = s.sasl;
    if (a.mechanism === 'oauthbearer') throw new Ws2kError('PERF_TEST_FAILED', 'kafka-producer-perf-test cannot take an OAUTHBEARER token from a file: the producer ceiling is measured only with plain and scram-*');
    const module = a.mechanism === 'plain' ? 'org.apache.kafka.common.security.plain.PlainLoginModule' : 'org.apache.kafka.common.security.scram.ScramLoginModule';
    lines.push(`sasl.mechanism=${a.mechanism.toUpperCase()}`);
    lines.push(`sasl.jaas.config=${javaValue(`${module} required username=${jaasString(a.username ?? '')} password=${jaasString(a.password ?? '')};`)}`);
  }
  return lines.join('\n') + '\n';
}

/** `2000000 records sent, 612345.6 records/sec (...)` → records/s. */
export function perfTestRate(output: string): number | undefined {
  const lines = output.split('\n').filter((l) => /records sent/.test(l));
  const m = /([\d.]+) records\/sec/.exec(lines.at(-1) ?? '');
  return m ? Number(m[1]) : undefined;
}

export async function producerCeiling(brokers: string[], security: KafkaSecurity | undefined, payloads: Buffer[], records: number): Promise<number> {
  const kafka = kafkaLibs();
  if (kafka === undefined) throw new Ws2kError('PERF_TEST_FAILED', `no Kafka jars in ${join(ws2kafkaHome(), 'kafka')}: run 'ws2kafka kafka start' once`);
  if (payloads.length === 0) throw new Ws2kError('PERF_TEST_FAILED', 'no events were captured from the mock to use as payloads');
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-bench-'));
  const topic = `bench-${randomUUID().slice(0, 8)}-perftest`;
  try {
    const file = join(dir, 'payloads.txt');
    await writeFile(file, payloads.map((p) => p.toString('utf8')).join('\n') + '\n');
    await freshTopics(brokers, [topic], security);
    const secured: string[] = [];
    if (security !== undefined && (security.tls !== undefined || security.sasl !== undefined)) {
      let keystore: string | undefined;
      if (security.tls?.cert !== undefined && security.tls.key !== undefined) {
        keystore = join(dir, 'client-keystore.pem');
        await writeFile(keystore, `${security.tls.key.trim()}\n${security.tls.cert.trim()}\n`, { mode: 0o600 });
      }
      const config = join(dir, 'producer.properties');
      await writeFile(config, javaClientProperties(security, keystore), { mode: 0o600 });
      secured.push('--producer.config', config);
    }
    const args = [
      '-Xmx1g', '-cp', join(kafka.libs, '*'), 'org.apache.kafka.tools.ProducerPerformance',
      '--topic', topic, '--num-records', String(records), '--payload-file', file, '--record-key-range', '500', '--key-distribution', 'random',
      '--throughput', '-1', ...secured, '--producer-props', `bootstrap.servers=${brokers.join(',')}`, ...PRODUCER_SETTINGS.split(' '),
    ];
    const out = await new Promise<string>((resolve, reject) => {
      execFile('java', args, { maxBuffer: 16 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
        if (err) reject(new Ws2kError('PERF_TEST_FAILED', `kafka-producer-perf-test failed: ${(stderr || err.message).trim().split('\n').slice(-5).join('\n')}`, { cause: err }));
        else resolve(stdout);
      });
    });
    const rate = perfTestRate(out);
    if (rate === undefined) throw new Ws2kError('PERF_TEST_FAILED', `kafka-producer-perf-test printed no summary: ${out.trim().split('\n').slice(-3).join(' | ')}`);
    return rate;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await deleteTopics(brokers, [topic], security).catch(() => undefined);
  }
}

export async function measureCeiling(brokers: string[], security: KafkaSecurity | undefined, batch: number, records: number, live: Set<Child>, progress: (l: string) => void): Promise<CeilingResult> {
  const r: CeilingResult = { receive_events_per_s: null, producer_records_per_s: null, producer_settings: PRODUCER_SETTINGS, errors: [] };
  let payloads: Buffer[] = [];
  progress(`ceiling: mock into a receive-only client for ${(RECEIVE_WARMUP_MS + RECEIVE_MS) / 1000}s`);
  try {
    const rec = await receiveCeiling(batch, live);
    r.receive_events_per_s = Math.round(rec.eventsPerS);
    payloads = rec.payloads;
    progress(`ceiling: receive-only client ${r.receive_events_per_s.toLocaleString('en')} events/s`);
  } catch (err) {
    r.errors.push(`receive-only client: ${(err as Error).message}`);
  }
  progress(`ceiling: kafka-producer-perf-test, ${records.toLocaleString('en')} records`);
  try {
    r.producer_records_per_s = Math.round(await producerCeiling(brokers, security, payloads, records));
    progress(`ceiling: kafka-producer-perf-test ${r.producer_records_per_s.toLocaleString('en')} records/s`);
  } catch (err) {
    r.errors.push((err as Error).message);
  }
  return r;
}
