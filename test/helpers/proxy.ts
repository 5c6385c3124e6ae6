// Helpers for the proxy's integration tests: a silent logger, a free port, polling, raw event
// slices of received frames, and a client that stops reading.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import pino from 'pino';
import { Slices, splitFrame } from '../../src/split/split.ts';

export const silentLog = pino({ level: 'silent' });

/** A port free a moment ago (for an upstream that must start after the proxy). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `ready` every 20 ms; throws naming `what` after `timeoutMs`. */
export async function until(ready: () => boolean, what: string, timeoutMs = 10_000, detail: () => unknown = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${JSON.stringify(detail())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const slices = new Slices(100_000);

/** The data events of frames as their exact bytes (text), in order; statuses left out. */
export function rawEvents(frames: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of frames) {
    const buf = Buffer.from(f);
    splitFrame(buf, slices);
    if (slices.error !== undefined) continue;
    for (let e = 0; e < slices.count; e++) {
      const text = buf.toString('utf8', slices.start[e], slices.end[e]);
      if (!text.includes('"ev":"status"')) out.push(text);
    }
  }
  return out;
}

/** A WebSocket client that stops reading after subscribing: raw bytes over a TCP socket. */
export async function stalledClient(url: string, params: string): Promise<{ closed: Promise<unknown>; destroy: () => void }> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  await once(socket, 'connect');
  socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    // FIN + text; masked with a zero key, so the payload is as is (length < 126).
    return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
  };
  socket.write(frame('{"action":"auth","params":"k"}'));
  socket.write(frame(JSON.stringify({ action: 'subscribe', params })));
  await once(socket, 'data');
  socket.pause();
  const closed = new Promise((resolve) => socket.once('close', resolve));
  return { closed, destroy: () => socket.destroy() };
}
