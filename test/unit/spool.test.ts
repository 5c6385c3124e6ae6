// The spool on a real directory: order, acknowledgement, segment deletion, limits, crash recovery.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SpoolRecord } from '../../src/spool/codec.ts';
import { Spool, type SpoolOptions } from '../../src/spool/spool.ts';

const rec = (i: number): SpoolRecord => ({
  topic: 'trades',
  key: Buffer.from(`K${i % 7}`),
  value: Buffer.from(`{"ev":"T","sym":"K${i % 7}","q":${i}}`),
  headers: [],
  receivedAt: 1_700_000_000_000 + i,
});
const q = (r: SpoolRecord) => Number(/"q":(\d+)/.exec(r.value.toString())![1]);
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

function open(dir: string, over: Partial<SpoolOptions> = {}) {
  return Spool.open({ dir, segmentBytes: 4096, maxBytes: 1 << 30, fsync: 'never', fsyncIntervalMs: 100, ...over });
}
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

test('records come back in order across segments; acknowledged segments are deleted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir);
  assert.equal(spool.append(range(0, 1000).map(rec)), 1000);
  assert.ok(segments(dir).length > 5, 'several segments');
  const got: number[] = [];
  for (;;) {
    const batch = spool.read(2000);
    if (batch.length === 0) break;
    got.push(...batch.map(q));
    spool.ack(batch.length);
  }
  assert.deepEqual(got, range(0, 1000));
  assert.equal(spool.size, 0);
  assert.equal(spool.bytes, 0);
  assert.equal(segments(dir).length, 1, 'only the segment being written remains');
  spool.close();
});

test('rewind: a failed send reads the same records again, in order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir);
  spool.append(range(0, 300).map(rec));
  const first = spool.read(3000).map(q);
  spool.ack(10);
  spool.rewind();
  const again = spool.read(1 << 20).map(q);
  assert.deepEqual(again, range(10, 300));
  assert.deepEqual(first.slice(10), again.slice(0, first.length - 10));
  spool.close();
});

test('maxBytes: appends beyond the limit are refused and counted by the caller', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir, { maxBytes: 10_000 });
  const written = spool.append(range(0, 1000).map(rec));
  assert.ok(written > 0 && written < 1000, `wrote ${written}`);
  assert.ok(spool.full || spool.bytes + 60 > 10_000);
  assert.deepEqual(spool.read(1 << 20).map(q), range(0, written), 'what was written is intact');
  spool.close();
});

test('restart: unacknowledged records are replayed, acknowledged ones are not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = open(dir).spool;
  a.append(range(0, 500).map(rec));
  assert.equal(a.read(1 << 20).length, 500);
  a.ack(123);
  a.close();
  const { spool, recovery } = open(dir);
  assert.equal(recovery.records, 500 - 123);
  assert.deepEqual(recovery.cut, []);
  assert.deepEqual(spool.read(1 << 20).map(q), range(123, 500));
  spool.append([rec(500)]);
  assert.deepEqual(spool.read(1 << 20).map(q), [500], 'appending goes on after the replayed records');
  spool.close();
});

test('the acked position is rewritten in place (a shorter position leaves no trailing digits); a garbled one replays from the first segment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = open(dir, { segmentBytes: 1 << 20 }).spool;
  a.append(range(0, 2000).map(rec));
  a.read(1 << 20);
  a.ack(1500);
  a.ack(1);
  a.close();
  const line = readFileSync(join(dir, 'acked'), 'utf8');
  assert.equal(line.length, 41);
  assert.match(line, /^\d+ \d+ +\n$/);
  const b = open(dir, { segmentBytes: 1 << 20 });
  assert.equal(b.recovery.records, 2000 - 1501);
  b.spool.read(1 << 20);
  b.spool.ack(9);
  b.spool.close();
  assert.equal(open(dir, { segmentBytes: 1 << 20 }).recovery.records, 2000 - 1510);
  writeFileSync(join(dir, 'acked'), '12x garbage');
  const c = open(dir, { segmentBytes: 1 << 20 });
  assert.equal(c.recovery.records, 2000, 'an unreadable position replays everything: duplicates, never loss');
  assert.deepEqual(c.spool.read(1 << 20).map(q).slice(0, 3), [0, 1, 2]);
  c.spool.close();
});

test('a segment truncated in the middle of a record: the torn record is cut and reported, the rest replayed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = open(dir, { segmentBytes: 1 << 20 }).spool;
  a.append(range(0, 100).map(rec));
  a.close();
  const [seg] = segments(dir);
  const path = join(dir, seg!);
  const size = statSync(path).size;
  truncateSync(path, size - 7); // a crash in the middle of writing the last record
  const { spool, recovery } = open(dir, { segmentBytes: 1 << 20 });
  assert.equal(recovery.cut.length, 1);
  assert.match(recovery.cut[0]!.problem, /cut after|partial/);
  assert.equal(recovery.records, 99);
  assert.deepEqual(spool.read(1 << 20).map(q), range(0, 99));
  spool.close();
});

test('garbage after the last record is cut and reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = open(dir, { segmentBytes: 1 << 20 }).spool;
  a.append(range(0, 10).map(rec));
  a.close();
  appendFileSync(join(dir, segments(dir)[0]!), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  const { spool, recovery } = open(dir, { segmentBytes: 1 << 20 });
  assert.equal(recovery.cut.length, 1);
  assert.deepEqual(spool.read(1 << 20).map(q), range(0, 10));
  spool.close();
});

test('a record larger than a read chunk and than the batch size (a big dead-lettered frame) is read whole, between small ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir, { segmentBytes: 1 << 20 });
  const big: SpoolRecord = { topic: 'dead', key: undefined, value: Buffer.alloc(300_000, 0x61), headers: [[Buffer.from('ws2kafka.reason'), Buffer.from('not JSON')]], receivedAt: -1 };
  assert.equal(spool.append([rec(1), big, rec(2)]), 3);
  const got: SpoolRecord[] = [];
  for (;;) {
    const batch = spool.read(1000);
    if (batch.length === 0) break;
    got.push(...batch.map((r) => ({ ...r, value: Buffer.from(r.value) })));
    spool.ack(batch.length);
  }
  assert.equal(got.length, 3);
  assert.equal(q(got[0]!), 1);
  assert.ok(got[1]!.value.equals(big.value), 'the big record, byte for byte');
  assert.equal(got[1]!.headers[0]![1].toString(), 'not JSON');
  assert.equal(q(got[2]!), 2);
  spool.close();
});
