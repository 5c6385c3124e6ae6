// The spool on a disk that fills up (a small tmpfs) and on one remounted read-only: append never
// throws, returns how many records it wrote and records the error; nothing partial is left behind;
// once there is room again appending goes on, and a restart recovers exactly what was written and
// not acknowledged. Needs root (mount); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { SpoolRecord } from '../../src/spool/codec.ts';
import { Spool, type SpoolOptions } from '../../src/spool/spool.ts';
import { mountTmpfs } from '../helpers/tmpfs.ts';

const MOUNT_BYTES = 2 * 1024 * 1024;
// Not a multiple of a page, so that the disk runs out in the middle of a write (which is then cut short).
const SEGMENT_BYTES = 300_000;

/** Record i: ~1 KB of bytes that depend on i (not a multiple of a page, so a short write cuts a record). */
const value = (i: number) => {
  const v = Buffer.alloc(997 + (i % 13));
  v.write(`{"ev":"T","q":${i},"pad":"`);
  for (let k = 24; k < v.length - 2; k++) v[k] = 0x61 + ((i + k) % 26);
  v.write('"}', v.length - 2);
  return v;
};
const rec = (i: number): SpoolRecord => ({
  topic: 'trades',
  key: Buffer.from(`K${i % 7}`),
  value: value(i),
  headers: i % 5 === 0 ? [[Buffer.from('h'), Buffer.from(String(i))]] : [],
  receivedAt: 1_700_000_000_000 + i,
});
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
const onDisk = (dir: string) => segments(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
const lastError = (s: Spool) => s.writeError;
const options = (dir: string): SpoolOptions => ({ dir, segmentBytes: SEGMENT_BYTES, maxBytes: 1 << 30, fsync: 'always', fsyncIntervalMs: 100 });

/** Reads every unread record and checks each against rec(i), byte for byte, in order. */
function readAll(spool: Spool, expected: number[]): void {
  let at = 0;
  for (;;) {
    const batch = spool.read(256 * 1024);
    if (batch.length === 0) break;
    for (const r of batch) {
      const i = expected[at++];
      assert.ok(i !== undefined, `more records than the ${expected.length} expected`);
      const want = rec(i);
      assert.ok(r.value.equals(want.value), `record ${i}: value`);
      assert.ok(r.key?.equals(want.key!), `record ${i}: key`);
      assert.equal(r.topic, want.topic);
      assert.equal(r.receivedAt, want.receivedAt);
      assert.deepEqual(r.headers.map(([k, v]) => [k.toString(), v.toString()]), want.headers.map(([k, v]) => [k.toString(), v.toString()]));
    }
  }
  assert.equal(at, expected.length, 'every record written was read back');
}

/** A fresh tmpfs of MOUNT_BYTES (the spools closed before it is unmounted); undefined (test skipped) if it cannot be mounted. */
const tmpfs = (t: TestContext, spools: Spool[]) =>
  mountTmpfs(t, {
    bytes: MOUNT_BYTES,
    prefix: 'spool-disk-',
    beforeUnmount: () => {
      for (const s of spools) s.close();
    },
  });

test('disk full: append returns a short count with ENOSPC and never throws; everything accepted reads back; after acks free space appending goes on; a restart recovers exactly the unacknowledged records', (t) => {
  const spools: Spool[] = [];
  const mount = tmpfs(t, spools);
  if (mount === undefined) return;
  const dir = join(mount, 'spool');
  const a = Spool.open(options(dir)).spool;
  spools.push(a);

  // Fill the disk: batches of 57 records (~57 KB) until one is cut short.
  let next = 0;
  let short = -1;
  while (next < 10_000) {
    let n = -1;
    assert.doesNotThrow(() => (n = a.append(range(next, next + 57).map(rec))));
    next += n;
    if (n < 57) {
      short = n;
      break;
    }
  }
  assert.ok(short >= 0, 'the disk filled up');
  const accepted = next;
  assert.ok(accepted * 1000 > MOUNT_BYTES / 2, `wrote ${accepted} records before the disk was full`);
  assert.equal(a.writeError?.code, 'ENOSPC');
  assert.equal(a.writeError.op, 'append');
  assert.equal(a.failing, true);
  assert.equal(a.full, false, 'full is the byte limit, not the disk');
  assert.equal(a.size, accepted);
  assert.ok(segments(dir).length > 2, 'several segments');
  assert.equal(onDisk(dir), a.bytes, 'nothing partial on disk: the files hold exactly the records counted');

  // Still full: nothing more goes in, each attempt is counted, nothing throws.
  const errors = a.writeErrors;
  for (let k = 0; k < 3; k++) assert.equal(a.append(range(accepted, accepted + 57).map(rec)), 0);
  assert.equal(a.writeErrors, errors + 3);
  assert.equal(a.size, accepted);
  assert.equal(onDisk(dir), a.bytes);

  readAll(a, range(0, accepted));
  const acked = Math.floor(accepted * 0.6);
  const segsBefore = segments(dir).length;
  a.ack(acked);
  assert.ok(segments(dir).length < segsBefore, 'acknowledged segments were deleted');
  assert.equal(a.failing, true, 'an ack does not clear an append error');

  // Room again: appending goes on after the last record written.
  const more = 150;
  assert.equal(a.append(range(accepted, accepted + more).map(rec)), more);
  assert.equal(a.writeError, undefined, 'cleared by the append that succeeded');
  assert.equal(a.failing, false);
  assert.equal(a.size, accepted - acked + more);
  readAll(a, range(accepted, accepted + more));
  a.close();
  spools.length = 0;

  const { spool: b, recovery } = Spool.open(options(dir));
  spools.push(b);
  assert.equal(recovery.records, accepted - acked + more);
  assert.deepEqual(recovery.cut, [], 'no torn tail: the short write was cut back at once');
  readAll(b, [...range(acked, accepted), ...range(accepted, accepted + more)]);
});

test('read-only disk: append fails with EROFS and does not throw, ack does not throw; a spool opened on it still replays; once writable, appending goes on', (t) => {
  const spools: Spool[] = [];
  const mount = tmpfs(t, spools);
  if (mount === undefined) return;
  const remount = (mode: 'ro' | 'rw') => execFileSync('mount', ['-o', `remount,${mode}`, mount], { stdio: 'pipe' });
  const dir = join(mount, 'spool');
  mkdirSync(dir);

  // A spool with nothing open yet (the kernel refuses to remount read-only while a file is open
  // for writing): its first segment cannot be created.
  const a = Spool.open(options(dir)).spool;
  spools.push(a);
  remount('ro');
  let n = -1;
  assert.doesNotThrow(() => (n = a.append(range(0, 10).map(rec))));
  assert.equal(n, 0);
  assert.equal(a.writeError?.code, 'EROFS');
  assert.equal(a.writeError.op, 'roll');
  assert.equal(a.size, 0);
  remount('rw');
  assert.equal(a.append(range(0, 400).map(rec)), 400);
  assert.equal(a.writeError, undefined);
  a.close();
  spools.length = 0;

  // Opened on a read-only disk (as after the kernel remounted it on errors): replays, refuses appends.
  remount('ro');
  let opened: ReturnType<typeof Spool.open> | undefined;
  assert.doesNotThrow(() => (opened = Spool.open(options(dir))));
  const b = opened!.spool;
  spools.push(b);
  assert.equal(opened!.recovery.records, 400);
  assert.equal(b.writeError?.code, 'EROFS', 'the last segment could not be opened for appending');
  assert.equal(b.append(range(400, 410).map(rec)), 0);
  assert.equal(b.writeError?.code, 'EROFS');
  assert.equal(b.writeError.op, 'append');
  readAll(b, range(0, 400));
  assert.doesNotThrow(() => b.ack(300));
  const ackError = lastError(b); // not narrowed by the asserts above
  assert.equal(ackError?.code, 'EROFS');
  assert.equal(ackError.op, 'ack', 'the position (after the segment deletion, which failed too)');
  assert.equal(b.writeErrors, 4, 'open, append, delete, ack');
  assert.equal(b.size, 100);
  assert.doesNotThrow(() => b.close());
  spools.length = 0;

  // Writable again: the acknowledgement was never written, so a restart replays it all
  // (duplicates, never loss), and appends go on after the last record.
  remount('rw');
  const c = Spool.open(options(dir));
  spools.push(c.spool);
  assert.equal(c.recovery.records, 400);
  assert.equal(c.spool.writeError, undefined);
  assert.equal(c.spool.append(range(400, 410).map(rec)), 10);
  readAll(c.spool, range(0, 410));
});
