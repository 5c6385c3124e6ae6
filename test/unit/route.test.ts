import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TOPICS, ROUTE_STATUS, Router, subscribedEvs } from '../../src/route/route.ts';

function route(r: Router, ev: string): string | number {
  const b = Buffer.from(`xx${ev}yy`);
  const i = r.route(b, 2, 2 + Buffer.byteLength(ev));
  return i === ROUTE_STATUS ? i : r.topics[i]!;
}

test('default routes: trades, aggregates, and every market', () => {
  const r = new Router(DEFAULT_TOPICS, 'unknown-events');
  assert.equal(route(r, 'T'), 'trades');
  assert.equal(route(r, 'A'), 'aggregates');
  assert.equal(route(r, 'AM'), 'aggregates');
  assert.equal(route(r, 'Q'), 'quotes');
  assert.equal(route(r, 'XT'), 'crypto-trades');
  assert.equal(route(r, 'XAS'), 'crypto-aggregates');
  assert.equal(route(r, 'LULD'), 'luld');
  assert.equal(route(r, 'status'), ROUTE_STATUS);
  assert.equal(route(r, 'NOPE'), 'unknown-events');
  assert.equal(route(r, 'TT'), 'unknown-events');
  assert.equal(route(r, 'LONGEREVNAME'), 'unknown-events');
  assert.equal(r.topics[r.route(Buffer.from(''), -1, -1)], 'unknown-events', 'no ev field');
});

test('user mappings, including evs longer than six bytes', () => {
  const r = new Router({ T: 'my-trades', CUSTOMEV: 'custom' }, 'other');
  assert.equal(route(r, 'T'), 'my-trades');
  assert.equal(route(r, 'CUSTOMEV'), 'custom');
  assert.equal(route(r, 'AM'), 'other');
  assert.equal(r.routeName('CUSTOMEV'), r.topics.indexOf('custom'));
  assert.deepEqual(r.topics, ['my-trades', 'custom', 'other']);
});

test('subscribed evs', () => {
  assert.deepEqual(subscribedEvs('T.*,AM.*'), ['T', 'AM']);
  assert.deepEqual(subscribedEvs('T.AAPL, T.MSFT, Q.*'), ['T', 'Q']);
});
