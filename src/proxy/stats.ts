// What the proxy's GET /stats reports (and ProxyServer.stats() returns): upstream and client
// counters, the refusals, and per-connection counters. No keys, ever.
import type { Gap } from '../source/polygon-source.ts';
import type { Failure } from './failure-log.ts';

export interface ProxyConnectionStats {
  id: number;
  remote: string;
  state: string;
  subscriptions: string[];
  openedAt: number;
  closedAt: number | null;
  /** Data frames and events queued to the client's socket, and their bytes. */
  frames: number;
  events: number;
  malformedFrames: number;
  bytes: number;
  unsentBytes: number;
  closeReason: string | null;
}

export interface ProxyStats {
  url: string;
  upstream: {
    url: string;
    state: string;
    /** The union upstream is (or, once connected, will be) subscribed to. */
    subscriptions: string[];
    reconnects: number;
    gaps: number;
    recentGaps: Gap[];
    frames: number;
    events: number;
    statusEvents: number;
    malformedFrames: number;
    /** Events without an `ev` field: forwarded to nobody. */
    eventsWithoutEv: number;
    /** Frames dropped, forwarded to nobody: not valid UTF-8, binary, or handling them threw. */
    framesFailed: number;
    framesFailedBy: { invalidUtf8: number; binary: number; error: number };
    /** The last dropped frame: when, and why (a FrameFailures value or `error: <message>`). */
    lastFrameFailure: Failure | null;
  };
  clients: {
    open: number;
    /** Clients admitted since start (those refused over maxClients are not counted here). */
    total: number;
    /** The --max-clients limit, and the connections refused over it (TOO_MANY_CLIENTS). */
    maxClients: number;
    tooManyClients: number;
    slowConsumers: number;
    /** Client messages, connects or closes whose handling threw (the client got an error status). */
    messagesFailed: number;
    lastMessageFailure: Failure | null;
  };
  http: {
    /** GET/HEAD /stats answered 401: no key, or not one of the client keys (PROXY_STATS_UNAUTHORIZED). */
    statsUnauthorized: number;
  };
  connections: ProxyConnectionStats[];
}
