// Before the whole suite: when KAFKA_BROKERS is unset, make sure the local broker runs, starting it
// with `ws2kafka kafka start`; afterwards, stop it only if this run started it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../bin/ws2kafka.js', import.meta.url));
let startedHere = false;

async function ws2kafka(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(process.execPath, [cli, ...args], { maxBuffer: 1 << 20 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export async function globalSetup(): Promise<void> {
  if (process.env['KAFKA_BROKERS']) {
    process.stdout.write(`# tests use the Kafka cluster at KAFKA_BROKERS=${process.env['KAFKA_BROKERS']}\n`);
    return;
  }
  const status = await ws2kafka('kafka', 'status');
  if (status.code === 0) {
    process.stdout.write(`# tests use the broker already running: ${status.out.trim()}\n`);
    return;
  }
  const started = await ws2kafka('kafka', 'start');
  if (started.code !== 0) throw new Error(`ws2kafka kafka start failed:\n${started.out}`);
  startedHere = true;
  process.stdout.write(`# ${started.out.trim().split('\n').join('\n# ')}\n`);
}

export async function globalTeardown(): Promise<void> {
  if (!startedHere) return;
  const stopped = await ws2kafka('kafka', 'stop');
  process.stdout.write(`# ${stopped.out.trim().split('\n').join('\n# ')}\n`);
  if (stopped.code !== 0) throw new Error('ws2kafka kafka stop failed');
}
