// Frame bytes → event slices, without JSON.parse and without converting the frame to a string.
//
// A Polygon data frame is a JSON array of objects. `splitFrame` checks that the frame is valid
// UTF-8 (one `isUtf8` call), then walks the bytes once with an explicit state machine that is an
// exact JSON validator: balanced brackets and braces, commas and colons where JSON puts them,
// strings without raw control characters and with only the escapes JSON defines, numbers by the
// JSON grammar, and exactly `true`, `false`, `null`. What it accepts, JSON.parse accepts too, so a
// consumer that later parses an event (or `decodeJsonString` on a routing field) cannot throw.
// For each top-level object it records where the object starts and ends and where the values of
// its top-level `ev` and key field (`sym`, `pair` or `T`) lie, as JSON.parse would see them.
//
// The result goes into a reusable `Slices` (struct of arrays): no allocation per event.

import { isUtf8 } from 'node:buffer';

/** Why a frame is not a JSON array of objects; goes with the frame to the dead-letter topic. */
export const SplitErrors = {
  EMPTY: 'empty frame',
  NOT_ARRAY: 'not a JSON array',
  NOT_OBJECT: 'array element is not an object',
  /**
   * The frame ends inside a string, number or literal (errorAt: its first byte, a string's opening
   * quote) or between values (errorAt: the frame's length). Also a raw control character (below
   * 0x20) inside a string (errorAt: the string's opening quote).
   */
  UNTERMINATED: 'unterminated JSON (frame ends inside a value)',
  UNEXPECTED: 'unexpected character',
  TRAILING: 'data after the closing bracket',
  /** Events per frame over the Slices capacity; errorAt: the `{` of the first event over it. */
  TOO_MANY: 'more events in one frame than the limit',
  /** Containers nested deeper than maxDepth (the frame's array is depth 1, an event depth 2); errorAt: the opener. */
  TOO_DEEP: 'nesting deeper than the limit',
  /** A backslash not followed by one of `" \ / b f n r t` or `u` and four hex digits; errorAt: the backslash. */
  BAD_ESCAPE: 'invalid escape in a string',
  /** A number outside `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; errorAt: the number's first byte. */
  BAD_NUMBER: 'invalid number',
  /** A bare word other than `true`, `false`, `null`; errorAt: its first byte. */
  BAD_LITERAL: 'invalid literal',
  /** errorAt: the first byte that does not begin a well-formed UTF-8 character. */
  INVALID_UTF8: 'not valid UTF-8',
} as const;
export type SplitError = (typeof SplitErrors)[keyof typeof SplitErrors];

/** Default nesting limit: the frame's array is depth 1, an event depth 2. */
export const DEFAULT_MAX_DEPTH = 64;

/** Key fields in order of preference: stocks and options use sym, forex/crypto pair, LULD/NOI/V T. */
export const KEY_SYM = 1;
export const KEY_PAIR = 2;
export const KEY_T = 3;
/** The pending top-level field is `ev` (the key fields use the KEY_* numbers). */
const F_EV = 4;
/** While an event is open, `escaped` holds two bits: the ev value's and the key value's. */
const ESC_EV = 1;
const ESC_KEY = 2;

export class Slices {
  count = 0;
  /** Offset of the event's `{` and one past its `}`. */
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** The content (between the quotes) of the event's last top-level `ev`, or -1 when that is not a string or absent. */
  readonly evStart: Int32Array;
  readonly evEnd: Int32Array;
  /** The content of the first of sym, pair, T whose last top-level value is a string, or -1 when none is. */
  readonly keyStart: Int32Array;
  readonly keyEnd: Int32Array;
  /** Which key field was reported (1 sym, 2 pair, 3 T; 0 none). */
  readonly keyKind: Uint8Array;
  /** 1 when the reported ev or key content holds a backslash escape (decode with decodeJsonString). */
  readonly escaped: Uint8Array;
  error: SplitError | undefined;
  errorAt = -1;

  /** The most events one frame may hold (more is TOO_MANY). */
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.start = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
    this.evStart = new Int32Array(capacity);
    this.evEnd = new Int32Array(capacity);
    this.keyStart = new Int32Array(capacity);
    this.keyEnd = new Int32Array(capacity);
    this.keyKind = new Uint8Array(capacity);
    this.escaped = new Uint8Array(capacity);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;

/** Whitespace JSON allows: space, tab, LF, CR. */
function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** How a value starts outside strings and containers: 1 a number (or a mangled one), 2 a bare word. */
const VALUE_START = new Uint8Array(256);
for (const c of '-+.0123456789') VALUE_START[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) VALUE_START[c] = 2;
for (let c = 0x61; c <= 0x7a; c++) VALUE_START[c] = 2;

/** Bytes that end a number or literal: whitespace and the structural characters. */
const DELIMITER = new Uint8Array(256);
for (const c of ' \t\n\r,:[]{}"') DELIMITER[c.charCodeAt(0)] = 1;

/** Characters allowed after a backslash, other than u. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

// What the scanner expects next inside a container.
const S_VALUE = 0; // a value (after `:`, or `,` in an array)
const S_KEY = 1; // a key string (after `,` in an object)
const S_COLON = 2;
const S_AFTER = 3; // `,` or the container's closer
const S_FIRST_KEY = 4; // a key or `}` (just after `{`)
const S_FIRST_VALUE = 5; // a value or `]` (just after `[`)

// Token scanners return an end offset, or one of these.
const CUT = -1; // the frame ends inside the token (or a string holds a raw control character)
const BAD = -2; // the token is malformed (badAt says where)

/** Container kinds by depth (1 object, 2 array); grows when a caller's maxDepth needs more. */
let STACK = new Uint8Array(DEFAULT_MAX_DEPTH + 1);

/**
 * Splits one frame. On success `out.count` events are described and `out.error` is undefined;
 * on a malformed frame `out.error` says why, `out.errorAt` where, and `out.count` is 0 (the frame
 * goes whole to the dead-letter topic: nothing of it is produced as events). Limits: at most
 * `out.capacity` events (TOO_MANY) and containers nested at most `maxDepth` deep (TOO_DEEP), the
 * frame's array counting as depth 1. `maxDepth` must be a positive integer (else RangeError).
 */
export function splitFrame(frame: Uint8Array, out: Slices, maxDepth: number = DEFAULT_MAX_DEPTH): void {
  out.count = 0;
  out.error = undefined;
  out.errorAt = -1;
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new RangeError(`splitFrame: maxDepth must be a positive integer, got ${maxDepth}`);
  if (!isUtf8(frame)) return fail(out, SplitErrors.INVALID_UTF8, firstInvalidUtf8(frame));
  const n = frame.length;
  let i = 0;
  while (i < n && isSpace(frame[i]!)) i++;
  if (i === n) return fail(out, SplitErrors.EMPTY, i);
  if (frame[i] !== LBRACKET) return fail(out, SplitErrors.NOT_ARRAY, i);
  i++;

  // Container stack: 1 = object, 2 = array. Depth 1 is the frame's array, depth 2 an event.
  let stack = STACK;
  let depth = 1;
  stack[1] = 2;
  let state = S_FIRST_VALUE;
  let ev = -1;
  // While inside an event: the top-level routing field whose value comes next (0 none, F_EV or
  // KEY_*), and whether the reported key's field later got a value that is not a string (then the
  // event's fields are resolved again when it closes: the rare path).
  let pending = 0;
  let irregular = false;
  let done = false;

  while (i < n) {
    const b = frame[i]!;
    if (b <= 0x20 && isSpace(b)) {
      i++;
      continue;
    }
    if (state === S_VALUE || state === S_FIRST_VALUE) {
      if (state === S_FIRST_VALUE && b === RBRACKET) {
        depth--;
        i++;
        if (depth === 0) {
          done = true;
          break;
        }
        state = S_AFTER;
        continue;
      }
      if (depth === 1 && b !== LBRACE) return fail(out, SplitErrors.NOT_OBJECT, i);
      state = S_AFTER;
      if (b === QUOTE) {
        const s = i + 1;
        const e = scanString(frame, s);
        if (e < 0) return failString(out, e, i);
        if (pending !== 0) {
          if (pending === F_EV) {
            out.evStart[ev] = s;
            out.evEnd[ev] = e;
            out.escaped[ev] = (out.escaped[ev]! & ESC_KEY) | (sawEscape ? ESC_EV : 0);
          } else {
            const current = out.keyKind[ev]!;
            if (current === 0 || current >= pending) {
              out.keyStart[ev] = s;
              out.keyEnd[ev] = e;
              out.keyKind[ev] = pending;
              out.escaped[ev] = (out.escaped[ev]! & ESC_EV) | (sawEscape ? ESC_KEY : 0);
            }
          }
          pending = 0;
        }
        i = e + 1;
        // A comma in an object usually follows at once: take it here rather than in another round.
        if (i < n && frame[i] === COMMA && stack[depth] === 1) {
          i++;
          state = S_KEY;
        }
        continue;
      }
      if (pending !== 0) {
        if (clearField(out, ev, pending)) irregular = true;
        pending = 0;
      }
      if (b === LBRACE || b === LBRACKET) {
        if (depth >= maxDepth) return fail(out, SplitErrors.TOO_DEEP, i);
        depth++;
        if (depth >= stack.length) stack = growStack(depth);
        stack[depth] = b === LBRACE ? 1 : 2;
        if (depth === 2) {
          if (out.count === out.capacity) return fail(out, SplitErrors.TOO_MANY, i);
          ev = out.count++;
          out.start[ev] = i;
          out.evStart[ev] = -1;
          out.evEnd[ev] = -1;
          out.keyStart[ev] = -1;
          out.keyEnd[ev] = -1;
          out.keyKind[ev] = 0;
          out.escaped[ev] = 0;
          irregular = false;
        }
        state = b === LBRACE ? S_FIRST_KEY : S_FIRST_VALUE;
        i++;
        continue;
      }
      const kind = VALUE_START[b]!;
      if (kind === 1) {
        // Fast path, inline: an unsigned integer with an optional fraction, then a delimiter.
        let j = i;
        if (b === ZERO) j++;
        else if (b > ZERO && b <= 0x39) {
          j++;
          while (j < n && isDigit(frame[j]!)) j++;
        }
        if (j > i && j < n) {
          let c = frame[j]!;
          if (c === DOT && j + 1 < n && isDigit(frame[j + 1]!)) {
            j += 2;
            while (j < n && isDigit(frame[j]!)) j++;
            c = j < n ? frame[j]! : QUOTE;
          }
          if (DELIMITER[c] === 1) {
            i = j;
            if (c === COMMA && stack[depth] === 1) {
              i++;
              state = S_KEY;
            }
            continue;
          }
        }
        // Anything else (sign, exponent, an error, the frame's end): the full grammar.
        const e = scanNumber(frame, i);
        if (e < 0) return fail(out, e === CUT ? SplitErrors.UNTERMINATED : SplitErrors.BAD_NUMBER, i);
        i = e;
        continue;
      }
      if (kind === 2) {
        const e = scanLiteral(frame, i);
        if (e < 0) return fail(out, e === CUT ? SplitErrors.UNTERMINATED : SplitErrors.BAD_LITERAL, i);
        i = e;
        continue;
      }
      return fail(out, SplitErrors.UNEXPECTED, i);
    }
    if (state === S_KEY || state === S_FIRST_KEY) {
      if (state === S_FIRST_KEY && b === RBRACE) {
        // An empty object: state is S_AFTER-like, handled by the closer below.
        state = S_AFTER;
      } else {
        if (b !== QUOTE) return fail(out, SplitErrors.UNEXPECTED, i);
        const s = i + 1;
        const e = scanString(frame, s);
        if (e < 0) return failString(out, e, i);
        if (depth === 2) pending = sawEscape ? fieldKindDecoded(frame, s, e) : fieldKind(frame, s, e);
        i = e + 1;
        // The colon usually follows at once: take it here rather than in another round.
        if (i < n && frame[i] === COLON) {
          i++;
          state = S_VALUE;
        } else state = S_COLON;
        continue;
      }
    }
    if (state === S_COLON) {
      if (b !== COLON) return fail(out, SplitErrors.UNEXPECTED, i);
      i++;
      state = S_VALUE;
      continue;
    }
    // S_AFTER
    const kind = stack[depth];
    if (b === COMMA) {
      i++;
      state = kind === 1 ? S_KEY : S_VALUE;
      continue;
    }
    if (kind === 1 && b === RBRACE) {
      i++;
      if (depth === 2) {
        out.end[ev] = i;
        if (irregular) resolveFields(frame, out, ev);
        else if (out.escaped[ev]! > 1) out.escaped[ev] = 1;
      }
      depth--;
      continue;
    }
    if (kind === 2 && b === RBRACKET) {
      i++;
      depth--;
      if (depth === 0) {
        done = true;
        break;
      }
      continue;
    }
    return fail(out, SplitErrors.UNEXPECTED, i);
  }
  if (!done) return fail(out, SplitErrors.UNTERMINATED, n);
  while (i < n && isSpace(frame[i]!)) i++;
  if (i !== n) return fail(out, SplitErrors.TRAILING, i);
}

function fail(out: Slices, error: SplitError, at: number): void {
  out.count = 0;
  out.error = error;
  out.errorAt = at;
}

/** A failed scanString: CUT reports the opening quote, BAD the escape's backslash. */
function failString(out: Slices, result: number, quote: number): void {
  if (result === CUT) fail(out, SplitErrors.UNTERMINATED, quote);
  else fail(out, SplitErrors.BAD_ESCAPE, badAt);
}

function growStack(depth: number): typeof STACK {
  const next = new Uint8Array(Math.max(depth + 1, STACK.length * 2));
  next.set(STACK);
  STACK = next;
  return next;
}

/** Set by scanString: whether the string it just scanned holds a backslash escape. */
let sawEscape = false;
/** Set by scanString on BAD: the offset of the invalid escape's backslash. */
let badAt = -1;

/**
 * Returns the index of the closing quote of the string whose content starts at s; CUT when the
 * frame ends inside it or it holds a raw control character; BAD on an invalid escape (badAt).
 */
function scanString(frame: Uint8Array, s: number): number {
  const n = frame.length;
  let i = s;
  sawEscape = false;
  while (i < n) {
    const b = frame[i]!;
    if (b === QUOTE) return i;
    if (b === BACKSLASH) {
      sawEscape = true;
      if (i + 1 === n) return CUT;
      const c = frame[i + 1]!;
      if (c === 0x75) {
        // \uXXXX: exactly four hex digits (a lone surrogate is fine: JSON.parse takes it)
        for (let k = i + 2; k < i + 6; k++) {
          if (k === n) return CUT;
          if (HEX[frame[k]!] !== 1) {
            badAt = i;
            return BAD;
          }
        }
        i += 6;
      } else if (SIMPLE_ESCAPE[c] === 1) i += 2;
      else {
        badAt = i;
        return BAD;
      }
    } else if (b < 0x20) return CUT; // raw control characters are not allowed in JSON strings
    else i++;
  }
  return CUT;
}

/** Scans `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` followed by a delimiter or the end. */
function scanNumber(frame: Uint8Array, i: number): number {
  const n = frame.length;
  let b = frame[i]!;
  if (b === MINUS) {
    if (++i === n) return CUT;
    b = frame[i]!;
  }
  if (b === ZERO) i++;
  else if (b > ZERO && b <= 0x39) {
    i++;
    while (i < n && isDigit(frame[i]!)) i++;
  } else return BAD;
  if (i < n && frame[i] === DOT) {
    if (++i === n) return CUT;
    if (!isDigit(frame[i]!)) return BAD;
    i++;
    while (i < n && isDigit(frame[i]!)) i++;
  }
  if (i < n && (frame[i] === 0x65 || frame[i] === 0x45)) {
    if (++i === n) return CUT;
    b = frame[i]!;
    if (b === 0x2b || b === MINUS) {
      if (++i === n) return CUT;
      b = frame[i]!;
    }
    if (!isDigit(b)) return BAD;
    i++;
    while (i < n && isDigit(frame[i]!)) i++;
  }
  if (i < n && DELIMITER[frame[i]!] !== 1) return BAD;
  return i;
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** Scans exactly `true`, `false` or `null` followed by a delimiter or the end. */
function scanLiteral(frame: Uint8Array, i: number): number {
  const n = frame.length;
  const b = frame[i]!;
  const word = b === 0x74 ? TRUE : b === 0x66 ? FALSE : b === 0x6e ? NULL : undefined;
  if (word === undefined) return BAD;
  for (let k = 1; k < word.length; k++) {
    if (i + k === n) return CUT;
    if (frame[i + k] !== word[k]) return BAD;
  }
  i += word.length;
  if (i < n && DELIMITER[frame[i]!] !== 1) return BAD;
  return i;
}

/**
 * A routing field whose value is not a string, so JSON.parse's last value for it is not one
 * either (until a later string). For ev: no ev. For a key field: returns true when it is the
 * reported one, whose place another kind may now take (resolved when the event closes).
 */
function clearField(out: Slices, ev: number, field: number): boolean {
  if (field !== F_EV) return out.keyKind[ev] === field;
  out.evStart[ev] = -1;
  out.evEnd[ev] = -1;
  out.escaped[ev] = out.escaped[ev]! & ESC_KEY;
  return false;
}

/**
 * The rare path, for an event (already validated) in which the reported key field later got a
 * value that is not a string: walks its top-level members again and reports ev and key by the
 * rule (last value of each field; the key is the first of sym, pair, T whose value is a string).
 */
function resolveFields(frame: Uint8Array, out: Slices, ev: number): void {
  const start = [-1, -1, -1, -1, -1];
  const end = [-1, -1, -1, -1, -1];
  const escaped = [false, false, false, false, false];
  let i = out.start[ev]! + 1;
  for (;;) {
    while (isSpace(frame[i]!)) i++;
    if (frame[i] === RBRACE) break;
    if (frame[i] === COMMA) {
      i++;
      continue;
    }
    const e = scanString(frame, i + 1);
    const field = sawEscape ? fieldKindDecoded(frame, i + 1, e) : fieldKind(frame, i + 1, e);
    i = e + 1;
    while (frame[i] !== COLON) i++;
    i++;
    while (isSpace(frame[i]!)) i++;
    if (frame[i] === QUOTE) {
      const ve = scanString(frame, i + 1);
      start[field] = i + 1;
      end[field] = ve;
      escaped[field] = sawEscape;
      i = ve + 1;
    } else {
      start[field] = -1;
      i = skipValue(frame, i);
    }
  }
  out.evStart[ev] = start[F_EV]!;
  out.evEnd[ev] = end[F_EV]!;
  let esc = start[F_EV]! >= 0 && escaped[F_EV]!;
  out.keyStart[ev] = -1;
  out.keyEnd[ev] = -1;
  out.keyKind[ev] = 0;
  for (let kind = KEY_SYM; kind <= KEY_T; kind++) {
    if (start[kind]! < 0) continue;
    out.keyStart[ev] = start[kind]!;
    out.keyEnd[ev] = end[kind]!;
    out.keyKind[ev] = kind;
    esc ||= escaped[kind]!;
    break;
  }
  out.escaped[ev] = esc ? 1 : 0;
}

/** Skips one validated value that is not a string (a container, number or literal). */
function skipValue(frame: Uint8Array, i: number): number {
  const b = frame[i]!;
  if (b !== LBRACE && b !== LBRACKET) {
    while (i < frame.length && DELIMITER[frame[i]!] !== 1) i++;
    return i;
  }
  let depth = 0;
  do {
    const c = frame[i]!;
    if (c === QUOTE) i = scanString(frame, i + 1);
    else if (c === LBRACE || c === LBRACKET) depth++;
    else if (c === RBRACE || c === RBRACKET) depth--;
    i++;
  } while (depth > 0);
  return i;
}

/** Which routing field a top-level key names: F_EV for ev, KEY_* for key fields, 0 for others. */
function fieldKind(frame: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len === 2 && frame[s] === 0x65 && frame[s + 1] === 0x76) return F_EV; // ev
  if (len === 3 && frame[s] === 0x73 && frame[s + 1] === 0x79 && frame[s + 2] === 0x6d) return KEY_SYM; // sym
  if (len === 4 && frame[s] === 0x70 && frame[s + 1] === 0x61 && frame[s + 2] === 0x69 && frame[s + 3] === 0x72) return KEY_PAIR; // pair
  if (len === 1 && frame[s] === 0x54) return KEY_T; // T
  return 0;
}

/** fieldKind for a key name written with escapes (`"s\u0079m"`): decoded first; the rare path. */
function fieldKindDecoded(frame: Uint8Array, s: number, e: number): number {
  if (e - s > 24) return 0; // `\uXXXX` × 4 is the longest spelling of a routing field
  const name = decodeJsonString(frame, s, e);
  return name === 'ev' ? F_EV : name === 'sym' ? KEY_SYM : name === 'pair' ? KEY_PAIR : name === 'T' ? KEY_T : 0;
}

/**
 * The offset of the first byte that does not begin a well-formed UTF-8 character (a stray or
 * invalid byte, or the lead byte of an overlong, surrogate, out-of-range or truncated sequence),
 * or -1 when the bytes are valid. Only called once isUtf8 has said no.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      if (b === 0xe0) lo = 0xa0; // overlong below
      else if (b === 0xed) hi = 0x9f; // UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      if (b === 0xf0) lo = 0x90; // overlong below
      else if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i; // continuation byte, C0/C1 (overlong), F5..FF
    if (i + more >= n) return i;
    const c = bytes[i + 1]!;
    if (c < lo || c > hi) return i;
    for (let k = 2; k <= more; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return -1;
}

/** Decodes a JSON string's content (the bytes between the quotes): the rare escaped path. */
export function decodeJsonString(frame: Uint8Array, s: number, e: number): string {
  return JSON.parse(`"${Buffer.from(frame.buffer, frame.byteOffset + s, e - s).toString('utf8')}"`) as string;
}

/** Bytes eventTimeMs stops at outside strings: quotes, brackets, braces, commas. */
const MEMBER_BYTE = new Uint8Array(256);
for (const c of '"{}[],') MEMBER_BYTE[c.charCodeAt(0)] = 1;

/** Above this an event's `t` is in µs (until the year 5138 in ms), above T_NS in ns. */
const T_US = 1e14;
const T_NS = 1e17;
/** The latest time a JavaScript Date holds (ms): a `t` beyond it is no time. */
const T_MAX_MS = 8.64e15;

/**
 * The event's own time for `--timestamp event`: the number in its top-level `t` as ms since the
 * epoch, or NaN when it has none (no `t`, a `t` that is not a number, or one that is not positive
 * or beyond what a Date holds). As JSON.parse reads it: the last `t` wins, `"\u0074"` is `t`.
 * Units by size: up to 1e14 ms (as is, fractions dropped); above 1e17 ns (÷1e6); between, µs
 * (÷1e3): Polygon sends ms, and ns in a few fields. An integer is converted by dropping its last
 * digits, so a 19-digit ns value loses nothing to floating point.
 *
 * Reads an event the splitter has validated (the bridge keeps no other); on bytes that are not a
 * JSON object it returns NaN or some number, never throws and never reads past the end. Not on the
 * splitter's path: called when a batch is written, and only with --timestamp event.
 */
export function eventTimeMs(event: Uint8Array): number {
  const n = event.length;
  let depth = 0;
  // A top-level key comes next (after the event's `{` or a comma between its members).
  let keyNext = false;
  let s = -1;
  let e = -1;
  let i = 0;
  while (i < n) {
    const b = event[i]!;
    // Numbers, literals, whitespace and colons: nothing to do.
    if (MEMBER_BYTE[b] !== 1) {
      i++;
      continue;
    }
    if (b === QUOTE) {
      let end: number;
      if (keyNext && event[i + 2] === QUOTE && event[i + 1] !== BACKSLASH) {
        // A one-character key (most of Polygon's): no scan needed.
        end = i + 2;
        sawEscape = false;
      } else {
        end = scanString(event, i + 1);
        if (end < 0) return NaN;
      }
      if (!keyNext) {
        i = end + 1;
        continue;
      }
      keyNext = false;
      const isT = end === i + 2 ? event[i + 1] === 0x74 : sawEscape && end - i - 1 <= 6 && decodeJsonString(event, i + 1, end) === 't';
      i = end + 1;
      if (!isT) continue;
      while (i < n && event[i] !== COLON) i++;
      i++;
      while (i < n && isSpace(event[i]!)) i++;
      if (i < n && VALUE_START[event[i]!] === 1) {
        s = i;
        while (i < n && DELIMITER[event[i]!] !== 1) i++;
        e = i;
      } else s = -1; // a later `t` that is not a number: JSON.parse's `t` is not one either
      continue;
    }
    if (b === LBRACE || b === LBRACKET) {
      depth++;
      if (depth === 1) {
        if (b !== LBRACE) return NaN;
        keyNext = true;
      }
    } else if (b === RBRACE || b === RBRACKET) {
      if (--depth === 0) break;
    } else if (depth === 1) keyNext = true; // a comma between the event's members
    i++;
  }
  return s < 0 ? NaN : timeMs(event, s, e);
}

/** The JSON number in bytes [s, e) as ms (see eventTimeMs), or NaN. */
function timeMs(b: Uint8Array, s: number, e: number): number {
  let v = 0;
  let i = s;
  for (; i < e; i++) {
    const d = b[i]! - ZERO;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  if (i === e && e > s) {
    // An unsigned integer (the usual case): ns and µs lose their last digits, exactly.
    if (v > T_NS) v = digitsValue(b, s, e - 6);
    else if (v > T_US) v = digitsValue(b, s, e - 3);
  } else {
    // A sign, a fraction or an exponent: the rare path.
    v = Number(Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1'));
    v = Math.floor(v > T_NS ? v / 1e6 : v > T_US ? v / 1e3 : v);
  }
  return v > 0 && v <= T_MAX_MS ? v : NaN;
}

/** The decimal digits in [s, e) as a number. */
function digitsValue(b: Uint8Array, s: number, e: number): number {
  let v = 0;
  for (let i = s; i < e; i++) v = v * 10 + (b[i]! - ZERO);
  return v;
}
