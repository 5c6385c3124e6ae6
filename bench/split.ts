// Micro benchmark: the byte scanner against JSON.parse + JSON.stringify per event, on frames of
// 100 trade events (~130 bytes each). Usage: node bench/split.ts [frames]
import { Slices, splitFrame } from '../src/split/split.ts';
import { evCode } from '../src/route/route.ts';

const FRAMES = Number(process.argv[2] ?? 20_000);
const frames: Buffer[] = [];
for (let f = 0; f < 200; f++) {
  const events = [];
  for (let i = 0; i < 100; i++) {
    const q = f * 100 + i;
    events.push(`{"ev":"T","sym":"S${q % 500}X","i":"${52983525029461 + q}","x":${q % 19},"p":${(100 + (q % 1000) / 100).toFixed(2)},"s":${100 * ((q % 9) + 1)},"c":[14,41],"t":${1651684192462 + q},"q":${4009402 + q},"z":3}`);
  }
  frames.push(Buffer.from(`[${events.join(',')}]`));
}

function scanner(): number {
  const s = new Slices(1000);
  let sink = 0;
  for (let n = 0; n < FRAMES; n++) {
    const frame = frames[n % frames.length]!;
    splitFrame(frame, s);
    for (let e = 0; e < s.count; e++) {
      const value = frame.subarray(s.start[e], s.end[e]);
      const key = frame.subarray(s.keyStart[e], s.keyEnd[e]);
      sink += evCode(frame, s.evStart[e]!, s.evEnd[e]!) + value.length + key.length;
    }
  }
  return sink;
}

function parseStringify(): number {
  let sink = 0;
  for (let n = 0; n < FRAMES; n++) {
    const events = JSON.parse(frames[n % frames.length]!.toString()) as Array<{ ev: string; sym: string }>;
    for (const e of events) {
      const value = Buffer.from(JSON.stringify(e));
      const key = Buffer.from(e.sym);
      sink += e.ev.length + value.length + key.length;
    }
  }
  return sink;
}

for (const [name, fn] of [['byte scanner (split + subarray views)', scanner], ['JSON.parse + JSON.stringify per event', parseStringify]] as const) {
  fn(); // warm up
  const t0 = process.hrtime.bigint();
  fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name}: ${Math.round((FRAMES * 100) / s).toLocaleString('en-US')} events/s on one core`);
}
