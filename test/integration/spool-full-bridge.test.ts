// Issue 10, "a spool directory on a full tmpfs": `run --durability disk` with its spool on a small
// tmpfs that a filler file has all but filled. A spool write error (ENOSPC) must not crash the
// process: the --spool-full policy applies (block: reading pauses; drop: events are dropped and
// counted), SPOOL_WRITE_FAILED is logged (JSON on stderr, field `code`), counted in /metrics and
// shown in /health (`spoolWriteError`), and writing is retried, so that once the filler is deleted
// everything flows again. Audited against the mock's stats. Needs root (mount); skipped otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer, type MockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { metricOf, startBridge, testTopics, type BridgeProcess } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';
import { freePort } from '../helpers/net.ts';
import { mountTmpfs } from '../helpers/tmpfs.ts';

const MOUNT_BYTES = 8 * 1024 * 1024;
/** What the filler leaves free: less than one spool segment, so the spool cannot roll a second one. */
const LEAVE_FREE = 64 * 1024;
const SEGMENT_BYTES = 65536;
const RATE = 5000;
const N = 20_000;
/** How long the disk is kept full after the first write error: longer than the bridge's once-a-second work. */
const FULL_FOR_MS = 3000;

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/** A file taking all but LEAVE_FREE bytes of the mount; returns its path. */
function fill(mount: string): string {
  const filler = join(mount, 'filler');
  execFileSync('fallocate', ['-l', String(freeBytes(mount) - LEAVE_FREE), filler], { stdio: 'pipe' });
  const left = freeBytes(mount);
  assert.ok(left <= LEAVE_FREE && left > LEAVE_FREE / 2, `the filler leaves ${left} bytes free`);
  return filler;
}

/** Fails, with the exit status and the bridge's error log lines, unless the bridge is still running. */
function assertAlive(bridge: BridgeProcess, when: string): void {
  const { exitCode, signalCode } = bridge.proc;
  if (exitCode === null && signalCode === null) return;
  const errors = logLines(bridge.stderr()).filter((l) => Number(l['level']) >= 50).map((l) => JSON.stringify(l).slice(0, 700));
  assert.fail(`the bridge exited (code ${exitCode}, signal ${signalCode}) ${when}; its error lines:\n${errors.join('\n')}`);
}

/** GET a path of the bridge's metrics port (a refused connection: is the bridge still alive?). */
async function get(bridge: BridgeProcess, port: number, path: string): Promise<Response> {
  try {
    return await fetch(`http://127.0.0.1:${port}${path}`);
  } catch (err) {
    assertAlive(bridge, `(GET ${path} failed)`);
    throw err;
  }
}

async function scrape(bridge: BridgeProcess, port: number): Promise<string> {
  return (await get(bridge, port, '/metrics')).text();
}

/** One series of a /metrics text (NaN when absent). */
function series(text: string, name: string): number {
  const escaped = name.replace(/[{}"]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

interface Health {
  spoolWriteError: { code: string; message: string } | null;
}

async function health(bridge: BridgeProcess, port: number): Promise<Health> {
  return (await (await get(bridge, port, '/health')).json()) as Health;
}

/** The JSON lines of stderr (other lines skipped). */
function logLines(stderr: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of stderr.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // a line cut at the end of the buffer
    }
  }
  return out;
}

/** Polls `check` (async) every 100 ms until it holds; fails after timeoutMs with `what()`. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Setup {
  mount: string;
  filler: string;
  mock: MockServer;
  bridge: BridgeProcess;
  port: number;
  topics: ReturnType<typeof testTopics>;
}

async function setup(t: TestContext, policy: 'block' | 'drop'): Promise<Setup | undefined> {
  const started: { bridge?: BridgeProcess } = {};
  // The bridge (if started) is gone before the unmount.
  const mount = mountTmpfs(t, {
    bytes: MOUNT_BYTES,
    prefix: 'spool-full-bridge-',
    beforeUnmount: async () => {
      const bridge = started.bridge;
      if (bridge !== undefined && bridge.proc.exitCode === null && bridge.proc.signalCode === null) {
        bridge.proc.kill('SIGKILL');
        await bridge.exited;
      }
    },
  });
  if (mount === undefined) return undefined;
  const topics = testTopics((fn) => t.after(fn));
  const filler = fill(mount);
  // A slow-consumer limit the paused bridge never reaches: the connection is kept.
  const mock = await startMockServer({ port: 0, rate: RATE, events: N, mix: parseMix('mix', 'T=90,AM=10'), slowConsumerBytes: 1 << 30 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge([
    '--url', mock.url,
    '--spool-dir', join(mount, 'spool'),
    '--durability', 'disk',
    '--spool-full', policy,
    '--spool-segment-bytes', String(SEGMENT_BYTES),
    '--metrics-port', String(port),
    '--metrics-interval', '500ms',
    ...topics.flags,
  ]);
  started.bridge = bridge;
  return { mount, filler, mock, bridge, port, topics };
}

/**
 * The spool fails with ENOSPC: SPOOL_WRITE_FAILED is logged (naming ENOSPC and the policy), counted
 * in /metrics and shown in /health; the disk is kept full for FULL_FOR_MS (longer than anything
 * the bridge does once a second, e.g. its run-state beat) and the process stays up all along.
 */
async function assertSpoolFailing(s: Setup, policy: 'block' | 'drop'): Promise<void> {
  const { bridge, port } = s;
  const failed = () => logLines(bridge.stderr()).filter((l) => l['code'] === 'SPOOL_WRITE_FAILED');
  await until(() => failed().length > 0 || bridge.proc.exitCode !== null, 10_000, () => `a SPOOL_WRITE_FAILED log line; stderr: ${bridge.stderr().slice(-2000)}`);
  assertAlive(bridge, 'after the first spool write error');
  const firstAt = Date.now();
  const line = failed()[0]!;
  assert.equal(line['errno'], 'ENOSPC', JSON.stringify(line));
  assert.match(String(line['msg']), /ENOSPC/);
  assert.equal(line['policy'], policy);

  // /health shows the error while it lasts (an append that succeeds clears it: poll).
  let seen: unknown;
  await until(
    async () => {
      seen = (await health(bridge, port)).spoolWriteError;
      return (seen as { code?: string } | null)?.code === 'ENOSPC';
    },
    10_000,
    () => `/health spoolWriteError.code ENOSPC (last: ${JSON.stringify(seen)})`,
  );
  const text = await scrape(bridge, port);
  assert.ok(series(text, 'ws2kafka_spool_write_errors_total') > 0, 'ws2kafka_spool_write_errors_total > 0');
  assert.ok(series(text, 'ws2kafka_errors_total{code="SPOOL_WRITE_FAILED"}') > 0, 'ws2kafka_errors_total{code="SPOOL_WRITE_FAILED"} > 0');

  // Still full a while later: still up, still failing, each retry counted.
  while (Date.now() - firstAt < FULL_FOR_MS) {
    assertAlive(bridge, `${Date.now() - firstAt} ms after the first spool write error, the disk still full`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assertAlive(bridge, `${FULL_FOR_MS} ms after the first spool write error, the disk still full`);
  const later = await scrape(bridge, port);
  assert.ok(series(later, 'ws2kafka_spool_write_errors_total') > series(text, 'ws2kafka_spool_write_errors_total'), 'writing is retried (every 500 ms) while the disk is full');
  assert.equal((await health(bridge, port)).spoolWriteError?.code, 'ENOSPC');
}

test('--spool-full block, --durability disk, spool on a full tmpfs: no crash, SPOOL_WRITE_FAILED logged, counted and in /health, reading pauses; once there is room, everything arrives once, in order', { timeout: 90_000 }, async (t) => {
  const s = await setup(t, 'block');
  if (s === undefined) return;
  const { bridge, port, mock } = s;
  await assertSpoolFailing(s, 'block');

  // Blocked: the mock sends its whole timeline while the bridge reads only part of it; no drops.
  await until(() => !mock.stats().running, 15_000, () => 'the mock to send its whole timeline');
  assertAlive(bridge, 'while the disk was full');
  let text = await scrape(bridge, port);
  const receivedWhileFull = series(text, 'ws2kafka_events_received_total');
  assert.equal(mock.stats().sent.events, N, 'the mock kept the connection (no slow-consumer drop) and sent everything');
  assert.ok(receivedWhileFull < N, `reading paused: the bridge read ${receivedWhileFull} of ${N} events while the disk was full`);
  assert.equal(series(text, 'ws2kafka_events_dropped_total'), 0, 'block drops nothing');
  assert.ok(series(text, 'ws2kafka_events_produced_total') <= receivedWhileFull);

  // Room again: the retried write succeeds, reading resumes, everything is acknowledged.
  rmSync(s.filler);
  await until(
    async () => {
      text = await scrape(bridge, port);
      return series(text, 'ws2kafka_events_produced_total') >= N;
    },
    30_000,
    () => `all ${N} events acknowledged (produced ${series(text, 'ws2kafka_events_produced_total')}); stderr: ${bridge.stderr().slice(-2000)}`,
  );
  assertAlive(bridge, 'after the filler was deleted');
  assert.equal(series(text, 'ws2kafka_events_produced_total'), N);
  assert.equal(series(text, 'ws2kafka_events_received_total'), N);
  assert.equal(series(text, 'ws2kafka_events_dropped_total'), 0);
  assert.equal((await health(bridge, port)).spoolWriteError, null, 'the error is cleared once writes succeed');

  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));

  const report = await audit({ brokers: testBrokers(), topics: [s.topics.trades, s.topics.aggregates], routes: s.topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.expected, N);
  assert.equal(report.lost, 0, JSON.stringify(report.samples.lost));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0, JSON.stringify(report.samples.corrupted));
  assert.equal(report.delivered, N);
  t.diagnostic(`read ${receivedWhileFull} of ${N} events while the disk was full; ${series(text, 'ws2kafka_spool_write_errors_total')} spool write errors; all ${N} delivered once, in order`);
});

test('--spool-full drop, --durability disk, spool on a full tmpfs: no crash, events dropped and counted, SPOOL_WRITE_FAILED logged; once there is room, events flow again; lost == dropped, nothing duplicated or reordered', { timeout: 90_000 }, async (t) => {
  const s = await setup(t, 'drop');
  if (s === undefined) return;
  const { bridge, port, mock } = s;
  await assertSpoolFailing(s, 'drop');

  let text = await scrape(bridge, port);
  assert.ok(series(text, 'ws2kafka_events_dropped_total') > 0, 'events are dropped and counted while the spool cannot be written');
  assert.ok(metricOf(bridge.stdout(), 'Dropped') > 0, `the metrics line counts the drops: ${bridge.stdout().trim().split('\n').at(-1)}`);
  assert.match(bridge.stderr(), /SPOOL FULL: dropping events/);

  // Room again: once an append succeeds (/health clears the error) nothing more is dropped.
  rmSync(s.filler);
  await until(async () => (await health(bridge, port)).spoolWriteError === null, 5000, () => '/health spoolWriteError to clear after the filler was deleted');
  text = await scrape(bridge, port);
  const droppedAtRecovery = series(text, 'ws2kafka_events_dropped_total');
  const producedAtRecovery = series(text, 'ws2kafka_events_produced_total');

  // The timeline ends; every event read is either acknowledged or dropped.
  await until(
    async () => {
      text = await scrape(bridge, port);
      return !mock.stats().running && series(text, 'ws2kafka_events_produced_total') + series(text, 'ws2kafka_events_dropped_total') >= N;
    },
    30_000,
    () => `produced + dropped = ${N} (produced ${series(text, 'ws2kafka_events_produced_total')}, dropped ${series(text, 'ws2kafka_events_dropped_total')}); stderr: ${bridge.stderr().slice(-2000)}`,
  );
  assertAlive(bridge, 'after the filler was deleted');
  const produced = series(text, 'ws2kafka_events_produced_total');
  const dropped = series(text, 'ws2kafka_events_dropped_total');
  assert.equal(mock.stats().sent.events, N, 'the mock sent its whole timeline to the bridge');
  assert.equal(series(text, 'ws2kafka_events_received_total'), N);
  assert.equal(produced + dropped, N, 'every event read is acknowledged or dropped');
  assert.ok(produced > producedAtRecovery, `events flow again once there is room (produced ${producedAtRecovery} → ${produced})`);
  assert.equal(dropped, droppedAtRecovery, 'nothing is dropped once the spool can be written again');

  bridge.proc.kill('SIGTERM');
  const { code } = await bridge.exited;
  assert.equal(code, 0, bridge.stderr().slice(-3000));
  assert.equal(metricOf(bridge.stdout(), 'Dropped'), dropped, 'the final metrics line counts every drop');

  // Each event sent was received (one connection, nothing cut), and each received was either
  // acknowledged or dropped and counted: the events missing from Kafka are exactly the dropped ones.
  const report = await audit({ brokers: testBrokers(), topics: [s.topics.trades, s.topics.aggregates], routes: s.topics.routes, mockStats: mock.stats(true) });
  assert.equal(report.expected, N);
  assert.equal(report.lost, dropped, `lost ${report.lost} == dropped ${dropped}`);
  assert.equal(report.delivered, produced);
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples.reordered));
  assert.equal(report.corrupted, 0, JSON.stringify(report.samples.corrupted));
  t.diagnostic(`dropped ${dropped} of ${N} (all before the disk had room again); ${series(text, 'ws2kafka_spool_write_errors_total')} spool write errors; lost ${report.lost}, delivered ${report.delivered}`);
});
