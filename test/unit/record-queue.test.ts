// The memory queue's ring: taking a range from behind the batch in flight keeps everything in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordQueue, type OutRecord } from '../../src/sink/record-queue.ts';

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
