// A local three-node Kafka cluster for tests: its own state directory (a temp WS2KAFKA_HOME), the
// Kafka jars from the user's cache (never fetched again), and spare ports near `preferred` (node i
// on base+10*(i-1), its controller on that+1). Give each test file its own `preferred` (41000 and
// up), since node --test runs files side by side. With `remote`, node i also has a REMOTE listener on
// its client port + REMOTE_PORT_OFFSET that advertises 127.0.0.1:remote(i) (a relay's address, so that
// a client bootstrapped there reaches each broker only through its relay; replication stays direct).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER_PORT_STEP, startCluster, type Cluster, type ClusterNode } from '../../src/kafka-local/cluster.ts';
import { ws2kafkaHome } from '../../src/kafka-local/home.ts';
import { describeReplicas, leaderCounts, waitForFullIsr, waitForPartitions, type PartitionReplicas } from '../../src/kafka-local/replicas.ts';

export { describeReplicas, leaderCounts, waitForFullIsr, waitForPartitions, type PartitionReplicas };

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A node's REMOTE listener port, from its client port (the controller has +1; +2..+4 are the secured listeners' offsets). */
export const REMOTE_PORT_OFFSET = 5;

/** The first of preferred, preferred+100, ... where every node's client and controller port (and each `extra` offset) is free. */
export async function spareClusterPort(preferred: number, nodes: number, extra: number[] = []): Promise<number> {
  for (let base = preferred; base < preferred + 3000; base += 100) {
    let free = true;
    for (let i = 0; i < nodes && free; i++) {
      for (const offset of [0, 1, ...extra]) free = free && (await portFree(base + CLUSTER_PORT_STEP * i + offset));
    }
    if (free) return base;
  }
  throw new Error(`no free ports for ${nodes} nodes from ${preferred} on`);
}

export interface TestCluster extends Cluster {
  /** The WS2KAFKA_HOME the cluster lives under (for `ws2kafka kafka status --brokers 3` in a child process). */
  home: string;
  basePort: number;
  /** The node with this broker id. */
  node(id: number): ClusterNode;
  /** Stops every node, deletes the data and the home. */
  destroy(): Promise<void>;
}

export interface TestClusterOptions {
  /** Node id's REMOTE listener advertises 127.0.0.1:remote(id); it listens on its client port + REMOTE_PORT_OFFSET. */
  remote?: (id: number) => number;
}

export async function startTestCluster(preferred: number, nodes = 3, log: (line: string) => void = () => {}, options: TestClusterOptions = {}): Promise<TestCluster> {
  const home = await mkdtemp(join(tmpdir(), 'ws2kafka-cluster-'));
  const advertised = options.remote;
  const basePort = await spareClusterPort(preferred, nodes, advertised ? [REMOTE_PORT_OFFSET] : []);
  const remote = advertised && ((n: { id: number; port: number }) => ({ port: n.port + REMOTE_PORT_OFFSET, advertisedHost: '127.0.0.1', advertisedPort: advertised(n.id) }));
  let cluster: Cluster;
  try {
    cluster = await startCluster({ home, basePort, nodes, artifactsHome: ws2kafkaHome(), log, ...(remote ? { remote } : {}) });
  } catch (err) {
    await rm(home, { recursive: true, force: true });
    throw err;
  }
  return {
    ...cluster,
    home,
    basePort,
    node(id) {
      const n = cluster.nodes.find((x) => x.id === id);
      if (n === undefined) throw new Error(`no node ${id}`);
      return n;
    },
    async destroy() {
      try {
        await cluster.stop({ clean: true });
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
  };
}
