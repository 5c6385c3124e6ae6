// What the audit expects, from the mock's GET /stats?detail=1: the q values written to any
// connection whose ev is routed to an audited topic (these must be in Kafka), and the timeline
// events no connection was written that match the connections' subscriptions (`not_sent`: the
// bridge was disconnected; only gap records can account for them).
import { Subscriptions } from '../feed/protocol.ts';
import { isCryptoEv } from '../mock/generator.ts';
import type { MockStats } from '../mock/stats.ts';
import type { SentConnection } from './gaps.ts';

export interface Expected {
  /** Timeline q values are 1..lastQ. */
  lastQ: number;
  /** Byte per q (index q, length lastQ + 1): 1 = expected in Kafka. */
  expected: Uint8Array;
  /** What each connection was written, for telling a connection's tail from a hole. */
  connections: SentConnection[];
  expectedCount: number;
  notSent: number;
  /** Up to 10 not_sent q values. */
  notSentSample: number[];
  /** q values whose ev the mock did not keep (past its detail limit): not audited. */
  unknown: number;
}

/** Checks the object is the mock's detailed stats; returns a message when it is not. */
export function statsProblem(s: unknown): string | undefined {
  if (typeof s !== 'object' || s === null) return 'not a JSON object';
  const m = s as Partial<MockStats>;
  if (m.mode === 'replay') return 'the mock replays a file: its frames carry no q the audit can follow (use --expect N)';
  if (m.mode !== 'synthetic' || !Array.isArray(m.connections) || m.timeline === undefined) return 'not the stats of a ws2kafka mock';
  if (m.detail === undefined || m.connections.some((c) => c.events > 0 && c.sent === undefined)) return 'no detail: fetch /stats?detail=1';
  return undefined;
}

export function expectedFromStats(stats: MockStats, routes: Readonly<Record<string, string>>, topics: readonly string[]): Expected {
  const detail = stats.detail;
  if (detail === undefined) throw new Error('stats without detail');
  const lastQ = stats.timeline.lastQ ?? 0;
  const evNames = stats.evNames;
  const routed = evNames.map((e) => routes[e] !== undefined && topics.includes(routes[e]));

  // Union of what every connection was written.
  const sent = new Uint8Array(lastQ + 1);
  const connections: SentConnection[] = [];
  for (const c of stats.connections) {
    if (c.sent === undefined) continue;
    const bits = Buffer.from(c.sent.bitmap, 'base64');
    const base = c.sent.base;
    connections.push({ id: c.id, closedAt: c.closedAt, base, bits });
    for (let byte = 0; byte < bits.length; byte++) {
      const v = bits[byte] ?? 0;
      if (v === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((v & (1 << bit)) === 0) continue;
        const q = base + byte * 8 + bit;
        if (q >= 1 && q <= lastQ) sent[q] = 1;
      }
    }
  }

  // The subscriptions the bridge asked for, over all its connections.
  const subs = new Subscriptions();
  for (const c of stats.connections) for (const p of c.subscriptions) subs.add(p);

  const evBytes = Buffer.from(detail.ev, 'base64');
  const symBytes = Buffer.from(detail.sym, 'base64');
  const expected = new Uint8Array(lastQ + 1);
  let expectedCount = 0;
  let notSent = 0;
  let unknown = 0;
  const notSentSample: number[] = [];
  for (let q = 1; q <= lastQ; q++) {
    if (q > detail.count) {
      // ev unknown: expect it when it was sent, as the audit cannot tell its topic.
      unknown++;
      continue;
    }
    const ev = evBytes[q - 1] ?? 0;
    if (routed[ev] !== true) continue;
    if (sent[q] === 1) {
      expected[q] = 1;
      expectedCount++;
      continue;
    }
    const evName = evNames[ev] ?? '';
    const symIdx = symBytes.readUInt16LE((q - 1) * 2);
    const symbol = (isCryptoEv(ev) ? detail.pairs[symIdx] : detail.symbols[symIdx]) ?? '';
    if (subs.matches(evName, symbol)) {
      notSent++;
      if (notSentSample.length < 10) notSentSample.push(q);
    }
  }
  return { lastQ, expected, connections, expectedCount, notSent, notSentSample, unknown };
}
