// Frame bytes → event slices, without JSON.parse and without converting the frame to a string.
//
// A Polygon data frame is a JSON array of objects. `splitFrame` walks the bytes once with an
// explicit state machine, checks the frame's shape (an array of objects; balanced brackets and
// braces; terminated strings; commas and colons where JSON puts them; nothing but number and
// literal characters outside strings), and for each top-level object records where it starts and
// ends and where the values of its top-level `ev` and key field (`sym`, `pair` or `T`) lie.
// Numbers and literals are checked for their alphabet only, not their grammar: such a value is
// passed through byte for byte and never re-serialised, so a bridge need not judge it.
//
// The result goes into a reusable `Slices` (struct of arrays): no allocation per event.

/** Why a frame is not a JSON array of objects; goes with the frame to the dead-letter topic. */
export const SplitErrors = {
  EMPTY: 'empty frame',
  NOT_ARRAY: 'not a JSON array',
  NOT_OBJECT: 'array element is not an object',
  UNTERMINATED: 'unterminated JSON (frame ends inside a value)',
  UNEXPECTED: 'unexpected character',
  TRAILING: 'data after the closing bracket',
  TOO_MANY: 'more events in one frame than the limit',
} as const;
export type SplitError = (typeof SplitErrors)[keyof typeof SplitErrors];

/** Key fields in order of preference: stocks and options use sym, forex/crypto pair, LULD/NOI/V T. */
const KEY_SYM = 1;
const KEY_PAIR = 2;
const KEY_T = 3;

export class Slices {
  count = 0;
  /** Offset of the event's `{` and one past its `}`. */
  readonly start: Int32Array;
  readonly end: Int32Array;
  /** The `ev` string's content (between the quotes), or -1 when the event has none. */
  readonly evStart: Int32Array;
  readonly evEnd: Int32Array;
  /** The key string's content, or -1 when the event has no key field. */
  readonly keyStart: Int32Array;
  readonly keyEnd: Int32Array;
  /** Which key field was found (1 sym, 2 pair, 3 T), so sym wins over T when both exist. */
  readonly keyKind: Uint8Array;
  /** 1 when the ev or key string holds a backslash escape (decode before use). */
  readonly escaped: Uint8Array;
  error: SplitError | undefined;
  errorAt = -1;

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

/** Whitespace JSON allows: space, tab, LF, CR. */
function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Characters of numbers and of true/false/null. */
const SCALAR = new Uint8Array(256);
for (const c of '0123456789-+.eEtrufalsn') SCALAR[c.charCodeAt(0)] = 1;

// What the scanner expects next inside a container.
const S_VALUE = 0; // a value (after `[`, `:` or `,` in an array)
const S_KEY = 1; // a key string (after `{` or `,` in an object)
const S_COLON = 2;
const S_AFTER = 3; // `,` or the container's closer
const S_FIRST_KEY = 4; // a key or `}` (just after `{`)
const S_FIRST_VALUE = 5; // a value or `]` (just after `[`)

const MAX_DEPTH = 64;

/**
 * Splits one frame. On success `out.count` events are described and `out.error` is undefined;
 * on a malformed frame `out.error` says why and `out.count` is 0 (the frame goes whole to the
 * dead-letter topic: nothing of it is produced as events).
 */
export function splitFrame(frame: Uint8Array, out: Slices): void {
  out.count = 0;
  out.error = undefined;
  out.errorAt = -1;
  const n = frame.length;
  let i = 0;
  while (i < n && isSpace(frame[i]!)) i++;
  if (i === n) return fail(out, SplitErrors.EMPTY, i);
  if (frame[i] !== LBRACKET) return fail(out, SplitErrors.NOT_ARRAY, i);
  i++;

  // Container stack: 1 = object, 2 = array. Depth 1 is the frame's array, depth 2 an event.
  const stack = STACK;
  let depth = 1;
  stack[1] = 2;
  let state = S_FIRST_VALUE;
  let ev = -1;
  // While inside an event: the top-level key just read (for depth 2 values).
  let pendingField = 0; // 0 none, 4 ev, or KEY_* kinds
  let done = false;

  while (i < n) {
    const b = frame[i]!;
    if (isSpace(b)) {
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
      if (b === QUOTE) {
        const s = i + 1;
        const e = scanString(frame, s);
        if (e < 0) return fail(out, SplitErrors.UNTERMINATED, i);
        if (depth === 2 && pendingField !== 0) recordField(out, ev, pendingField, s, e);
        pendingField = 0;
        i = e + 1;
        state = S_AFTER;
        continue;
      }
      pendingField = 0;
      if (b === LBRACE || b === LBRACKET) {
        if (depth >= MAX_DEPTH) return fail(out, SplitErrors.UNEXPECTED, i);
        depth++;
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
        }
        state = b === LBRACE ? S_FIRST_KEY : S_FIRST_VALUE;
        i++;
        continue;
      }
      if (SCALAR[b] === 1) {
        i++;
        while (i < n && SCALAR[frame[i]!] === 1) i++;
        state = S_AFTER;
        continue;
      }
      return fail(out, SplitErrors.UNEXPECTED, i);
    }
    if (state === S_KEY || state === S_FIRST_KEY) {
      if (state === S_FIRST_KEY && b === RBRACE) {
        i = closeContainer(out, ev, depth, i);
        depth--;
        state = S_AFTER;
        continue;
      }
      if (b !== QUOTE) return fail(out, SplitErrors.UNEXPECTED, i);
      const s = i + 1;
      const e = scanString(frame, s);
      if (e < 0) return fail(out, SplitErrors.UNTERMINATED, i);
      pendingField = depth === 2 ? fieldKind(frame, s, e) : 0;
      i = e + 1;
      state = S_COLON;
      continue;
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
    if ((kind === 1 && b === RBRACE) || (kind === 2 && b === RBRACKET)) {
      if (kind === 1) i = closeContainer(out, ev, depth, i);
      else i++;
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

const STACK = new Uint8Array(MAX_DEPTH + 1);

function fail(out: Slices, error: SplitError, at: number): void {
  out.count = 0;
  out.error = error;
  out.errorAt = at;
}

function closeContainer(out: Slices, ev: number, depth: number, i: number): number {
  if (depth === 2) out.end[ev] = i + 1;
  return i + 1;
}

/** Set by scanString: whether the string it just scanned holds a backslash escape. */
let sawEscape = false;

/** Returns the index of the closing quote of the string whose content starts at s, or -1. */
function scanString(frame: Uint8Array, s: number): number {
  const n = frame.length;
  let i = s;
  sawEscape = false;
  while (i < n) {
    const b = frame[i]!;
    if (b === QUOTE) return i;
    if (b === BACKSLASH) {
      sawEscape = true;
      i += 2;
    }
    else if (b < 0x20) return -1; // raw control characters are not allowed in JSON strings
    else i++;
  }
  return -1;
}

/** Which routing field a top-level key names: 4 for ev, KEY_* for key fields, 0 for others. */
function fieldKind(frame: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len === 2 && frame[s] === 0x65 && frame[s + 1] === 0x76) return 4; // ev
  if (len === 3 && frame[s] === 0x73 && frame[s + 1] === 0x79 && frame[s + 2] === 0x6d) return KEY_SYM; // sym
  if (len === 4 && frame[s] === 0x70 && frame[s + 1] === 0x61 && frame[s + 2] === 0x69 && frame[s + 3] === 0x72) return KEY_PAIR; // pair
  if (len === 1 && frame[s] === 0x54) return KEY_T; // T
  return 0;
}

function recordField(out: Slices, ev: number, field: number, s: number, e: number): void {
  const escaped = sawEscape;
  if (field === 4) {
    if (out.evStart[ev] !== -1) return; // first ev wins
    out.evStart[ev] = s;
    out.evEnd[ev] = e;
  } else {
    const current = out.keyKind[ev]!;
    if (current !== 0 && current <= field) return; // sym beats pair beats T; first wins
    out.keyStart[ev] = s;
    out.keyEnd[ev] = e;
    out.keyKind[ev] = field;
  }
  if (escaped) out.escaped[ev] = 1;
}

/** Decodes a JSON string's content (the bytes between the quotes): the rare escaped path. */
export function decodeJsonString(frame: Uint8Array, s: number, e: number): string {
  return JSON.parse(`"${Buffer.from(frame.buffer, frame.byteOffset + s, e - s).toString('utf8')}"`) as string;
}
