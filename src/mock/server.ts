// The mock feed: a FeedServer (Polygon protocol towards clients) driven by one global timeline of
// synthetic events (or replayed frames), paced at a rate, fanned out to every subscribed client
// according to its subscriptions. GET /stats on the same port reports what was sent (stats.ts).
//
// Programmatic use (e.g. `run`'s embedded default feed, `bench`):
//
//   startMockServer(options?: Partial<MockOptions>): Promise<MockServer>
//     options: as the flags of `ws2kafka mock` (see MockOptions in options.ts); port 0 = any free
//     port. Defaults: MOCK_DEFAULTS (ws://127.0.0.1:8081/mock, 1,000 events/s, batch 100, ...).
//   MockServer.url        'ws://127.0.0.1:PORT/mock'
//   MockServer.statsUrl   'http://127.0.0.1:PORT/stats'
//   MockServer.stats(detail = false): MockStats   the same object as GET /stats[?detail=1]
//   MockServer.stopped    resolves when the timeline has stopped (--events, --duration, replay end)
//   MockServer.stopTimeline()  stops sending now (connections stay open), as --events would
//   MockServer.close()    stops the timeline, closes every connection and the port
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FeedServer, silentLogger, type FeedClient } from '../feed/server.ts';
import { Status, StatusMessages } from '../feed/protocol.ts';
import { EV_NAMES, EventBatch, EventGenerator, Rng } from './generator.ts';
import { MOCK_DEFAULTS, validateMockOptions, type MockOptions } from './options.ts';
import { Pacer } from './pacer.ts';
import { Recipient } from './recipient.ts';
import { loadReplay, passOrder, type ReplayFrames } from './replay.ts';
import { byEvObject, connectionStats, sentTotals, TimelineDetail, type MockStats } from './stats.ts';

export type { MockOptions } from './options.ts';
export type { MockStats } from './stats.ts';

export interface MockServer {
  url: string;
  statsUrl: string;
  stats(detail?: boolean): MockStats;
  stopped: Promise<void>;
  /** Stops the timeline now: no more events are sent; connections stay open. */
  stopTimeline(): void;
  close(): Promise<void>;
}

export async function startMockServer(options: Partial<MockOptions> = {}): Promise<MockServer> {
  const o: MockOptions = { ...MOCK_DEFAULTS, logger: silentLogger, ...options };
  validateMockOptions(o);
  const replay = o.replay === undefined ? undefined : await loadReplay(o.replay);
  const mock = new Mock(o, replay);
  await mock.start();
  return mock;
}

class Mock implements MockServer {
  url = '';
  statsUrl = '';
  stopped: Promise<void>;
  #o: MockOptions;
  #feed: FeedServer;
  #pacer: Pacer;
  #recipients = new Map<number, Recipient>();
  #startedAt: number | undefined;
  #stoppedAt: number | undefined;
  #durationTimer: NodeJS.Timeout | undefined;
  #resolveStopped: () => void = () => {};
  #rng: Rng;
  #random: () => number;
  // synthetic
  #gen: EventGenerator;
  #batch = new EventBatch();
  #detail: TimelineDetail;
  #nextQ = 1;
  #byEv = new Float64Array(EV_NAMES.length);
  // replay
  #replay: ReplayFrames | undefined;
  #order: Uint32Array<ArrayBuffer> = new Uint32Array(0);
  #pos = 0;
  #replayEvents = 0;

  constructor(o: MockOptions, replay: ReplayFrames | undefined) {
    this.#o = o;
    this.#replay = replay;
    this.#rng = new Rng(o.seed ^ 0x5bd1e995);
    this.#random = () => this.#rng.next();
    this.#gen = new EventGenerator({ symbols: o.symbols, mix: o.mix, seed: o.seed });
    this.#detail = new TimelineDetail(o.detailLimit);
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    let limit = o.events ?? Infinity;
    if (replay !== undefined) {
      this.#order = passOrder(replay.frames.length, o.randomize, this.#rng);
      if (!o.loop) limit = Math.min(limit, replay.frames.length);
    }
    this.#pacer = new Pacer({
      rate: o.rate,
      limit,
      unit: replay === undefined ? 'events' : 'frames',
      logger: o.logger,
      emit: replay === undefined ? (n) => this.#emitEvents(n) : (n) => this.#emitFrames(n),
      onDone: () => this.#onStopped(),
    });
    this.#feed = new FeedServer({
      host: o.host,
      port: o.port,
      path: o.path,
      apiKeys: o.apiKeys,
      authTimeoutMs: o.authTimeoutMs,
      // --evict-oldest: the mock enforces the limit itself (#evict), the newest connection wins.
      maxConnectionsPerKey: o.evictOldest ? 0 : o.maxConnections,
      slowConsumerBytes: o.slowConsumerBytes,
      logger: o.logger,
      onConnect: (c) => this.#onConnect(c),
      onSubscriptions: (c) => this.#onSubscriptions(c),
      onClose: (c) => this.#onClose(c),
      http: (req, res, url) => this.#http(req, res, url),
    });
  }

  async start(): Promise<void> {
    this.url = await this.#feed.start();
    const u = new URL(this.url);
    this.statsUrl = `http://${u.host}/stats`;
  }

  async close(): Promise<void> {
    this.#pacer.stop();
    this.#onStopped();
    for (const r of this.#recipients.values()) if (r.disconnectTimer !== undefined) clearTimeout(r.disconnectTimer);
    await this.#feed.close();
  }

  stopTimeline(): void {
    this.#pacer.stop();
    this.#onStopped();
  }

  stats(detail = false): MockStats {
    const connections = [...this.#recipients.values()].map((r) => connectionStats(r, detail && this.#replay === undefined));
    const synthetic = this.#replay === undefined;
    const events = synthetic ? this.#nextQ - 1 : this.#replayEvents;
    const out: MockStats = {
      mode: synthetic ? 'synthetic' : 'replay',
      url: this.url,
      rate: this.#o.rate,
      batch: this.#o.batch,
      running: this.#pacer.running,
      startedAt: this.#startedAt ?? null,
      stoppedAt: this.#stoppedAt ?? null,
      evNames: [...EV_NAMES],
      timeline: {
        firstQ: synthetic && events > 0 ? 1 : null,
        lastQ: synthetic && events > 0 ? events : null,
        events,
        frames: synthetic ? 0 : this.#pacer.stats().emitted,
        byEv: byEvObject(this.#byEv),
      },
      pacing: this.#pacer.stats(),
      sent: sentTotals(connections),
      connections,
    };
    if (detail && synthetic) out.detail = this.#detail.toStats(this.#gen.stocks, this.#gen.pairs);
    return out;
  }

  #emitEvents(n: number): void {
    const batch = this.#batch;
    this.#gen.generate(n, Date.now(), this.#nextQ, batch);
    this.#nextQ += n;
    this.#detail.record(batch);
    for (let k = 0; k < n; k++) {
      const e = batch.ev[k] ?? 0;
      this.#byEv[e] = (this.#byEv[e] ?? 0) + 1;
    }
    const { batch: perFrame, malformedRatio } = this.#o;
    for (const c of this.#feed.clients()) {
      if (!c.receiving) continue;
      this.#recipients.get(c.id)?.sendBatch(batch, perFrame, this.#gen.stocks, this.#gen.pairs, malformedRatio, this.#random);
    }
  }

  #emitFrames(n: number): void {
    const replay = this.#replay;
    if (replay === undefined) return;
    for (let i = 0; i < n; i++) {
      if (this.#pos >= this.#order.length) {
        this.#pos = 0;
        if (this.#o.randomize) this.#order = passOrder(replay.frames.length, true, this.#rng);
      }
      const idx = this.#order[this.#pos++] ?? 0;
      const frame = replay.frames[idx];
      const events = replay.events[idx] ?? 0;
      if (frame === undefined) continue;
      this.#replayEvents += events;
      for (const c of this.#feed.clients()) {
        if (!c.receiving) continue;
        const r = this.#recipients.get(c.id);
        if (r === undefined || !r.sendRaw(frame, events)) continue;
        if (this.#o.malformedRatio > 0 && this.#random() < this.#o.malformedRatio) r.sendMalformed(this.#random);
      }
    }
  }

  #onConnect(c: FeedClient): void {
    const r = new Recipient(c);
    this.#recipients.set(c.id, r);
    const every = this.#o.disconnectEveryMs;
    if (every !== undefined) {
      r.disconnectTimer = setTimeout(() => c.disconnect(Status.forceDisconnect, StatusMessages.forceDisconnect, 'force_disconnect (--disconnect-every)'), every);
      r.disconnectTimer.unref();
    }
  }

  #onSubscriptions(c: FeedClient): void {
    if (this.#o.evictOldest && this.#o.maxConnections > 0 && c.receiving) this.#evict(c);
    if (this.#startedAt !== undefined || !c.receiving) return;
    this.#startedAt = Date.now();
    this.#o.logger.info({ conn: c.id, rate: this.#o.rate }, 'timeline started');
    if (this.#o.durationMs !== undefined) {
      this.#durationTimer = setTimeout(() => this.#pacer.stop(), this.#o.durationMs);
      this.#durationTimer.unref();
    }
    this.#pacer.start();
  }

  /**
   * --evict-oldest: once `c` receives (authenticated and subscribed), the oldest other connections
   * of its key over --max-connections get max_connections and are closed.
   */
  #evict(c: FeedClient): void {
    const key = c.key;
    if (key === undefined) return;
    const same = [...this.#feed.clients()].filter((x) => x !== c && x.key === key && x.state === 'authenticated').sort((a, b) => a.id - b.id);
    const over = same.length + 1 - this.#o.maxConnections;
    for (const old of same.slice(0, Math.max(0, over))) {
      this.#o.logger.warn({ conn: old.id, by: c.id, limit: this.#o.maxConnections }, 'max connections for this key: evicting the oldest');
      old.disconnect(Status.maxConnections, StatusMessages.maxConnections, `max_connections (evicted by connection ${c.id})`);
    }
  }

  #onClose(c: FeedClient): void {
    const r = this.#recipients.get(c.id);
    if (r?.disconnectTimer !== undefined) clearTimeout(r.disconnectTimer);
  }

  #onStopped(): void {
    if (this.#stoppedAt !== undefined || this.#startedAt === undefined) {
      this.#resolveStopped();
      return;
    }
    this.#stoppedAt = Date.now();
    if (this.#durationTimer !== undefined) clearTimeout(this.#durationTimer);
    const p = this.#pacer.stats();
    this.#o.logger.info({ emitted: p.emitted, skipped: p.skipped, events: this.#nextQ - 1 }, 'timeline stopped: no more events will be sent; connections stay open');
    this.#resolveStopped();
  }

  #http(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== '/stats' || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const detail = url.searchParams.get('detail');
    const body = JSON.stringify(this.stats(detail === '1' || detail === 'true'));
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
