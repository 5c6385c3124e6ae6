// A TCP relay that delays what it forwards: a stand-in for the network between the bridge and a
// remote Kafka cluster, on a machine without netem (`bench --link-delay`).
//
// `rttMs` is the time added to every round trip: each direction's bytes are held for rttMs / 2 from
// the moment they are read until they are written on (a link with a 20 ms ping: 10 ms each way).
// Bytes keep their order; a FIN is delayed like the bytes before it (half-closes are forwarded);
// an error or a reset on either side resets both at once.
//
// Each direction is a queue of chunks stamped with the time they become due and one timer for the
// queue's head: a wake-up writes every chunk that is due, so traffic costs one timer per
// millisecond at most, not one per chunk. A wake-up that comes early (timers have whole-millisecond
// precision) is put off again, so the delay is never less than asked. Bandwidth is not modelled.
//
// Backpressure: when the receiving socket's write returns false, the line stops writing and the
// sending socket is paused until 'drain'; the sender is also paused while more than `maxHeldBytes`
// wait in the line (default 64 MiB, far above what 10 ms of a gigabit link holds), so a stalled
// receiver cannot make the relay buffer without bound.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface DelayLinkOptions {
  /** Where the relay listens (default 127.0.0.1, port 0: any free port). */
  host?: string;
  port?: number;
  /** Where it forwards to. */
  target: { host: string; port: number };
  /** Added to every round trip, ms (each direction is delayed by half of it); 0 forwards at once. */
  rttMs: number;
  /** Most bytes one direction holds before its sender is paused (default 64 MiB). */
  maxHeldBytes?: number;
}

export interface DelayLinkStats {
  /** Connections accepted since start. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Bytes forwarded client → target and target → client. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes read and not yet written on, both directions of every connection. */
  held: number;
}

const DEFAULT_MAX_HELD = 64 << 20;

/** What delay-link-process.ts prints once it listens (host, port), and its counters at exit. */
export const LISTENING_LINE = /^delay link listening on (\S+):(\d+),/m;
export const STATS_LINE = /^delay link stats (\{.*\})$/m;

interface Held {
  due: number;
  /** null: the sender's FIN, forwarded as end() once due. */
  chunk: Buffer | null;
}

/** One direction of one connection: from's bytes, written to `to` oneWayMs after they were read. */
class DelayLine {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #oneWayMs: number;
  readonly #maxHeld: number;
  readonly #stats: DelayLinkStats;
  readonly #up: boolean;
  #queue: Held[] = [];
  #head = 0;
  #held = 0;
  #timer: NodeJS.Timeout | undefined;
  #awaitingDrain = false;
  #paused = false;

  constructor(from: Socket, to: Socket, oneWayMs: number, maxHeld: number, stats: DelayLinkStats, up: boolean) {
    this.#from = from;
    this.#to = to;
    this.#oneWayMs = oneWayMs;
    this.#maxHeld = maxHeld;
    this.#stats = stats;
    this.#up = up;
    from.on('data', (chunk: Buffer) => this.#push(chunk));
    from.on('end', () => this.#push(null));
    to.on('drain', () => {
      this.#awaitingDrain = false;
      this.#flush();
    });
  }

  #push(chunk: Buffer | null): void {
    if (this.#oneWayMs === 0 && this.#head === this.#queue.length && !this.#awaitingDrain) {
      this.#write(chunk);
      this.#backpressure();
      return;
    }
    this.#queue.push({ due: performance.now() + this.#oneWayMs, chunk });
    if (chunk !== null) {
      this.#held += chunk.length;
      this.#stats.held += chunk.length;
    }
    this.#backpressure();
    if (this.#timer === undefined && !this.#awaitingDrain) this.#arm();
  }

  /** Writes one chunk (or the FIN); false when the receiver asks to wait for 'drain'. */
  #write(chunk: Buffer | null): boolean {
    if (this.#to.destroyed) return true;
    if (chunk === null) {
      this.#to.end();
      return true;
    }
    if (this.#up) this.#stats.bytesUp += chunk.length;
    else this.#stats.bytesDown += chunk.length;
    if (!this.#to.write(chunk)) this.#awaitingDrain = true;
    return !this.#awaitingDrain;
  }

  #arm(): void {
    const next = this.#queue[this.#head];
    if (next === undefined) return;
    const wait = Math.max(1, Math.ceil(next.due - performance.now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #flush(): void {
    if (this.#timer !== undefined || this.#awaitingDrain) return;
    const now = performance.now();
    while (this.#head < this.#queue.length) {
      const h = this.#queue[this.#head]!;
      if (h.due > now) break;
      this.#head++;
      if (h.chunk !== null) {
        this.#held -= h.chunk.length;
        this.#stats.held -= h.chunk.length;
      }
      if (!this.#write(h.chunk)) break;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    } else if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    this.#backpressure();
    if (!this.#awaitingDrain) this.#arm();
  }

  /** Pauses the sender while the receiver is full or the line holds too much; resumes it after. */
  #backpressure(): void {
    const stop = this.#awaitingDrain || this.#held > this.#maxHeld;
    if (stop && !this.#paused) {
      this.#paused = true;
      this.#from.pause();
    } else if (!stop && this.#paused) {
      this.#paused = false;
      this.#from.resume();
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#head = 0;
    this.#stats.held -= this.#held;
    this.#held = 0;
  }
}

export class DelayLink {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #stats: DelayLinkStats = { accepted: 0, open: 0, bytesUp: 0, bytesDown: 0, held: 0 };
  readonly rttMs: number;
  readonly target: { host: string; port: number };

  private constructor(server: Server, o: DelayLinkOptions) {
    this.#server = server;
    this.rttMs = o.rttMs;
    this.target = o.target;
  }

  /** Listens and returns once the port is bound. */
  static async start(o: DelayLinkOptions): Promise<DelayLink> {
    if (!(o.rttMs >= 0) || !Number.isFinite(o.rttMs)) throw new RangeError(`rttMs must be a finite number >= 0, got ${o.rttMs}`);
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const link = new DelayLink(server, o);
    server.on('connection', (client) => link.#accept(client, o));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    return link;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** host:port clients connect to. */
  get address(): string {
    const a = this.#server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  get stats(): Readonly<DelayLinkStats> {
    return { ...this.#stats };
  }

  #accept(client: Socket, o: DelayLinkOptions): void {
    this.#stats.accepted++;
    this.#stats.open++;
    let closed = 0;
    const upstream = connect({ host: o.target.host, port: o.target.port, allowHalfOpen: true, noDelay: true });
    client.setNoDelay(true);
    const oneWay = o.rttMs / 2;
    const max = o.maxHeldBytes ?? DEFAULT_MAX_HELD;
    const lines = [
      new DelayLine(client, upstream, oneWay, max, this.#stats, true),
      new DelayLine(upstream, client, oneWay, max, this.#stats, false),
    ];
    // An error or reset on one side resets the other (at once: a reset is not delayed).
    const kill = () => {
      for (const l of lines) l.stop();
      for (const s of [client, upstream]) if (!s.destroyed) s.resetAndDestroy();
    };
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', kill);
      s.on('close', (hadError) => {
        this.#sockets.delete(s);
        if (++closed === 2) this.#stats.open--;
        // A side closed by an error, or before the other's FIN got through: nothing more can pass.
        if (hadError) kill();
      });
    }
    // Otherwise each side closes once it has ended and been ended: a FIN still on its way through
    // the line completes the other.
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
