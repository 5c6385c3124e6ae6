// A minimal Polygon client that records everything it receives: for tests, benches and debugging
// a feed by hand. Not the bridge's source (that is src/source): no reconnect, no backpressure.
import { once } from 'node:events';
import { WebSocket } from 'ws';

export interface StatusEvent {
  ev: 'status';
  status: string;
  message: string;
}

export class ProbeClient {
  readonly ws: WebSocket;
  /** Every text frame, as received. */
  readonly frames: string[] = [];
  /** Parsed data events (not statuses), in order. */
  readonly events: Record<string, unknown>[] = [];
  readonly statuses: StatusEvent[] = [];
  /** Frames that were not JSON arrays of objects. */
  readonly malformed: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Keep parsed events (false: only count them, for high rates). */
  keepEvents: boolean;
  eventCount = 0;

  private constructor(ws: WebSocket, keepEvents: boolean) {
    this.ws = ws;
    this.keepEvents = keepEvents;
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data: Buffer) => this.#onFrame(data.toString()));
    ws.on('error', () => {});
  }

  static async connect(url: string, keepEvents = true): Promise<ProbeClient> {
    const ws = new WebSocket(url);
    const c = new ProbeClient(ws, keepEvents);
    await once(ws, 'open');
    return c;
  }

  send(message: object | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  auth(key = 'test-key'): void {
    this.send({ action: 'auth', params: key });
  }

  subscribe(params: string): void {
    this.send({ action: 'subscribe', params });
  }

  /** Resolves when `ready()` holds, checking on every frame; rejects after `timeoutMs`. */
  async until(ready: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (ready()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!ready()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; statuses: ${JSON.stringify(this.statuses)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.ws.off('message', onMessage);
        this.ws.off('close', onMessage);
      };
      const onMessage = () => setImmediate(check);
      this.ws.on('message', onMessage);
      this.ws.on('close', onMessage);
    });
  }

  hasStatus(status: string): boolean {
    return this.statuses.some((s) => s.status === status);
  }

  close(): void {
    this.ws.close();
  }

  #onFrame(text: string): void {
    if (this.keepEvents) this.frames.push(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.malformed.push(text);
      return;
    }
    if (!Array.isArray(parsed) || !parsed.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))) {
      this.malformed.push(text);
      return;
    }
    for (const e of parsed as Record<string, unknown>[]) {
      if (e['ev'] === 'status') this.statuses.push(e as unknown as StatusEvent);
      else {
        this.eventCount++;
        if (this.keepEvents) this.events.push(e);
      }
    }
  }
}
