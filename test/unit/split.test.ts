// The byte scanner, fed raw bytes: every event's exact bytes, its ev and its key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJsonString, Slices, splitFrame, SplitErrors } from '../../src/split/split.ts';

function split(text: string | Buffer) {
  const frame = typeof text === 'string' ? Buffer.from(text) : text;
  const out = new Slices(64);
  splitFrame(frame, out);
  const events = [];
  for (let e = 0; e < out.count; e++) {
    const slice = (s: number, end: number) => (s < 0 ? undefined : out.escaped[e] ? decodeJsonString(frame, s, end) : frame.subarray(s, end).toString());
    events.push({
      bytes: frame.subarray(out.start[e], out.end[e]).toString(),
      ev: slice(out.evStart[e]!, out.evEnd[e]!),
      key: slice(out.keyStart[e]!, out.keyEnd[e]!),
    });
  }
  return { error: out.error, events };
}

test('a plain frame of two events', () => {
  const a = '{"ev":"T","sym":"AAPL","i":"5096","x":10,"p":161.87,"s":300,"c":[14,41],"t":1651684192462,"q":4009402,"z":3}';
  const b = '{"ev":"AM","sym":"GTE","v":4110,"o":0.4488,"s":1610144640000,"e":1610144700000}';
  const r = split(`[${a},${b}]`);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.events, [
    { bytes: a, ev: 'T', key: 'AAPL' },
    { bytes: b, ev: 'AM', key: 'GTE' },
  ]);
});

test('awkward but valid events keep their exact bytes', () => {
  const events = [
    '{ "sym" : "A{B}[C]" , "ev" : "T" , "note":"say \\"hi\\" ]}" }',
    '{"ev":"Q","sym":"ÄÖÜ€😀","big":123456789012345678901234567890,"exp":-1.5E+300,"nested":{"ev":"X","sym":"INNER","a":[[1,{"b":[]}]]}}',
    '{"ev":"XT","pair":"BTC-USD","p":33021.9,"c":[2]}',
    '{"ev":"LULD","T":"MSFT","h":1,"l":0.5}',
    '{"ev":"FMV","fmv":1.2}',
    '{"x":1,"ev":"T","T":"TKEY","sym":"SYMKEY"}',
    '{"ev":"status","status":"success","message":"subscribed to: T.*"}',
    '{}',
    '{"ev":"T","sym":"A\\u0042C","t":true,"n":null,"f":false}',
  ];
  const frame = ` \r\n[\n  ${events.join(' ,\n\t ')}\n] \n`;
  const r = split(frame);
  assert.equal(r.error, undefined);
  assert.deepEqual(
    r.events.map((e) => e.bytes),
    events,
  );
  assert.deepEqual(
    r.events.map((e) => [e.ev, e.key]),
    [
      ['T', 'A{B}[C]'],
      ['Q', 'ÄÖÜ€😀'],
      ['XT', 'BTC-USD'],
      ['LULD', 'MSFT'],
      ['FMV', undefined],
      ['T', 'SYMKEY'],
      ['status', undefined],
      [undefined, undefined],
      ['T', 'ABC'],
    ],
  );
});

test('an empty array is a frame of no events', () => {
  assert.deepEqual(split('[]'), { error: undefined, events: [] });
  assert.deepEqual(split(' [ ] '), { error: undefined, events: [] });
});

test('malformed frames are rejected whole, with a reason', () => {
  const cases: Array<[string, string]> = [
    ['', SplitErrors.EMPTY],
    ['   ', SplitErrors.EMPTY],
    ['hello', SplitErrors.NOT_ARRAY],
    ['{"ev":"T","sym":"A"}', SplitErrors.NOT_ARRAY],
    ['[1,2,3]', SplitErrors.NOT_OBJECT],
    ['["T"]', SplitErrors.NOT_OBJECT],
    ['[{"ev":"T"},[]]', SplitErrors.NOT_OBJECT],
    ['[{"ev":"T","sym":"A"}', SplitErrors.UNTERMINATED],
    ['[{"ev":"T","sym":"A', SplitErrors.UNTERMINATED],
    ['[{"ev":"T","sym":"A"}]]', SplitErrors.TRAILING],
    ['[{"ev":"T","sym":"A"}] x', SplitErrors.TRAILING],
    ['[{"ev":"T" "sym":"A"}]', SplitErrors.UNEXPECTED],
    ['[{"ev":"T",}]', SplitErrors.UNEXPECTED],
    ['[{"ev" "T"}]', SplitErrors.UNEXPECTED],
    ['[{"ev":T}]', SplitErrors.UNEXPECTED],
    ['[{"ev":"T"}{"ev":"Q"}]', SplitErrors.UNEXPECTED],
    ['[{"ev":"T","x":[1,2}]', SplitErrors.UNEXPECTED],
    ['[{"ev":"T\n"}]', SplitErrors.UNTERMINATED],
    ['[{"ev":"T"},]', SplitErrors.NOT_OBJECT],
  ];
  for (const [frame, reason] of cases) {
    const r = split(frame);
    assert.equal(r.error, reason, `frame ${JSON.stringify(frame)}`);
    assert.equal(r.events.length, 0);
  }
});

test('a frame with more events than the limit is rejected, not cut', () => {
  const out = new Slices(2);
  splitFrame(Buffer.from('[{"ev":"T"},{"ev":"T"},{"ev":"T"}]'), out);
  assert.equal(out.error, SplitErrors.TOO_MANY);
  assert.equal(out.count, 0);
});

test('the scanner agrees with JSON.parse on generated frames', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const syms = ['AAPL', 'MSFT', 'a"b', 'x\\y', 'é', '{[', 'Z'];
  for (let f = 0; f < 200; f++) {
    const events = [];
    for (let k = 0; k < 1 + Math.floor(rnd() * 5); k++) {
      const o: Record<string, unknown> = { p: rnd() * 1000, c: [1, [2, { d: 'x]' }]] };
      if (rnd() < 0.9) o['ev'] = ['T', 'Q', 'AM', 'A'][Math.floor(rnd() * 4)];
      if (rnd() < 0.9) o['sym'] = syms[Math.floor(rnd() * syms.length)];
      events.push(o);
    }
    const text = JSON.stringify(events, null, rnd() < 0.5 ? 0 : 2);
    const r = split(text);
    assert.equal(r.error, undefined, text);
    assert.deepEqual(
      r.events.map((e) => JSON.parse(e.bytes) as unknown),
      events,
    );
    assert.deepEqual(
      r.events.map((e) => [e.ev, e.key]),
      events.map((o) => [o['ev'], o['sym']]),
    );
  }
});
