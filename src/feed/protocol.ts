// The client-facing half of the Polygon protocol, as pure functions: status frames, parsing what a
// client sends, and the subscription set with its matching. No sockets here (see server.ts).

/** Server status values a feed sends (POLYGON.md, "Handshake"). */
export const Status = {
  connected: 'connected',
  authSuccess: 'auth_success',
  authFailed: 'auth_failed',
  authTimeout: 'auth_timeout',
  success: 'success',
  error: 'error',
  maxConnections: 'max_connections',
  forceDisconnect: 'force_disconnect',
  slowConsumer: 'slow_consumer',
} as const;

export type StatusValue = (typeof Status)[keyof typeof Status];

/** One frame holding one status event: `[{"ev":"status","status":...,"message":...}]`. */
export function statusFrame(status: StatusValue, message: string): string {
  return `[{"ev":"status","status":${JSON.stringify(status)},"message":${JSON.stringify(message)}}]`;
}

export const StatusMessages = {
  connected: 'Connected Successfully',
  authSuccess: 'authenticated',
  authFailed: 'authentication failed',
  authTimeout: 'No authentication request received.',
  maxConnections: 'Maximum number of websocket connections exceeded. You have reached the connection limit for your account.',
  forceDisconnect: 'Force disconnect.',
  slowConsumer: 'Slow consumer: the client did not read fast enough.',
} as const;

export type ClientAction = { action: 'auth' | 'subscribe' | 'unsubscribe'; params: string };
export type ParsedClientMessage = { ok: true; actions: ClientAction[] } | { ok: false; error: string };

const ACTIONS = new Set(['auth', 'subscribe', 'unsubscribe']);

/**
 * What a client sent: `{"action":"auth","params":"KEY"}`, or several such objects in an array.
 * Anything else is an error the server reports with an `error` status (the connection stays).
 */
export function parseClientMessage(text: string): ParsedClientMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: 'message is not JSON' };
  }
  const items = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
  const actions: ClientAction[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) return { ok: false, error: 'message is not an object with action and params' };
    const { action, params } = item as { action?: unknown; params?: unknown };
    if (typeof action !== 'string' || !ACTIONS.has(action)) {
      return { ok: false, error: `unknown action ${JSON.stringify(action)}: expected auth, subscribe or unsubscribe` };
    }
    if (typeof params !== 'string') return { ok: false, error: `${action}: params must be a string` };
    actions.push({ action: action as ClientAction['action'], params });
  }
  return { ok: true, actions };
}

/** `"T.*, AM.AAPL"` → `['T.*', 'AM.AAPL']`: comma separated, spaces ignored, empties dropped. */
export function splitParams(params: string): string[] {
  const out: string[] = [];
  for (const p of params.split(',')) {
    const s = p.trim();
    if (s !== '') out.push(s);
  }
  return out;
}

/** `T.*` → { ev: 'T', sym: '*' }; `T.BRK.A` → sym 'BRK.A'; no dot, empty ev or sym → undefined. */
export function parseParam(param: string): { ev: string; sym: string } | undefined {
  const dot = param.indexOf('.');
  if (dot <= 0 || dot === param.length - 1) return undefined;
  return { ev: param.slice(0, dot), sym: param.slice(dot + 1) };
}

/** A client's subscriptions: per ev, either every symbol (`ev.*`) or a set of symbols. */
export class Subscriptions {
  #all = new Set<string>();
  #some = new Map<string, Set<string>>();
  #version = 0;

  /** Adds `T.*` or `T.AAPL`; false when the param is not of that shape. */
  add(param: string): boolean {
    const p = parseParam(param);
    if (p === undefined) return false;
    if (p.sym === '*') this.#all.add(p.ev);
    else {
      let set = this.#some.get(p.ev);
      if (set === undefined) this.#some.set(p.ev, (set = new Set()));
      set.add(p.sym);
    }
    this.#version++;
    return true;
  }

  /** Removes exactly that param (`T.*` does not remove `T.AAPL`); false when malformed. */
  remove(param: string): boolean {
    const p = parseParam(param);
    if (p === undefined) return false;
    if (p.sym === '*') this.#all.delete(p.ev);
    else {
      const set = this.#some.get(p.ev);
      set?.delete(p.sym);
      if (set?.size === 0) this.#some.delete(p.ev);
    }
    this.#version++;
    return true;
  }

  matches(ev: string, sym: string): boolean {
    return this.#all.has(ev) || this.#some.get(ev)?.has(sym) === true;
  }

  /** Every symbol of this ev. */
  hasAll(ev: string): boolean {
    return this.#all.has(ev);
  }

  /** The symbols subscribed one by one for this ev (empty when none). */
  symbols(ev: string): ReadonlySet<string> {
    return this.#some.get(ev) ?? EMPTY;
  }

  get size(): number {
    let n = this.#all.size;
    for (const s of this.#some.values()) n += s.size;
    return n;
  }

  /** Grows on every change: lets a caller cache something derived from the set. */
  get version(): number {
    return this.#version;
  }

  /** The params, sorted: `['AM.*', 'T.AAPL', 'T.*']`. */
  list(): string[] {
    const out = [...this.#all].map((ev) => `${ev}.*`);
    for (const [ev, syms] of this.#some) for (const s of syms) out.push(`${ev}.${s}`);
    return out.sort();
  }
}

const EMPTY: ReadonlySet<string> = new Set();
