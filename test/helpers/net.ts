// A free local port, reading the bridge's /metrics, polling until a condition holds, and a TCP relay.
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

/** A port free a moment ago on 127.0.0.1 (for a metrics port given to a bridge). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** The text of the bridge's /metrics on `port`. */
export async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The number `line`'s first group captures in the bridge's /metrics on `port`; 0 when absent. */
export async function metric(port: number, line: RegExp): Promise<number> {
  return Number(line.exec(await metricsText(port))?.[1] ?? 0);
}

/** Resolves when `check()` holds, polling every 100 ms; rejects after timeoutMs naming `what` (and `detail()`). */
export async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Relay {
  /** host:port it listens on. */
  address: string;
  port: number;
  /** With `keep`: every byte the target wrote towards each connection, one list per connection. */
  fromTarget: Buffer[][];
  close: () => void;
  /**
   * Stops forwarding in both directions while keeping every connection open, and accepts new ones
   * without forwarding on them either: requests through the relay hang, as across a link that drops
   * every packet (the sockets stop reading, so the senders' TCP windows fill). Nothing is lost:
   * restore() forwards what waited, in order.
   */
  blackhole: () => void;
  /** Forwards again after blackhole() or cut(). */
  restore: () => void;
  /** Destroys every connection and resets new ones at once, until restore(). */
  cut: () => void;
  /** Connections accepted so far. */
  accepted: () => number;
}

type RelayMode = 'forward' | 'blackhole' | 'cut';

/** One direction of a relayed connection: from's bytes to `to`, held while the relay is blackholed. */
function relayLine(from: Socket, to: Socket, mode: () => RelayMode): { flush: () => void } {
  const queue: Array<Buffer | null> = [];
  let waiting = false;
  const write = (chunk: Buffer | null) => {
    if (chunk === null) {
      to.end();
      return;
    }
    if (!to.write(chunk) && !waiting) {
      waiting = true;
      from.pause();
      to.once('drain', () => {
        waiting = false;
        if (mode() === 'forward') from.resume();
      });
    }
  };
  const take = (chunk: Buffer | null) => {
    if (mode() !== 'forward' || queue.length > 0) queue.push(chunk);
    else write(chunk);
  };
  from.on('data', (c: Buffer) => take(c));
  from.on('end', () => take(null));
  return {
    flush: () => {
      while (queue.length > 0 && mode() === 'forward') write(queue.shift() as Buffer | null);
      if (mode() === 'forward' && !waiting) from.resume();
    },
  };
}

/**
 * A TCP relay listening on `host` (127.0.0.1 unless given) and `port` (any free one unless given)
 * towards `target` (host:port, or a function giving it, asked at each connection); optionally
 * TLS-terminating with `tls`, and keeping what the target sent with `keep`. It can be blackholed,
 * cut and restored (a broker unreachable from one client while the rest of the network is fine).
 */
export async function relay(target: string | (() => string), options: { host?: string; port?: number; tls?: { cert: string; key: string }; keep?: boolean } = {}): Promise<Relay> {
  const host = options.host ?? '127.0.0.1';
  const fromTarget: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const lines = new Set<{ flush: () => void }>();
  let mode: RelayMode = 'forward';
  let accepted = 0;
  const onClient = (client: Socket) => {
    accepted += 1;
    if (mode === 'cut') {
      client.on('error', () => {});
      client.destroy();
      return;
    }
    const to = typeof target === 'string' ? target : target();
    const [th, tp] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
    const upstream = connect(tp, th);
    const pair = [relayLine(client, upstream, () => mode), relayLine(upstream, client, () => mode)];
    for (const s of [client, upstream]) {
      sockets.add(s);
      if (mode !== 'forward') s.pause();
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        sockets.delete(s);
        for (const l of pair) lines.delete(l);
      });
    }
    for (const l of pair) lines.add(l);
    if (options.keep) {
      const chunks: Buffer[] = [];
      fromTarget.push(chunks);
      upstream.on('data', (c: Buffer) => chunks.push(c));
    }
  };
  const tls = options.tls;
  const server: Server = tls ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, onClient) : createServer(onClient);
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `${host}:${port}`,
    port,
    fromTarget,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    blackhole: () => {
      mode = 'blackhole';
      for (const s of sockets) s.pause();
    },
    restore: () => {
      mode = 'forward';
      for (const l of lines) l.flush();
    },
    cut: () => {
      mode = 'cut';
      for (const s of sockets) s.destroy();
    },
    accepted: () => accepted,
  };
}
