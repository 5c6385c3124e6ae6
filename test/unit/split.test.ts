// The byte scanner, fed raw bytes: every event's exact bytes, its ev and its key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isUtf8 } from 'node:buffer';
import { decodeJsonString, DEFAULT_MAX_DEPTH, KEY_PAIR, KEY_SYM, KEY_T, Slices, splitFrame, SplitErrors } from '../../src/split/split.ts';

function split(text: string | Buffer, maxDepth?: number) {
  const frame = typeof text === 'string' ? Buffer.from(text) : text;
  const out = new Slices(64);
  splitFrame(frame, out, maxDepth);
  const events = [];
  for (let e = 0; e < out.count; e++) {
    const slice = (s: number, end: number) => (s < 0 ? undefined : out.escaped[e] ? decodeJsonString(frame, s, end) : frame.subarray(s, end).toString());
    events.push({
      bytes: frame.subarray(out.start[e], out.end[e]).toString(),
      ev: slice(out.evStart[e]!, out.evEnd[e]!),
      key: slice(out.keyStart[e]!, out.keyEnd[e]!),
    });
  }
  return { error: out.error, errorAt: out.errorAt, events };
}

/** The error and its offset for a frame the splitter must reject. */
function rejection(text: string | Buffer, maxDepth?: number): [string | undefined, number] {
  const r = split(text, maxDepth);
  assert.equal(r.events.length, 0);
  return [r.error, r.errorAt];
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
  assert.deepEqual(split('[]'), { error: undefined, errorAt: -1, events: [] });
  assert.deepEqual(split(' [ ] '), { error: undefined, errorAt: -1, events: [] });
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
    ['[{"ev":T}]', SplitErrors.BAD_LITERAL],
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

/** Per event: ev and key (decoded), which key field, and the escaped flag. */
function fields(text: string | Buffer) {
  const frame = typeof text === 'string' ? Buffer.from(text) : text;
  const out = new Slices(64);
  splitFrame(frame, out);
  assert.equal(out.error, undefined, `frame ${frame.toString()}: ${out.error} at ${out.errorAt}`);
  const events = [];
  for (let e = 0; e < out.count; e++) {
    const raw = (s: number, end: number) => (s < 0 ? undefined : frame.subarray(s, end));
    const ev = raw(out.evStart[e]!, out.evEnd[e]!);
    const key = raw(out.keyStart[e]!, out.keyEnd[e]!);
    const escaped = out.escaped[e]!;
    // The flag is set exactly when a reported slice holds a backslash.
    assert.equal(escaped, (ev?.includes(0x5c) ?? false) || (key?.includes(0x5c) ?? false) ? 1 : 0, `escaped flag of ${frame.toString()}`);
    const text = (s: number, end: number) => (s < 0 ? undefined : decodeJsonString(frame, s, end));
    events.push({ ev: text(out.evStart[e]!, out.evEnd[e]!), key: text(out.keyStart[e]!, out.keyEnd[e]!), kind: out.keyKind[e]!, escaped });
  }
  return events;
}

/** Where a needle first occurs in the frame's bytes. */
function offsetOf(frame: string | Buffer, needle: string | Buffer): number {
  const at = (typeof frame === 'string' ? Buffer.from(frame) : frame).indexOf(needle);
  assert.ok(at >= 0, `needle ${String(needle)} not in frame`);
  return at;
}

test('escapes: only the ones JSON defines, with the backslash as the offset', () => {
  const cases: Array<[string, string]> = [
    ['[{"a":"\\x"}]', '\\x'],
    ['[{"a":"ok\\u00"}]', '\\u00'],
    ['[{"a":"\\uZZZZ"}]', '\\uZ'],
    ['[{"a":"\\u12G4"}]', '\\u12G'],
    ['[{"a":"\\U0041"}]', '\\U'],
    ["[{\"a\":\"it\\'s\"}]", "\\'"],
    ['[{"a":"\\0"}]', '\\0'],
    ['[{"a":"tab\\\tx"}]', '\\\t'],
    ['[{"a\\q":"x"}]', '\\q'],
    ['[{"ev":"\\e","sym":"A"}]', '\\e'],
    ['[{"a":{"b":["fine\\n","\\a"]}}]', '\\a'],
    ['[{"a":"\\u004"}]', '\\u004'],
  ];
  for (const [frame, needle] of cases) {
    assert.deepEqual(rejection(frame), [SplitErrors.BAD_ESCAPE, offsetOf(frame, needle)], frame);
    assert.throws(() => JSON.parse(frame) as unknown, SyntaxError, frame);
  }
  // A frame that ends inside an escape ends inside the string: unterminated at its quote.
  assert.deepEqual(rejection('[{"a":"x\\'), [SplitErrors.UNTERMINATED, 6]);
  assert.deepEqual(rejection('[{"a":"x\\u00'), [SplitErrors.UNTERMINATED, 6]);
  assert.deepEqual(rejection('[{"a":"x\\u'), [SplitErrors.UNTERMINATED, 6]);
});

test('valid escapes, lone surrogates included, are accepted and decode as JSON.parse does', () => {
  const values = ['\\"\\\\\\/\\b\\f\\n\\r\\t', '\\u00e9\\u00E9\\uD83D\\uDE00', '\\ud800', '\\udc00x', '\\ud800\\ud800', '\\u0000', 'a\\/b'];
  for (const v of values) {
    const frame = `[{"ev":"${v}","sym":"${v}","x":"${v}"}]`;
    const parsed = JSON.parse(frame) as Array<{ ev: string }>;
    assert.deepEqual(fields(frame), [{ ev: parsed[0]!.ev, key: parsed[0]!.ev, kind: KEY_SYM, escaped: 1 }], frame);
  }
});

test('numbers follow the JSON grammar, with the number\'s first byte as the offset', () => {
  const bad = ['01', '-01', '00', '1.', '.5', '-', '-.5', '+1', '1e', '1e+', '1E-', '1.e5', '1.5.2', '1e5.5', '0x1F', '--1', '1a', '1é', '-Infinity', '1-2', '2+', '1ee5'];
  for (const token of bad) {
    for (const [before, after] of [['[{"a":', '}]'], ['[{"a":[0,', ',0]}]'], ['[{"a" : ', ' , "b":1}]']]) {
      const frame = `${before}${token}${after}`;
      assert.deepEqual(rejection(frame), [SplitErrors.BAD_NUMBER, Buffer.byteLength(before!)], frame);
      assert.throws(() => JSON.parse(frame) as unknown, SyntaxError, frame);
    }
  }
  const good = ['0', '-0', '0.0', '10', '-1', '1.5', '-0.5e-10', '1E+2', '1e2', '0e0', '123456789012345678901234567890', '1.7976931348623157e309', '5e-324'];
  for (const token of good) {
    for (const frame of [`[{"a":${token}}]`, `[{"a":[${token}]}]`, `[{"a":[${token},${token}] , "b":${token}\n}]`, `[{"a":${token}\t}]`]) {
      assert.equal(split(frame).error, undefined, frame);
    }
  }
  // A frame that ends inside a number that could still go on is unterminated at the number.
  for (const frame of ['[{"a":-', '[{"a":1.', '[{"a":1e', '[{"a":1e+']) assert.deepEqual(rejection(frame), [SplitErrors.UNTERMINATED, 6], frame);
  // A complete number at the frame's end: unterminated at the end.
  assert.deepEqual(rejection('[{"a":12'), [SplitErrors.UNTERMINATED, 8]);
  assert.deepEqual(rejection('[{"a":1.5'), [SplitErrors.UNTERMINATED, 9]);
});

test('literals are exactly true, false and null, followed by a delimiter', () => {
  const bad = ['tru', 'nul', 'fals', 't', 'truex', 'True', 'NULL', 'nulll', 'undefined', 'NaN', 'Infinity', 'true1', 'falsey', 'x'];
  for (const token of bad) {
    for (const [before, after] of [['[{"a":', '}]'], ['[{"a":[null,', ']}]'], ['[{"a":', ' }]']]) {
      const frame = `${before}${token}${after}`;
      assert.deepEqual(rejection(frame), [SplitErrors.BAD_LITERAL, before!.length], frame);
      assert.throws(() => JSON.parse(frame) as unknown, SyntaxError, frame);
    }
  }
  for (const frame of ['[{"a":true,"b":false,"c":null}]', '[{"a":[true,false,null]}]', '[{"a":true\r\n,"b" :null }]']) assert.equal(split(frame).error, undefined, frame);
  // A structural character ends the word; what follows is judged by the structure.
  assert.deepEqual(rejection('[{"a":true"x"}]'), [SplitErrors.UNEXPECTED, 10]);
  assert.deepEqual(rejection('[{"a":null:1}]'), [SplitErrors.UNEXPECTED, 10]);
  assert.deepEqual(rejection('[{"a":tru'), [SplitErrors.UNTERMINATED, 6]);
  assert.deepEqual(rejection('[{"a":tx'), [SplitErrors.BAD_LITERAL, 6]);
});

test('invalid UTF-8 is rejected first, at the first byte that does not begin a character', () => {
  const q = (s: string) => Buffer.from(s, 'latin1');
  const sequences: Array<[string, Buffer]> = [
    ['0xFF', q('\xff')],
    ['0xFE', q('\xfe')],
    ['lone continuation', q('\x80')],
    ['overlong 2-byte /', q('\xc0\xaf')],
    ['overlong 2-byte C1', q('\xc1\xbf')],
    ['overlong 3-byte', q('\xe0\x80\xaf')],
    ['overlong 4-byte', q('\xf0\x80\x80\xaf')],
    ['UTF-16 high surrogate', q('\xed\xa0\x80')],
    ['UTF-16 low surrogate', q('\xed\xbf\xbf')],
    ['above U+10FFFF', q('\xf4\x90\x80\x80')],
    ['0xF5 lead', q('\xf5\x80\x80\x80')],
    ['truncated 2 of 3', q('\xe2\x82')],
    ['truncated 1 of 2', q('\xc3')],
    ['truncated 3 of 4', q('\xf0\x9f\x98')],
  ];
  for (const [name, bad] of sequences) {
    const inString = Buffer.concat([q('[{"ev":"T","sym":"A'), bad, q('B"}]')]);
    const outside = Buffer.concat([q('[{"ev":"T"} '), bad, q(']')]);
    const atEnd = Buffer.concat([q('[{"ev":"T","x":"'), bad]);
    const inKey = Buffer.concat([q('[{"k'), bad, q('":1}]')]);
    for (const frame of [inString, outside, atEnd, inKey]) {
      assert.equal(isUtf8(frame), false, name);
      assert.deepEqual(rejection(frame), [SplitErrors.INVALID_UTF8, offsetOf(frame, bad)], `${name} in ${frame.toString('latin1')}`);
    }
  }
  // Checked before the structure: garbage with a bad byte is reported as bad UTF-8.
  assert.deepEqual(rejection(q('hello\xff')), [SplitErrors.INVALID_UTF8, 5]);
  // The offset is the first bad sequence's, even with good multi-byte characters before it.
  const mixed = Buffer.concat([Buffer.from('[{"s":"é€😀'), q('\xed\xa0\x80'), Buffer.from('"}]')]);
  assert.deepEqual(rejection(mixed), [SplitErrors.INVALID_UTF8, offsetOf(mixed, q('\xed'))]);
  // Valid edges: U+0080, U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF; a byte-order mark is not whitespace.
  const edges = Buffer.concat([q('[{"s":"'), q('\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf'), q('"}]')]);
  assert.equal(split(edges).error, undefined);
  assert.deepEqual(rejection(Buffer.concat([q('\xef\xbb\xbf'), Buffer.from('[]')])), [SplitErrors.NOT_ARRAY, 0]);
});

test('nesting: DEFAULT_MAX_DEPTH by default, any limit on request, the opener as the offset', () => {
  assert.equal(DEFAULT_MAX_DEPTH, 64);
  // The frame's array is depth 1 and the event depth 2: an event may hold 62 nested arrays.
  const nested = (k: number) => `[{"a":${'['.repeat(k)}${']'.repeat(k)}}]`;
  assert.equal(split(nested(62)).error, undefined);
  assert.deepEqual(rejection(nested(63)), [SplitErrors.TOO_DEEP, 6 + 62]);
  assert.deepEqual(rejection('[{"a":[]}]', 2), [SplitErrors.TOO_DEEP, 6]);
  assert.deepEqual(rejection('[{"a":{}}]', 2), [SplitErrors.TOO_DEEP, 6]);
  assert.equal(split('[{"a":1},{"b":"x"}]', 2).error, undefined);
  assert.deepEqual(rejection('[{}]', 1), [SplitErrors.TOO_DEEP, 1]);
  assert.equal(split('[]', 1).error, undefined);
  // Limits beyond the default: the scratch stack grows, and later frames are unaffected.
  assert.equal(split(nested(998), 1000).error, undefined);
  assert.deepEqual(rejection(nested(999), 1000), [SplitErrors.TOO_DEEP, 6 + 998]);
  assert.equal(split(nested(5000), 10_000).error, undefined);
  assert.deepEqual(rejection(nested(63)), [SplitErrors.TOO_DEEP, 68]);
  assert.deepEqual(split('[{"ev":"T","sym":"A","x":[[{"y":[1]}]]}]').events.map((e) => [e.ev, e.key]), [['T', 'A']]);
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => splitFrame(Buffer.from('[]'), new Slices(1), bad), RangeError, String(bad));
  }
});

test('events over the capacity: rejected at the first event over it', () => {
  const frame = '[{"ev":"T"}, {"ev":"T"}, {"ev":"T"}]';
  const out = new Slices(2);
  splitFrame(Buffer.from(frame), out);
  assert.deepEqual([out.error, out.errorAt, out.count], [SplitErrors.TOO_MANY, frame.lastIndexOf('{'), 0]);
  splitFrame(Buffer.from('[{"ev":"T"},{"ev":"Q"}]'), out);
  assert.deepEqual([out.error, out.count], [undefined, 2]);
});

test('routing fields agree with JSON.parse: the last value wins, and only a string counts', () => {
  const cases: Array<[string, string | undefined, string | undefined, number]> = [
    ['{"ev":"A","ev":"B","sym":"X","sym":"Y"}', 'B', 'Y', KEY_SYM],
    ['{"ev":"A","ev":1}', undefined, undefined, 0],
    ['{"ev":1,"ev":"B"}', 'B', undefined, 0],
    ['{"ev":null,"sym":"X"}', undefined, 'X', KEY_SYM],
    ['{"ev":{"ev":"inner"},"sym":["S"]}', undefined, undefined, 0],
    ['{"ev":"T","ev":["T"]}', undefined, undefined, 0],
    ['{"sym":1,"T":"K"}', undefined, 'K', KEY_T],
    ['{"sym":"A","T":"K","sym":null}', undefined, 'K', KEY_T],
    ['{"pair":"P","sym":"A","sym":false,"pair":"Q"}', undefined, 'Q', KEY_PAIR],
    ['{"sym":"A","sym":1,"sym":"B"}', undefined, 'B', KEY_SYM],
    ['{"T":"t1","pair":{"a":1},"T":"t2"}', undefined, 't2', KEY_T],
    ['{"sym":"A","pair":"P","sym":[1,"x]}",{"y":"}"}], "ev" : "E"}', 'E', 'P', KEY_PAIR],
    ['{"sym":"A","sym":1e5,"pair":true,"T":"t","T":-0.5}', undefined, undefined, 0],
    ['{"T":"t","pair":"p","sym":"s"}', undefined, 's', KEY_SYM],
    ['{"sym":"s","pair":"p","T":"t","pair":"q"}', undefined, 's', KEY_SYM],
    ['{"x":{"sym":"inner","ev":"inner"},"y":[{"T":"z"}]}', undefined, undefined, 0],
    ['{"Sym":"a","sym ":"b","ev ":"c","EV":"d","t":"e","Pair":"f"}', undefined, undefined, 0],
  ];
  for (const [event, ev, key, kind] of cases) {
    const parsed = JSON.parse(event) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    assert.equal(ev, str(parsed['ev']), `case table: ${event}`);
    assert.equal(key, str(parsed['sym']) ?? str(parsed['pair']) ?? str(parsed['T']), `case table: ${event}`);
    assert.deepEqual(fields(`[${event}, {"ev":"next","sym":"N"}]`), [
      { ev, key, kind, escaped: 0 },
      { ev: 'next', key: 'N', kind: KEY_SYM, escaped: 0 },
    ], event);
  }
});

test('escaped key names are decoded before they are compared', () => {
  const cases: Array<[string, string | undefined, string | undefined, number]> = [
    ['{"\\u0065v":"T","s\\u0079m":"AAPL"}', 'T', 'AAPL', KEY_SYM],
    ['{"p\\u0061ir":"BTC-USD"}', undefined, 'BTC-USD', KEY_PAIR],
    ['{"\\u0054":"K"}', undefined, 'K', KEY_T],
    ['{"\\u0070\\u0061\\u0069\\u0072":"P"}', undefined, 'P', KEY_PAIR],
    ['{"sym":"A","s\\u0079m":"B"}', undefined, 'B', KEY_SYM],
    ['{"s\\u0079m":"A","sym":1,"T":"t"}', undefined, 't', KEY_T],
    ['{"s\\\\ym":"A","e\\/v":"B","\\u0065v\\u0000":"C"}', undefined, undefined, 0],
    ['{"\\u0073\\u0079\\u006d\\u0020\\u0020":"long"}', undefined, undefined, 0],
  ];
  for (const [event, ev, key, kind] of cases) {
    const parsed = JSON.parse(event) as Record<string, unknown>;
    assert.equal(parsed['ev'] ?? undefined, ev, `case table: ${event}`);
    assert.deepEqual(fields(`[${event}]`), [{ ev, key, kind, escaped: 0 }], event);
  }
});

test('the escaped flag follows the reported ev and key, not other fields or earlier values', () => {
  assert.deepEqual(fields('[{"ev":"\\u0054","sym":"A"}]'), [{ ev: 'T', key: 'A', kind: KEY_SYM, escaped: 1 }]);
  assert.deepEqual(fields('[{"ev":"T","sym":"A\\"B"}]'), [{ ev: 'T', key: 'A"B', kind: KEY_SYM, escaped: 1 }]);
  assert.deepEqual(fields('[{"ev":"\\u0041","ev":"B"}]'), [{ ev: 'B', key: undefined, kind: 0, escaped: 0 }]);
  assert.deepEqual(fields('[{"ev":"A","ev":"\\u0042"}]'), [{ ev: 'B', key: undefined, kind: 0, escaped: 1 }]);
  assert.deepEqual(fields('[{"ev":"\\u0041","ev":null,"sym":"s"}]'), [{ ev: undefined, key: 's', kind: KEY_SYM, escaped: 0 }]);
  assert.deepEqual(fields('[{"T":"\\u0041","sym":"B"}]'), [{ ev: undefined, key: 'B', kind: KEY_SYM, escaped: 0 }]);
  assert.deepEqual(fields('[{"sym":"\\u0041","T":"x"}]'), [{ ev: undefined, key: 'A', kind: KEY_SYM, escaped: 1 }]);
  assert.deepEqual(fields('[{"sym":"\\u0041","T":"x","sym":0}]'), [{ ev: undefined, key: 'x', kind: KEY_T, escaped: 0 }]);
  assert.deepEqual(fields('[{"sym":"A","T":"\\u0078","sym":0}]'), [{ ev: undefined, key: 'x', kind: KEY_T, escaped: 1 }]);
  assert.deepEqual(fields('[{"ev":"T","note":"a\\nb","sym":"A","x":{"sym":"\\u0041"}}]'), [{ ev: 'T', key: 'A', kind: KEY_SYM, escaped: 0 }]);
});
