// `bench --link-delay`: a broker reached through a delayed link, to measure what a remote cluster
// costs. bench starts, for the whole ladder:
//   - the delay link (src/net/delay-link-process.ts) as its own process, so that its timers and
//     copies do not run on the bridge's event loop: it listens on a free loopback port L and adds
//     the asked time to every round trip (half of it each way) towards port R;
//   - a broker of its own (state in <home>/bench-link-delay/<bench pid>/, removed afterwards) with
//     its usual PLAINTEXT listener on P (not delayed) and a second one, REMOTE, on R that advertises
//     127.0.0.1:L. A client that bootstraps at L is told the broker lives at L, so every connection
//     it opens (metadata, produce, the producer id) goes through the delay.
// The pipeline (`ws2kafka run` or --peer) gets L. bench's own clients (topic creation, the offset
// samples, verify's audit) use P: delaying them would only slow the measurement, not the pipeline.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import { processAlive } from '../cli/process-alive.ts';
import { Ws2kError } from '../errors.ts';
import { startBroker, stopBroker, type BrokerOptions } from '../kafka-local/broker.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { LISTENING_LINE, STATS_LINE, type DelayLinkStats } from '../net/delay-link.ts';
import { kafkaPing, type PingResult } from '../net/kafka-ping.ts';
import { freePort, nodeScript, type Child } from './children.ts';
import { treeUsage } from './proc.ts';

const SCRIPT = fileURLToPath(new URL('../net/delay-link-process.ts', import.meta.url));
const HOST = '127.0.0.1';
const PINGS = 50;

/** What the result reports about the link (null without --link-delay). */
export interface LinkResult {
  /** --link-delay: added to every round trip (half each way). */
  rtt_ms: number;
  /** ApiVersions round trips to the broker's REMOTE listener through the link, and direct. */
  measured_rtt_ms: { min: number; median: number; max: number };
  direct_rtt_ms: { min: number; median: number; max: number };
  /** The pipeline's bootstrap address (the link) and bench's own (the broker, direct). */
  pipeline_brokers: string[];
  bench_brokers: string[];
  /** Connections the link accepted over the whole ladder, and bytes it forwarded each way. */
  connections: number | null;
  bytes_up: number | null;
  bytes_down: number | null;
  /** CPU seconds of the link process over the whole bench. */
  cpu_s: number | null;
}

export interface LinkEnvironment {
  /** The broker without delay, for bench's own clients. */
  direct: string[];
  /** The delay link, for the pipeline. */
  viaLink: string[];
  link: Child;
  result: LinkResult;
  /** Stops the link and the broker and removes the broker's state; fills in the link's counters. */
  stop(): Promise<void>;
}

const round = (r: PingResult) => ({ min: Math.round(r.min * 100) / 100, median: Math.round(r.median * 100) / 100, max: Math.round(r.max * 100) / 100 });

/** The link-delay brokers of bench processes that no longer run (killed before they could stop them). */
async function reapLeftovers(root: string, progress: (line: string) => void): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return;
  }
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    const dir = join(root, e);
    progress(`stopping the link-delay broker left by bench process ${pid} (${dir})`);
    await stopBroker({ home: root, host: HOST, port: 0, controllerPort: 0, stateDir: dir, log: progress }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** The brokers the REMOTE listener advertises: every one must be the link's address. */
async function advertised(bootstrap: string): Promise<string[]> {
  const admin = new Admin({ clientId: 'ws2kafka-bench', bootstrapBrokers: [bootstrap], retries: 2 });
  try {
    const md = await admin.metadata({ topics: [], forceUpdate: true });
    return [...md.brokers.values()].map((b) => `${b.host}:${b.port}`);
  } finally {
    await admin.close();
  }
}

export async function startLinkEnvironment(rttMs: number, progress: (line: string) => void, live: Set<Child>): Promise<LinkEnvironment> {
  const home = ws2kafkaHome();
  const root = join(home, 'bench-link-delay');
  await reapLeftovers(root, progress);
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [port, controllerPort, remotePort] = [...ports] as [number, number, number];

  // The link first, on a port of its own choosing: the broker then advertises a port that is bound.
  const link = nodeScript('delay link', SCRIPT, ['--target', `${HOST}:${remotePort}`, '--rtt', String(rttMs), '--host', HOST, '--port', '0']);
  live.add(link);
  const o: BrokerOptions = { home, host: HOST, port, controllerPort, log: progress, stateDir: join(root, String(process.pid)) };
  const teardown = async () => {
    await link.stop(5000).catch(() => undefined);
    live.delete(link);
    await stopBroker(o).catch(() => undefined);
    await rm(o.stateDir!, { recursive: true, force: true });
  };
  try {
    const linkPort = Number((await link.waitFor(LISTENING_LINE, 30_000, 'its listening line'))[2]);
    o.remote = { port: remotePort, advertisedHost: HOST, advertisedPort: linkPort };
    progress(`--link-delay: starting a broker of its own on ${HOST}:${port} that advertises the delay link ${HOST}:${linkPort} (+${rttMs} ms per round trip) to clients of its listener ${HOST}:${remotePort}`);
    await startBroker(o, { update: false });
    const viaLink = `${HOST}:${linkPort}`;
    const names = await advertised(viaLink);
    if (names.length === 0 || names.some((n) => n !== viaLink)) {
      throw new Ws2kError('BENCH_FAILED', `the link-delay broker advertises ${names.join(', ') || 'no broker'} through the link, not ${viaLink}`);
    }
    const through = await kafkaPing(HOST, linkPort, PINGS);
    const direct = await kafkaPing(HOST, remotePort, PINGS);
    progress(`--link-delay: round trip through the link median ${through.median.toFixed(1)} ms (min ${through.min.toFixed(1)}, max ${through.max.toFixed(1)}), direct ${direct.median.toFixed(2)} ms`);
    const result: LinkResult = {
      rtt_ms: rttMs,
      measured_rtt_ms: round(through),
      direct_rtt_ms: round(direct),
      pipeline_brokers: [viaLink],
      bench_brokers: [`${HOST}:${port}`],
      connections: null,
      bytes_up: null,
      bytes_down: null,
      cpu_s: null,
    };
    return {
      direct: [`${HOST}:${port}`],
      viaLink: [viaLink],
      link,
      result,
      async stop() {
        const cpuS = link.exit === undefined ? treeUsage(link.pid)?.cpuS : undefined;
        await link.stop(5000).catch(() => undefined);
        const stats = parseLinkStats(link.stdout());
        if (stats !== undefined) {
          result.connections = stats.accepted;
          result.bytes_up = stats.bytesUp;
          result.bytes_down = stats.bytesDown;
        }
        if (cpuS !== undefined) result.cpu_s = Math.round(cpuS * 100) / 100;
        await teardown();
      },
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** The counters the link prints when it stops. */
export function parseLinkStats(stdout: string): DelayLinkStats | undefined {
  const m = STATS_LINE.exec(stdout);
  if (m === null) return undefined;
  try {
    return JSON.parse(m[1]!) as DelayLinkStats;
  } catch {
    return undefined;
  }
}
