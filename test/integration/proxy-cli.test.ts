// `ws2kafka proxy` as a process: prints its URL, serves clients from the mock upstream, stops on
// SIGTERM with exit 0; no key on stdout or stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

test('ws2kafka proxy --upstream MOCK --port 0: serves clients, stops cleanly on SIGTERM', async (t) => {
  const mock = await startMockServer({ port: 0, rate: 500, apiKeys: ['upstream-secret'] });
  t.after(() => mock.close());
  const child = spawn(process.execPath, [cli, 'proxy', '--upstream', mock.url, '--port', '0', '--client-keys', 'local-secret'], {
    env: { ...process.env, POLYGON_API_KEY: 'upstream-secret' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!/proxy at (ws:\S+)/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const url = /proxy at (ws:\S+)/.exec(stdout)?.[1];
  assert.ok(url, `printed its URL: ${stdout} ${stderr}`);
  assert.match(url, /\/proxy$/);
  const c = await ProbeClient.connect(url);
  t.after(() => c.close());
  c.auth('local-secret');
  c.subscribe('T.*,Q.*');
  await c.until(() => c.eventCount > 20, 10_000, 'events through the proxy process');
  assert.ok(c.events.every((e) => e['ev'] === 'T' || e['ev'] === 'Q'));
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  assert.ok(!stdout.includes('secret') && !stderr.includes('secret'), 'no key in the output');
  assert.match(stderr, /upstream subscriptions changed/);
});
