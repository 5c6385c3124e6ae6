// The reading thread's overflow on disk (src/source/frame-spill.js): batches come back exactly as
// appended, in order, across segment files; read segments are deleted; an emptied spill leaves no
// file; files an earlier process left are removed when a spill is opened.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FrameSpill } from '../../src/source/frame-spill.js';

function batch(first: number, count: number): { data: Uint8Array; lengths: Uint32Array; binary: Uint8Array; times: Float64Array } {
  const frames = Array.from({ length: count }, (_, i) => Buffer.from(`frame ${first + i} ${'p'.repeat((first + i) % 97)}`));
  return {
    data: new Uint8Array(Buffer.concat(frames)),
    lengths: Uint32Array.from(frames, (f) => f.length),
    binary: Uint8Array.from(frames, (_, i) => (first + i) % 7 === 0 ? 1 : 0),
    times: Float64Array.from(frames, (_, i) => 1.7e12 + (first + i) * 0.125),
  };
}

function frames(b: { data: ArrayBuffer | Uint8Array; lengths: Uint32Array }): string[] {
  const bytes = b.data instanceof Uint8Array ? b.data : new Uint8Array(b.data);
  const out: string[] = [];
  let at = 0;
  for (const n of b.lengths) {
    out.push(Buffer.from(bytes.subarray(at, at + n)).toString());
    at += n;
  }
  return out;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ws2k-frame-spill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('batches come back as appended, in order, across segments; read segments are deleted as reading passes them', (t) => {
  const dir = tempDir(t);
  const spill = new FrameSpill(dir, 4096);
  const appended: ReturnType<typeof batch>[] = [];
  for (let i = 0; i < 50; i++) {
    const b = batch(i * 10, 10);
    appended.push(b);
    spill.append(b.data, b.lengths, b.binary, b.times);
  }
  assert.equal(spill.batches, 50);
  const segments = readdirSync(dir).length;
  assert.ok(segments > 3, `${segments} segment files of about 4 KiB`);
  const sizeOf = (b: ReturnType<typeof batch>) => 8 + b.lengths.length * 13 + b.data.byteLength;
  assert.equal(spill.bytes, appended.reduce((n, b) => n + sizeOf(b), 0));
  for (let i = 0; i < 25; i++) {
    const got = spill.next()!;
    assert.deepEqual(frames(got), frames(appended[i]!));
    assert.deepEqual([...got.binary], [...appended[i]!.binary]);
    assert.deepEqual([...got.times], [...appended[i]!.times]);
  }
  assert.ok(readdirSync(dir).length < segments, 'segments read to their end are gone');
  // Appends while reading: order holds.
  const later = batch(500, 3);
  spill.append(later.data, later.lengths, later.binary, later.times);
  for (let i = 25; i < 50; i++) assert.deepEqual(frames(spill.next()!), frames(appended[i]!));
  assert.deepEqual(frames(spill.next()!), frames(later));
  assert.equal(spill.next(), undefined);
  assert.equal(spill.empty, true);
  assert.equal(spill.bytes, 0);
  assert.deepEqual(readdirSync(dir), [], 'an emptied spill leaves no file');
  // And starts again.
  const again = batch(900, 2);
  spill.append(again.data, again.lengths, again.binary, again.times);
  assert.deepEqual(frames(spill.next()!), frames(again));
  spill.close();
});

test('the buffers a batch comes back in are its own (transferable): a later read does not change them', (t) => {
  const spill = new FrameSpill(tempDir(t), 1 << 20);
  const a = batch(0, 5);
  const b = batch(5, 5);
  spill.append(a.data, a.lengths, a.binary, a.times);
  spill.append(b.data, b.lengths, b.binary, b.times);
  const first = spill.next()!;
  const before = frames(first);
  spill.next();
  assert.deepEqual(frames(first), before);
  assert.equal(first.data.byteLength, a.data.byteLength, 'the data buffer holds exactly the batch');
  spill.close();
});

test('files an earlier process left are removed when a spill is opened; other files are not', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'frames-0.bin'), 'stale');
  writeFileSync(join(dir, 'frames-17.bin'), 'stale');
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  const spill = new FrameSpill(dir);
  assert.deepEqual(readdirSync(dir), ['notes.txt']);
  assert.equal(spill.empty, true);
  assert.equal(spill.next(), undefined);
  spill.close();
});

test('close() forgets what waits and removes the files', (t) => {
  const dir = tempDir(t);
  const spill = new FrameSpill(dir, 1024);
  for (let i = 0; i < 10; i++) {
    const b = batch(i, 20);
    spill.append(b.data, b.lengths, b.binary, b.times);
  }
  assert.ok(readdirSync(dir).length > 1);
  spill.close();
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(spill.bytes, 0);
  assert.equal(spill.next(), undefined);
});
