// The tail/hole/cut classification of missing events, and gap record parsing: pure, no Kafka.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QBitmap } from '../../src/mock/bitmap.ts';
import { classifyMissing, closedInGap, GAP_TOLERANCE_MS, parseGapRecord, type GapWindow, type SentConnection } from '../../src/verify/gaps.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function conn(id: number, closedAt: number | null, qs: number[]): SentConnection {
  const bitmap = new QBitmap(qs[0] ?? 1);
  for (const q of qs) bitmap.set(q);
  return { id, closedAt, base: bitmap.base, bits: bitmap.toBytes() };
}

/** Every q in 1..lastQ expected unless listed in `not`. */
function expectedUpTo(lastQ: number, not: number[] = []): Uint8Array {
  const e = new Uint8Array(lastQ + 1);
  for (let q = 1; q <= lastQ; q++) e[q] = not.includes(q) ? 0 : 1;
  return e;
}

const delivered = (qs: number[]) => new Set(qs);

// The first connection ends at t=10_000 (SIGKILL); the restarted bridge's gap is 9_800..12_000.
const gap: GapWindow[] = [{ from: 9_800, to: 12_000 }];

test('a tail on a connection that closed inside a gap is cut, not lost', () => {
  const a = conn(1, 10_000, range(1, 100));
  const b = conn(2, null, range(150, 200));
  const got = delivered([...range(1, 80), ...range(150, 200)]);
  // 101..149 were sent to no connection (the bridge was away): not expected, neither lost nor cut.
  const r = classifyMissing([a, b], expectedUpTo(200, range(101, 149)), got, gap);
  assert.deepEqual([r.lost, r.cut, r.coveredConnections], [0, 20, 1]);
  assert.deepEqual(r.cutSample, range(81, 90));
  assert.deepEqual(r.lostSample, []);
  // Expected yet sent to no connection (the mock's stats never say so): lost, never cut.
  const r2 = classifyMissing([a, b], expectedUpTo(200), got, gap);
  assert.deepEqual([r2.lost, r2.cut], [49, 20]);
});

test('a hole below the last delivered q stays lost, even on a covered connection', () => {
  const a = conn(1, 10_000, range(1, 100));
  const got = delivered(range(1, 80).filter((q) => q !== 40 && q !== 41));
  const r = classifyMissing([a], expectedUpTo(100), got, gap);
  assert.deepEqual([r.lost, r.cut], [2, 20]);
  assert.deepEqual(r.lostSample, [40, 41]);
  assert.equal(r.cutSample[0], 81);
});

test('a tail with no covering gap is lost', () => {
  const a = conn(1, 10_000, range(1, 100));
  const got = delivered(range(1, 80));
  const far: GapWindow[] = [{ from: 20_000, to: 21_000 }];
  const r = classifyMissing([a], expectedUpTo(100), got, far);
  assert.deepEqual([r.lost, r.cut, r.coveredConnections], [20, 0, 0]);
  assert.deepEqual(r.lostSample, range(81, 90));
  // No gap records at all: the same.
  const none = classifyMissing([a], expectedUpTo(100), got, []);
  assert.deepEqual([none.lost, none.cut], [20, 0]);
});

test('a tail on a connection still open is lost', () => {
  const a = conn(1, null, range(1, 100));
  const r = classifyMissing([a], expectedUpTo(100), delivered(range(1, 80)), [{ from: 0, to: Number.MAX_SAFE_INTEGER }]);
  assert.deepEqual([r.lost, r.cut, r.coveredConnections], [20, 0, 0]);
});

test('without gap windows everything missing is lost, as before', () => {
  const a = conn(1, 10_000, range(1, 100));
  const r = classifyMissing([a], expectedUpTo(100), delivered(range(1, 80).filter((q) => q !== 5)), undefined);
  assert.deepEqual([r.lost, r.cut, r.coveredConnections], [21, 0, 0]);
  assert.deepEqual(r.lostSample, [5, ...range(81, 89)]);
  assert.deepEqual(r.cutSample, []);
});

test('a covered connection with nothing delivered: its whole stream is the tail', () => {
  const a = conn(1, 10_000, range(1, 30));
  const r = classifyMissing([a], expectedUpTo(30), delivered([]), gap);
  assert.deepEqual([r.lost, r.cut], [0, 30]);
});

test('events not expected (not routed) neither count nor move L', () => {
  // q 90..100 not routed; 81..89 missing; L is 80 even though 95 was "delivered" elsewhere.
  const a = conn(1, 10_000, range(1, 100));
  const r = classifyMissing([a], expectedUpTo(100, range(90, 100)), delivered([...range(1, 80), 95]), gap);
  assert.deepEqual([r.lost, r.cut], [0, 9]);
});

test('a q sent to two connections is cut only if no connection needed it', () => {
  // Both connections were sent 51..60; a's tail starts at 51 (covered), b delivered past them.
  const a = conn(1, 10_000, range(1, 60));
  const b = conn(2, null, range(51, 100));
  const got = delivered([...range(1, 50), ...range(61, 100)]);
  const r = classifyMissing([a, b], expectedUpTo(100), got, gap);
  assert.deepEqual([r.lost, r.cut], [10, 0]);
  // The same, connection order reversed.
  const r2 = classifyMissing([b, a], expectedUpTo(100), got, gap);
  assert.deepEqual([r2.lost, r2.cut], [10, 0]);
  // Both tails covered: cut.
  const b2 = conn(2, 11_000, range(51, 100));
  const r3 = classifyMissing([a, b2], expectedUpTo(100), delivered(range(1, 50)), gap);
  assert.deepEqual([r3.lost, r3.cut, r3.coveredConnections], [0, 50, 2]);
});

test('the close may fall up to GAP_TOLERANCE_MS outside the window', () => {
  assert.equal(GAP_TOLERANCE_MS, 1000);
  const w: GapWindow[] = [{ from: 10_000, to: 12_000 }];
  assert.equal(closedInGap(9_000, w), true);
  assert.equal(closedInGap(8_999, w), false);
  assert.equal(closedInGap(13_000, w), true);
  assert.equal(closedInGap(13_001, w), false);
  assert.equal(closedInGap(11_000, w), true);
  assert.equal(closedInGap(null, w), false);
  assert.equal(closedInGap(9_500, w, 0), false);
  const a = conn(1, 8_999, range(1, 10));
  assert.equal(classifyMissing([a], expectedUpTo(10), delivered(range(1, 5)), w).cut, 0);
  const b = conn(1, 9_000, range(1, 10));
  assert.equal(classifyMissing([b], expectedUpTo(10), delivered(range(1, 5)), w).cut, 5);
});

test('gap records: the window, or undefined when unreadable', () => {
  const g = {
    type: 'gap',
    connection_id: 'c1',
    resumed_connection_id: 'c2',
    from: 1_700_000_000_000,
    to: 1_700_000_002_500,
    from_iso: '2023-11-14T22:13:20.000Z',
    to_iso: '2023-11-14T22:13:22.500Z',
    duration_ms: 2500,
    reason: 'closed 1006',
    reconnect_attempts: 1,
    subscriptions: 'T.*,AM.*',
    url: 'ws://127.0.0.1:8081/mock',
  };
  const b = (x: unknown) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x));
  assert.deepEqual(parseGapRecord(b(g)), { from: g.from, to: g.to });
  assert.deepEqual(parseGapRecord(b({ ...g, resumed_connection_id: null })), { from: g.from, to: g.to });
  assert.equal(parseGapRecord(undefined), undefined);
  assert.equal(parseGapRecord(Buffer.alloc(0)), undefined);
  assert.equal(parseGapRecord(b('{"type":"gap","from":1')), undefined);
  assert.equal(parseGapRecord(b([g])), undefined);
  assert.equal(parseGapRecord(b({ ...g, type: 'status' })), undefined);
  assert.equal(parseGapRecord(b({ ...g, from: String(g.from) })), undefined);
  assert.equal(parseGapRecord(b({ ...g, to: undefined })), undefined);
  assert.equal(parseGapRecord(b({ ...g, from: g.to + 1 })), undefined);
});
