import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QBitmap } from '../../src/mock/bitmap.ts';
import { DEFAULT_MIX, EV_NAMES, EventBatch, EventGenerator, stockSymbols } from '../../src/mock/generator.ts';
import { parseDuration, parseInteger, parseMix, parseRatio } from '../../src/mock/options.ts';

test('generated events are compact single-line JSON with q, t and the fields of their type', () => {
  const g = new EventGenerator({ symbols: 200, mix: DEFAULT_MIX, seed: 7 });
  const b = new EventBatch();
  g.generate(20_000, 1_700_000_000_123, 1, b);
  const required: Record<string, string[]> = {
    T: ['sym', 'i', 'x', 'p', 's', 't', 'q', 'z'],
    Q: ['sym', 'bx', 'bp', 'bs', 'ax', 'ap', 'as', 'c', 't', 'q', 'z'],
    A: ['sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e', 't', 'q'],
    AM: ['sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e', 't', 'q'],
    XT: ['pair', 'p', 't', 's', 'c', 'i', 'x', 'r', 'q'],
  };
  const counts = new Map<string, number>();
  const perSymbol = new Map<string, number>();
  for (let k = 0; k < b.n; k++) {
    const json = b.json[k] ?? '';
    assert.ok(!json.includes('\n') && !json.includes(' '), json);
    const e = JSON.parse(json) as Record<string, unknown>;
    assert.equal(JSON.stringify(e).length <= json.length, true);
    const ev = e['ev'] as string;
    assert.equal(ev, EV_NAMES[b.ev[k] ?? 0]);
    assert.equal(e['q'], k + 1);
    assert.equal(e['t'], 1_700_000_000_123);
    for (const f of required[ev] ?? []) assert.ok(f in e, `${ev} has ${f}: ${json}`);
    const key = (ev === 'XT' ? e['pair'] : e['sym']) as string;
    assert.equal(key, g.symbolOf(b.ev[k] ?? 0, b.sym[k] ?? 0));
    counts.set(ev, (counts.get(ev) ?? 0) + 1);
    if (ev !== 'XT') perSymbol.set(key, (perSymbol.get(key) ?? 0) + 1);
    if (ev === 'Q') assert.ok((e['ap'] as number) > (e['bp'] as number), 'ask above bid');
  }
  // The mix, within sampling noise.
  const total = Object.values(DEFAULT_MIX).reduce((a, b) => a + b, 0);
  for (const ev of EV_NAMES) {
    const share = (counts.get(ev) ?? 0) / b.n;
    assert.ok(Math.abs(share - DEFAULT_MIX[ev] / total) < 0.02, `${ev}: ${share}`);
  }
  // Skew: the busiest 2% of symbols carry far more than 2% of the events; a long tail exists.
  const sorted = [...perSymbol.values()].sort((a, b) => b - a);
  const top = sorted.slice(0, 4).reduce((a, b) => a + b, 0);
  const stockEvents = sorted.reduce((a, b) => a + b, 0);
  assert.ok(top / stockEvents > 0.15, `top 4 of 200 symbols: ${top / stockEvents}`);
  assert.ok(sorted.length > 150, 'most symbols appear');
});

test('the same seed gives the same timeline; symbols are distinct', () => {
  const a = new EventGenerator({ symbols: 50, mix: DEFAULT_MIX, seed: 3 });
  const b = new EventGenerator({ symbols: 50, mix: DEFAULT_MIX, seed: 3 });
  const ba = new EventBatch();
  const bb = new EventBatch();
  a.generate(100, 1, 1, ba);
  b.generate(100, 1, 1, bb);
  assert.deepEqual(ba.json.slice(0, 100), bb.json.slice(0, 100));
  const syms = stockSymbols(5000);
  assert.equal(new Set(syms).size, 5000);
});

test('bitmap: set, has, count, bytes round trip', () => {
  const m = new QBitmap(100, 1);
  for (const q of [100, 101, 107, 108, 5000]) assert.equal(m.set(q), true);
  assert.equal(m.set(107), false);
  assert.equal(m.count, 5);
  assert.equal(m.lastQ, 5000);
  assert.ok(m.has(108) && !m.has(102) && !m.has(99) && !m.has(6000));
  const back = QBitmap.fromBytes(100, m.toBytes());
  for (let q = 90; q < 5010; q++) assert.equal(back.has(q), m.has(q), `q ${q}`);
  assert.equal(new QBitmap(1).toBytes().length, 0);
});

test('flag values: durations, integers, ratios and mixes, with messages naming flag and value', () => {
  assert.equal(parseDuration('duration', '250ms'), 250);
  assert.equal(parseDuration('duration', '5s'), 5000);
  assert.equal(parseDuration('duration', '2m'), 120_000);
  assert.equal(parseDuration('duration', '3'), 3000);
  assert.throws(() => parseDuration('duration', '5x'), { code: 'USAGE', message: /--duration '5x' is not accepted: expected a duration/ });
  assert.throws(() => parseDuration('duration', '0s'), { code: 'USAGE' });
  assert.equal(parseInteger('rate', '1_000_000', 1, 10_000_000), 1_000_000);
  assert.throws(() => parseInteger('rate', '0', 1, 10), { code: 'USAGE', message: /--rate '0' is not accepted: expected a whole number from 1 to 10/ });
  assert.throws(() => parseInteger('batch', '1.5', 1, 10), { code: 'USAGE' });
  assert.equal(parseRatio('malformed-ratio', '0.25'), 0.25);
  assert.throws(() => parseRatio('malformed-ratio', '2'), { code: 'USAGE', message: /from 0 to 1/ });
  assert.deepEqual(parseMix('mix', 'T=60,Q=30,A=5,AM=5'), { T: 60, Q: 30, A: 5, AM: 5, XT: 0 });
  assert.throws(() => parseMix('mix', 'T=60,Z=3'), { code: 'USAGE', message: /--mix 'T=60,Z=3'.*TYPE one of T, Q, A, AM, XT/ });
  assert.throws(() => parseMix('mix', 'T=0'), { code: 'USAGE', message: /not all 0/ });
});
