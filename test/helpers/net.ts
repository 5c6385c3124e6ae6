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
}

/**
 * A TCP relay listening on `host` (127.0.0.1 unless given) towards `target` (host:port); optionally
 * TLS-terminating with `tls`, and keeping what the target sent with `keep`.
 */
export async function relay(target: string, options: { host?: string; tls?: { cert: string; key: string }; keep?: boolean } = {}): Promise<Relay> {
  const host = options.host ?? '127.0.0.1';
  const [th, tp] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const fromTarget: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const onClient = (client: Socket) => {
    const upstream = connect(tp, th);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    if (options.keep) {
      const chunks: Buffer[] = [];
      fromTarget.push(chunks);
      upstream.on('data', (c: Buffer) => chunks.push(c));
    }
    client.pipe(upstream).pipe(client);
  };
  const tls = options.tls;
  const server: Server = tls ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, onClient) : createServer(onClient);
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `${host}:${port}`,
    port,
    fromTarget,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
