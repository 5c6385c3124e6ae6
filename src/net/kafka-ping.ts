// Round-trip time to a Kafka listener: ApiVersions v0 requests, one at a time, on one connection.
// The broker answers ApiVersions without touching a log, so the time is the network's (and the
// relays' on the way) plus a fraction of a millisecond. Used by `bench --link-delay` to report
// the round trip it really measured through the delay link.
import { connect, type Socket } from 'node:net';

const CLIENT_ID = Buffer.from('ws2kafka-ping');

/** An ApiVersions v0 request (request header v1: key 18, version 0, correlation id, client id). */
export function apiVersionsRequest(correlationId: number): Buffer {
  const b = Buffer.alloc(4 + 2 + 2 + 4 + 2 + CLIENT_ID.length);
  b.writeInt32BE(b.length - 4, 0);
  b.writeInt16BE(18, 4);
  b.writeInt16BE(0, 6);
  b.writeInt32BE(correlationId, 8);
  b.writeInt16BE(CLIENT_ID.length, 12);
  CLIENT_ID.copy(b, 14);
  return b;
}

export interface PingResult {
  /** Round trips, ms, in the order measured. */
  samples: number[];
  min: number;
  median: number;
  max: number;
}

export function summarise(samples: number[]): PingResult {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { samples, min: sorted[0] ?? NaN, median: at(0.5), max: sorted.at(-1) ?? NaN };
}

/** `count` request/response round trips to host:port (after one unmeasured warm-up). */
export async function kafkaPing(host: string, port: number, count = 20, timeoutMs = 10_000): Promise<PingResult> {
  const socket: Socket = connect({ host, port, noDelay: true });
  socket.setTimeout(timeoutMs);
  let buffered = Buffer.alloc(0);
  let waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const failed = (e: Error) => {
    waiting?.reject(e);
    waiting = undefined;
  };
  socket.on('error', failed);
  socket.on('timeout', () => failed(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
  socket.on('close', () => failed(new Error(`${host}:${port} closed the connection`)));
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      buffered = buffered.subarray(4 + buffered.readInt32BE(0));
      const w = waiting;
      waiting = undefined;
      w?.resolve();
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const one = () =>
      new Promise<void>((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write(apiVersionsRequest(1));
      });
    await one();
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await one();
      samples.push(performance.now() - t0);
    }
    return summarise(samples);
  } finally {
    socket.destroy();
  }
}
