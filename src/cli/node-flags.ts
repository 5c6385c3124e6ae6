// V8 flags every ws2kafka process runs with: the shebang of bin/ws2kafka.js carries them for
// `npx ws2kafka` and installed binaries, `npm start` passes them, and bench and the tests pass them
// when they spawn processes (test/unit/cli.test.ts checks that all agree).
//
// --max-semi-space-size=8: V8's default young generation on a machine with this much memory grows
// to 64 MB per semi-space (134 MB of new space). ws2kafka allocates a little per event and keeps
// almost nothing, so the big nursery only costs RSS and long scavenges; 8 MB measured 400 MB peak
// RSS instead of 550 MB at 200,000 events/s with the same CPU time (docs/benchmarks.md).
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
