import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRecord, DEFAULT_ROUTES, parseRoutes } from '../../src/verify/events.ts';

const T = '{"ev":"T","sym":"AAPL","i":"5096","x":10,"p":161.87,"s":300,"c":[14,41],"t":1651684192462,"q":4009402,"z":3}';
const AM = '{"ev":"AM","sym":"GTE","v":4110,"av":9470157,"op":0.4372,"vw":0.4488,"o":0.4488,"c":0.4486,"h":0.4489,"l":0.4486,"a":0.4352,"z":685,"s":1610144640000,"e":1610144700000}';
const b = (s: string) => Buffer.from(s);

test('valid records: the event of an ev routed to the topic, keyed by its symbol', () => {
  assert.equal(checkRecord('trades', b('AAPL'), b(T), DEFAULT_ROUTES).problem, undefined);
  assert.equal(checkRecord('aggregates', b('GTE'), b(AM), DEFAULT_ROUTES).problem, undefined);
  const xt = '{"ev":"XT","pair":"BTC-USD","p":33021.9,"t":1610462007425,"s":0.01616617,"c":[2],"i":14272084,"x":3,"r":1610462007576}';
  assert.equal(checkRecord('crypto', b('BTC-USD'), b(xt), { XT: 'crypto' }).problem, undefined);
});

test('corrupted records say why', () => {
  const problem = (topic: string, key: string | undefined, value: string) => checkRecord(topic, key === undefined ? undefined : b(key), b(value), DEFAULT_ROUTES).problem;
  assert.equal(problem('trades', 'AAPL', T.slice(0, 40)), 'value is not JSON');
  assert.equal(problem('trades', 'AAPL', '[1]'), 'value is not a JSON object');
  assert.equal(problem('aggregates', 'AAPL', T), 'ev T is not routed to aggregates');
  assert.equal(problem('trades', 'MSFT', T), 'key "MSFT" is not the event\'s sym "AAPL"');
  assert.equal(problem('trades', undefined, T), 'key null is not the event\'s sym "AAPL"');
  assert.equal(problem('trades', 'AAPL', T.replace('"p":161.87', '"p":"161.87"')), 'T without numeric "p"');
  assert.equal(problem('trades', 'AAPL', T.replace('"sym":"AAPL",', '')), 'T without "sym" string');
  assert.equal(checkRecord('trades', b('AAPL'), Buffer.alloc(0), DEFAULT_ROUTES).problem, 'empty value');
});

test('--routes parsing', () => {
  assert.deepEqual(parseRoutes('T=trades, A=aggs,AM=aggs'), { T: 'trades', A: 'aggs', AM: 'aggs' });
  assert.equal(parseRoutes('T'), undefined);
  assert.equal(parseRoutes('T=a b'), undefined);
});
