// The memory queue's ring: taking a range from behind the batch in flight keeps everything in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_BYTES, RECORD_BYTES, RecordQueue, type OutRecord } from '../../src/sink/record-queue.ts';

const rec = (i: number): OutRecord => ({ topic: 't', value: Buffer.from(String(i)) });
const values = (q: RecordQueue) => q.peek(q.size).map((r) => Number(r.value.toString()));

test('takeRange removes the records after the first `keep`, oldest first, across the ring\'s wrap', () => {
  const q = new RecordQueue(10); // 2048 slots
  // Move the head near the end of the ring so the range wraps.
  for (let i = 0; i < 204; i++) {
    for (let k = 0; k < 10; k++) q.push(rec(-1), 0);
    q.shift(10, () => {});
  }
  for (let i = 0; i < 10; i++) q.push(rec(i), i * 10);
  const bytesBefore = q.bytes;
  const taken: Array<[number, number]> = [];
  const n = q.takeRange(3, 4, (r, at) => taken.push([Number(r.value.toString()), at]));
  assert.equal(n, 4);
  assert.deepEqual(taken, [[3, 30], [4, 40], [5, 50], [6, 60]]);
  assert.deepEqual(values(q), [0, 1, 2, 7, 8, 9], 'the kept head (the batch in flight) stays first, then the rest');
  assert.equal(q.size, 6);
  assert.equal(q.bytes, bytesBefore - 4);
  assert.equal(q.oldestTime(), 0);
  const times: number[] = [];
  q.shift(6, (at) => times.push(at));
  assert.deepEqual(times, [0, 10, 20, 70, 80, 90], 'receive times moved with their records');
});

test('takeRange takes no more than there is, and with keep 0 from the head', () => {
  const q = new RecordQueue(10);
  for (let i = 0; i < 5; i++) q.push(rec(i), i);
  assert.equal(q.takeRange(0, 2, () => {}), 2);
  assert.deepEqual(values(q), [2, 3, 4]);
  assert.equal(q.takeRange(1, 100, () => {}), 2);
  assert.deepEqual(values(q), [2]);
  assert.equal(q.takeRange(1, 5, () => {}), 0);
  assert.equal(q.push(rec(9), 9), true);
  assert.deepEqual(values(q), [2, 9]);
});

// --- The byte bound: what the queue keeps alive (frames' buffers once, and the records' objects) ---

/** A frame of `events` events in its own ArrayBuffer of `bytes`, as `ws` hands one over. */
function frame(bytes: number, events: number, key = false): OutRecord[] {
  const buf = Buffer.alloc(bytes); // Buffer.alloc never uses the pool slab: a buffer of its own
  const each = Math.floor(bytes / events);
  return Array.from({ length: events }, (_, e) => ({ topic: 't', value: buf.subarray(e * each, e * each + each), ...(key ? { key: buf.subarray(e * each, e * each + 1) } : {}) }));
}

/** What the records in the queue keep alive, computed from scratch: the model the queue keeps in O(1). */
function alive(q: RecordQueue): number {
  let total = 0;
  let last: ArrayBufferLike | undefined;
  for (const r of q.peek(q.size)) {
    total += RECORD_BYTES + (r.key === undefined ? 0 : KEY_BYTES + (r.key.buffer === r.value.buffer ? 0 : r.key.length));
    if (r.value.buffer !== last) total += r.value.buffer.byteLength;
    last = r.value.buffer;
  }
  return total;
}

test('a frame shared by several records is counted once, with each record\'s objects', () => {
  const q = new RecordQueue(1000);
  for (const r of frame(10_000, 5)) assert.equal(q.push(r, 0), true);
  assert.equal(q.retainedBytes, 10_000 + 5 * RECORD_BYTES);
  for (const r of frame(4_000, 2, true)) q.push(r, 0);
  assert.equal(q.retainedBytes, 10_000 + 5 * RECORD_BYTES + 4_000 + 2 * (RECORD_BYTES + KEY_BYTES));
  // A key outside the frame (an escaped key, decoded): its own bytes count as well.
  const [r] = frame(1_000, 1);
  q.push({ ...r!, key: Buffer.from('AAPL') }, 0);
  assert.equal(q.retainedBytes, alive(q));
  assert.equal(q.capacityBytes, 0, 'no byte bound by default');
  assert.equal(q.full, false);
});

test('the byte bound refuses records once reached; forced records pass; full says which bound', () => {
  const q = new RecordQueue(1000, 50_000);
  assert.equal(q.capacityBytes, 50_000);
  let pushed = 0;
  for (let f = 0; f < 10; f++) for (const r of frame(20_000, 4)) if (q.push(r, 0)) pushed++;
  // 20,576 bytes per frame: the third frame starts below the bound and goes over by one frame at most.
  assert.equal(pushed, 9);
  assert.equal(q.full, true);
  assert.equal(q.fullBound, 'bytes');
  assert.ok(q.retainedBytes >= 50_000 && q.retainedBytes <= 50_000 + 20_000 + 4 * RECORD_BYTES, `${q.retainedBytes}`);
  const before = q.retainedBytes;
  assert.equal(q.push(frame(100, 1)[0]!, -2, true), true, 'a control record is never refused');
  assert.equal(q.size, 10);
  assert.equal(q.retainedBytes, before + 100 + RECORD_BYTES);
  assert.equal(q.below(0.9), false);
  q.shift(q.size, () => {});
  assert.equal(q.retainedBytes, 0);
  assert.equal(q.full, false);
  assert.equal(q.below(0.9), true);
  const e = new RecordQueue(2, 1 << 30);
  e.push(rec(1), 0);
  e.push(rec(2), 0);
  assert.equal(e.fullBound, 'events');
});

test('retained bytes return to 0 after every removal path: release, shift, takeAfter, takeRange', () => {
  const fill = (q: RecordQueue) => {
    for (let f = 0; f < 6; f++) for (const r of frame(1000 * (f + 1), 3, f % 2 === 0)) q.push(r, f);
  };
  const q = new RecordQueue(100, 1 << 20);
  fill(q);
  q.take(4000);
  q.release(q.taken);
  assert.equal(q.retainedBytes, alive(q), 'a frame cut by release is still counted, on its next record');
  q.shift(q.size, () => {});
  assert.equal(q.retainedBytes, 0, 'release + shift');
  fill(q);
  q.take(2500);
  q.takeAfter(q.taken, () => {});
  assert.equal(q.retainedBytes, alive(q));
  q.takeAfter(0, () => {});
  assert.equal(q.retainedBytes, 0, 'takeAfter');
  fill(q);
  q.take(2500);
  q.takeRange(q.taken, 4, () => {});
  assert.equal(q.retainedBytes, alive(q));
  q.takeRange(0, q.size, () => {});
  assert.equal(q.retainedBytes, 0, 'takeRange');
  assert.equal(q.size, 0);
});

test('the accounting matches the records alive through random pushes and removals, across growth and wrap', () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const q = new RecordQueue(8, 200_000); // 2048 slots at first: grows past them
  let shared: OutRecord[] = [];
  for (let step = 0; step < 5000; step++) {
    const op = rand(10);
    if (op < 5) {
      // A frame of 1 to 6 events, sometimes continuing the last buffer (a socket read shared by frames).
      const records = rand(4) === 0 && shared.length > 0 ? shared.splice(0, 1 + rand(2)) : frame(100 + rand(5000), 1 + rand(6), rand(2) === 0);
      if (records.length > 0 && rand(3) === 0) shared = frame(8192, 6);
      for (const r of records) q.push(r, step, rand(20) === 0);
    } else if (op === 5) {
      q.take(1 + rand(3000));
    } else if (op === 6 && q.taken > 0) {
      q.release(1 + rand(q.taken));
    } else if (op === 7 && q.taken === 0 && q.size > 0) {
      q.shift(1 + rand(q.size), () => {});
    } else if (op === 8) {
      q.takeAfter(rand(5) === 0 ? 0 : q.taken, () => {});
    } else if (op === 9) {
      q.takeRange(q.taken, 1 + rand(10), () => {});
    }
    assert.equal(q.retainedBytes, alive(q), `step ${step} (op ${op})`);
  }
  q.takeAfter(0, () => {});
  assert.equal(q.retainedBytes, 0);
});

test('countToFree: enough records after those kept to go below a fraction of both bounds', () => {
  const q = new RecordQueue(1000, 100_000);
  for (let f = 0; f < 12; f++) for (const r of frame(10_000, 2)) q.push(r, 0);
  assert.equal(q.fullBound, 'bytes');
  const n = q.countToFree(2, 0.9);
  let freed = 0;
  const before = q.retainedBytes;
  q.takeRange(2, n, () => {});
  freed = before - q.retainedBytes;
  assert.ok(q.retainedBytes < 90_000, `${q.retainedBytes} after removing ${n} (${freed} freed)`);
  assert.equal(q.countToFree(0, 0.9) >= 1, true, 'at least one');
});
