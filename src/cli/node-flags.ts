// V8 flags every ws2kafka process runs with: the shebang of bin/ws2kafka.js carries them for
// `npx ws2kafka` and installed binaries, `npm start` passes them, and bench and the tests pass them
// when they spawn processes (test/unit/cli.test.ts checks that all agree).
//
// --max-semi-space-size=8: V8's default young generation on a machine with this much memory grows
// to 64 MB per semi-space (134 MB of new space). ws2kafka allocates a little per event and keeps
// almost nothing, so the big nursery only costs RSS and long scavenges; 8 MB measured 400 MB peak
// RSS instead of 550 MB at 200,000 events/s with the same CPU time (docs/benchmarks.md).
//
// --no-allocation-site-pretenuring: V8 watches where objects are allocated and, when most objects
// of one allocation site survived the young generation for a while, allocates that site's
// objects straight in the old generation. At ws2kafka's start (a fresh connection, code not yet
// optimized, Kafka's first writes to new partitions slow) records live longer than they do later,
// and in about half the runs V8 made that decision for the record objects and kept it: every
// record then went to the old generation (~50 MB/s at 300,000 events/s), a full GC every 0.8 s,
// 276-304 MB of peak RSS instead of 195-220 MB and 10-20 % more CPU (docs/benchmarks.md, "Memory
// at 300,000 events/s"). Records live milliseconds; the young generation is where they belong.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--no-allocation-site-pretenuring'];
