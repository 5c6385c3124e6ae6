// The start-up warm-up: synthetic trade events run once through the code every live event takes
// (splitting, routing, a record's shape, the memory buffer, the partitioner and the record-batch
// encoder with the run's compression), before the feeds are subscribed.
//
// Why: V8 compiles a function to fast code only once it has run for a while. Without this, the
// first live events met interpreted code and a WebAssembly compressor not yet tiered up: the
// feed, which starts at its full rate on subscription, outran the bridge for its first half
// second, and what waited (records living long enough to be promoted, the frames they hold) set
// the process's peak memory and the first second's latency (docs/benchmarks.md, "Memory at
// 300,000 events/s, and the first half second"). The work is synchronous and runs while Kafka's
// connections are being set up.
import type { Compression } from '../sink/record-batch.ts';
import { partitionOf, RecordBatchEncoder } from '../sink/record-batch.ts';
import { RecordQueue, type OutRecord } from '../sink/record-queue.ts';
import { Router } from '../route/route.ts';
import { Slices, splitFrame } from '../split/split.ts';

/** Events per synthetic frame, as Polygon sends them in a busy second. */
const FRAME_EVENTS = 100;
/** Records per encoded batch (about one 1 MiB take of trade events). */
const TAKE = 2_000;
const SYMBOLS = 500;
const PARTITIONS = 16;

export interface WarmUpResult {
  events: number;
  batches: number;
  ms: number;
  /** The last batch written, so that a test can read it back. */
  last: Buffer | undefined;
}

/** One frame of FRAME_EVENTS trade events shaped as Polygon's (shared/POLYGON.md). */
export function syntheticFrame(now = Date.now()): Buffer {
  const events: string[] = [];
  for (let i = 0; i < FRAME_EVENTS; i++) {
    events.push(`{"ev":"T","sym":"W${i % SYMBOLS}","i":"${100_000 + i}","x":${1 + (i % 21)},"p":${(10_000 + i) / 100},"s":${100 * (1 + (i % 5))},"c":[12,37],"t":${now + i},"q":${i},"z":${1 + (i % 3)}}`);
  }
  return Buffer.from(`[${events.join(',')}]`);
}

/**
 * Runs `events` synthetic events (rounded up to whole frames) through the hot path. Nothing leaves
 * the process; everything it allocates is garbage when it returns.
 */
export function warmUp(events: number, compression: Compression, maxDepth: number): WarmUpResult {
  const t0 = performance.now();
  const frame = syntheticFrame();
  const slices = new Slices(FRAME_EVENTS);
  const router = new Router({ T: 'warm-up' }, 'warm-up-unknown');
  const topics = router.topics;
  const queue = new RecordQueue(TAKE + FRAME_EVENTS, 0);
  const encoder = new RecordBatchEncoder(compression);
  const ids = { producerId: 1n, producerEpoch: 0, baseSequence: 0 };
  let done = 0;
  let batches = 0;
  let last: Buffer | undefined;
  const flush = () => {
    const { records, times } = queue.take(Infinity);
    const order = new Int32Array(records.length);
    const partition = records.map((r) => partitionOf(r.key!, PARTITIONS));
    // The producer writes one batch per partition, records in their order.
    let at = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const from = at;
      for (let i = 0; i < records.length; i++) if (partition[i] === p) order[at++] = i;
      if (at > from) {
        last = encoder.encode(records, order, from, at, ids, Date.now(), times);
        batches++;
      }
    }
    queue.release(records.length);
  };
  while (done < events) {
    splitFrame(frame, slices, maxDepth);
    for (let e = 0; e < slices.count; e++) {
      const topic = router.route(frame, slices.evStart[e]!, slices.evEnd[e]!);
      const key = frame.subarray(slices.keyStart[e], slices.keyEnd[e]);
      // The shape feed.ts gives every record.
      const record = { topic: topics[topic]!, key, value: frame.subarray(slices.start[e], slices.end[e]) } as OutRecord;
      queue.push(record, t0);
    }
    done += slices.count;
    if (queue.size >= TAKE) flush();
  }
  if (queue.size > 0) flush();
  return { events: done, batches, ms: performance.now() - t0, last };
}
