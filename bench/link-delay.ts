// The delay link of `bench --link-delay` (src/net/delay-link.ts) on its own: the round trip it adds
// and the most it forwards. Starts src/net/delay-link-process.ts as its own process (as bench does)
// in front of a server in this process that echoes (ping) or only counts (throughput).
//
//   node bench/link-delay.ts [--rtt 20] [--pings 200] [--mb 2000] [--chunk 65536]
//
// ping: one 64-byte message at a time, echoed; round trips direct and through the link.
// throughput: --mb megabytes written as fast as the link takes them (with backpressure) in writes
// of --chunk bytes, one connection; MB/s from the first write to the last byte counted, and the
// link process's CPU seconds (/proc) per GB forwarded.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarise } from '../src/net/kafka-ping.ts';
import { LISTENING_LINE } from '../src/net/delay-link.ts';

const { values } = parseArgs({
  options: {
    rtt: { type: 'string', default: '20' },
    pings: { type: 'string', default: '200' },
    mb: { type: 'string', default: '2000' },
    chunk: { type: 'string', default: '65536' },
  },
});
const rtt = Number(values.rtt);
const script = fileURLToPath(new URL('../src/net/delay-link-process.ts', import.meta.url));

function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function listen(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer({ noDelay: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  return (server.address() as AddressInfo).port;
}

async function startLink(targetPort: number): Promise<{ port: number; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, [script, '--target', `127.0.0.1:${targetPort}`, '--rtt', String(rtt)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = LISTENING_LINE.exec(out);
      if (m) resolve(Number(m[2]));
    });
    child.once('exit', (code) => reject(new Error(`the link exited (${code}): ${out}`)));
  });
  return { port, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function ping(port: number, n: number): Promise<ReturnType<typeof summarise>> {
  const s = await dial(port);
  const msg = Buffer.alloc(64, 1);
  const samples: number[] = [];
  for (let i = 0; i <= n; i++) {
    const t0 = performance.now();
    let got = 0;
    await new Promise<void>((resolve) => {
      const on = (c: Buffer) => {
        got += c.length;
        if (got >= msg.length) {
          s.off('data', on);
          resolve();
        }
      };
      s.on('data', on);
      s.write(msg);
    });
    if (i > 0) samples.push(performance.now() - t0);
  }
  s.destroy();
  return summarise(samples);
}

const fmt = (r: ReturnType<typeof summarise>) => `min ${r.min.toFixed(2)} ms, median ${r.median.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`;

const echoPort = await listen((s) => s.pipe(s));
const echoLink = await startLink(echoPort);
const pings = Number(values.pings);
process.stdout.write(`ping direct (${pings}):          ${fmt(await ping(echoPort, pings))}\n`);
process.stdout.write(`ping through +${rtt} ms link (${pings}): ${fmt(await ping(echoLink.port, pings))}\n`);
echoLink.stop();

let counted = 0;
let done: () => void = () => {};
const total = Number(values.mb) * 1e6;
const sinkPort = await listen((s) =>
  s.on('data', (c: Buffer) => {
    counted += c.length;
    if (counted >= total) done();
  }),
);
const link = await startLink(sinkPort);
const client = await dial(link.port);
const chunk = Buffer.alloc(Number(values.chunk), 7);
const cpu0 = cpuSeconds(link.pid);
const t0 = performance.now();
const finished = new Promise<void>((r) => (done = r));
let written = 0;
while (written < total) {
  const n = Math.min(chunk.length, total - written);
  written += n;
  if (!client.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((r) => client.once('drain', r));
}
await finished;
const seconds = (performance.now() - t0) / 1000;
const cpu = cpuSeconds(link.pid) - cpu0;
process.stdout.write(
  `throughput through +${rtt} ms link: ${(total / 1e6 / seconds).toFixed(0)} MB/s (${(total / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s), ` +
    `link CPU ${cpu.toFixed(2)} s = ${(cpu / (total / 1e9)).toFixed(2)} s per GB, ${((cpu / seconds) * 100).toFixed(0)}% of a core\n`,
);
client.destroy();
link.stop();
