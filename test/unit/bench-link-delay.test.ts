// bench --link-delay, the pure parts: the flag, its refusals, the summary line, the link's counters,
// the broker's REMOTE listener lines, and the ApiVersions request the round trips are timed with.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseLinkStats, type LinkResult } from '../../src/bench/link.ts';
import { benchOptions, parseLinkDelay } from '../../src/bench/options.ts';
import { table, type BenchResult } from '../../src/bench/result.ts';
import { leftInSpool } from '../../src/bench/rung.ts';
import { listenerProperties } from '../../src/kafka-local/listeners.ts';
import type { SecurityFiles } from '../../src/kafka-local/security.ts';
import { apiVersionsRequest, summarise } from '../../src/net/kafka-ping.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

test('parseLinkDelay: durations as elsewhere, 0 allowed (the link without delay), at most 10 s', () => {
  assert.equal(parseLinkDelay('link-delay', '20ms'), 20);
  assert.equal(parseLinkDelay('link-delay', '0.1s'), 100);
  assert.equal(parseLinkDelay('link-delay', '0'), 0);
  assert.equal(parseLinkDelay('link-delay', '0ms'), 0);
  assert.equal(parseLinkDelay('link-delay', '10s'), 10_000);
  for (const bad of ['11s', '-5ms', 'far', '', '20 parsecs']) {
    assert.throws(() => parseLinkDelay('link-delay', bad), new RegExp(`--link-delay '${bad}' is not accepted: expected a round-trip time from 0 to 10s`), bad);
  }
});

test('benchOptions: --link-delay and --inflight set, refused with --brokers and --peer-only respectively', () => {
  const o = benchOptions({ 'link-delay': '20ms', inflight: '5' });
  assert.equal(o.linkDelayMs, 20);
  assert.equal(o.inflight, 5);
  assert.equal(benchOptions({}).linkDelayMs, undefined);
  assert.equal(benchOptions({}).inflight, undefined);
  assert.throws(() => benchOptions({ 'link-delay': '20ms', brokers: '127.0.0.1:9092' }), /--link-delay cannot be combined with --brokers/);
  assert.throws(() => benchOptions({ inflight: '5', peer: 'tool', 'peer-only': true }), /--inflight is passed to ws2kafka run/);
  // Beside a peer, ws2kafka run still runs: --inflight is its.
  assert.equal(benchOptions({ inflight: '5', peer: 'tool' }).inflight, 5);
  assert.throws(() => benchOptions({ inflight: '0' }), /--inflight '0' is not accepted/);
});

test('bench --link-delay: bad values are USAGE errors from the CLI; --help lists it', async () => {
  for (const [args, message] of [
    [['--link-delay', 'far'], /--link-delay 'far' is not accepted/],
    [['--link-delay', '20ms', '--brokers', '127.0.0.1:1'], /--link-delay cannot be combined with --brokers/],
  ] as const) {
    const r = await exec(process.execPath, [cli, 'bench', ...args]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
  }
  const { stdout } = await exec(process.execPath, [cli, 'bench', '--help']);
  assert.match(stdout, /--link-delay RTT/);
  assert.match(stdout, /--inflight N/);
});

test('table: with a link, one summary line with the asked and measured round trip and its counters', () => {
  const link: LinkResult = {
    rtt_ms: 20,
    measured_rtt_ms: { min: 20.6, median: 21.2, max: 24 },
    direct_rtt_ms: { min: 0.04, median: 0.06, max: 0.3 },
    pipeline_brokers: ['127.0.0.1:40001'],
    bench_brokers: ['127.0.0.1:40002'],
    connections: 7,
    bytes_up: 123_400_000,
    bytes_down: 2_500_000,
    cpu_s: 3.456,
  };
  const r: BenchResult = {
    sustained_events_per_s: null, ceiling_events_per_s: null, fraction_of_ceiling: null, rates: [], ceiling: null, link,
    pipeline: 'ws2kafka run, Kafka through a +20 ms round-trip link',
    settings: { duration_s: 15, batch: 100, mix: 'T=90,AM=10', brokers: ['127.0.0.1:40002'], drain_s: 30, link_delay_ms: 20, inflight: null },
    machine: { cpus: 2, cpu_model: 'x', memory_gb: 24, node: 'v24', kafka: '4.4.0', date: '2026-11-27T00:00:00.000Z' }, contention: [],
  };
  const text = table(r);
  assert.match(text, /^pipeline: ws2kafka run, Kafka through a \+20 ms round-trip link$/m);
  assert.match(text, /^link: \+20 ms per round trip asked, 21\.2 ms measured through it \(median of ApiVersions round trips; 0\.06 ms direct\); 7 connections, 123\.4 MB up, 2\.5 MB down, link CPU 3\.46 s$/m);
  assert.doesNotMatch(table({ ...r, link: null }), /^link:/m);
});

test('parseLinkStats: the counters line the link prints when it stops', () => {
  assert.deepEqual(parseLinkStats('delay link listening on 127.0.0.1:5, ...\ndelay link stats {"accepted":3,"open":0,"bytesUp":10,"bytesDown":20,"held":0}\n'), {
    accepted: 3, open: 0, bytesUp: 10, bytesDown: 20, held: 0,
  });
  assert.equal(parseLinkStats('delay link listening on 127.0.0.1:5\n'), undefined);
});

test('listenerProperties: a REMOTE listener joins listeners, advertised.listeners and the protocol map, secured or not', () => {
  const remote = { port: 40003, advertisedHost: '127.0.0.1', advertisedPort: 40001 };
  const plain = listenerProperties('127.0.0.1', 40002, 40004, undefined, remote);
  assert.deepEqual(plain, [
    'listeners=PLAINTEXT://127.0.0.1:40002,CONTROLLER://127.0.0.1:40004,REMOTE://127.0.0.1:40003',
    'advertised.listeners=PLAINTEXT://127.0.0.1:40002,REMOTE://127.0.0.1:40001',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,REMOTE:PLAINTEXT',
  ]);
  assert.deepEqual(listenerProperties('127.0.0.1', 40002, 40004), [
    'listeners=PLAINTEXT://127.0.0.1:40002,CONTROLLER://127.0.0.1:40004',
    'advertised.listeners=PLAINTEXT://127.0.0.1:40002',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
  ]);
  const files = { dir: '/s', ca: '/s/ca.pem', brokerKeystore: '/s/broker.pem' } as unknown as SecurityFiles;
  const secured = listenerProperties('127.0.0.1', 40002, 40004, { ports: { saslSsl: 1, ssl: 2, saslPlaintext: 3 }, files, username: 'u', password: 'p' }, remote);
  assert.match(secured[0] ?? '', /,SASL_PLAINTEXT:\/\/127\.0\.0\.1:3,REMOTE:\/\/127\.0\.0\.1:40003$/);
  assert.match(secured[1] ?? '', /,REMOTE:\/\/127\.0\.0\.1:40001$/);
  assert.match(secured[2] ?? '', /,REMOTE:PLAINTEXT$/);
  assert.equal(secured.filter((l) => l.includes('REMOTE')).length, 3);
});

test('apiVersionsRequest: a size-prefixed ApiVersions v0 request with the correlation id; summarise takes min, median, max', () => {
  const b = apiVersionsRequest(7);
  assert.equal(b.readInt32BE(0), b.length - 4);
  assert.equal(b.readInt16BE(4), 18);
  assert.equal(b.readInt16BE(6), 0);
  assert.equal(b.readInt32BE(8), 7);
  assert.equal(b.subarray(14).toString(), 'ws2kafka-ping');
  assert.deepEqual(summarise([3, 1, 2]), { samples: [3, 1, 2], min: 1, median: 2, max: 3 });
});

test('leftInSpool: the count from a bridge\'s shutdown warning (the last one), undefined without it', () => {
  const warn = (n: number) => `{"level":40,"spooled":${n},"msg":"${n} events are not yet in Kafka but safe in the spool: they are replayed at the next start"}\n`;
  assert.equal(leftInSpool(`x\n${warn(12)}${warn(571870)}`), 571_870);
  assert.equal(leftInSpool('{"level":30,"msg":"stopped"}\n'), undefined);
});
