// Fuzzing the splitter against JSON.parse: seeded random frames, valid ones (arrays of objects with
// duplicate and escaped routing keys, nested values, escapes, unicode, numbers of every shape,
// whitespace) and mutated ones (byte flips, insertions, deletions, truncation, injected backslashes,
// bad numbers and literals, invalid UTF-8). Every frame is checked against the property below.
//
//   node bench/fuzz-split.ts [--frames N] [--seed S] [--case K]
//
// --frames: how many frames (default 1,000,000); --seed: the run's seed (default: random, printed);
// --case: only that frame of the seed's run, printed in full (to reproduce a reported violation).
// Exit 1 when any frame violates the property. test/unit/split-property.test.ts runs the same
// generator and check on every `npm test`.
//
// The property: when splitFrame accepts, the frame is valid UTF-8, JSON.parse accepts it, the result
// is an array of objects of `count` elements, each event slice parses to its element, and ev and key
// (decoded) are what JSON.parse's element says (the last ev if it is a string; the first of sym,
// pair, T whose last value is a string). When it rejects: INVALID_UTF8 exactly when the frame is not
// valid UTF-8 (at the first bad sequence); for valid JSON, exactly the shape or limit error the
// parsed value calls for (NOT_ARRAY, NOT_OBJECT, TOO_DEEP, TOO_MANY, in frame order); otherwise
// JSON.parse must throw too, and the token errors point at a byte that starts such a token.
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { decodeJsonString, DEFAULT_MAX_DEPTH, KEY_PAIR, KEY_SYM, KEY_T, Slices, splitFrame, SplitErrors } from '../src/split/split.ts';

// ---------------------------------------------------------------------------------------------
// Random numbers: mulberry32, one generator per frame derived from (seed, case), so that any
// single frame can be reproduced without the ones before it.

export class Rng {
  #state: number;
  constructor(seed: number, index: number) {
    let h = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    this.#state = (h ^ (h >>> 16)) >>> 0;
  }
  /** A uint32. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() < p * 0x100000000;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Valid frames, written as JSON text (not JSON.stringify: duplicates, escapes, spacing are ours).

const ROUTING_KEYS = ['ev', 'sym', 'pair', 'T'];
const ESCAPED_ROUTING_KEYS = ['\\u0065v', 's\\u0079m', 'p\\u0061ir', '\\u0054', '\\u0065\\u0076', 'sy\\u006D', '\\u0073\\u0079\\u006d', 'p\\u0061\\u0069r'];
const NEAR_KEYS = ['Sym', 'ev ', 'EV', 'e', 'symb', 'pai', 't', 'TT', 's\\\\ym', 'e\\/v', '\\u0065v\\u0000', ''];
const PLAIN_KEYS = ['p', 's', 'x', 'c', 't', 'q', 'z', 'i', 'status', 'message', 'bp', 'ap'];
const EV_VALUES = ['T', 'Q', 'A', 'AM', 'XT', 'LULD', 'status', 'FMV'];
const SYMBOLS = ['AAPL', 'MSFT', 'BTC-USD', 'O:SPY251219C00650000', 'X:BTCUSD', 'é', '{[', 'a"b', 'x\\y'];
const HEX = '0123456789abcdefABCDEF';
const RAW_CHARS = ['é', '€', '😀', '中', '\u2028', '\u007f', '\uffff', '\u0080', 'ß', '𝄞'];
const SIMPLE_ESCAPES = ['\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t'];

class FrameWriter {
  readonly r: Rng;
  constructor(r: Rng) {
    this.r = r;
  }

  ws(): string {
    const r = this.r;
    if (!r.chance(0.25)) return '';
    let s = '';
    for (let k = 1 + r.int(3); k > 0; k--) s += r.pick([' ', ' ', '\n', '\t', '\r']);
    return s;
  }

  /** A whole frame: usually an array of objects; now and then another JSON value. */
  frame(): string {
    const r = this.r;
    if (r.chance(0.02)) return this.ws() + this.value(1) + this.ws();
    const n = r.chance(0.05) ? 0 : r.chance(0.03) ? 10 + r.int(60) : 1 + r.int(6);
    const parts: string[] = [];
    for (let k = 0; k < n; k++) parts.push(this.ws() + (r.chance(0.02) ? this.value(2) : this.event()) + this.ws());
    return `${this.ws()}[${parts.join(',')}${n === 0 ? this.ws() : ''}]${this.ws()}`;
  }

  /** An event: routing keys (often repeated, sometimes not strings, sometimes escaped) among others. */
  event(): string {
    const r = this.r;
    const members: string[] = [];
    if (r.chance(0.85)) members.push(this.member('ev', this.q(r.pick(EV_VALUES))));
    if (r.chance(0.8)) members.push(this.member(r.pick(['sym', 'sym', 'pair', 'T']), this.q(r.pick(SYMBOLS))));
    for (let k = r.int(7); k > 0; k--) {
      const roll = r.int(100);
      const key = roll < 30 ? r.pick(ROUTING_KEYS) : roll < 37 ? r.pick(ESCAPED_ROUTING_KEYS) : roll < 45 ? r.pick(NEAR_KEYS) : roll < 75 ? r.pick(PLAIN_KEYS) : this.stringBody();
      const routing = roll < 37;
      members.push(this.member(key, routing && r.chance(0.7) ? this.string() : this.value(3)));
    }
    // Shuffle, so that ev and the key field come anywhere and in any order.
    for (let k = members.length - 1; k > 0; k--) {
      const j = r.int(k + 1);
      [members[k], members[j]] = [members[j]!, members[k]!];
    }
    return `{${members.join(',')}${members.length === 0 ? this.ws() : ''}}`;
  }

  member(key: string, value: string): string {
    return `${this.ws()}"${key}"${this.ws()}:${this.ws()}${value}${this.ws()}`;
  }

  /** A value at the given depth (the frame's array is depth 1). */
  value(depth: number): string {
    const r = this.r;
    if (r.chance(0.005)) return this.chain(20 + r.int(140));
    const roll = r.int(100);
    const deep = depth > 6;
    if (roll < 35) return this.string();
    if (roll < 60) return this.number();
    if (roll < 70) return r.pick(['true', 'false', 'null']);
    if (roll < 85 && !deep) {
      const members: string[] = [];
      for (let k = r.int(4); k > 0; k--) members.push(this.member(r.chance(0.3) ? r.pick(ROUTING_KEYS) : this.stringBody(), this.value(depth + 1)));
      return `{${members.join(',')}${members.length === 0 ? this.ws() : ''}}`;
    }
    if (!deep) {
      const items: string[] = [];
      for (let k = r.int(5); k > 0; k--) items.push(this.ws() + this.value(depth + 1) + this.ws());
      return `[${items.join(',')}${items.length === 0 ? this.ws() : ''}]`;
    }
    return this.number();
  }

  /** Containers nested k deep (around the depth limits). */
  chain(k: number): string {
    const r = this.r;
    let open = '';
    let close = '';
    for (let d = 0; d < k; d++) {
      if (r.chance(0.5)) {
        open += '[';
        close = ']' + close;
      } else {
        open += '{"k":';
        close = '}' + close;
      }
    }
    return open + this.number() + close;
  }

  q(text: string): string {
    return JSON.stringify(text);
  }

  string(): string {
    return `"${this.stringBody()}"`;
  }

  /** String content as it appears between the quotes: plain, escaped, raw unicode. */
  stringBody(): string {
    const r = this.r;
    let s = '';
    for (let k = r.int(10); k > 0; k--) {
      const roll = r.int(100);
      if (roll < 50) s += String.fromCharCode(0x20 + r.int(0x5f)).replace(/["\\]/, 'x');
      else if (roll < 65) s += r.pick(SIMPLE_ESCAPES);
      else if (roll < 80) s += r.pick(RAW_CHARS);
      else if (roll < 90) {
        let hex = '';
        for (let d = 0; d < 4; d++) hex += HEX[r.int(HEX.length)];
        s += `\\u${hex}`;
      } else s += `\\u${r.pick(['d800', 'DBFF', 'dc00', 'DFFF', 'd83d', 'de00', '0000', '001f', '0022', '005c'])}`;
    }
    return s;
  }

  number(): string {
    const r = this.r;
    let s = r.chance(0.25) ? '-' : '';
    if (r.chance(0.25)) s += '0';
    else {
      s += String(1 + r.int(9));
      for (let k = r.chance(0.1) ? r.int(30) : r.int(6); k > 0; k--) s += String(r.int(10));
    }
    if (r.chance(0.4)) {
      s += '.';
      for (let k = 1 + r.int(8); k > 0; k--) s += String(r.int(10));
    }
    if (r.chance(0.2)) {
      s += r.pick(['e', 'E']) + r.pick(['', '+', '-']);
      for (let k = 1 + r.int(3); k > 0; k--) s += String(r.int(10));
    }
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations: what a broken feed or a hostile one could send.

const INTERESTING_BYTES = [...'"\\{}[],:01-.eE+tfnu ', '\x00', '\x1f', '\x7f'].map((c) => c.charCodeAt(0)).concat([0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff]);
const INJECTIONS = [
  '\\', '\\u', '\\u00', '\\uZZZZ', '\\x', '\\ud800', '\\U0041', '\\', '"', ',', ':', '[', ']', '{', '}', '01', '1.', '.5', '-', '1e', '1e+', '+1', '-0', 'tru', 'nul', 'truex', 'NaN', 'true', 'null', '""', '{}', '[]', ' ', '\n',
].map((s) => Buffer.from(s, 'latin1'))
  .concat(['c0af', 'e080af', 'eda080', 'edbfbf', 'e282', 'f4908080', 'f5808080', 'ff', 'fe', '80', 'c3', 'f09f98', 'efbbbf', 'c280', 'f48fbfbf'].map((h) => Buffer.from(h, 'hex')));

function mutate(r: Rng, frame: Buffer): Buffer {
  let b = frame;
  for (let m = 1 + (r.chance(0.3) ? r.int(3) : 0); m > 0; m--) {
    const at = r.int(b.length + 1);
    switch (r.int(9)) {
      case 0: // flip to any byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] = r.int(256);
        break;
      case 1: // set to an interesting byte
        if (b.length > 0) b[Math.min(at, b.length - 1)] = r.pick(INTERESTING_BYTES);
        break;
      case 2: // insert an interesting byte
        b = Buffer.concat([b.subarray(0, at), Buffer.of(r.pick(INTERESTING_BYTES)), b.subarray(at)]);
        break;
      case 3:
      case 4: // inject a sequence (a backslash, a bad number, invalid UTF-8, ...), inside a string or not
        b = Buffer.concat([b.subarray(0, at), r.pick(INJECTIONS), b.subarray(at)]);
        break;
      case 5: // delete a byte or a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (r.chance(0.3) ? r.int(8) : 0))]);
        break;
      case 6: // truncate
        b = b.subarray(0, at);
        break;
      case 7: {
        // duplicate a range elsewhere
        const from = r.int(b.length + 1);
        const piece = Buffer.from(b.subarray(from, from + 1 + r.int(12)));
        b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
        break;
      }
      default: {
        // swap two bytes
        if (b.length < 2) break;
        const x = Math.min(at, b.length - 1);
        const y = r.int(b.length);
        const t = b[x]!;
        b[x] = b[y]!;
        b[y] = t;
      }
    }
  }
  return b;
}

export interface FuzzCase {
  frame: Buffer;
  maxDepth: number;
  capacity: number;
  mutated: boolean;
}

/** Frame number `index` of the run with this seed. */
export function makeCase(seed: number, index: number): FuzzCase {
  const r = new Rng(seed, index);
  const maxDepth = r.chance(0.8) ? DEFAULT_MAX_DEPTH : r.pick([1, 2, 3, 4, 6, 100, 200]);
  const capacity = r.chance(0.85) ? 64 : r.pick([1, 3, 8]);
  const text = new FrameWriter(r).frame();
  const valid = Buffer.from(text, 'utf8');
  const mutated = r.chance(0.55);
  return { frame: mutated ? mutate(r, Buffer.from(valid)) : valid, maxDepth, capacity, mutated };
}

// ---------------------------------------------------------------------------------------------
// The property.

const ERROR_NAMES = new Map<string, string>(Object.entries(SplitErrors).map(([name, message]) => [message, name]));

export interface Verdict {
  /** 'accepted', or the rejection's name (BAD_ESCAPE, ...). */
  outcome: string;
  /** Set when the splitter and the property disagree. */
  violation?: string;
  /** JSON.parse accepted the frame but gave other keys or values than the reference parser. */
  jsonParseDiffers?: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isSpaceByte(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * What splitFrame must say, and where, of a frame that is valid UTF-8 and valid JSON: the first in
 * frame order of an element that is not an object, the event over the capacity, a container opened
 * deeper than maxDepth. Depth is read from the text, not the parsed value: with a duplicate key,
 * JSON.parse drops the earlier value, however deep, but its bytes are still in the frame.
 */
function expectedFor(frame: Buffer, parsed: unknown, capacity: number, maxDepth: number): [string | undefined, number] {
  if (!Array.isArray(parsed)) return [SplitErrors.NOT_ARRAY, frame.findIndex((b) => !isSpaceByte(b))];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  let element = 0;
  for (let i = 0; i < frame.length; i++) {
    const b = frame[i]!;
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
      continue;
    }
    if (expectElement && !isSpaceByte(b) && b !== 0x5d) {
      expectElement = false;
      if (b !== 0x7b) return [SplitErrors.NOT_OBJECT, i];
      if (maxDepth < 2) return [SplitErrors.TOO_DEEP, i];
      if (element++ >= capacity) return [SplitErrors.TOO_MANY, i];
    }
    if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > maxDepth) return [SplitErrors.TOO_DEEP, i];
      if (depth === 1) expectElement = true;
    } else if (b === 0x5d || b === 0x7d) depth--;
    else if (b === 0x2c && depth === 1) expectElement = true;
  }
  return [undefined, -1];
}

const WS = /[ \t\n\r]*/y;
// eslint-disable-next-line no-control-regex -- JSON strings may not hold raw U+0000..U+001F
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * A plain JSON parser, the property's source of keys and values. V8's JSON.parse (Node 24.21 here)
 * can return a wrong key: after it has parsed an object whose key at some position was a lone
 * backslash (`"\\"`), an object with the same keys before that position and a one-character
 * escaped key there (`"\n"`, `"\u0054"`, `"\""`) gets the key `\` instead (a key cache hit on
 * the raw bytes; nodejs/node#63785, open). Strings here are decoded one by one with JSON.parse,
 * which that bug does not touch; duplicate keys keep their first position, as in JSON.parse.
 */
export function referenceParse(text: string): unknown {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`reference parser: unexpected input at ${i}`);
  };
  const skip = (): void => {
    WS.lastIndex = i;
    WS.exec(text);
    i = WS.lastIndex;
  };
  const string = (): string => {
    STRING.lastIndex = i;
    const m = STRING.exec(text) ?? fail();
    i = STRING.lastIndex;
    return JSON.parse(m[0]) as string;
  };
  const value = (): unknown => {
    skip();
    const c = text.charCodeAt(i);
    if (c === 0x22) return string();
    if (c === 0x7b) {
      i++;
      const o: Record<string, unknown> = {};
      skip();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return o;
      }
      for (;;) {
        skip();
        if (text.charCodeAt(i) !== 0x22) fail();
        const key = string();
        skip();
        if (text.charCodeAt(i++) !== 0x3a) fail();
        const v = value();
        if (key === '__proto__') Object.defineProperty(o, key, { value: v, writable: true, enumerable: true, configurable: true });
        else o[key] = v;
        skip();
        const d = text.charCodeAt(i++);
        if (d === 0x7d) return o;
        if (d !== 0x2c) fail();
      }
    }
    if (c === 0x5b) {
      i++;
      const a: unknown[] = [];
      skip();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        skip();
        const d = text.charCodeAt(i++);
        if (d === 0x5d) return a;
        if (d !== 0x2c) fail();
      }
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text) ?? fail();
    i = NUMBER.lastIndex;
    return Number(m[0]);
  };
  const v = value();
  skip();
  if (i !== text.length) fail();
  return v;
}

/** Deep equality of two JSON.parse results (same key order, as both come from the same text). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (!same(a[k], b[k])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let k = 0; k < ka.length; k++) {
    if (ka[k] !== kb[k] || !same((a as Record<string, unknown>)[ka[k]!], (b as Record<string, unknown>)[kb[k]!])) return false;
  }
  return true;
}

/** The first offset at which no well-formed UTF-8 character starts, found with isUtf8 alone. */
function isFirstBadUtf8(frame: Buffer, at: number): boolean {
  if (at < 0 || at >= frame.length || !isUtf8(frame.subarray(0, at))) return false;
  for (let len = 1; len <= 4 && at + len <= frame.length; len++) if (isUtf8(frame.subarray(at, at + len))) return false;
  return true;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Splits the frame and checks the result against the property. */
export function checkCase(c: FuzzCase, out: Slices): Verdict {
  const { frame, maxDepth } = c;
  try {
    splitFrame(frame, out, maxDepth);
  } catch (err) {
    return { outcome: 'threw', violation: `splitFrame threw: ${String(err)}` };
  }
  const utf8 = isUtf8(frame);
  const text = frame.toString('utf8');
  let parsed: unknown;
  let parses = true;
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0; // most frames here do not parse: no stack traces for their errors
  try {
    parsed = JSON.parse(text);
  } catch {
    parses = false;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  // JSON.parse's verdict decides acceptance; the values come from the reference parser, which
  // agrees with JSON.parse's specification but not with V8's key cache (see referenceParse).
  let reference: unknown;
  if (parses) {
    try {
      reference = referenceParse(text);
    } catch (err) {
      return { outcome: 'harness', violation: `the reference parser rejects what JSON.parse accepts: ${String(err)}` };
    }
  }
  const jsonParseDiffers = parses && !same(parsed, reference);
  if (out.error === undefined) {
    const bad = (why: string): Verdict => ({ outcome: 'accepted', violation: why, jsonParseDiffers });
    if (!utf8) return bad('accepted a frame that is not valid UTF-8');
    if (!parses) return bad('accepted a frame JSON.parse rejects');
    if (!Array.isArray(reference)) return bad('accepted a frame that is not an array');
    if (reference.length !== out.count) return bad(`count ${out.count}, JSON.parse finds ${reference.length} elements`);
    const [want, wantAt] = expectedFor(frame, reference, out.capacity, maxDepth);
    if (want !== undefined) return bad(`accepted a frame over a limit or not of objects: ${want} at ${wantAt}`);
    for (let e = 0; e < out.count; e++) {
      const el: unknown = reference[e];
      if (!isObject(el)) return bad(`element ${e} is not an object`);
      const s = out.start[e]!;
      const end = out.end[e]!;
      if (frame[s] !== 0x7b || frame[end - 1] !== 0x7d) return bad(`event ${e}: slice ${s}..${end} is not an object's bytes`);
      const slice = frame.toString('utf8', s, end);
      let sliceValue: unknown;
      try {
        JSON.parse(slice);
        sliceValue = referenceParse(slice);
      } catch {
        return bad(`event ${e}: its slice does not parse`);
      }
      if (!same(sliceValue, el)) return bad(`event ${e}: its slice parses to another value than the element`);
      const wantEv = str(el['ev']);
      const wantKind = str(el['sym']) !== undefined ? KEY_SYM : str(el['pair']) !== undefined ? KEY_PAIR : str(el['T']) !== undefined ? KEY_T : 0;
      const wantKey = wantKind === 0 ? undefined : str(el[['', 'sym', 'pair', 'T'][wantKind]!]);
      let gotEv: string | undefined;
      let gotKey: string | undefined;
      try {
        gotEv = out.evStart[e]! < 0 ? undefined : decodeJsonString(frame, out.evStart[e]!, out.evEnd[e]!);
        gotKey = out.keyStart[e]! < 0 ? undefined : decodeJsonString(frame, out.keyStart[e]!, out.keyEnd[e]!);
      } catch (err) {
        return bad(`event ${e}: decodeJsonString threw on a reported slice: ${String(err)}`);
      }
      if (gotEv !== wantEv) return bad(`event ${e}: ev ${JSON.stringify(gotEv)}, JSON.parse says ${JSON.stringify(wantEv)}`);
      if (gotKey !== wantKey || out.keyKind[e] !== wantKind) return bad(`event ${e}: key ${JSON.stringify(gotKey)} (kind ${out.keyKind[e]}), JSON.parse says ${JSON.stringify(wantKey)} (kind ${wantKind})`);
      const backslash =
        (out.evStart[e]! >= 0 && frame.subarray(out.evStart[e], out.evEnd[e]).includes(0x5c)) ||
        (out.keyStart[e]! >= 0 && frame.subarray(out.keyStart[e], out.keyEnd[e]).includes(0x5c));
      if ((out.escaped[e] === 1) !== backslash) return bad(`event ${e}: escaped ${out.escaped[e]} but backslash in ev/key: ${backslash}`);
    }
    return { outcome: 'accepted', jsonParseDiffers };
  }

  const outcome = ERROR_NAMES.get(out.error) ?? out.error;
  const bad = (why: string): Verdict => ({ outcome, violation: `${why} (rejected: ${out.error} at ${out.errorAt})`, jsonParseDiffers });
  if (out.count !== 0) return bad('a rejected frame reports events');
  if (!utf8) {
    if (out.error !== SplitErrors.INVALID_UTF8) return bad('invalid UTF-8 not reported as such');
    if (!isFirstBadUtf8(frame, out.errorAt)) return bad('the offset is not the first invalid UTF-8 sequence');
    return { outcome };
  }
  if (out.error === SplitErrors.INVALID_UTF8) return bad('valid UTF-8 reported as invalid');
  if (parses) {
    const [want, wantAt] = expectedFor(frame, reference, out.capacity, maxDepth);
    if (want !== out.error || wantAt !== out.errorAt) return bad(`JSON.parse accepts the frame; the splitter should say ${want ?? 'nothing'} at ${wantAt}`);
    return { outcome, jsonParseDiffers };
  }
  // JSON.parse rejects the frame too: any reason will do, but token errors must point at such a token.
  const at = frame[out.errorAt];
  const ok =
    out.error === SplitErrors.BAD_ESCAPE ? at === 0x5c
    : out.error === SplitErrors.BAD_NUMBER ? at !== undefined && /[-+.0-9]/.test(String.fromCharCode(at))
    : out.error === SplitErrors.BAD_LITERAL ? at !== undefined && /[A-Za-z]/.test(String.fromCharCode(at))
    : out.error === SplitErrors.TOO_DEEP ? at === 0x5b || at === 0x7b
    : out.error === SplitErrors.TOO_MANY ? at === 0x7b
    : out.errorAt >= 0 && out.errorAt <= frame.length;
  if (!ok) return bad('the offset does not point at what the error names');
  return { outcome };
}

export interface FuzzReport {
  seed: number;
  frames: number;
  counts: Map<string, number>;
  acceptedMutated: number;
  /** Frames where V8's JSON.parse gave other keys than the reference parser: how many, the first few. */
  jsonParseDiffersCount: number;
  jsonParseDiffers: number[];
  violations: Array<{ index: number; case: FuzzCase; verdict: Verdict }>;
}

/** Runs frames [from, from + frames) of the seed's run; stops collecting after 20 violations. */
export function fuzz(seed: number, frames: number, from = 0): FuzzReport {
  const slices = new Map<number, Slices>();
  const counts = new Map<string, number>();
  const violations: FuzzReport['violations'] = [];
  let acceptedMutated = 0;
  const jsonParseDiffers: number[] = [];
  let jsonParseDiffersCount = 0;
  for (let index = from; index < from + frames; index++) {
    const c = makeCase(seed, index);
    let out = slices.get(c.capacity);
    if (out === undefined) slices.set(c.capacity, (out = new Slices(c.capacity)));
    const verdict = checkCase(c, out);
    counts.set(verdict.outcome, (counts.get(verdict.outcome) ?? 0) + 1);
    if (verdict.outcome === 'accepted' && c.mutated) acceptedMutated++;
    if (verdict.jsonParseDiffers === true && jsonParseDiffers.length < 5) jsonParseDiffers.push(index);
    if (verdict.jsonParseDiffers === true) jsonParseDiffersCount++;
    if (verdict.violation !== undefined && violations.length < 20) violations.push({ index, case: c, verdict });
  }
  return { seed, frames, counts, acceptedMutated, violations, jsonParseDiffers, jsonParseDiffersCount };
}

/** One violation, with what it takes to reproduce it. */
export function describeViolation(seed: number, v: FuzzReport['violations'][number]): string {
  const { frame, maxDepth, capacity, mutated } = v.case;
  return [
    `violation at seed ${seed} case ${v.index}: ${v.verdict.violation}`,
    `  reproduce: node bench/fuzz-split.ts --seed ${seed} --case ${v.index}`,
    `  maxDepth ${maxDepth}, capacity ${capacity}, ${mutated ? 'mutated' : 'generated valid'}, ${frame.length} bytes`,
    `  frame (latin1, JSON-quoted): ${JSON.stringify(frame.toString('latin1'))}`,
  ].join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const k = args.indexOf(name);
    return k < 0 ? undefined : args[k + 1];
  };
  const seed = flag('--seed') !== undefined ? Number(flag('--seed')) >>> 0 : randomBytes(4).readUInt32LE(0);
  const only = flag('--case');
  if (only !== undefined) {
    const c = makeCase(seed, Number(only));
    const v = checkCase(c, new Slices(c.capacity));
    console.log(`seed ${seed} case ${only}: ${v.outcome}${v.violation === undefined ? '' : `, VIOLATION: ${v.violation}`}`);
    console.log(`maxDepth ${c.maxDepth}, capacity ${c.capacity}, ${c.mutated ? 'mutated' : 'generated valid'}, ${c.frame.length} bytes`);
    console.log(`frame (latin1, JSON-quoted): ${JSON.stringify(c.frame.toString('latin1'))}`);
    process.exitCode = v.violation === undefined ? 0 : 1;
    return;
  }
  const frames = Number(flag('--frames') ?? 1_000_000);
  console.log(`fuzzing splitFrame: ${frames.toLocaleString('en-US')} frames, seed ${seed}`);
  const t0 = process.hrtime.bigint();
  const report = fuzz(seed, frames);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const rows = [...report.counts.entries()].sort((a, b) => b[1] - a[1]);
  for (const [outcome, n] of rows) console.log(`  ${outcome.padEnd(14)} ${n.toLocaleString('en-US').padStart(10)}  ${((100 * n) / frames).toFixed(2)} %`);
  console.log(`  (accepted after a mutation: ${report.acceptedMutated.toLocaleString('en-US')})`);
  console.log(`  (V8's JSON.parse gave other keys than the reference parser, nodejs/node#63785: ${report.jsonParseDiffersCount} frames${report.jsonParseDiffers.length > 0 ? `, cases ${report.jsonParseDiffers.join(', ')}` : ''})`);
  console.log(`${report.violations.length === 0 ? 'no' : report.violations.length >= 20 ? '20 or more' : report.violations.length} property violations; ${seconds.toFixed(1)} s`);
  for (const v of report.violations) console.log(describeViolation(seed, v));
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}

if (import.meta.main) main();
