// A free local port, and reading the bridge's /metrics.
import { createServer, type AddressInfo } from 'node:net';

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
