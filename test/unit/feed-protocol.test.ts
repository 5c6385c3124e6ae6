import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClientMessage, parseParam, splitParams, statusFrame, Subscriptions } from '../../src/feed/protocol.ts';

test('status frames are Polygon-shaped arrays', () => {
  assert.equal(statusFrame('auth_success', 'authenticated'), '[{"ev":"status","status":"auth_success","message":"authenticated"}]');
  assert.deepEqual(JSON.parse(statusFrame('error', 'a "quoted" word')), [{ ev: 'status', status: 'error', message: 'a "quoted" word' }]);
});

test('client messages: an object or an array of them; anything else is an error', () => {
  assert.deepEqual(parseClientMessage('{"action":"auth","params":"k"}'), { ok: true, actions: [{ action: 'auth', params: 'k' }] });
  assert.deepEqual(parseClientMessage('[{"action":"auth","params":"k"},{"action":"subscribe","params":"T.*"}]'), {
    ok: true,
    actions: [
      { action: 'auth', params: 'k' },
      { action: 'subscribe', params: 'T.*' },
    ],
  });
  assert.equal(parseClientMessage('{').ok, false);
  assert.equal(parseClientMessage('{"action":"dance","params":"x"}').ok, false);
  assert.equal(parseClientMessage('{"action":"subscribe","params":5}').ok, false);
  assert.equal(parseClientMessage('7').ok, false);
});

test('params: comma separated, spaces and empties ignored; EV.SYMBOL with dots in the symbol', () => {
  assert.deepEqual(splitParams('T.*, AM.AAPL ,,Q.BRK.B'), ['T.*', 'AM.AAPL', 'Q.BRK.B']);
  assert.deepEqual(parseParam('Q.BRK.B'), { ev: 'Q', sym: 'BRK.B' });
  assert.equal(parseParam('T'), undefined);
  assert.equal(parseParam('.AAPL'), undefined);
  assert.equal(parseParam('T.'), undefined);
});

test('subscriptions: wildcards and single symbols, removed exactly', () => {
  const s = new Subscriptions();
  assert.equal(s.add('T.*'), true);
  assert.equal(s.add('Q.AAPL'), true);
  assert.equal(s.add('nonsense'), false);
  assert.ok(s.matches('T', 'MSFT'));
  assert.ok(s.matches('Q', 'AAPL'));
  assert.ok(!s.matches('Q', 'MSFT'));
  assert.ok(!s.matches('AM', 'AAPL'));
  assert.deepEqual(s.list(), ['Q.AAPL', 'T.*']);
  const v = s.version;
  s.remove('T.AAPL'); // not subscribed that way: T.* stays
  assert.ok(s.matches('T', 'AAPL'));
  s.remove('T.*');
  assert.ok(!s.matches('T', 'AAPL'));
  assert.ok(s.version > v);
  assert.equal(s.size, 1);
});
