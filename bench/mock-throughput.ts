// Mock feed throughput to one receive-only client: starts `ws2kafka mock` as its own process (as a
// user would), connects one client that subscribes to everything and only counts, and measures the
// events received per second over a window after a warm-up.
//
//   node bench/mock-throughput.ts [--rate 200000] [--batch 100] [--seconds 10] [--warmup 2] [--runs 3]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const cli = fileURLToPath(new URL('../bin/ws2kafka.js', import.meta.url));
const EVENT = Buffer.from('{"ev":');

/** CPU seconds (user + system) the process has used, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function countEvents(frame: Buffer): number {
  let n = 0;
  let i = frame.indexOf(EVENT);
  while (i >= 0) {
    n++;
    i = frame.indexOf(EVENT, i + 6);
  }
  return n;
}

async function once1(): Promise<{ eventsPerS: number; mbPerS: number; cpuMock: number; skipped: number }> {
  const child = spawn(process.execPath, [cli, 'mock', '--port', '0', '--rate', String(rate), '--batch', values.batch], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const url = /at (ws:\S+)/.exec(line.toString())?.[1];
  const statsUrl = /stats at (\S+)/.exec(line.toString())?.[1];
  if (url === undefined || statsUrl === undefined) throw new Error(`unexpected mock output: ${line.toString()}`);
  const ws = new WebSocket(url);
  let events = 0;
  let bytes = 0;
  ws.on('message', (data: Buffer) => {
    events += countEvents(data);
    bytes += data.length;
  });
  await once(ws, 'open');
  ws.send('{"action":"auth","params":"bench"}');
  ws.send('{"action":"subscribe","params":"T.*,Q.*,A.*,AM.*,XT.*"}');
  await new Promise((r) => setTimeout(r, warmup * 1000));
  const e0 = events;
  const b0 = bytes;
  const c0 = cpuSeconds(child.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds(child.pid) - c0) / elapsed;
  const e1 = events;
  const b1 = bytes;
  const stats = (await (await fetch(statsUrl)).json()) as { pacing: { skipped: number } };
  ws.close();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
  return { eventsPerS: (e1 - e0) / elapsed, mbPerS: (b1 - b0) / elapsed / 1e6, cpuMock: cpu, skipped: stats.pacing.skipped };
}

for (let i = 0; i < Number(values.runs); i++) {
  const r = await once1();
  process.stdout.write(`run ${i + 1}: --rate ${rate} --batch ${values.batch}: ${Math.round(r.eventsPerS).toLocaleString('en')} events/s received (${r.mbPerS.toFixed(1)} MB/s), mock process CPU ${(r.cpuMock * 100).toFixed(0)}% of one core, gave up ${r.skipped} late events\n`);
}
