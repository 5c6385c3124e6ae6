// Rate accuracy (issue #3): within ±2% at 1,000 and 100,000 events/s, measured over 5 s from the
// events' own send times `t` (so the count is what the mock sent in that window), after 0.5 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { startMockServer } from '../../src/mock/server.ts';

const WINDOW_MS = 5000;
const WARMUP_MS = 500;

async function measure(t: { after: (fn: () => Promise<void> | void) => void }, rate: number): Promise<number> {
  const m = await startMockServer({ port: 0, rate });
  t.after(() => m.close());
  const ws = new WebSocket(m.url);
  t.after(() => ws.close());
  let from = 0;
  let inWindow = 0;
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const events = JSON.parse(data.toString()) as { ev: string; t?: number }[];
      for (const e of events) {
        if (e.ev === 'status' || e.t === undefined) continue;
        if (from === 0) from = e.t + WARMUP_MS;
        if (e.t >= from + WINDOW_MS) {
          resolve();
          return;
        }
        if (e.t >= from) inWindow++;
      }
    });
  });
  ws.on('open', () => {
    ws.send('{"action":"auth","params":"k"}');
    ws.send('{"action":"subscribe","params":"T.*,Q.*,A.*,AM.*,XT.*"}');
  });
  await done;
  assert.equal(m.stats().pacing.skipped, 0, 'the mock never fell a second behind');
  return (inWindow * 1000) / WINDOW_MS;
}

for (const rate of [1000, 100_000]) {
  test(`--rate ${rate} is kept within 2% over 5 s`, async (t) => {
    const measured = await measure(t, rate);
    t.diagnostic(`measured ${measured} events/s`);
    assert.ok(Math.abs(measured - rate) <= rate * 0.02, `measured ${measured} events/s, asked ${rate}`);
  });
}
