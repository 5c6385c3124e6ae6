// The delay link (src/net/delay-link.ts) on loopback sockets: bytes unchanged and in order both
// ways, FIN and reset carried over, backpressure reaching the sender, and a delay of at least the
// one asked for (a lower bound only: nothing here asserts a speed).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { DelayLink } from '../../src/net/delay-link.ts';
import { apiVersionsRequest, summarise } from '../../src/net/kafka-ping.ts';

async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the socket sends until its FIN, as one sha256 and a length. */
function readAll(s: Socket): Promise<{ sha: string; length: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let length = 0;
    s.on('data', (c: Buffer) => {
      h.update(c);
      length += c.length;
    });
    s.once('end', () => resolve({ sha: h.digest('hex'), length }));
    s.once('error', reject);
  });
}

/** Writes `data` in pieces of random sizes (with backpressure), then ends. */
async function writeAll(s: Socket, data: Buffer): Promise<void> {
  let i = 0;
  while (i < data.length) {
    const n = 1 + Math.floor(Math.random() * 200_000);
    if (!s.write(data.subarray(i, i + n))) await new Promise((r) => s.once('drain', r));
    i += n;
  }
  s.end();
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a large transfer both ways at once: every byte unchanged and in order, FIN carried each way, both sides closed', async (t) => {
  const up = randomBytes(24 << 20);
  const down = randomBytes(16 << 20);
  let serverGot: Promise<{ sha: string; length: number }> | undefined;
  const serverClosed = Promise.withResolvers<void>();
  const { server, port } = await listen((s) => {
    serverGot = readAll(s);
    void writeAll(s, down);
    s.once('close', () => serverClosed.resolve());
  });
  t.after(() => server.close());
  const link = await DelayLink.start({ target: { host: '127.0.0.1', port }, rttMs: 10 });
  t.after(() => link.close());

  const client = await dial(link.port);
  const clientClosed = new Promise<void>((r) => client.once('close', () => r()));
  const [clientGot] = await Promise.all([readAll(client), writeAll(client, up)]);
  assert.deepEqual(clientGot, { sha: sha(down), length: down.length });
  assert.ok(serverGot);
  assert.deepEqual(await serverGot, { sha: sha(up), length: up.length });
  await Promise.all([clientClosed, serverClosed.promise]);
  const s = link.stats;
  assert.equal(s.accepted, 1);
  assert.equal(s.bytesUp, up.length);
  assert.equal(s.bytesDown, down.length);
  assert.equal(s.held, 0);
  for (let i = 0; i < 50 && link.stats.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(link.stats.open, 0);
});

test('a half-close is forwarded: the client ends, the server still answers, then ends too', async (t) => {
  const { server, port } = await listen((s) => {
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    s.once('end', () => s.end(Buffer.concat([Buffer.from('you said: '), ...got])));
  });
  t.after(() => server.close());
  const link = await DelayLink.start({ target: { host: '127.0.0.1', port }, rttMs: 20 });
  t.after(() => link.close());
  const client = await dial(link.port);
  const answer = readAll(client);
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  client.end('hello');
  await answer;
  assert.equal(Buffer.concat(chunks).toString(), 'you said: hello');
});

test('a reset on one side destroys the other; a refused target closes the client', async (t) => {
  const { server, port } = await listen((s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  t.after(() => server.close());
  const link = await DelayLink.start({ target: { host: '127.0.0.1', port }, rttMs: 10 });
  t.after(() => link.close());
  const client = await dial(link.port);
  client.on('error', () => {});
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  client.write('x');
  await closed;

  // A target nobody listens on: the upstream connection is refused and the client is closed.
  const gone = await listen(() => {});
  const deadPort = gone.port;
  await new Promise<void>((r) => gone.server.close(() => r()));
  const nowhere = await DelayLink.start({ target: { host: '127.0.0.1', port: deadPort }, rttMs: 10 });
  t.after(() => nowhere.close());
  const lonely = await dial(nowhere.port);
  lonely.on('error', () => {});
  await new Promise<void>((r) => lonely.once('close', () => r()));
});

test('the delay is at least the one asked for: one way at least rtt/2, a request-response round trip at least rtt', async (t) => {
  const rttMs = 40;
  let arrived: number[] = [];
  const { server, port } = await listen((s) => {
    s.on('data', (c: Buffer) => {
      arrived.push(performance.now());
      s.write(c); // echo
    });
  });
  t.after(() => server.close());
  const link = await DelayLink.start({ target: { host: '127.0.0.1', port }, rttMs });
  t.after(() => link.close());
  const client = await dial(link.port);
  t.after(() => client.destroy());
  const rtts: number[] = [];
  const oneWay: number[] = [];
  for (let i = 0; i < 10; i++) {
    arrived = [];
    const t0 = performance.now();
    const echoed = new Promise<void>((r) => client.once('data', () => r()));
    client.write(apiVersionsRequest(i));
    await echoed;
    rtts.push(performance.now() - t0);
    oneWay.push((arrived[0] ?? Infinity) - t0);
  }
  const r = summarise(rtts);
  assert.ok(r.min >= rttMs, `every round trip >= ${rttMs} ms: ${rtts.map((x) => x.toFixed(1)).join(', ')}`);
  assert.ok(Math.min(...oneWay) >= rttMs / 2, `every one-way trip >= ${rttMs / 2} ms: ${oneWay.map((x) => x.toFixed(1)).join(', ')}`);
});

test('rttMs 0 forwards at once and still keeps order', async (t) => {
  const data = randomBytes(4 << 20);
  let got: Promise<{ sha: string; length: number }> | undefined;
  const { server, port } = await listen((s) => {
    got = readAll(s);
    s.end();
  });
  t.after(() => server.close());
  const link = await DelayLink.start({ target: { host: '127.0.0.1', port }, rttMs: 0 });
  t.after(() => link.close());
  const client = await dial(link.port);
  client.resume();
  await writeAll(client, data);
  await new Promise<void>((r) => client.once('close', () => r()));
  assert.deepEqual(await got, { sha: sha(data), length: data.length });
});

test('backpressure: a receiver that does not read pauses the sender; the line holds at most about maxHeldBytes', async (t) => {
  const maxHeldBytes = 1 << 20;
  let serverSocket: Socket | undefined;
  const { server, port } = await listen((s) => {
    serverSocket = s;
    s.pause();
  });
  t.after(() => server.close());
  const link = await DelayLink.start({ target: { host: '127.0.0.1', port }, rttMs: 4, maxHeldBytes });
  t.after(() => link.close());
  const client = await dial(link.port);
  const data = randomBytes(64 << 20);
  // Offer everything at once: the kernel buffers and the link's line take some, the rest must stay
  // in the client's own socket buffer once the link stops reading.
  client.write(data);
  let last = -1;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = link.stats.bytesUp + link.stats.held;
    if (now === last) break;
    last = now;
  }
  assert.ok(client.writableLength > 0, 'the client still holds unsent bytes');
  assert.ok(link.stats.held <= maxHeldBytes + (256 << 10), `held ${link.stats.held} bytes`);
  assert.ok(link.stats.bytesUp + link.stats.held < data.length, 'not everything was taken in');
  // Reading again lets everything through, unchanged.
  assert.ok(serverSocket);
  const got = readAll(serverSocket);
  serverSocket.resume();
  client.end();
  assert.deepEqual(await got, { sha: sha(data), length: data.length });
});
