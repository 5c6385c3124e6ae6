// A local multi-node Apache Kafka cluster in KRaft mode on 127.0.0.1: N combined nodes (broker and
// controller in one JVM each) forming an N-voter controller quorum, for users and for tests that
// kill, pause and restart one broker. Each node is the single-node broker of broker.ts with its own
// state directory, node id and the shared cluster id:
//   <home>/cluster-<port>/cluster.json      node count, ports, cluster id (no secret)
//   <home>/cluster-<port>/node-<id>/        data/, server.properties, broker.log, broker.pid
// Node `id` (1..N) listens for clients on port + 10*(id-1) and for the controller quorum on that + 1.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../cli/process-alive.ts';
import { Ws2kError } from '../errors.ts';
import { kafkaArtifacts } from './artifacts.ts';
import { brokerStatus, newClusterId, startBroker, stopBroker, type BrokerOptions, type BrokerStatus } from './broker.ts';
import type { RemoteListener } from './listeners.ts';
import { probeMetadata } from './probe.ts';

/** The most nodes `kafka start --brokers N` runs: every node is also a controller voter. */
export const MAX_CLUSTER_NODES = 5;
/** Port offset between consecutive nodes: node id's client port is port + STEP*(id-1), its controller port that + 1. */
export const CLUSTER_PORT_STEP = 10;
/** The first node's client port when --port is not given (9092 stays the single-node broker's). */
export const DEFAULT_CLUSTER_PORT = 9192;
/** Each node's heap when KAFKA_HEAP_OPTS is unset: three JVMs share a small machine. */
export const CLUSTER_HEAP = '-Xms256m -Xmx512m';

const READY_TIMEOUT_MS = 120_000;
const HOST = '127.0.0.1';

export interface ClusterOptions {
  /** State directory root: the cluster lives in <home>/cluster-<basePort>/. */
  home: string;
  /** Node 1's client port; node id's is basePort + 10*(id-1), its controller port that + 1. */
  basePort: number;
  /** How many nodes (1..5); the node count of an existing cluster directory cannot change. */
  nodes: number;
  /** Where the Kafka jars are cached when not under `home` (tests pass the user's cache). */
  artifactsHome?: string;
  log?: (line: string) => void;
  /** Fetch the newest Kafka 4.x even when one is cached. */
  update?: boolean;
  env?: NodeJS.ProcessEnv;
  /**
   * Node `id` (client port `port`) also gets this REMOTE listener (listeners.ts): a PLAINTEXT listener
   * that advertises another address, e.g. a relay's, while the nodes replicate over their own PLAINTEXT
   * listeners directly (tests that cut the path from a client to one broker). None when absent or undefined.
   */
  remote?: (node: { id: number; port: number }) => RemoteListener | undefined;
}

/** What cluster.json records: fixed when the cluster directory is first made. */
export interface ClusterRecord {
  host: string;
  basePort: number;
  clusterId: string;
  replication: number;
  minInsync: number;
  nodes: { id: number; port: number; controllerPort: number }[];
}

export interface ClusterNode {
  id: number;
  port: number;
  controllerPort: number;
  /** host:port of its PLAINTEXT listener. */
  bootstrap: string;
  /** The JVM's process id as last known (after start() or a signal); undefined when not running. */
  readonly pid: number | undefined;
  dataDir: string;
  stateDir: string;
  /** Its broker.log. */
  log: string;
  /**
   * Sends a signal to the node's JVM. SIGTERM and SIGKILL wait until it has exited (SIGTERM: a
   * controlled shutdown, SIGKILL after 30 s); SIGSTOP and SIGCONT return at once.
   */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again (its data kept); returns when it answers metadata requests. */
  start(): Promise<void>;
  /** Whether our JVM of this node is running (a SIGSTOPped one counts as running). */
  running(): Promise<boolean>;
}

export interface Cluster {
  host: string;
  /** 'host:port' of every node, node 1 first: the --brokers list. */
  bootstrap: string[];
  nodes: ClusterNode[];
  record: ClusterRecord;
  stateDir: string;
  /** Stops every node (SIGCONT first, for a paused one); `clean` also deletes the data and cluster.json. */
  stop(opts?: { clean?: boolean }): Promise<void>;
}

export function clusterDir(home: string, basePort: number): string {
  return join(home, `cluster-${basePort}`);
}

function recordFile(home: string, basePort: number): string {
  return join(clusterDir(home, basePort), 'cluster.json');
}

export async function readClusterRecord(home: string, basePort: number): Promise<ClusterRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFile(home, basePort), 'utf8')) as ClusterRecord;
  } catch {
    return undefined;
  }
}

/** Replication min(3, N); min.insync.replicas one less than that (2 on three nodes), at least 1. */
export function clusterRecord(basePort: number, nodes: number, clusterId: string): ClusterRecord {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_CLUSTER_NODES) {
    throw new Ws2kError('USAGE', `a local cluster has 1 to ${MAX_CLUSTER_NODES} nodes (got ${nodes})`);
  }
  const last = basePort + CLUSTER_PORT_STEP * (nodes - 1) + 1;
  if (last > 65535) throw new Ws2kError('USAGE', `--port ${basePort} leaves no room for ${nodes} nodes (the last controller port would be ${last})`);
  const replication = Math.min(3, nodes);
  return {
    host: HOST,
    basePort,
    clusterId,
    replication,
    minInsync: Math.max(1, replication - 1),
    nodes: Array.from({ length: nodes }, (_, i) => ({ id: i + 1, port: basePort + CLUSTER_PORT_STEP * i, controllerPort: basePort + CLUSTER_PORT_STEP * i + 1 })),
  };
}

/** The broker.ts options of one node of the cluster. */
function nodeOptions(home: string, r: ClusterRecord, id: number, co: Pick<ClusterOptions, 'artifactsHome' | 'log' | 'remote'>): BrokerOptions {
  const n = r.nodes.find((x) => x.id === id);
  if (n === undefined) throw new Error(`no node ${id} in the cluster at ${r.basePort}`);
  const log = co.log ?? (() => {});
  const remote = co.remote?.({ id, port: n.port });
  return {
    home,
    host: r.host,
    port: n.port,
    controllerPort: n.controllerPort,
    stateDir: join(clusterDir(home, r.basePort), `node-${id}`),
    log: (line) => log(`node ${id}: ${line}`),
    heap: CLUSTER_HEAP,
    node: {
      id,
      voters: r.nodes.map((x) => `${x.id}@${r.host}:${x.controllerPort}`).join(','),
      clusterId: r.clusterId,
      replication: r.replication,
      minInsync: r.minInsync,
    },
    ...(co.artifactsHome !== undefined ? { artifactsHome: co.artifactsHome } : {}),
    ...(remote !== undefined ? { remote } : {}),
  };
}

/**
 * The cluster of <home>/cluster-<basePort>/ as recorded, or a new record of `nodes` nodes. An
 * existing cluster keeps its node count and cluster id (its log directories are formatted with them).
 */
async function loadOrCreateRecord(home: string, basePort: number, nodes: number): Promise<ClusterRecord> {
  const existing = await readClusterRecord(home, basePort);
  if (existing) {
    if (existing.nodes.length !== nodes) {
      throw new Ws2kError(
        'USAGE',
        `the cluster in ${clusterDir(home, basePort)} was made with ${existing.nodes.length} nodes, not ${nodes}: start it with --brokers ${existing.nodes.length}, or 'ws2kafka kafka stop --brokers ${existing.nodes.length} --port ${basePort} --clean' first`,
      );
    }
    return existing;
  }
  const record = clusterRecord(basePort, nodes, newClusterId());
  await mkdir(clusterDir(home, basePort), { recursive: true });
  await writeFile(recordFile(home, basePort), JSON.stringify(record, null, 2) + '\n');
  return record;
}

/** How many brokers the cluster's metadata shows, asked of one node; undefined when it does not answer. */
async function brokersSeen(bootstrap: string): Promise<number | undefined> {
  const r = await probeMetadata(bootstrap, 2000);
  return 'brokers' in r ? r.brokers : undefined;
}

/** Waits until every node answers metadata and shows all `r.nodes` brokers registered. */
async function waitForAllBrokers(r: ClusterRecord, deadline: number): Promise<void> {
  const want = r.nodes.length;
  for (;;) {
    const seen = await Promise.all(r.nodes.map((n) => brokersSeen(`${r.host}:${n.port}`)));
    if (seen.every((s) => s === want)) return;
    if (Date.now() > deadline) {
      const what = r.nodes.map((n, i) => `node ${n.id} (${r.host}:${n.port}): ${seen[i] === undefined ? 'no answer' : `${seen[i]} brokers`}`).join('; ');
      throw new Ws2kError('KAFKA_START_FAILED', `the cluster did not show ${want} brokers within ${READY_TIMEOUT_MS / 1000}s: ${what}`);
    }
    await sleep(250);
  }
}

/** Sends a signal, ignoring a process that has just exited. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(50);
  }
  return !processAlive(pid);
}

function clusterNode(home: string, r: ClusterRecord, id: number, co: ClusterOptions, first: BrokerStatus): ClusterNode {
  const o = nodeOptions(home, r, id, co);
  const dir = o.stateDir ?? '';
  let pid = first.pid;
  const refresh = async (): Promise<BrokerStatus> => {
    const s = await brokerStatus(o);
    pid = s.running && !s.foreign ? s.pid : undefined;
    return s;
  };
  return {
    id,
    port: o.port,
    controllerPort: o.controllerPort,
    bootstrap: `${o.host}:${o.port}`,
    get pid() {
      return pid;
    },
    dataDir: join(dir, 'data'),
    stateDir: dir,
    log: join(dir, 'broker.log'),
    async stop(sig = 'SIGTERM') {
      if (sig === 'SIGTERM') {
        if (pid !== undefined) signal(pid, 'SIGCONT');
        await stopBroker(o);
        pid = undefined;
        return;
      }
      const s = await refresh();
      if (pid === undefined) {
        throw new Ws2kError('USAGE', `node ${id} is not running${s.foreign ? ' (something not started by ws2kafka answers at its port)' : ''}`);
      }
      process.kill(pid, sig);
      if (sig === 'SIGKILL' && !(await waitForExit(pid, 10_000))) {
        throw new Ws2kError('KAFKA_STOP_FAILED', `node ${id} (pid ${pid}) is still running after SIGKILL`);
      }
      if (sig === 'SIGKILL') pid = undefined;
    },
    async start() {
      const { status } = await startBroker(o, { update: false, ...(co.env ? { env: co.env } : {}) });
      if (status.foreign) throw new Ws2kError('KAFKA_PORT_BUSY', `a Kafka broker not started by ws2kafka answers at ${status.bootstrap}, node ${id}'s port`);
      pid = status.pid;
    },
    async running() {
      return (await refresh()).running;
    },
  };
}

/**
 * Starts every node of the cluster that is not running (all at once: a node answers only when the
 * controller quorum has a majority) and returns when each answers metadata showing all N brokers.
 * Nodes already running are kept; a node port answered by a broker not ours is refused.
 */
export async function startCluster(co: ClusterOptions): Promise<Cluster & { alreadyRunning: boolean }> {
  const home = co.home;
  const r = await loadOrCreateRecord(home, co.basePort, co.nodes);
  const options = r.nodes.map((n) => nodeOptions(home, r, n.id, co));
  const before = await Promise.all(options.map((o) => brokerStatus(o)));
  const foreign = before.find((s) => s.foreign);
  if (foreign) {
    throw new Ws2kError('KAFKA_PORT_BUSY', `a Kafka broker not started by ws2kafka answers at ${foreign.bootstrap}, a port of this cluster; choose another --port`);
  }
  const alreadyRunning = before.every((s) => s.running);
  // Leave nothing half-started behind, except nodes that ran before this call.
  const undo = () => Promise.all(options.filter((_, i) => !before[i]?.running).map((o) => stopBroker(o).catch(() => false)));
  // The jars once, before the nodes start side by side (each would otherwise run Maven into the same
  // directory at once on a fresh machine); the nodes then find them cached.
  if (!alreadyRunning) await kafkaArtifacts(co.artifactsHome ?? home, { update: co.update ?? false }, co.log ?? (() => {}));
  const started = await Promise.allSettled(options.map((o) => startBroker(o, { update: false, ...(co.env ? { env: co.env } : {}) })));
  const failed = started.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failed.length > 0) {
    await undo();
    throw failed[0];
  }
  try {
    await waitForAllBrokers(r, Date.now() + READY_TIMEOUT_MS);
  } catch (err) {
    await undo();
    throw err;
  }
  const statuses = started.map((s, i) => (s.status === 'fulfilled' ? s.value.status : before[i])) as BrokerStatus[];
  return { ...clusterHandle(home, r, co, statuses), alreadyRunning };
}

function clusterHandle(home: string, r: ClusterRecord, co: ClusterOptions, statuses: BrokerStatus[]): Cluster {
  const nodes = r.nodes.map((n, i) => clusterNode(home, r, n.id, co, statuses[i] as BrokerStatus));
  return {
    host: r.host,
    bootstrap: nodes.map((n) => n.bootstrap),
    nodes,
    record: r,
    stateDir: clusterDir(home, r.basePort),
    stop: (opts = {}) => stopCluster({ ...co, basePort: r.basePort, nodes: r.nodes.length }, opts).then(() => undefined),
  };
}

export interface ClusterNodeStatus extends BrokerStatus {
  id: number;
  controllerPort: number;
  /** How many brokers this node's metadata shows (only asked of running nodes). */
  brokersSeen?: number;
}

/** Each node's state (pid, port, running), from the record in <home>/cluster-<port>/ or, without one, from `nodes`. */
export async function clusterStatus(co: Pick<ClusterOptions, 'home' | 'basePort' | 'nodes'>): Promise<{ record: ClusterRecord; recorded: boolean; nodes: ClusterNodeStatus[] }> {
  const existing = await readClusterRecord(co.home, co.basePort);
  const r = existing ?? clusterRecord(co.basePort, co.nodes, '');
  const nodes = await Promise.all(
    r.nodes.map(async (n) => {
      const s = await brokerStatus(nodeOptions(co.home, r, n.id, {}));
      const seen = s.running ? await brokersSeen(s.bootstrap) : undefined;
      return { ...s, id: n.id, controllerPort: n.controllerPort, ...(seen !== undefined ? { brokersSeen: seen } : {}) };
    }),
  );
  return { record: r, recorded: existing !== undefined, nodes };
}

/**
 * Stops every node of the cluster at once (SIGTERM, SIGKILL after 30 s; SIGCONT first for a
 * paused one). `clean` also deletes each node's data and server.properties and cluster.json, so
 * the next start formats a new cluster; the logs stay. Returns the ids of the nodes it stopped.
 */
export async function stopCluster(co: Pick<ClusterOptions, 'home' | 'basePort' | 'nodes' | 'log'>, opts: { clean?: boolean } = {}): Promise<number[]> {
  const r = (await readClusterRecord(co.home, co.basePort)) ?? clusterRecord(co.basePort, co.nodes, '');
  const options = r.nodes.map((n) => nodeOptions(co.home, r, n.id, co));
  const statuses = await Promise.all(options.map((o) => brokerStatus(o)));
  for (const s of statuses) if (s.pid !== undefined && !s.foreign) signal(s.pid, 'SIGCONT');
  const stopped = await Promise.all(options.map((o) => stopBroker(o, { clean: opts.clean ?? false })));
  if (opts.clean) await rm(recordFile(co.home, co.basePort), { force: true });
  return r.nodes.flatMap((n, i) => (stopped[i] ? [n.id] : []));
}
