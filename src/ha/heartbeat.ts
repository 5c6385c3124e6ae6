// The heartbeat records of an HA group and the takeover gaps computed from them. Pure.
//
// Every second the active member writes one record to the control topic (partition 0, key: the
// group's name, value: the JSON below). It says which feeds it streams and, per feed, the receive
// time up to which everything read from that feed is acknowledged by Kafka (`acked_up_to`). When
// another member takes over, what the old one had read after that time may have died with it (in
// its memory): the new active member records one gap per feed from `acked_up_to` to its own
// subscription, so `verify --gap-topic` counts that tail as cut, not lost.
//
// {
//   "type": "ha_heartbeat", "v": 1, "group": "prod", "member": "<Kafka member id>",
//   "host": "bridge-a", "pid": 4242, "generation": 7,
//   "feeds": [{ "name": "default", "url": "wss://socket.polygon.io/stocks", "state": "streaming",
//               "subscriptions": "T.*,AM.*", "connection_id": "…", "last_frame_at": 1764200000123,
//               "acked_up_to": 1764200000101 }],
//   "acked_up_to": 1764200000101,          // the smallest of the feeds' (null: nothing read yet)
//   "final": false,                        // true: the last one, written after draining (SIGTERM)
//   "at": 1764200000200, "at_iso": "2025-11-26T23:33:20.200Z"
// }

export const HEARTBEAT_TYPE = 'ha_heartbeat';

export interface HeartbeatFeed {
  name: string;
  url: string;
  state: string;
  subscriptions: string;
  connection_id: string;
  /** Wall ms of the last frame read (0: none yet). */
  last_frame_at: number;
  /** Wall ms up to which everything read is acknowledged by Kafka; null: nothing read yet. */
  acked_up_to: number | null;
}

export interface Heartbeat {
  type: typeof HEARTBEAT_TYPE;
  v: 1;
  group: string;
  member: string;
  host: string;
  pid: number;
  generation: number;
  feeds: HeartbeatFeed[];
  acked_up_to: number | null;
  final: boolean;
  at: number;
  at_iso: string;
}

/** What a feed looks like when the heartbeat is written. */
export interface FeedReading {
  name: string;
  url: string;
  state: string;
  subscriptions: string;
  connectionId: string;
  lastFrameAt: number;
}

/**
 * Up to when a feed's events are all acknowledged: just before the oldest event not yet
 * acknowledged (`oldestUnacked`, wall ms, over the whole sink: conservative for each feed), or its
 * last frame when nothing is waiting. null when the feed has read nothing.
 */
export function ackedUpTo(lastFrameAt: number, oldestUnacked: number | undefined): number | null {
  if (lastFrameAt <= 0) return null;
  if (oldestUnacked === undefined) return lastFrameAt;
  return Math.min(lastFrameAt, Math.floor(oldestUnacked) - 1);
}

export function buildHeartbeat(o: { group: string; member: string; host: string; pid: number; generation: number; feeds: FeedReading[]; oldestUnacked: number | undefined; final: boolean; now: number }): Heartbeat {
  const feeds = o.feeds.map((f): HeartbeatFeed => ({
    name: f.name,
    url: f.url,
    state: f.state,
    subscriptions: f.subscriptions,
    connection_id: f.connectionId,
    last_frame_at: f.lastFrameAt,
    acked_up_to: ackedUpTo(f.lastFrameAt, o.oldestUnacked),
  }));
  const acked = feeds.map((f) => f.acked_up_to).filter((x): x is number => x !== null);
  return {
    type: HEARTBEAT_TYPE,
    v: 1,
    group: o.group,
    member: o.member,
    host: o.host,
    pid: o.pid,
    generation: o.generation,
    feeds,
    acked_up_to: acked.length === 0 ? null : Math.min(...acked),
    final: o.final,
    at: o.now,
    at_iso: new Date(o.now).toISOString(),
  };
}

/** A heartbeat record's value; undefined when it is not one. */
export function parseHeartbeat(value: Buffer | null | undefined): Heartbeat | undefined {
  if (value === null || value === undefined || value.length === 0) return undefined;
  let p: unknown;
  try {
    p = JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof p !== 'object' || p === null) return undefined;
  const h = p as Record<string, unknown>;
  if (h['type'] !== HEARTBEAT_TYPE || typeof h['group'] !== 'string' || typeof h['member'] !== 'string' || typeof h['at'] !== 'number' || !Array.isArray(h['feeds'])) return undefined;
  const feeds: HeartbeatFeed[] = [];
  for (const f of h['feeds'] as unknown[]) {
    if (typeof f !== 'object' || f === null) continue;
    const x = f as Record<string, unknown>;
    if (typeof x['name'] !== 'string') continue;
    const acked = x['acked_up_to'];
    feeds.push({
      name: x['name'],
      url: typeof x['url'] === 'string' ? x['url'] : '',
      state: typeof x['state'] === 'string' ? x['state'] : '',
      subscriptions: typeof x['subscriptions'] === 'string' ? x['subscriptions'] : '',
      connection_id: typeof x['connection_id'] === 'string' ? x['connection_id'] : '',
      last_frame_at: typeof x['last_frame_at'] === 'number' ? x['last_frame_at'] : 0,
      acked_up_to: typeof acked === 'number' && Number.isFinite(acked) ? acked : null,
    });
  }
  const acked = h['acked_up_to'];
  return {
    type: HEARTBEAT_TYPE,
    v: 1,
    group: h['group'],
    member: h['member'],
    host: typeof h['host'] === 'string' ? h['host'] : '?',
    pid: typeof h['pid'] === 'number' ? h['pid'] : 0,
    generation: typeof h['generation'] === 'number' ? h['generation'] : 0,
    feeds,
    acked_up_to: typeof acked === 'number' && Number.isFinite(acked) ? acked : null,
    final: h['final'] === true,
    at: h['at'],
    at_iso: typeof h['at_iso'] === 'string' ? h['at_iso'] : new Date(h['at']).toISOString(),
  };
}

/** The last word of the group on one feed: from the newest heartbeat that listed it. */
export interface FeedWord {
  feed: HeartbeatFeed;
  member: string;
  host: string;
  at: number;
  final: boolean;
}

/**
 * Keeps, per feed name, the newest heartbeat entry of one group (records are read in offset
 * order; an entry older than the one kept, by its `at`, is ignored).
 */
export class GroupWords {
  readonly group: string;
  #feeds = new Map<string, FeedWord>();
  #last: Heartbeat | undefined;

  constructor(group: string) {
    this.group = group;
  }

  /** The newest heartbeat of the group read so far. */
  get last(): Heartbeat | undefined {
    return this.#last;
  }

  add(h: Heartbeat): void {
    if (h.group !== this.group) return;
    if (this.#last === undefined || h.at >= this.#last.at) this.#last = h;
    for (const f of h.feeds) {
      // A member that has read nothing of a feed (just made active, or leaving before its first
      // frame) says nothing about it: the word of the member that did read it stands.
      if (f.acked_up_to === null) continue;
      const kept = this.#feeds.get(f.name);
      if (kept !== undefined && kept.at > h.at) continue;
      this.#feeds.set(f.name, { feed: f, member: h.member, host: h.host, at: h.at, final: h.final });
    }
  }

  word(feed: string): FeedWord | undefined {
    return this.#feeds.get(feed);
  }
}

/** A window to record when this member starts a feed: what the group last read of it up to now. */
export interface TakeoverGap {
  feed: string;
  /** The connection whose data stopped (the previous active's). */
  connectionId: string;
  from: number;
  reason: string;
}

/**
 * One gap per feed about to start that some member streamed before: from that feed's last
 * `acked_up_to` to the subscription the new
 * active member is about to make. `self` is this member's id: its own earlier heartbeats count
 * too (it resumes after being fenced).
 */
export function takeoverGaps(words: GroupWords, feeds: readonly string[], self: string): TakeoverGap[] {
  const out: TakeoverGap[] = [];
  for (const name of feeds) {
    const w = words.word(name);
    if (w === undefined) continue;
    const from = w.feed.acked_up_to ?? w.at; // never null in a kept word (see add)
    const who = w.member === self ? 'this member (resuming after it was fenced)' : `member ${w.member} on ${w.host}`;
    const how = w.final ? 'left the group after delivering what it had read (handover)' : `stopped heartbeating (its last heartbeat at ${new Date(w.at).toISOString()})`;
    out.push({ feed: name, connectionId: w.feed.connection_id, from, reason: `ha_takeover: ${who} ${how}; acknowledged up to ${new Date(from).toISOString()}` });
  }
  return out;
}
