// Event → topic. Pure: reads the ev bytes the splitter found, never the whole event.

/** ev → topic defaults: stocks and options share letters; crypto, forex and indices have their own. */
export const DEFAULT_TOPICS: Readonly<Record<string, string>> = {
  T: 'trades',
  Q: 'quotes',
  A: 'aggregates',
  AM: 'aggregates',
  LULD: 'luld',
  NOI: 'imbalances',
  FMV: 'fair-market-value',
  V: 'index-values',
  XT: 'crypto-trades',
  XQ: 'crypto-quotes',
  XL2: 'crypto-books',
  XA: 'crypto-aggregates',
  XAS: 'crypto-aggregates',
  C: 'forex-quotes',
  CA: 'forex-aggregates',
  CAS: 'forex-aggregates',
};

/** Route results that are not topic indexes. */
export const ROUTE_STATUS = -1;

/**
 * Packs an ev of up to 6 bytes into one number (bytes are never 0 in a JSON string, so the length
 * is implied): a Map lookup without making a string per event. Longer evs return -1.
 */
export function evCode(bytes: Uint8Array, s: number, e: number): number {
  const len = e - s;
  if (len > 6 || len <= 0) return -1;
  let code = 0;
  let mul = 1;
  for (let i = s; i < e; i++) {
    code += bytes[i]! * mul;
    mul *= 256;
  }
  return code;
}

export class Router {
  /** Topic names by index; the unknown topic is always last. */
  readonly topics: readonly string[];
  readonly unknownIndex: number;
  #byCode = new Map<number, number>();
  #byName = new Map<string, number>();

  constructor(evTopics: Readonly<Record<string, string>>, unknownTopic: string) {
    const topics: string[] = [];
    for (const [ev, topic] of Object.entries(evTopics)) {
      let index = topics.indexOf(topic);
      if (index === -1) index = topics.push(topic) - 1;
      const code = evCode(Buffer.from(ev), 0, Buffer.byteLength(ev));
      if (code === -1) this.#byName.set(ev, index);
      else this.#byCode.set(code, index);
    }
    const statusCode = evCode(Buffer.from('status'), 0, 6);
    this.#byCode.set(statusCode, ROUTE_STATUS);
    this.unknownIndex = topics.indexOf(unknownTopic) === -1 ? topics.push(unknownTopic) - 1 : topics.indexOf(unknownTopic);
    this.topics = topics;
  }

  /** The topic index for the ev at bytes[s..e), ROUTE_STATUS for status events, unknownIndex otherwise. */
  route(bytes: Uint8Array, s: number, e: number): number {
    if (s < 0) return this.unknownIndex;
    const code = evCode(bytes, s, e);
    if (code !== -1) return this.#byCode.get(code) ?? this.unknownIndex;
    return this.#byName.get(Buffer.from(bytes.buffer, bytes.byteOffset + s, e - s).toString()) ?? this.unknownIndex;
  }

  /** Route by an already decoded ev (the rare escaped path). */
  routeName(ev: string): number {
    if (ev === 'status') return ROUTE_STATUS;
    const b = Buffer.from(ev);
    return this.route(b, 0, b.length);
  }
}

/** The evs a subscription asks for: "T.*,AM.AAPL" → ["T", "AM"]. */
export function subscribedEvs(subscriptions: string): string[] {
  const evs = new Set<string>();
  for (const param of subscriptions.split(',')) {
    const dot = param.trim().indexOf('.');
    if (dot > 0) evs.add(param.trim().slice(0, dot));
  }
  return [...evs];
}
