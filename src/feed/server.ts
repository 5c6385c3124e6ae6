// The feed server: the Polygon protocol towards any number of WebSocket clients (handshake, auth,
// max connections per key, subscriptions, a bounded send buffer per client and slow_consumer).
// It knows nothing about where frames come from: `mock` generates them, a later `proxy` forwards
// them. Plain HTTP requests on the same port go to `options.http` (e.g. GET /stats).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { Ws2kError } from '../errors.ts';
import { parseClientMessage, splitParams, Status, statusFrame, StatusMessages, Subscriptions, type StatusValue } from './protocol.ts';

/** pino-compatible: one line per connection event, never per event. */
export interface FeedLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentLogger: FeedLogger = { info: () => {}, warn: () => {} };

export interface FeedServerOptions {
  host: string;
  /** 0: an ephemeral port, reported by start(). */
  port: number;
  /** The WebSocket path, e.g. `/mock`; upgrades elsewhere get 404. */
  path: string;
  /** Accepted API keys; empty: any key. */
  apiKeys: readonly string[];
  /** A client silent this long after connecting gets auth_timeout and is closed. */
  authTimeoutMs: number;
  /** Open authenticated connections per key; the extra one gets max_connections. 0: unlimited. */
  maxConnectionsPerKey: number;
  /** A client whose unsent bytes exceed this gets slow_consumer and is disconnected. */
  slowConsumerBytes: number;
  logger: FeedLogger;
  /** When a client has connected, before the connected status is sent. */
  onConnect?: (client: FeedClient) => void;
  /** After each subscribe or unsubscribe message has been applied. */
  onSubscriptions?: (client: FeedClient) => void;
  /** After a client's connection has closed. */
  onClose?: (client: FeedClient) => void;
  /** Plain HTTP requests; return false to answer 404. */
  http?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
}

export type ClientState = 'connected' | 'authenticated' | 'closing' | 'closed';

/** Called when a frame has been written to the socket (err null or undefined) or could not be. */
export type WrittenCallback = (err?: Error | null) => void;

/** How long a closing client may take to read its remaining data before it is cut off. */
const CLOSE_GRACE_MS = 2000;

/** One client connection. Counters are about frames and bytes; what a frame holds is the owner's. */
export class FeedClient {
  readonly id: number;
  readonly remote: string;
  readonly openedAt: number;
  readonly subscriptions = new Subscriptions();
  closedAt: number | undefined;
  closeReason: string | undefined;
  state: ClientState = 'connected';
  frames = 0;
  bytes = 0;
  /** The key it authenticated with: kept for max_connections, never logged nor reported. */
  #key: string | undefined;
  #ws: WebSocket;
  #server: FeedServer;
  #authTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(id: number, remote: string, ws: WebSocket, server: FeedServer) {
    this.id = id;
    this.remote = remote;
    this.openedAt = Date.now();
    this.#ws = ws;
    this.#server = server;
  }

  get key(): string | undefined {
    return this.#key;
  }

  /** Authenticated, subscribed to something and not closing: data frames go to it. */
  get receiving(): boolean {
    return this.state === 'authenticated' && this.subscriptions.size > 0;
  }

  /** Bytes queued for this client and not yet written to its socket. */
  get unsentBytes(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Queues a data frame. False when the client is not open or has just been disconnected as a slow
   * consumer (its unsent data exceeded the limit); `written` then is never called.
   */
  send(frame: string | Buffer, written?: WrittenCallback, binary = false): boolean {
    if (this.state !== 'authenticated') return false;
    if (this.#ws.bufferedAmount > this.#server.options.slowConsumerBytes) {
      this.disconnect(Status.slowConsumer, StatusMessages.slowConsumer, 'slow_consumer', true);
      return false;
    }
    this.frames++;
    this.bytes += typeof frame === 'string' ? frame.length : frame.byteLength;
    this.#ws.send(frame, { binary }, written);
    return true;
  }

  /** Sends a status frame (not counted as data). */
  status(status: StatusValue, message: string): void {
    if (this.state === 'closed' || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(statusFrame(status, message));
  }

  /**
   * Sends the status, then closes. Queued data is still delivered if the client reads it within a
   * grace period; `cut` (slow consumers) closes at once, dropping what is queued. `closeCode` is
   * the WebSocket close code (1000 unless given, e.g. 1013 "try again later").
   */
  disconnect(status: StatusValue, message: string, reason: string, cut = false, closeCode = 1000): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.status(status, message);
    this.#beginClose(reason, cut, closeCode);
  }

  /** Closes without a status (server shutdown). */
  close(reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.#beginClose(reason, false);
  }

  #beginClose(reason: string, cut: boolean, closeCode = 1000): void {
    this.closeReason ??= reason;
    this.state = 'closing';
    this.#clearAuthTimer();
    this.#server.forget(this);
    if (cut) {
      this.#ws.terminate();
      return;
    }
    this.#ws.close(closeCode, reason.slice(0, 100));
    this.#killTimer = setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
    this.#killTimer.unref();
  }

  /** @internal the server wires the socket's events to these. */
  start(): void {
    this.status(Status.connected, StatusMessages.connected);
    this.#authTimer = setTimeout(() => {
      this.disconnect(Status.authTimeout, StatusMessages.authTimeout, 'auth_timeout');
    }, this.#server.options.authTimeoutMs);
    this.#authTimer.unref();
  }

  #clearAuthTimer(): void {
    if (this.#authTimer !== undefined) clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
  }

  /** @internal */
  onMessage(text: string): void {
    if (this.state !== 'connected' && this.state !== 'authenticated') return;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.status(Status.error, parsed.error);
      return;
    }
    for (const a of parsed.actions) {
      if (a.action === 'auth') this.#auth(a.params);
      else if (this.state !== 'authenticated') this.status(Status.error, 'not authorized');
      else this.#subscribe(a.action, a.params);
      if (this.state !== 'connected' && this.state !== 'authenticated') return;
    }
  }

  #auth(key: string): void {
    const o = this.#server.options;
    if (this.state === 'authenticated') {
      this.status(Status.authSuccess, StatusMessages.authSuccess);
      return;
    }
    this.#clearAuthTimer();
    if (o.apiKeys.length > 0 && !o.apiKeys.includes(key)) {
      this.#server.log.warn({ conn: this.id, remote: this.remote }, 'auth failed');
      this.disconnect(Status.authFailed, StatusMessages.authFailed, 'auth_failed');
      return;
    }
    if (!this.#server.admit(this, key)) {
      this.#server.log.warn({ conn: this.id, remote: this.remote, limit: o.maxConnectionsPerKey }, 'max connections for this key: closing the new one');
      this.disconnect(Status.maxConnections, StatusMessages.maxConnections, 'max_connections');
      return;
    }
    this.#key = key;
    this.state = 'authenticated';
    this.status(Status.authSuccess, StatusMessages.authSuccess);
    this.#server.log.info({ conn: this.id, remote: this.remote }, 'authenticated');
  }

  #subscribe(action: 'subscribe' | 'unsubscribe', params: string): void {
    const list = splitParams(params);
    const verb = action === 'subscribe' ? 'subscribed to' : 'unsubscribed to';
    for (const p of list) {
      const ok = action === 'subscribe' ? this.subscriptions.add(p) : this.subscriptions.remove(p);
      if (ok) this.status(Status.success, `${verb}: ${p}`);
      else this.status(Status.error, `invalid param: ${p} (expected EV.SYMBOL or EV.*)`);
    }
    this.#server.log.info({ conn: this.id, action, params: list, subscriptions: this.subscriptions.list() }, action);
    this.#server.options.onSubscriptions?.(this);
  }

  /** @internal */
  onClose(code: number): void {
    this.#clearAuthTimer();
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
    this.closeReason ??= `client closed (${code})`;
    this.state = 'closed';
    this.closedAt = Date.now();
    this.#server.forget(this);
  }
}

/** Listens, accepts clients and runs the handshake; frames are sent by the owner via FeedClient. */
export class FeedServer {
  readonly options: FeedServerOptions;
  readonly log: FeedLogger;
  #http: Server;
  #wss: WebSocketServer;
  #clients = new Map<number, FeedClient>();
  #byKey = new Map<string, Set<FeedClient>>();
  #nextId = 1;
  #url = '';

  constructor(options: FeedServerOptions) {
    this.options = options;
    this.log = options.logger;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20, perMessageDeflate: false });
    this.#http = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (this.options.http?.(req, res, url) !== true) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    this.#http.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== this.options.path) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
    });
  }

  /** Listens; resolves with the WebSocket URL (the real port when 0 was asked). */
  async start(): Promise<string> {
    const { host, port, path } = this.options;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new Ws2kError('FEED_LISTEN_FAILED', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
      };
      this.#http.once('error', onError);
      this.#http.listen(port, host, () => {
        this.#http.off('error', onError);
        resolve();
      });
    });
    const addr = this.#http.address() as AddressInfo;
    const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.#url = `ws://${shownHost}:${addr.port}${path}`;
    this.log.info({ url: this.#url }, 'listening');
    return this.#url;
  }

  get url(): string {
    return this.#url;
  }

  /** Open clients (those closing or closed are gone from here). */
  clients(): IterableIterator<FeedClient> {
    return this.#clients.values();
  }

  /** Closes every client, then the listener. */
  async close(): Promise<void> {
    for (const c of [...this.#clients.values()]) c.close('server closing');
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  /** @internal counts `client` against `key`'s limit; false when the key is at its limit. */
  admit(client: FeedClient, key: string): boolean {
    let set = this.#byKey.get(key);
    if (set === undefined) this.#byKey.set(key, (set = new Set()));
    const limit = this.options.maxConnectionsPerKey;
    if (limit > 0 && set.size >= limit) return false;
    set.add(client);
    return true;
  }

  /** @internal a client is closing: it no longer counts nor receives. */
  forget(client: FeedClient): void {
    this.#clients.delete(client.id);
    const key = client.key;
    if (key !== undefined) this.#byKey.get(key)?.delete(client);
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const id = this.#nextId++;
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const client = new FeedClient(id, remote, ws, this);
    this.#clients.set(id, client);
    this.log.info({ conn: id, remote }, 'connected');
    this.options.onConnect?.(client);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) client.onMessage((data as Buffer).toString());  // binaryType nodebuffer: always a Buffer
    });
    ws.on('error', (err) => this.log.warn({ conn: id, err: err.message }, 'socket error'));
    ws.on('close', (code) => {
      client.onClose(code);
      this.log.info({ conn: id, reason: client.closeReason, frames: client.frames }, 'closed');
      this.options.onClose?.(client);
    });
    client.start();
  }
}
