// Operating `run`: no surprises at start (a forgotten feed or broker is refused, not invented),
// probes reachable from outside the host, /readyz following Kafka, /status saying why.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startMockServer } from '../../src/mock/server.ts';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { startBridge, testTopics, waitFor } from '../helpers/bridge.ts';
import { faultBroker } from '../helpers/fault-broker.ts';
import { freePort } from '../helpers/net.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const broker = faultBroker(19192);
before(() => broker.start(), { timeout: 180_000 });
after(() => broker.destroy());

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = { ...process.env };
  for (const k of ['WEBSOCKET_URL', 'KAFKA_BROKERS', 'DEMO']) delete clean[k];
  return spawnSync(process.execPath, [...NODE_FLAGS, cli, 'run', '--metrics-port', '0', ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 });
}

test('without --demo, a missing feed or broker is refused with MISSING_SETTING (exit 2), naming the setting; nothing is started', () => {
  const noFeed = run(['--brokers', broker.bootstrap]);
  assert.equal(noFeed.status, 2, noFeed.stderr);
  assert.match(noFeed.stderr, /\[MISSING_SETTING\]/);
  assert.match(noFeed.stderr, /--url \(WEBSOCKET_URL\)/);
  assert.doesNotMatch(noFeed.stdout + noFeed.stderr, /mock feed \(|reading the built-in mock/);
  const noBroker = run(['--url', 'ws://127.0.0.1:1/feed']);
  assert.equal(noBroker.status, 2, noBroker.stderr);
  assert.match(noBroker.stderr, /\[MISSING_SETTING\]/);
  assert.match(noBroker.stderr, /--brokers \(KAFKA_BROKERS\)/);
  assert.doesNotMatch(noBroker.stderr, /starting the local broker/);
  const both = run(['--demo', '--url', 'ws://127.0.0.1:1/feed', '--brokers', broker.bootstrap]);
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /--demo/);
});

/**
 * A non-loopback address of our own on this machine (one end of a veth pair the test makes),
 * removed afterwards; undefined (test skipped) when it cannot be made.
 */
function ownAddress(t: { after: (fn: () => void) => void; skip: (m: string) => void }): string | undefined {
  const dev = `ws2k${process.pid % 100000}`;
  const address = '169.254.213.1';
  try {
    execFileSync('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`], { stdio: 'pipe' });
  } catch (e) {
    t.skip(`cannot make a veth pair (needs root and iproute2): ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message}`);
    return undefined;
  }
  t.after(() => execFileSync('ip', ['link', 'del', dev], { stdio: 'pipe' }));
  execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', dev], { stdio: 'pipe' });
  execFileSync('ip', ['link', 'set', dev, 'up'], { stdio: 'pipe' });
  return address;
}

test('--metrics-host 0.0.0.0: /livez and /readyz reached through a non-loopback address; /readyz goes 503 within --ready-max-lag of losing Kafka and 200 once it is back; /status says why', { timeout: 240_000 }, async (t) => {
  const address = ownAddress(t);
  if (address === undefined) return;
  const topics = testTopics((fn) => t.after(fn));
  const mock = await startMockServer({ port: 0, rate: 2000 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--brokers', broker.bootstrap, '--metrics-host', '0.0.0.0', '--metrics-port', String(port), '--ready-max-lag', '3s', '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  const get = async (path: string) => {
    const res = await fetch(`http://${address}:${port}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  let ready = { status: 0, body: {} as Record<string, unknown> };
  for (let i = 0; i < 150 && ready.status !== 200; i++) {
    ready = await get('/readyz').catch(() => ready);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(ready.status, 200, JSON.stringify(ready.body) + bridge.stderr().slice(-1500));
  assert.equal((await get('/livez')).status, 200);

  // Kafka goes away: within --ready-max-lag (3 s) plus a poll, /readyz says 503 and why.
  await broker.kill();
  const killedAt = Date.now();
  let notReady = ready;
  while (notReady.status === 200 && Date.now() - killedAt < 20_000) {
    await new Promise((r) => setTimeout(r, 250));
    notReady = await get('/readyz');
  }
  assert.equal(notReady.status, 503);
  assert.ok(Date.now() - killedAt < 3000 + 5000, `503 after ${Date.now() - killedAt} ms`);
  assert.match(JSON.stringify(notReady.body), /Kafka has acknowledged nothing/);
  const status = (await get('/status')).body as { ready: { ok: boolean }; feed: { state: string }; oldestUnacknowledgedMs: number; kafka: { brokers: string[] } };
  assert.equal(status.ready.ok, false);
  assert.equal(status.feed.state, 'streaming');
  assert.ok(status.oldestUnacknowledgedMs > 3000);
  assert.deepEqual(status.kafka.brokers, [broker.bootstrap]);
  assert.equal((await get('/livez')).status, 200, 'alive all the same');

  // Kafka is back: ready again.
  await broker.start();
  let back = notReady;
  const restartedAt = Date.now();
  while (back.status !== 200 && Date.now() - restartedAt < 60_000) {
    await new Promise((r) => setTimeout(r, 250));
    back = await get('/readyz');
  }
  assert.equal(back.status, 200, JSON.stringify(back.body));
  assert.equal(((await get('/status')).body as { ready: { ok: boolean } }).ready.ok, true);
  bridge.proc.kill('SIGTERM');
  assert.equal((await bridge.exited).code, 0, bridge.stderr().slice(-1500));
});

test('the default --metrics-host is loopback only', async (t) => {
  const address = ownAddress(t);
  if (address === undefined) return;
  const topics = testTopics((fn) => t.after(fn));
  const mock = await startMockServer({ port: 0, rate: 100 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--brokers', broker.bootstrap, '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  await waitFor(() => /subscribed; streaming/.test(bridge.stderr()), 30_000, 'streaming');
  assert.equal((await fetch(`http://127.0.0.1:${port}/livez`)).status, 200);
  await assert.rejects(fetch(`http://${address}:${port}/livez`));
  bridge.proc.kill('SIGTERM');
  await bridge.exited;
});
