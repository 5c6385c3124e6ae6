// The proxy's pure half: union of subscriptions, per-client picking and frame building, on bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subscriptions } from '../../src/feed/protocol.ts';
import { buildFrame, ClientMatcher, FrameEvents, normalizeSymbol, unionParams } from '../../src/proxy/filter.ts';
import { Slices, splitFrame } from '../../src/split/split.ts';

function subs(params: string): Subscriptions {
  const s = new Subscriptions();
  for (const p of params.split(',').filter(Boolean)) assert.ok(s.add(p), p);
  return s;
}

/** What one client with `params` gets from `frame` (null: nothing). */
function pickFor(params: string, frame: Buffer): Buffer | null {
  const slices = new Slices(100);
  splitFrame(frame, slices);
  assert.equal(slices.error, undefined);
  const events = new FrameEvents(100);
  const statuses: number[] = [];
  events.load(frame, slices, statuses);
  const picked = new Uint8Array(100);
  const n = new ClientMatcher(subs(params)).pick(frame, slices, events, picked);
  return n === 0 ? null : buildFrame(frame, slices, picked, n, statuses.length === 0);
}

test('unionParams: a wildcard absorbs single symbols of its ev; sorted; empty when nobody wants anything', () => {
  assert.equal(unionParams([]), '');
  assert.equal(unionParams([subs(''), subs('')]), '');
  assert.equal(unionParams([subs('T.*'), subs('T.AAPL,Q.MSFT'), subs('Q.AAPL,AM.*')]), 'AM.*,Q.AAPL,Q.MSFT,T.*');
  assert.equal(unionParams([subs('T.AAPL'), subs('T.AAPL,T.MSFT')]), 'T.AAPL,T.MSFT');
});

test('normalizeSymbol: X:/C: prefixes dropped, / reads as -, others unchanged', () => {
  assert.equal(normalizeSymbol('X:BTC-USD'), 'BTC-USD');
  assert.equal(normalizeSymbol('C:EUR-USD'), 'EUR-USD');
  assert.equal(normalizeSymbol('EUR/USD'), 'EUR-USD');
  assert.equal(normalizeSymbol('AAPL'), 'AAPL');
  assert.equal(normalizeSymbol('O:SPY241220P00720000'), 'O:SPY241220P00720000');
  assert.equal(normalizeSymbol('I:SPX'), 'I:SPX');
  assert.equal(normalizeSymbol('C'), 'C');
});

const T_AAPL = '{"ev":"T","sym":"AAPL","p":1.5,"q":1}';
const Q_MSFT = '{ "ev" : "Q", "sym":"MSFT","bp":2,"q":2 }';
const XT_BTC = '{"ev":"XT","pair":"BTC-USD","p":3,"q":3}';
const T_MSFT = '{"ev":"T","sym":"MSFT","p":4,"q":4}';
const C_EUR = '{"ev":"C","p":"EUR/USD","a":1.1,"q":5}';
const FRAME = Buffer.from(`[${T_AAPL},  ${Q_MSFT},\n${XT_BTC},${T_MSFT},${C_EUR}]`);

test('a client gets exactly its events, bytes unchanged, in upstream order', () => {
  assert.equal(pickFor('T.*', FRAME)?.toString(), `[${T_AAPL},${T_MSFT}]`);
  assert.equal(pickFor('T.MSFT,Q.MSFT', FRAME)?.toString(), `[${Q_MSFT},${T_MSFT}]`);
  assert.equal(pickFor('XT.X:BTC-USD', FRAME)?.toString(), `[${XT_BTC}]`);
  assert.equal(pickFor('XT.ETH-USD,AM.*', FRAME), null);
  assert.equal(pickFor('', FRAME), null);
});

test('an event without a key field goes to every client subscribed to its ev at all', () => {
  assert.equal(pickFor('C.GBP/USD', FRAME)?.toString(), `[${C_EUR}]`);
  assert.equal(pickFor('C.*', FRAME)?.toString(), `[${C_EUR}]`);
});

test('a client that wants every event gets the upstream frame itself, not a copy', () => {
  const out = pickFor('T.*,Q.*,XT.*,C.*', FRAME);
  assert.equal(out, FRAME);
});

test('status events are never picked; the rest of their frame is', () => {
  const status = '{"ev":"status","status":"success","message":"subscribed to: T.*"}';
  const frame = Buffer.from(`[${status},${T_AAPL}]`);
  const slices = new Slices(10);
  splitFrame(frame, slices);
  const events = new FrameEvents(10);
  const statuses: number[] = [];
  assert.equal(events.load(frame, slices, statuses), 1);
  assert.deepEqual(statuses, [0]);
  assert.equal(pickFor('T.*', frame)?.toString(), `[${T_AAPL}]`);
});

test('escaped ev and key strings are decoded before matching; events without ev go to nobody', () => {
  const escaped = '{"ev":"\\u0054","sym":"BRK\\/A","q":1}';
  const noEv = '{"sym":"AAPL","q":2}';
  const frame = Buffer.from(`[${escaped},${noEv}]`);
  assert.equal(pickFor('T.BRK-A', frame)?.toString(), `[${escaped}]`);
  assert.equal(pickFor('T.*', frame)?.toString(), `[${escaped}]`);
});

test('the matcher follows subscription changes', () => {
  const s = subs('T.AAPL');
  const m = new ClientMatcher(s);
  const slices = new Slices(10);
  splitFrame(FRAME, slices);
  const events = new FrameEvents(10);
  events.load(FRAME, slices, []);
  const picked = new Uint8Array(10);
  assert.equal(m.pick(FRAME, slices, events, picked), 1);
  s.add('T.*');
  assert.equal(m.pick(FRAME, slices, events, picked), 2);
  s.remove('T.*');
  s.remove('T.AAPL');
  assert.equal(m.pick(FRAME, slices, events, picked), 0);
});
