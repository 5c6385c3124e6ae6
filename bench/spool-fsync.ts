// The spool's write cost under each --spool-fsync policy: frames of 100 trade events (~130 bytes)
// appended as fast as possible for a few seconds, as `run --durability disk` does (one append per
// event-loop turn). Reports events/s and the time one append call takes (p50, p99, max).
// Usage: node bench/spool-fsync.ts [seconds] [dir]   (dir: a directory on the disk to measure)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SpoolRecord } from '../src/spool/codec.ts';
import { Spool, type FsyncPolicy } from '../src/spool/spool.ts';

const SECONDS = Number(process.argv[2] ?? 5);
const BASE = process.argv[3] ?? tmpdir();

const frame: SpoolRecord[] = Array.from({ length: 100 }, (_, i) => ({
  topic: 'trades',
  key: Buffer.from(`S${i}X`),
  value: Buffer.from(`{"ev":"T","sym":"S${i}X","i":"${52983525029461 + i}","x":4,"p":114.12,"s":100,"c":[14,41],"t":1651684192462,"q":${4009402 + i},"z":3}`),
  headers: [],
  receivedAt: Date.now(),
}));

async function measure(fsync: FsyncPolicy, intervalMs: number): Promise<void> {
  const dir = mkdtempSync(join(BASE, 'spool-bench-'));
  const { spool } = Spool.open({ dir, segmentBytes: 64 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 * 1024, fsync, fsyncIntervalMs: intervalMs });
  const times: number[] = [];
  let events = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    events += spool.append(frame);
    times.push(performance.now() - t0);
    // Let the interval timer run, as the event loop would between frames.
    if (times.length % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  spool.close();
  rmSync(dir, { recursive: true, force: true });
  times.sort((a, b) => a - b);
  const p = (x: number) => times[Math.min(times.length - 1, Math.floor(x * times.length))]!.toFixed(3);
  const label = fsync === 'interval' ? `interval ${intervalMs} ms` : fsync;
  console.log(`| ${label} | ${Math.round(events / SECONDS).toLocaleString('en-US')} | ${p(0.5)} | ${p(0.99)} | ${times.at(-1)!.toFixed(1)} |`);
}

console.log(`spool append, frames of 100 events, ${SECONDS} s each, in ${BASE}`);
console.log('| --spool-fsync | events/s | append p50 ms | append p99 ms | append max ms |');
console.log('|---|---|---|---|---|');
await measure('never', 0);
for (const ms of [10, 100, 1000]) await measure('interval', ms);
await measure('always', 0);
