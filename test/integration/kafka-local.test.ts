// `ws2kafka kafka start|stop|status` on ports of its own, so it never touches the suite's broker.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ws2kafkaHome } from '../../src/kafka-local/home.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const PORT = 19092;

async function kafka(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(process.execPath, [cli, 'kafka', ...args, '--port', String(PORT)], { timeout: 180_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('start twice, status, stop: one broker, then no process left', async (t) => {
  t.after(() => kafka('stop', '--clean'));
  const first = await kafka('start');
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /started: Apache Kafka 4\.\d+\.\d+ \(pid \d+\) at 127\.0\.0\.1:19092/);
  const pidText = await readFile(`${ws2kafkaHome()}/broker-${PORT}/broker.pid`, 'utf8');
  const pid = Number(pidText.split(' ')[0]);
  assert.ok(alive(pid));

  const second = await kafka('start');
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, new RegExp(`already running: .*\\(pid ${pid}\\).*nothing to do`));

  const status = await kafka('status');
  assert.equal(status.code, 0);
  assert.match(status.out, new RegExp(`running: Apache Kafka .*\\(pid ${pid}\\) at 127\\.0\\.0\\.1:${PORT}`));

  const stop = await kafka('stop');
  assert.equal(stop.code, 0, stop.out);
  assert.match(stop.out, /stopped the broker/);
  assert.equal(alive(pid), false, 'the broker process is gone');

  const after = await kafka('status');
  assert.equal(after.code, 3);
  assert.match(after.out, /not running/);
});

test('a port held by another program is named, and nothing starts', async (t) => {
  const server = createServer((socket) => socket.resume()); // reads, never answers Kafka
  await new Promise<void>((resolve) => server.listen(PORT + 10, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  try {
    await exec(process.execPath, [cli, 'kafka', 'start', '--port', String(PORT + 10)]);
    assert.fail('start should fail');
  } catch (err) {
    const e = err as { code: number; stderr: string };
    assert.equal(e.code, 1);
    assert.match(e.stderr, /127\.0\.0\.1:19102 is taken by a program that is not a Kafka broker.*\[KAFKA_PORT_BUSY\]/);
  }
});
