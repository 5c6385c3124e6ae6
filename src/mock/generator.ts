// Synthetic Polygon events: T, Q, A, AM (stocks) and XT (crypto) with realistic fields, over a
// universe of symbols with skewed activity (a few very busy, a long tail). Every event carries `q`
// (the global sequence) and `t` (send time, ms). Pure: no I/O, no timers; seeded, so reproducible.

/** The event types the mock generates; an event's ev code is its index here. */
export const EV_NAMES = ['T', 'Q', 'A', 'AM', 'XT'] as const;
export type EvName = (typeof EV_NAMES)[number];

/** XT's key is `pair`, the others' `sym`. */
export function isCryptoEv(code: number): boolean {
  return code === 4;
}

export function evCode(name: string): number {
  return (EV_NAMES as readonly string[]).indexOf(name);
}

/** Small fast PRNG (mulberry32): next() in [0, 1). */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const BUSY_STOCKS = ['AAPL', 'NVDA', 'TSLA', 'SPY', 'MSFT', 'AMZN', 'QQQ', 'META', 'AMD', 'GOOGL', 'PLTR', 'SOFI', 'F', 'BAC', 'INTC', 'NIO', 'AAL', 'T', 'PFE', 'XOM', 'BRK.B', 'JPM', 'WMT', 'DIS', 'UBER', 'COIN', 'MARA', 'RIVN', 'LCID', 'SNAP'];
const PAIRS = ['BTC-USD', 'ETH-USD', 'SOL-USD', 'XRP-USD', 'DOGE-USD', 'ADA-USD', 'LTC-USD', 'AVAX-USD', 'LINK-USD', 'DOT-USD', 'BTC-EUR', 'ETH-EUR', 'BTC-USDT', 'ETH-BTC', 'MATIC-USD', 'SHIB-USD'];
const PAIR_PRICES = [64000, 3100, 145, 0.52, 0.12, 0.45, 72, 28, 14, 6.1, 59000, 2900, 64010, 0.048, 0.55, 0.000018];
const TRADE_CONDITIONS = ['', '"c":[14,41],', '"c":[12],', '"c":[37],', '"c":[14,37,41],', '"c":[12,37],'];
const QUOTE_INDICATORS = ['', '"i":[604],', '"i":[1],'];

/** `n` distinct ticker symbols: the busy well-known ones first, then made-up 3–4 letter ones. */
export function stockSymbols(n: number): string[] {
  const out = BUSY_STOCKS.slice(0, n);
  const seen = new Set(out);
  const rng = new Rng(12345);
  while (out.length < n) {
    const len = 3 + rng.int(2);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(65 + rng.int(26));
    if (!seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  }
  return out;
}

export function cryptoPairs(): string[] {
  return [...PAIRS];
}

/** Weights per ev code (non-negative, not all zero). */
export type Mix = Record<EvName, number>;
export const DEFAULT_MIX: Mix = { T: 60, Q: 25, A: 5, AM: 5, XT: 5 };

/** One generated batch: parallel arrays, reused across calls (capacity grows as needed). */
export class EventBatch {
  n = 0;
  json: string[] = [];
  ev = new Uint8Array(0);
  /** Index into the stock symbols, or into the pairs for XT. */
  sym = new Uint16Array(0);
  firstQ = 0;

  ensure(capacity: number): void {
    if (this.ev.length >= capacity) return;
    this.ev = new Uint8Array(capacity);
    this.sym = new Uint16Array(capacity);
    this.json.length = capacity;
  }
}

export interface GeneratorOptions {
  symbols: number;
  mix: Mix;
  seed: number;
}

/** Skew: index = floor(n·u³), so the top 1% of symbols get about a fifth of the activity. */
function skewed(rng: Rng, n: number): number {
  const u = rng.next();
  return Math.floor(n * u * u * u);
}

export class EventGenerator {
  readonly stocks: string[];
  readonly pairs: string[];
  #rng: Rng;
  #cumulative: Float64Array;
  /** Per stock: price in cents, cumulative volume, open price (for A/AM), tape. */
  #cents: Float64Array;
  #volume: Float64Array;
  #open: Float64Array;
  #pairPrice: Float64Array;
  #tradeId = 1000;
  /** JSON-escaped symbol prefix per stock: `{"ev":"T","sym":"AAPL",` is built from these. */
  #symField: string[];
  #pairField: string[];

  constructor(o: GeneratorOptions) {
    this.stocks = stockSymbols(o.symbols);
    this.pairs = cryptoPairs();
    this.#rng = new Rng(o.seed);
    const total = EV_NAMES.reduce((s, e) => s + o.mix[e], 0);
    this.#cumulative = new Float64Array(EV_NAMES.length);
    let acc = 0;
    EV_NAMES.forEach((e, i) => {
      acc += o.mix[e] / total;
      this.#cumulative[i] = acc;
    });
    this.#cumulative[EV_NAMES.length - 1] = 1;
    const n = this.stocks.length;
    this.#cents = new Float64Array(n);
    this.#volume = new Float64Array(n);
    this.#open = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // Busy names trade higher on average; the tail spreads from $1 to about $300.
      this.#cents[i] = Math.round((i < BUSY_STOCKS.length ? 50 + this.#rng.next() * 400 : 1 + this.#rng.next() * 300) * 100);
      this.#open[i] = this.#cents[i] ?? 100;
    }
    this.#pairPrice = Float64Array.from(PAIR_PRICES);
    this.#symField = this.stocks.map((s) => `"sym":${JSON.stringify(s)},`);
    this.#pairField = this.pairs.map((s) => `"pair":${JSON.stringify(s)},`);
  }

  /** The symbol (or pair) named by an event's ev code and symbol index. */
  symbolOf(ev: number, sym: number): string {
    return (isCryptoEv(ev) ? this.pairs[sym] : this.stocks[sym]) ?? '';
  }

  /** Fills `out` with `n` events numbered firstQ.. and sent at `t` (ms). */
  generate(n: number, t: number, firstQ: number, out: EventBatch): void {
    out.ensure(n);
    out.n = n;
    out.firstQ = firstQ;
    const rng = this.#rng;
    const cum = this.#cumulative;
    const nStocks = this.stocks.length;
    for (let k = 0; k < n; k++) {
      const u = rng.next();
      let ev = 0;
      while (u >= (cum[ev] ?? 1) && ev < cum.length - 1) ev++;
      const q = firstQ + k;
      let sym: number;
      let json: string;
      if (ev === 4) {
        sym = skewed(rng, this.pairs.length);
        json = this.#crypto(sym, t, q);
      } else {
        sym = skewed(rng, nStocks);
        json = ev === 0 ? this.#trade(sym, t, q) : ev === 1 ? this.#quote(sym, t, q) : this.#aggregate(ev === 2 ? 'A' : 'AM', sym, t, q);
      }
      out.ev[k] = ev;
      out.sym[k] = sym;
      out.json[k] = json;
    }
  }

  #step(sym: number): number {
    const rng = this.#rng;
    let c = this.#cents[sym] ?? 100;
    const r = rng.next();
    if (r < 0.2) c -= 1;
    else if (r > 0.8) c += 1;
    if (c < 1) c = 1;
    this.#cents[sym] = c;
    return c;
  }

  #trade(sym: number, t: number, q: number): string {
    const rng = this.#rng;
    const c = this.#step(sym);
    const size = rng.next() < 0.7 ? 100 * (1 + rng.int(5)) : 1 + rng.int(99);
    this.#volume[sym] = (this.#volume[sym] ?? 0) + size;
    const id = this.#tradeId++;
    return `{"ev":"T",${this.#symField[sym]}"i":"${id}","x":${1 + rng.int(21)},"p":${c / 100},"s":${size},${TRADE_CONDITIONS[rng.int(TRADE_CONDITIONS.length)]}"t":${t},"q":${q},"z":${1 + (sym % 3)}}`;
  }

  #quote(sym: number, t: number, q: number): string {
    const rng = this.#rng;
    const c = this.#step(sym);
    const spread = 1 + rng.int(3);
    return `{"ev":"Q",${this.#symField[sym]}"bx":${1 + rng.int(21)},"bp":${c / 100},"bs":${1 + rng.int(20)},"ax":${1 + rng.int(21)},"ap":${(c + spread) / 100},"as":${1 + rng.int(20)},"c":${rng.int(2)},${QUOTE_INDICATORS[rng.int(QUOTE_INDICATORS.length)]}"t":${t},"q":${q},"z":${1 + (sym % 3)}}`;
  }

  #aggregate(ev: 'A' | 'AM', sym: number, t: number, q: number): string {
    const rng = this.#rng;
    const c = this.#step(sym);
    const open = this.#open[sym] ?? c;
    const o = c + rng.int(5) - 2;
    const hi = Math.max(o, c) + rng.int(3);
    const lo = Math.max(1, Math.min(o, c) - rng.int(3));
    const v = 100 * (1 + rng.int(50));
    const av = (this.#volume[sym] ?? 0) + v;
    this.#volume[sym] = av;
    const span = ev === 'A' ? 1000 : 60000;
    const s = t - (t % span);
    return `{"ev":"${ev}",${this.#symField[sym]}"v":${v},"av":${av},"op":${open / 100},"vw":${((o + c) / 2 / 100).toFixed(4)},"o":${o / 100},"c":${c / 100},"h":${hi / 100},"l":${lo / 100},"a":${(open + c) / 200},"z":${1 + rng.int(300)},"s":${s},"e":${s + span},"t":${t},"q":${q}}`;
  }

  #crypto(pair: number, t: number, q: number): string {
    const rng = this.#rng;
    let p = this.#pairPrice[pair] ?? 1;
    p *= 1 + (rng.next() - 0.5) * 0.0004;
    this.#pairPrice[pair] = p;
    const digits = p >= 100 ? 2 : p >= 1 ? 4 : 8;
    const size = (1 + rng.int(200000)) / 1e5;
    const id = this.#tradeId++;
    return `{"ev":"XT",${this.#pairField[pair]}"p":${p.toFixed(digits)},"t":${t},"s":${size},"c":[${1 + rng.int(2)}],"i":"${id}","x":${1 + rng.int(4)},"r":${t + rng.int(5)},"q":${q}}`;
  }
}
