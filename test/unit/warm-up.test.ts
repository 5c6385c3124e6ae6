// The start-up warm-up runs synthetic events through the real splitter, buffer and encoder: what
// it writes must be valid record batches of those events (read back by the Kafka client's decoder).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, readRecordsBatch } from '@platformatic/kafka';
import { partitionOf } from '../../src/sink/record-batch.ts';
import { Slices, splitFrame } from '../../src/split/split.ts';
import { syntheticFrame, warmUp } from '../../src/bridge/warm-up.ts';

test('the synthetic frame is a Polygon frame of trade events the splitter accepts whole', () => {
  const frame = syntheticFrame(1_790_000_000_000);
  const s = new Slices(1000);
  splitFrame(frame, s, 64);
  assert.equal(s.error, undefined);
  assert.equal(s.count, 100);
  const events = JSON.parse(frame.toString()) as Array<{ ev: string; sym: string; t: number }>;
  assert.ok(events.every((e) => e.ev === 'T' && typeof e.sym === 'string'));
  assert.equal(events[0]!.t, 1_790_000_000_000);
});

for (const compression of ['lz4', 'none'] as const) {
  test(`warmUp runs the events asked for (rounded up to frames) into valid batches, ${compression}`, () => {
    const w = warmUp(4_950, compression, 64);
    assert.equal(w.events, 5_000);
    // 2,000 records per take, one batch per partition of 16 that holds any: 3 takes.
    assert.ok(w.batches >= 3 && w.batches <= 3 * 16, String(w.batches));
    const read = readRecordsBatch(Reader.from(w.last!));
    assert.ok(read.records.length > 0);
    const events = JSON.parse(syntheticFrame().toString()) as Array<{ sym: string }>;
    const syms = new Set(events.map((e) => e.sym));
    const partition = partitionOf(read.records[0]!.key!, 16);
    for (const r of read.records) {
      const value = JSON.parse(r.value!.toString()) as { ev: string; sym: string };
      assert.equal(value.ev, 'T');
      assert.equal(r.key!.toString(), value.sym, 'keyed by its symbol');
      assert.ok(syms.has(value.sym));
      assert.equal(partitionOf(r.key!, 16), partition, 'one partition per batch');
    }
  });
}

test('warmUp with 0 events does nothing', () => {
  const w = warmUp(0, 'lz4', 64);
  assert.equal(w.events, 0);
  assert.equal(w.batches, 0);
  assert.equal(w.last, undefined);
});
