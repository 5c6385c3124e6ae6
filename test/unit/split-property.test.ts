// Property test of the splitter against JSON.parse, on seeded random frames: valid ones and
// mutated ones (the generator and the property are in bench/fuzz-split.ts, which runs the same
// check on a million frames). Each run uses the fixed seed and a fresh one; a failure prints the
// seed and case, and `node bench/fuzz-split.ts --seed S --case K` shows that frame again.
// SPLIT_FUZZ_SEED=S replaces the fresh seed (to rerun a failed run), SPLIT_FUZZ_FRAMES=N the count.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { describeViolation, fuzz } from '../../bench/fuzz-split.ts';

const FRAMES = Number(process.env['SPLIT_FUZZ_FRAMES'] ?? 26_000);
const FIXED_SEED = 20261126;
const FRESH_SEED = process.env['SPLIT_FUZZ_SEED'] !== undefined ? Number(process.env['SPLIT_FUZZ_SEED']) >>> 0 : randomBytes(4).readUInt32LE(0);

for (const [name, seed] of [
  ['the fixed seed', FIXED_SEED],
  ['a fresh seed', FRESH_SEED],
] as const) {
  test(`splitFrame accepts exactly what JSON.parse accepts, routes as JSON.parse sees it (${name}: ${seed}, ${FRAMES} frames)`, () => {
    const report = fuzz(seed, FRAMES);
    const summary = [...report.counts.entries()].map(([k, n]) => `${k} ${n}`).join(', ');
    assert.equal(report.violations.length, 0, `seed ${seed} (${summary}):\n${report.violations.map((v) => describeViolation(seed, v)).join('\n')}`);
    // The generator is doing its job: both outcomes, and the new rejections, all show up.
    const count = (k: string) => report.counts.get(k) ?? 0;
    assert.ok(count('accepted') > FRAMES / 3, summary);
    for (const reason of ['BAD_ESCAPE', 'BAD_NUMBER', 'BAD_LITERAL', 'INVALID_UTF8', 'TOO_DEEP', 'TOO_MANY', 'UNEXPECTED', 'UNTERMINATED', 'NOT_OBJECT']) {
      assert.ok(count(reason) > 0, `no ${reason} in ${FRAMES} frames with seed ${seed}: ${summary}`);
    }
  });
}
