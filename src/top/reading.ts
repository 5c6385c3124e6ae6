// One reading of a running bridge: GET /metrics (Prometheus text) and GET /status (JSON), taken
// together. /metrics is required (without it the bridge is "unreachable"); /status is optional,
// so `top` also watches a bridge from before /status existed, with less to say.
import { parsePromText, type Exposition } from './prom-text.ts';

/** The part of /status (src/metrics/probes.ts, statusDocument) that `top` shows; every field may be missing. */
export interface StatusDoc {
  ready?: { ok: boolean; reasons: string[] };
  feed?: { state?: string; url?: string; connection?: string; lastFrameAt?: string; subscriptions?: string };
  kafka?: {
    brokers?: string[];
    lastAcknowledgedAt?: string;
    held?: Array<{ topic: string; code: string; since?: string }>;
    /** Each leader broker's delivery lane, when the bridge reports them. */
    perBroker?: BrokerLane[];
    leaderlessPartitions?: string[];
  };
  spool?: { records?: number; bytes?: number; maxBytes?: number; writeError?: { code: string; message: string } };
  oldestUnacknowledgedMs?: number;
  lastError?: { code: string; message: string; at?: string };
  uptimeS?: number;
}

export interface BrokerLane {
  broker: string;
  state?: string;
  inflight?: number;
  partitionsLed?: number;
  requests?: number;
  failures?: number;
  failingSince?: string;
  lastError?: string;
}

export interface Reading {
  /** Wall ms when the answers arrived. */
  at: number;
  metrics: Exposition;
  status: StatusDoc | undefined;
  /** Why /status is missing, when it is. */
  statusError?: string;
}

/** http://host:port (no trailing slash) from what a user types: "host:port", "http://host:port/", ".../metrics". */
export function baseUrl(input: string): string {
  let s = input.trim();
  if (!/^https?:\/\//i.test(s)) s = `http://${s}`;
  const u = new URL(s);
  u.pathname = u.pathname.replace(/\/(metrics|status)\/?$/, '').replace(/\/+$/, '');
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}

/** Reads /metrics and /status of the bridge at `base`; rejects with a one-line reason when /metrics cannot be read. */
export async function takeReading(base: string, signal: AbortSignal): Promise<Reading> {
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, { signal });
    const body = await res.text();
    if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
    return body;
  };
  const [metrics, status] = await Promise.allSettled([get('/metrics'), get('/status')]);
  if (metrics.status === 'rejected') throw new Error(reason(metrics.reason));
  const reading: Reading = { at: Date.now(), metrics: parsePromText(metrics.value), status: undefined };
  if (status.status === 'fulfilled') {
    try {
      reading.status = readStatus(JSON.parse(status.value));
    } catch (err) {
      reading.statusError = `/status is not JSON: ${(err as Error).message}`;
    }
  } else {
    reading.statusError = reason(status.reason);
  }
  return reading;
}

/** The shortest true account of why a request failed: "connect ECONNREFUSED 127.0.0.1:9464", "timed out". */
export function reason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: Array<{ message?: string }> } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time';
  const cause = e?.cause;
  if (cause?.message) return cause.message;
  if (cause?.errors?.[0]?.message) return cause.errors[0].message;
  if (cause?.code) return cause.code;
  return e?.message ?? String(err);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Keeps the fields of a /status document `top` knows, with their types checked; drops the rest. */
export function readStatus(doc: unknown): StatusDoc {
  const out: StatusDoc = {};
  if (!isObject(doc)) return out;
  const { ready, feed, kafka, spool, lastError } = doc;
  if (isObject(ready) && typeof ready['ok'] === 'boolean') {
    out.ready = { ok: ready['ok'], reasons: Array.isArray(ready['reasons']) ? ready['reasons'].filter((r): r is string => typeof r === 'string') : [] };
  }
  if (isObject(feed)) {
    out.feed = {};
    for (const k of ['state', 'url', 'connection', 'lastFrameAt', 'subscriptions'] as const) {
      const v = str(feed[k]);
      if (v !== undefined) out.feed[k] = v;
    }
  }
  if (isObject(kafka)) {
    out.kafka = {};
    if (Array.isArray(kafka['brokers'])) out.kafka.brokers = kafka['brokers'].filter((b): b is string => typeof b === 'string');
    const last = str(kafka['lastAcknowledgedAt']);
    if (last !== undefined) out.kafka.lastAcknowledgedAt = last;
    if (Array.isArray(kafka['held'])) {
      out.kafka.held = [];
      for (const h of kafka['held']) {
        if (!isObject(h) || str(h['topic']) === undefined) continue;
        const since = str(h['since']);
        out.kafka.held.push({ topic: str(h['topic'])!, code: str(h['code']) ?? '?', ...(since !== undefined ? { since } : {}) });
      }
    }
    if (Array.isArray(kafka['perBroker'])) {
      out.kafka.perBroker = [];
      for (const b of kafka['perBroker']) {
        if (!isObject(b) || (typeof b['broker'] !== 'number' && typeof b['broker'] !== 'string')) continue;
        const lane: BrokerLane = { broker: String(b['broker']) };
        for (const k of ['state', 'failingSince', 'lastError'] as const) {
          const v = str(b[k]);
          if (v !== undefined) lane[k] = v;
        }
        for (const k of ['inflight', 'partitionsLed', 'requests', 'failures'] as const) {
          const v = num(b[k]);
          if (v !== undefined) lane[k] = v;
        }
        out.kafka.perBroker.push(lane);
      }
    }
    if (Array.isArray(kafka['leaderlessPartitions'])) out.kafka.leaderlessPartitions = kafka['leaderlessPartitions'].filter((x): x is string => typeof x === 'string');
  }
  if (isObject(spool)) {
    out.spool = {};
    for (const k of ['records', 'bytes', 'maxBytes'] as const) {
      const v = num(spool[k]);
      if (v !== undefined) out.spool[k] = v;
    }
    const we = spool['writeError'];
    if (isObject(we) && str(we['code']) !== undefined) out.spool.writeError = { code: str(we['code'])!, message: str(we['message']) ?? '' };
  }
  const oldest = num(doc['oldestUnacknowledgedMs']);
  if (oldest !== undefined) out.oldestUnacknowledgedMs = oldest;
  if (isObject(lastError) && str(lastError['code']) !== undefined) {
    const at = str(lastError['at']);
    out.lastError = { code: str(lastError['code'])!, message: str(lastError['message']) ?? '', ...(at !== undefined ? { at } : {}) };
  }
  const up = num(doc['uptimeS']);
  if (up !== undefined) out.uptimeS = up;
  return out;
}
