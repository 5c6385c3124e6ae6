// The delay link (delay-link.ts) as a process of its own, so that its timers and copies do not run
// on the event loop of the bridge it delays. `ws2kafka bench --link-delay` starts it as
//   node src/net/delay-link-process.ts --target HOST:PORT --rtt MS [--host H] [--port N]
// It prints one line once it listens:
//   delay link listening on 127.0.0.1:PORT, forwarding to HOST:PORT, +MS ms per round trip
// and on SIGTERM or SIGINT one line of counters before it exits:
//   delay link stats {"accepted":N,"open":N,"bytesUp":N,"bytesDown":N}
import { parseArgs } from 'node:util';
import { DelayLink } from './delay-link.ts';

function fail(message: string): never {
  process.stderr.write(`delay link: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { target: { type: 'string' }, rtt: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' } },
    strict: true,
  });
  const target = /^(.+):(\d+)$/.exec(values.target ?? '');
  if (target === null) fail(`--target HOST:PORT is required (got '${values.target ?? ''}')`);
  const rttMs = Number(values.rtt);
  if (values.rtt === undefined || !Number.isFinite(rttMs) || rttMs < 0) fail(`--rtt MS must be a number of milliseconds >= 0 (got '${values.rtt ?? ''}')`);
  const port = Number(values.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(`--port must be 0 to 65535 (got '${values.port ?? ''}')`);
  const link = await DelayLink.start({ host: values.host ?? '127.0.0.1', port, target: { host: target[1]!, port: Number(target[2]) }, rttMs });
  process.stdout.write(`delay link listening on ${link.address}, forwarding to ${target[1]}:${target[2]}, +${rttMs} ms per round trip\n`);
  const stop = () => {
    process.stdout.write(`delay link stats ${JSON.stringify(link.stats)}\n`, () => {
      void link.close().finally(() => process.exit(0));
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

await main();
