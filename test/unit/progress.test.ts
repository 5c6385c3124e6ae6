// The throttled progress reporter (src/progress.ts) and verify's reading progress, on a fake clock:
// at most one report per interval, the text computed only when shown, plain lines or one line
// rewritten in place on a terminal, and a final line that always shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { count, logProgress, megabytes, Progress, seconds } from '../../src/progress.ts';
import { ReadProgress } from '../../src/verify/read-progress.ts';

function fake(tty: boolean, extra: { intervalMs?: number; prefix?: string; columns?: number } = {}) {
  let now = 1_000_000;
  const out: string[] = [];
  const p = new Progress({ write: (t) => out.push(t), tty, now: () => now, ...extra });
  return { p, out, tick: (ms: number) => (now += ms) };
}

test('plain lines: at most one per interval (2 s by default), the first after one interval, the text computed only when shown', () => {
  const { p, out, tick } = fake(false, { prefix: 'verify: ' });
  let computed = 0;
  const text = () => `step ${++computed}`;
  assert.equal(p.intervalMs, 2000);
  assert.equal(p.update(text), false, 'not at once');
  tick(1999);
  assert.equal(p.update(text), false);
  tick(1);
  assert.equal(p.update(text), true);
  for (let i = 0; i < 100; i++) {
    tick(10);
    p.update(text);
  }
  assert.equal(computed, 1, 'throttled reports cost no text');
  tick(1000);
  assert.equal(p.update(text), true);
  assert.deepEqual(out, ['verify: step 1\n', 'verify: step 2\n']);
  assert.equal(p.shown, 2);
  p.line('a log line');
  p.done('finished');
  assert.deepEqual(out.slice(2), ['verify: a log line\n', 'verify: finished\n']);
});

test('a terminal: one line rewritten in place (1 s by default); a log line or the final line ends it', () => {
  const { p, out, tick } = fake(true, { prefix: 'v: ' });
  assert.equal(p.intervalMs, 1000);
  tick(1000);
  p.update('10%');
  tick(1000);
  p.update('20%');
  assert.deepEqual(out, ['\rv: 10%\u001b[K', '\rv: 20%\u001b[K']);
  p.line('settled');
  assert.deepEqual(out.slice(2), ['\n', 'v: settled\n'], 'the rewritten line is ended before the log line');
  tick(1000);
  p.update('30%');
  p.done('read 100 records');
  assert.deepEqual(out.slice(4), ['\rv: 30%\u001b[K', '\rv: read 100 records\u001b[K\n'], 'the final line replaces the report and stays');
  p.done();
  assert.equal(out.length, 6, 'nothing more to end');
});

test('a terminal: done() without a final line ends an open line; a report wider than the terminal is cut to fit', () => {
  const { p, out, tick } = fake(true, { columns: 12 });
  tick(1000);
  p.update('0123456789abcdef');
  assert.equal(out[0], '\r0123456789a\u001b[K');
  p.done();
  assert.deepEqual(out.slice(1), ['\n']);
});

test('every(): reports from a timer, never more than once per interval, until stop()', async () => {
  const out: string[] = [];
  const p = new Progress({ write: (t) => out.push(t), intervalMs: 30 });
  const started = Date.now();
  let n = 0;
  p.every(() => `tick ${++n}`);
  const deadline = Date.now() + 10_000;
  while (out.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  p.stop();
  const shown = out.length;
  assert.ok(shown >= 3, `reports came: ${shown}`);
  assert.ok(shown <= Math.floor((Date.now() - started) / 30), `throttled: ${shown} in ${Date.now() - started} ms`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(out.length, shown, 'nothing after stop()');
});

test('logProgress: each report one line through a line logger, without its newline', () => {
  let now = 0;
  const lines: string[] = [];
  const p = logProgress((l) => lines.push(l), 5000, () => now);
  now = 5000;
  p.update('waiting for the broker on 127.0.0.1:9092 (5 s)');
  p.done('ready');
  assert.deepEqual(lines, ['waiting for the broker on 127.0.0.1:9092 (5 s)', 'ready']);
});

test('formats: counts with separators, MB as Maven prints them, elapsed seconds', () => {
  assert.equal(count(1234567.4), '1,234,567');
  assert.equal(megabytes(12_345_678), '12.3 MB');
  assert.deepEqual([seconds(999), seconds(5000), seconds(59_999), seconds(185_000)], ['0 s', '5 s', '59 s', '3 min 05 s']);
});

test("verify's ReadProgress: records per topic against the end offsets, the percentage, the recent rate; a final line with the average", () => {
  let now = 0;
  const out: string[] = [];
  // An interval never reached: only the lines asked for here, and the final one, are made.
  const progress = new Progress({ write: (t) => out.push(t), now: () => now, intervalMs: 1e9 });
  const r = new ReadProgress(progress, ['trades', 'aggregates'], () => now);
  r.ends(new Map([['trades', 3000n], ['aggregates', 1000n]]));
  for (let i = 0; i < 1500; i++) r.record('trades');
  for (let i = 0; i < 500; i++) r.record('aggregates');
  now = 2000;
  assert.equal(r.line(), 'reading trades 1,500/3,000, aggregates 500/1,000 (50%), 1,000 records/s, 2 s');
  for (let i = 0; i < 1000; i++) r.record('trades');
  now = 2250;
  assert.equal(r.line(), 'reading trades 2,500/3,000, aggregates 500/1,000 (75%), 4,000 records/s, 2 s', 'the rate since the previous report');
  for (let i = 0; i < 500; i++) r.record('trades');
  for (let i = 0; i < 500; i++) r.record('aggregates');
  now = 2500;
  r.finish();
  assert.deepEqual(out, ['read 4,000 records (trades 3,000, aggregates 1,000) in 2.5 s, 1,600 records/s\n']);
  const empty = new ReadProgress(progress, ['none'], () => now);
  assert.equal(empty.line(), 'reading none 0/0, 0 records/s, 0 s', 'no percentage without end offsets');
});

test("verify's ReadProgress offers a report every 1024 records (a consumer stream can starve timers)", () => {
  let now = 0;
  const out: string[] = [];
  const progress = new Progress({ write: (t) => out.push(t), now: () => now, intervalMs: 1000 });
  const r = new ReadProgress(progress, ['t'], () => now);
  r.ends(new Map([['t', 4096n]]));
  now = 5000;
  for (let i = 0; i < 1023; i++) r.record('t');
  assert.equal(out.length, 0);
  r.record('t');
  assert.deepEqual(out, ['reading t 1,024/4,096 (25%), 205 records/s, 5 s\n']);
  for (let i = 0; i < 1024; i++) r.record('t');
  assert.equal(out.length, 1, 'still throttled by the Progress');
});
