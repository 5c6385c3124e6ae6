import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram } from '../../src/metrics/histogram.ts';

test('quantiles are within 4 % of the exact value', () => {
  const h = new Histogram();
  const values: number[] = [];
  let seed = 7;
  for (let i = 0; i < 100_000; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const v = Math.floor(Math.exp((seed / 0x7fffffff) * 16)); // 1 µs .. ~9 s, log-uniform
    values.push(v);
    h.record(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const exact = values[Math.ceil(q * values.length) - 1]!;
    const got = h.quantile(q);
    assert.ok(got >= exact && got <= exact * 1.04 + 1, `q${q}: exact ${exact}, histogram ${got}`);
  }
  assert.equal(h.max, values.at(-1));
  assert.equal(h.count, 100_000);
});

test('small values are exact, reset empties', () => {
  const h = new Histogram();
  for (const v of [0, 1, 2, 3, 50]) h.record(v);
  assert.equal(h.quantile(0.5), 2);
  assert.equal(h.quantile(1), 50);
  h.reset();
  assert.equal(h.count, 0);
  assert.equal(h.quantile(0.99), 0);
});
