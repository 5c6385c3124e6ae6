// The spool on a real directory: order, acknowledgement, segment deletion, limits, crash recovery.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, statSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
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

// Write errors, with real failing files rather than a fake file system: a directory where a file
// is expected (EISDIR), /dev/full (every write: ENOSPC) and /dev/null (fdatasync: EINVAL). A disk
// that fills up, cuts a write short and gets room again is in test/integration/spool-disk-full.test.ts.
const segName = (id: number) => `${String(id).padStart(20, '0')}.seg`;
const onDisk = (dir: string) => segments(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

test('a new segment that cannot be created: append returns what fit in the current one, nothing partial; once it can, appending goes on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir);
  assert.equal(spool.append(range(0, 40).map(rec)), 40);
  assert.equal(segments(dir).length, 1);
  mkdirSync(join(dir, segName(2))); // openSync(…, 'w+') of the next segment: EISDIR
  let written = 0;
  assert.doesNotThrow(() => (written = spool.append(range(40, 200).map(rec))));
  assert.ok(written > 0 && written < 160, `wrote ${written}`);
  assert.equal(spool.writeError?.code, 'EISDIR');
  assert.equal(spool.writeError.op, 'roll');
  assert.ok(spool.writeError.at > 0 && spool.writeError.message.length > 0);
  assert.equal(spool.writeErrors, 1);
  assert.equal(spool.failing, true);
  assert.equal(spool.full, false, 'full is about the byte limit only');
  assert.equal(spool.size, 40 + written);
  assert.equal(statSync(join(dir, segName(1))).size, spool.bytes, 'the segment holds exactly the records counted');
  assert.equal(spool.append([rec(40 + written)]), 0, 'still no new segment');
  assert.equal(spool.writeErrors, 2);
  rmdirSync(join(dir, segName(2)));
  assert.equal(spool.append(range(40 + written, 200).map(rec)), 160 - written);
  assert.equal(spool.writeError, undefined, 'cleared by the append that succeeded');
  assert.equal(spool.failing, false);
  assert.equal(spool.writeErrors, 2);
  assert.equal(onDisk(dir), spool.bytes);
  assert.deepEqual(spool.read(1 << 20).map(q), range(0, 200));
  spool.close();
  const again = open(dir);
  assert.equal(again.recovery.records, 200);
  assert.deepEqual(again.recovery.cut, []);
  assert.deepEqual(again.spool.read(1 << 20).map(q), range(0, 200));
  again.spool.close();
});

test('a segment whose writes fail (ENOSPC): append returns 0 and counts nothing; the records before it are still read and acknowledged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir);
  assert.equal(spool.append(range(0, 60).map(rec)), 60);
  const before = { size: spool.size, bytes: spool.bytes, unread: spool.unread };
  symlinkSync('/dev/full', join(dir, segName(2))); // the next segment: every write is ENOSPC
  let written = -1;
  assert.doesNotThrow(() => (written = spool.append(range(60, 200).map(rec))));
  assert.ok(written >= 0 && written < 140, `wrote ${written}`);
  assert.equal(spool.writeError?.code, 'ENOSPC');
  assert.equal(spool.writeError.op, 'append');
  assert.equal(spool.writeErrors, 1);
  assert.equal(spool.size, before.size + written);
  assert.equal(spool.unread, before.unread + written);
  assert.equal(onDisk(dir), spool.bytes, 'nothing counted that is not in a segment');
  assert.equal(spool.append([rec(1000)]), 0);
  assert.equal(spool.writeErrors, 2);
  assert.equal(spool.append([]), 0);
  assert.equal(spool.writeErrors, 2, 'an empty append writes nothing, so nothing fails');
  assert.ok(spool.failing, 'and does not clear the error');
  const got = spool.read(1 << 20).map(q);
  assert.deepEqual(got, range(0, 60 + written));
  spool.ack(got.length);
  assert.equal(spool.size, 0);
  assert.equal(spool.bytes, 0);
  assert.deepEqual(segments(dir), [segName(2)], 'the acknowledged segment was deleted');
  assert.ok(spool.failing, 'an ack does not clear an append error');
  unlinkSync(join(dir, segName(2)));
  spool.close();
});

test('an acked position that cannot be written: ack does not throw, the error is recorded, the next ack writes it; a restart replays from the last position written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir, { segmentBytes: 1 << 20 });
  spool.append(range(0, 100).map(rec));
  spool.read(1 << 20);
  spool.ack(10);
  const acked = join(dir, 'acked');
  spool.close();
  const b = open(dir, { segmentBytes: 1 << 20 }).spool;
  unlinkSync(acked);
  mkdirSync(acked); // neither r+ nor w+ opens a directory
  b.read(1 << 20);
  assert.doesNotThrow(() => b.ack(20));
  assert.equal(b.writeError?.code, 'EISDIR');
  assert.equal(b.writeError.op, 'ack');
  assert.equal(b.writeErrors, 1);
  assert.equal(b.size, 70, 'the acknowledgement itself counts');
  assert.equal(b.append([rec(100)]), 1, 'appending is not affected');
  assert.equal(b.failing, false, 'an append that succeeded clears the error');
  b.ack(5);
  assert.equal(b.writeError?.op, 'ack');
  rmdirSync(acked);
  b.ack(5);
  assert.equal(b.writeError, undefined, 'the next ack that is written clears it');
  assert.equal(b.writeErrors, 2);
  b.close();
  const c = open(dir, { segmentBytes: 1 << 20 });
  assert.deepEqual(c.spool.read(1 << 20).map(q), [...range(40, 100), 100]);
  c.spool.close();
});

test('fdatasync failures are recorded, not thrown; the append around them still counts what it wrote', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  symlinkSync('/dev/null', join(dir, segName(1))); // writes vanish, fdatasync: EINVAL
  const { spool } = open(dir, { fsync: 'always' });
  let written = 0;
  assert.doesNotThrow(() => (written = spool.append(range(0, 10).map(rec))));
  assert.equal(written, 10);
  assert.equal(spool.writeError?.code, 'EINVAL');
  assert.equal(spool.writeError.op, 'fsync');
  assert.equal(spool.writeErrors, 1);
  assert.doesNotThrow(() => spool.close());
  unlinkSync(join(dir, segName(1)));

  // A roll syncs the segment it leaves: that fails, and the append goes on into the new one.
  symlinkSync('/dev/null', join(dir, segName(1)));
  const b = open(dir, { fsync: 'never' }).spool;
  assert.equal(b.append(range(0, 200).map(rec)), 200);
  assert.ok(segments(dir).length > 1);
  assert.equal(b.writeError?.op, 'fsync', 'not cleared by an append during which an fsync failed');
  assert.equal(b.writeErrors, 1);
  assert.equal(b.append([rec(200)]), 1);
  assert.equal(b.writeError, undefined, 'cleared by the next append');
  assert.doesNotThrow(() => b.close());
  unlinkSync(join(dir, segName(1)));
});

test('records read stay intact after later reads: several batches may be in flight, and a record may be parked or held long after it was read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const { spool } = open(dir);
  spool.append(range(0, 600).map(rec));
  const batches = [spool.read(2000), spool.read(2000), spool.read(2000)];
  const copies = batches.map((b) => b.map((r) => Buffer.from(r.value)));
  // More reads after those (the batches not acknowledged yet).
  while (spool.unread > 0) spool.read(2000);
  batches.forEach((b, k) => b.forEach((r, i) => assert.ok(r.value.equals(copies[k]![i]!), `batch ${k}, record ${i}: its bytes changed under it`)));
  assert.deepEqual(batches.flat().map(q), range(0, batches.flat().length));
  spool.close();
});
