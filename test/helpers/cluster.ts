// A local three-node Kafka cluster for tests: its own state directory (a temp WS2KAFKA_HOME), the
// Kafka jars from the user's cache (never fetched again), and spare ports near `preferred` (node i
// on base+10*(i-1), its controller on that+1). Give each test file its own `preferred` (41000 and
// up), since node --test runs files side by side.
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

/** The first of preferred, preferred+100, ... where every node's client and controller port is free. */
export async function spareClusterPort(preferred: number, nodes: number): Promise<number> {
  for (let base = preferred; base < preferred + 3000; base += 100) {
    let free = true;
    for (let i = 0; i < nodes && free; i++) free = (await portFree(base + CLUSTER_PORT_STEP * i)) && (await portFree(base + CLUSTER_PORT_STEP * i + 1));
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

export async function startTestCluster(preferred: number, nodes = 3, log: (line: string) => void = () => {}): Promise<TestCluster> {
  const home = await mkdtemp(join(tmpdir(), 'ws2kafka-cluster-'));
  const basePort = await spareClusterPort(preferred, nodes);
  let cluster: Cluster;
  try {
    cluster = await startCluster({ home, basePort, nodes, artifactsHome: ws2kafkaHome(), log });
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
