// Micro benchmark: the byte scanner against JSON.parse + JSON.stringify per event, on frames of
// 100 trade events (~120 bytes each). Usage: node bench/split.ts [frames per round] [rounds]
// Each approach runs once to warm up, then `rounds` times; the rate is per second of the process's
// CPU time (steadier than wall time on a machine shared with other work): best and median round.
import { Slices, splitFrame } from '../src/split/split.ts';
import { evCode } from '../src/route/route.ts';

const FRAMES = Number(process.argv[2] ?? 20_000);
const ROUNDS = Number(process.argv[3] ?? 5);
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

const fmt = (rate: number) => Math.round(rate).toLocaleString('en-US');
for (const [name, fn] of [['byte scanner (split + subarray views)', scanner], ['JSON.parse + JSON.stringify per event', parseStringify]] as const) {
  fn(); // warm up
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    fn();
    const used = process.cpuUsage(before);
    rates.push((FRAMES * 100) / ((used.user + used.system) / 1e6));
  }
  rates.sort((a, b) => a - b);
  console.log(`${name}: ${fmt(rates[rates.length - 1]!)} events/s on one core (best of ${ROUNDS}; median ${fmt(rates[Math.floor(rates.length / 2)]!)})`);
}
