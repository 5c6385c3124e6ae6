// --replay: frames from a file sent byte for byte, in order or randomized, once or looped.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProbeClient } from '../../src/feed/probe-client.ts';
import { startMockServer } from '../../src/mock/server.ts';

// Odd on purpose: unicode, escapes, spacing the mock must not touch, a non-JSON line, an object.
const LINES = [
  '[{"ev":"T","sym":"AAPL","p":161.87,"s":300,"t":1651684192462,"q":4009402}]',
  '[ {"ev":"Q", "sym":"MSFT","bp":114.125 ,"n":"é\\"ü"} ,{"ev":"T","sym":"MSFT","big":9007199254740993}]',
  'not json, sent anyway',
  '{"ev":"T","sym":"X"}',
  '[{"ev":"XT","pair":"BTC-USD","p":33021.9,"c":[2],"x":"ünïcødé ✓"}]',
  ...Array.from({ length: 45 }, (_, i) => `[{"ev":"T","sym":"S${i}","q":${i + 10}}]`),
];

async function replayFile(t: { after: (fn: () => Promise<void>) => void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-replay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'frames.jsonl');
  await writeFile(file, text);
  return file;
}

function dataFrames(c: ProbeClient): string[] {
  return c.frames.filter((f) => !f.startsWith('[{"ev":"status"'));
}

test('replay sends every line once, in order, byte for byte (CRLF and blank lines tolerated)', async (t) => {
  const file = await replayFile(t, LINES.slice(0, 3).join('\r\n') + '\n\n' + LINES.slice(3).join('\n') + '\n');
  const m = await startMockServer({ port: 0, replay: file, rate: 2000 });
  t.after(() => m.close());
  const c = await ProbeClient.connect(m.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.AAPL'); // replay goes to every subscribed client whatever the frames contain
  await m.stopped;
  await c.until(() => dataFrames(c).length === LINES.length, 10_000, 'every line');
  assert.deepEqual(dataFrames(c), LINES);
  const s = m.stats();
  assert.equal(s.mode, 'replay');
  assert.equal(s.timeline.frames, LINES.length);
  assert.equal(s.connections[0]?.frames, LINES.length);
});

test('--randomize sends each line once per pass in a shuffled order; --loop starts again', async (t) => {
  const file = await replayFile(t, LINES.join('\n'));
  const m = await startMockServer({ port: 0, replay: file, rate: 5000, randomize: true, loop: true, events: LINES.length * 2 });
  t.after(() => m.close());
  const c = await ProbeClient.connect(m.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.*');
  await m.stopped;
  await c.until(() => dataFrames(c).length === LINES.length * 2, 10_000, 'two passes');
  const frames = dataFrames(c);
  const pass1 = frames.slice(0, LINES.length);
  const pass2 = frames.slice(LINES.length);
  assert.deepEqual([...pass1].sort(), [...LINES].sort(), 'pass 1 holds every line once');
  assert.deepEqual([...pass2].sort(), [...LINES].sort(), 'pass 2 holds every line once');
  assert.notDeepEqual(pass1, LINES, 'shuffled');
  assert.notDeepEqual(pass1, pass2, 'shuffled afresh each pass');
});

test('--loop without --randomize repeats the file in order', async (t) => {
  const file = await replayFile(t, LINES.slice(0, 5).join('\n'));
  const m = await startMockServer({ port: 0, replay: file, rate: 5000, loop: true, events: 12 });
  t.after(() => m.close());
  const c = await ProbeClient.connect(m.url);
  t.after(() => c.close());
  c.auth();
  c.subscribe('T.*');
  await m.stopped;
  await c.until(() => dataFrames(c).length === 12, 10_000, '12 frames');
  assert.deepEqual(dataFrames(c), [...LINES.slice(0, 5), ...LINES.slice(0, 5), ...LINES.slice(0, 2)]);
});

test('an unreadable replay file is a clear error', async () => {
  await assert.rejects(startMockServer({ port: 0, replay: '/nonexistent/frames.jsonl' }), { code: 'REPLAY_FILE_UNREADABLE', message: /ENOENT/ });
});
