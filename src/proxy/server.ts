// The proxy: one upstream connection (PolygonSource: auth, subscribe, liveness, reconnect with
// backoff and jitter) fanned out to many local clients over the same protocol (FeedServer: auth,
// subscriptions, a bounded send buffer per client and slow_consumer).
//
// - Upstream is subscribed to the union of the local subscriptions (filter.ts, unionParams), and
//   unsubscribed from what no client wants any more, whenever a client subscribes, unsubscribes or
//   leaves. After a reconnect, PolygonSource subscribes the whole current union again.
// - Each upstream frame is split once (split.ts); each local client gets a frame holding only the
//   events it subscribed to, bytes unchanged and in upstream order (the very same Buffer when it
//   wants them all).
// - Upstream status events (connected, auth_success, success, force_disconnect...) concern the
//   proxy's own connection: they go to PolygonSource, never to local clients, whose connections
//   stay open across upstream reconnects. A local client is told nothing about the upstream.
// - A malformed upstream frame (not a JSON array of objects) is forwarded whole to every client
//   subscribed to anything (the proxy cannot know whom it was meant for), counted and logged.
// - An upstream frame that cannot be handled is dropped (forwarded to nobody), counted and logged at
//   most every 5 s; the connection and every client's stream go on: a text frame that is not valid
//   UTF-8 (a client's ws would close with 1007 on it), a binary frame (Polygon sends none), or one
//   whose handling throws (e.g. an ev or key with an escape that does not decode). What is known to
//   throw (decoding escapes) runs before the first byte is sent: a dropped frame reaches no client.
// - Everything done for one client message, connect or close runs inside a guard too: a throw
//   there is counted and logged at most every 5 s, the client gets an `error` status, the others
//   are unaffected. Likewise an HTTP request (answered 500).
// - Sending to a client never waits: a client whose unsent data passes slowConsumerBytes gets
//   slow_consumer and is cut off (FeedClient.send); counted and logged. Upstream is never paused.
// - Refusals (exposure.ts): no listening beyond loopback without client keys
//   (PROXY_OPEN_WITHOUT_KEYS, before anything listens or connects); at most maxClients open local
//   connections, the next one gets max_connections and a 1013 close (TOO_MANY_CLIENTS, counted);
//   with client keys, GET /stats only for a request carrying one (else 401, PROXY_STATS_UNAUTHORIZED).
//
// GET /stats on the local port reports upstream and per-client counters (no keys); GET /health
// answers 200 while upstream is streaming, else 503.
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { redactUrl } from '../config/parse.ts';
import { Status } from '../feed/protocol.ts';
import { FeedServer, type FeedClient } from '../feed/server.ts';
import { PolygonSource, type Gap } from '../source/polygon-source.ts';
import { Slices, splitFrame } from '../split/split.ts';
import { ClientKeys, refuseOpenWithoutKeys, requestKey, unauthorizedBody } from './exposure.ts';
import { FailureLog, LOG_EVERY_MS } from './failure-log.ts';
import { buildFrame, ClientMatcher, FrameEvents, unionParams } from './filter.ts';
import { PROXY_DEFAULTS, type ProxyOptions } from './options.ts';
import type { ProxyConnectionStats, ProxyStats } from './stats.ts';

export type { ProxyOptions } from './options.ts';
export { PROXY_DEFAULTS, PROXY_LIMITS } from './options.ts';
export type { Failure } from './failure-log.ts';
export type { ProxyConnectionStats, ProxyStats } from './stats.ts';

/** Most events one upstream frame may hold (Polygon frames are about 1 MB at most). */
const MAX_EVENTS_PER_FRAME = 100_000;
/** Closed connections kept for /stats (open ones are all there). */
const CLOSED_KEPT = 100;
const GAPS_KEPT = 20;
/**
 * The close code for a client over --max-clients: 1013 "Try Again Later" (RFC 6455's IANA
 * registry: the server is overloaded), which says the refusal is temporary and not the client's
 * fault, unlike 1008 (policy violation); with the max_connections status, Polygon clients (and
 * the bridge) already wait before reconnecting.
 */
export const TOO_MANY_CLIENTS_CLOSE_CODE = 1013;

/** Why an upstream frame was dropped; `error: <message>` when handling it threw. */
export const FrameFailures = {
  INVALID_UTF8: 'invalid UTF-8',
  BINARY: 'binary frame',
} as const;

/** Sent to a local client whose message the proxy failed to handle (details: the proxy's log). */
const CLIENT_ERROR_MESSAGE = 'the proxy failed to handle this message; see its log';

export interface ProxyServer {
  url: string;
  statsUrl: string;
  stats(): ProxyStats;
  close(): Promise<void>;
}

type Local = { client: FeedClient; matcher: ClientMatcher; events: number; malformedFrames: number };

export async function startProxyServer(options: Partial<ProxyOptions> & Pick<ProxyOptions, 'upstream' | 'log'>): Promise<ProxyServer> {
  const o: ProxyOptions = { ...PROXY_DEFAULTS, ...options };
  // Before anything listens or connects upstream.
  await refuseOpenWithoutKeys(o.host, o.clientKeys);
  const proxy = new ProxyFeed(o);
  await proxy.start();
  return proxy;
}

class ProxyFeed implements ProxyServer {
  url = '';
  statsUrl = '';
  #o: ProxyOptions;
  #log: Logger;
  #feed: FeedServer;
  #source: PolygonSource;
  #locals = new Map<number, Local>();
  #closed: Local[] = [];
  #totalClients = 0;
  #slowConsumers = 0;
  // upstream counters
  #frames = 0;
  #events = 0;
  #statusEvents = 0;
  #malformed = 0;
  #withoutEv = 0;
  #reconnects = 0;
  #gaps = 0;
  #recentGaps: Gap[] = [];
  #lastMalformedLog = 0;
  #invalidUtf8 = 0;
  #binary = 0;
  #frameErrors = 0;
  #frameFailures: FailureLog;
  #clientFailures: FailureLog;
  #refused: FailureLog;
  #keys: ClientKeys;
  #statsUnauthorized = 0;
  // per-frame scratch (the hot path allocates nothing per event)
  #slices = new Slices(MAX_EVENTS_PER_FRAME);
  #frameEvents = new FrameEvents(MAX_EVENTS_PER_FRAME);
  #picked = new Uint8Array(MAX_EVENTS_PER_FRAME);
  #statuses: number[] = [];

  constructor(o: ProxyOptions) {
    this.#o = o;
    this.#log = o.log;
    this.#frameFailures = new FailureLog(o.log, 'framesFailed', 'upstream frames dropped (forwarded to nobody; the connection and the clients go on)');
    this.#clientFailures = new FailureLog(o.log, 'messagesFailed', 'local client messages the proxy failed to handle (each client got an error status; the others are unaffected)');
    this.#refused = new FailureLog(o.log, 'tooManyClients', 'local clients refused [TOO_MANY_CLIENTS]: --max-clients connections were open; each got max_connections and a 1013 close (the others are unaffected)');
    this.#keys = new ClientKeys(o.clientKeys);
    this.#feed = new FeedServer({
      host: o.host,
      port: o.port,
      path: o.path,
      apiKeys: o.clientKeys,
      authTimeoutMs: o.authTimeoutMs,
      maxConnectionsPerKey: o.maxConnections,
      slowConsumerBytes: o.slowConsumerBytes,
      logger: o.log.child({ side: 'local' }),
      // Each entry from a local socket is guarded; a client's messages through #guardMessages.
      onConnect: (c) => this.#guard(c, 'connect', () => this.#onConnect(c)),
      onSubscriptions: (c) => this.#guard(c, 'subscriptions', () => this.#updateUnion()),
      onClose: (c) => this.#guard(c, 'close', () => this.#onClose(c)),
      http: (req, res, url) => this.#guardHttp(req, res, url),
    });
    this.#source = new PolygonSource({
      url: o.upstream,
      apiKey: o.apiKey,
      subscribe: '',
      log: o.log.child({ side: 'upstream' }),
      // Text frames come unchecked (skipUTF8Validation), binary ones too: both judged in #onFrame.
      onFrame: (frame, _receivedAt, isBinary) => this.#onFrame(frame, isBinary),
      onGap: (gap) => this.#onGap(gap),
      onReconnect: () => this.#reconnects++,
      onFatal: (err) => {
        this.#log.error({ code: err.code }, `upstream: ${err.message}`);
        this.#o.onFatal?.(err.message);
      },
      pingIntervalMs: o.pingIntervalMs,
      silenceTimeoutMs: o.silenceTimeoutMs,
      maxFrameBytes: o.maxFrameBytes,
      ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    });
  }

  async start(): Promise<void> {
    this.url = await this.#feed.start();
    this.statsUrl = `http://${new URL(this.url).host}/stats`;
    this.#log.info({ url: this.url, upstream: redactUrl(this.#o.upstream) }, 'proxy listening; connecting upstream');
    this.#source.start();
  }

  async close(): Promise<void> {
    await this.#source.stop();
    await this.#feed.close();
    this.#frameFailures.close();
    this.#clientFailures.close();
    this.#refused.close();
  }

  stats(): ProxyStats {
    const connections = [...this.#locals.values(), ...this.#closed].map((l) => connectionStats(l)).sort((a, b) => a.id - b.id);
    const union = this.#source.subscriptions;
    return {
      url: this.url,
      upstream: {
        url: redactUrl(this.#o.upstream),
        state: this.#source.state,
        subscriptions: union === '' ? [] : union.split(','),
        reconnects: this.#reconnects,
        gaps: this.#gaps,
        recentGaps: [...this.#recentGaps],
        frames: this.#frames,
        events: this.#events,
        statusEvents: this.#statusEvents,
        malformedFrames: this.#malformed,
        eventsWithoutEv: this.#withoutEv,
        framesFailed: this.#frameFailures.count,
        framesFailedBy: { invalidUtf8: this.#invalidUtf8, binary: this.#binary, error: this.#frameErrors },
        lastFrameFailure: this.#frameFailures.last,
      },
      clients: {
        open: this.#locals.size,
        total: this.#totalClients,
        maxClients: this.#o.maxClients,
        tooManyClients: this.#refused.count,
        slowConsumers: this.#slowConsumers,
        messagesFailed: this.#clientFailures.count,
        lastMessageFailure: this.#clientFailures.last,
      },
      http: { statsUnauthorized: this.#statsUnauthorized },
      connections,
    };
  }

  /**
   * One upstream frame, inside the guard: a binary frame, a text frame that is not valid UTF-8, or
   * one whose handling throws is dropped and counted; the connection and every client go on.
   */
  #onFrame(frame: Buffer, isBinary: boolean): void {
    this.#frames++;
    try {
      if (isBinary) {
        // Polygon documents text frames only; forwarded, it would not even be the same message.
        this.#binary++;
        this.#frameFailures.add(FrameFailures.BINARY, { bytes: frame.length });
        return;
      }
      // PolygonSource has ws skip its UTF-8 check (which would close the connection with 1007):
      // checked here, before the splitter, so that such a frame is never forwarded, not even whole
      // as a malformed one (each client's ws would close with 1007 instead).
      if (!isUtf8(frame)) {
        this.#invalidUtf8++;
        this.#frameFailures.add(FrameFailures.INVALID_UTF8, { bytes: frame.length });
        return;
      }
      this.#route(frame);
    } catch (err) {
      this.#frameErrors++;
      this.#frameFailures.add(`error: ${errorMessage(err)}`, { bytes: frame.length });
    }
  }

  /** The hot path: one upstream frame to every local client that wants some of it. */
  #route(frame: Buffer): void {
    const slices = this.#slices;
    splitFrame(frame, slices);
    if (slices.error !== undefined) {
      this.#onMalformed(frame, slices.error, slices.errorAt);
      return;
    }
    const events = this.#frameEvents;
    const statuses = this.#statuses;
    const data = events.load(frame, slices, statuses);
    // Escaped keys are decoded now (the rare path; the others on demand, per client), so that a
    // frame that cannot be decoded fails before anything of it is sent or acted on.
    if (slices.escaped.subarray(0, slices.count).includes(1)) {
      for (let e = 0; e < slices.count; e++) if (slices.escaped[e] === 1) events.key(frame, slices, e);
    }
    for (let i = 0; i < statuses.length; i++) this.#status(frame, statuses[i]!);
    const withoutEv = slices.count - data - statuses.length;
    if (withoutEv > 0) this.#withoutEv += withoutEv;
    if (data === 0) return;
    this.#events += data;
    this.#source.dataSeen();
    const whole = statuses.length === 0;
    const picked = this.#picked;
    for (const local of this.#locals.values()) {
      const c = local.client;
      if (!c.receiving) continue;
      const n = local.matcher.pick(frame, slices, events, picked);
      if (n === 0) continue;
      if (c.send(buildFrame(frame, slices, picked, n, whole))) local.events += n;
    }
  }

  #status(frame: Buffer, e: number): void {
    this.#statusEvents++;
    const s = this.#slices;
    let parsed: { status?: unknown; message?: unknown };
    try {
      parsed = JSON.parse(frame.toString('utf8', s.start[e], s.end[e])) as { status?: unknown; message?: unknown };
    } catch {
      return;
    }
    this.#source.status(typeof parsed.status === 'string' ? parsed.status : '', typeof parsed.message === 'string' ? parsed.message : '');
  }

  #onMalformed(frame: Buffer, reason: string, at: number): void {
    this.#malformed++;
    let sent = 0;
    for (const local of this.#locals.values()) {
      if (!local.client.receiving) continue;
      if (local.client.send(frame)) {
        local.malformedFrames++;
        sent++;
      }
    }
    const now = Date.now();
    if (now - this.#lastMalformedLog > LOG_EVERY_MS) {
      this.#lastMalformedLog = now;
      this.#log.warn({ reason, at, malformedFrames: this.#malformed, forwardedTo: sent }, 'upstream frame is not a JSON array of objects: forwarded whole to every subscribed client');
    }
  }

  #onGap(gap: Gap): void {
    this.#gaps++;
    this.#recentGaps.push(gap);
    if (this.#recentGaps.length > GAPS_KEPT) this.#recentGaps.shift();
    this.#log.warn({ from: gap.from_iso, to: gap.to_iso, durationMs: gap.duration_ms, reason: gap.reason, clients: this.#locals.size }, 'upstream gap: no data could be received in this window; local clients stayed connected');
  }

  #onConnect(c: FeedClient): void {
    if (this.#openClients() >= this.#o.maxClients) {
      // Before the connected status: this client is told only why it is refused, then closed.
      this.#refused.add(`--max-clients ${this.#o.maxClients} reached`, { code: 'TOO_MANY_CLIENTS', remote: c.remote, limit: this.#o.maxClients });
      c.disconnect(Status.maxConnections, tooManyClientsMessage(this.#o.maxClients), 'too_many_clients', false, TOO_MANY_CLIENTS_CLOSE_CODE);
      return;
    }
    this.#guardMessages(c);
    this.#totalClients++;
    this.#locals.set(c.id, { client: c, matcher: new ClientMatcher(c.subscriptions), events: 0, malformedFrames: 0 });
  }

  /** Local connections open now, authenticated or not (those closing do not count). */
  #openClients(): number {
    let n = 0;
    for (const l of this.#locals.values()) if (l.client.state === 'connected' || l.client.state === 'authenticated') n++;
    return n;
  }

  /**
   * Puts everything done for one message of `c` inside the guard: FeedClient parses and applies it
   * (auth, subscribe, unsubscribe), then calls back here (#updateUnion). The guard wraps the
   * client's own handler, which FeedServer calls from the socket's message event.
   */
  #guardMessages(c: FeedClient): void {
    const handle = c.onMessage.bind(c);
    c.onMessage = (text: string) => this.#guard(c, 'message', () => handle(text));
  }

  /** Runs `fn` for client `c`; a throw is counted, logged, and answered with an error status. */
  #guard(c: FeedClient, what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#clientFailures.add(`${what}: ${errorMessage(err)}`, { conn: c.id });
      try {
        c.status(Status.error, CLIENT_ERROR_MESSAGE);
      } catch {
        // the client's socket is gone: nothing to tell
      }
    }
  }

  #guardHttp(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    try {
      return this.#http(req, res, url);
    } catch (err) {
      this.#clientFailures.add(`http ${url.pathname}: ${errorMessage(err)}`, {});
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
      return true;
    }
  }

  #onClose(c: FeedClient): void {
    const local = this.#locals.get(c.id);
    this.#locals.delete(c.id);
    if (local !== undefined) {
      this.#closed.push(local);
      if (this.#closed.length > CLOSED_KEPT) this.#closed.shift();
    }
    if (c.closeReason === 'slow_consumer') {
      this.#slowConsumers++;
      this.#log.warn(
        { conn: c.id, remote: c.remote, limitBytes: this.#o.slowConsumerBytes, slowConsumers: this.#slowConsumers },
        'local client too slow: sent slow_consumer and disconnected it (the others and upstream are unaffected)',
      );
    }
    this.#updateUnion();
  }

  /** Subscribes upstream to the union of what open clients want; PolygonSource sends the diff. */
  #updateUnion(): void {
    const subs: FeedClient['subscriptions'][] = [];
    for (const local of this.#locals.values()) {
      const state = local.client.state;
      if (state === 'authenticated') subs.push(local.client.subscriptions);
    }
    const union = unionParams(subs);
    if (union === this.#source.subscriptions) return;
    this.#log.info({ before: this.#source.subscriptions, after: union }, 'upstream subscriptions changed');
    this.#source.setSubscriptions(union);
  }

  #http(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname === '/stats') {
      if (this.#keys.required) {
        const key = requestKey(req, url);
        if (!this.#keys.accepts(key)) {
          this.#statsUnauthorized++;
          const body = unauthorizedBody(key !== undefined);
          res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="ws2kafka proxy"' });
          res.end(req.method === 'HEAD' ? undefined : body);
          return true;
        }
      }
      const body = JSON.stringify(this.stats());
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (url.pathname === '/health') {
      const ok = this.#source.state === 'streaming';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(req.method === 'HEAD' ? undefined : `upstream ${this.#source.state}\n`);
      return true;
    }
    return false;
  }
}

function connectionStats(l: Local): ProxyConnectionStats {
  const c = l.client;
  return {
    id: c.id,
    remote: c.remote,
    state: c.state,
    subscriptions: c.subscriptions.list(),
    openedAt: c.openedAt,
    closedAt: c.closedAt ?? null,
    frames: c.frames,
    events: l.events,
    malformedFrames: l.malformedFrames,
    bytes: c.bytes,
    unsentBytes: c.state === 'closed' ? 0 : c.unsentBytes,
    closeReason: c.closeReason ?? null,
  };
}

/** The max_connections message a client over --max-clients gets (Polygon's own is about per-key limits). */
export function tooManyClientsMessage(limit: number): string {
  return `Maximum number of websocket connections exceeded: this proxy serves at most ${limit} clients (--max-clients). Try again later.`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
