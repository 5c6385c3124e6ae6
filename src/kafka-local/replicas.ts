// The replica state of topics, from metadata (each partition's leader, replicas and in-sync
// replicas, as `kafka-topics --describe` shows them), and waiting until every partition is fully
// in sync: after a broker of a local cluster restarts, before the next one is taken down.
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { Ws2kError } from '../errors.ts';

export interface PartitionReplicas {
  topic: string;
  partition: number;
  /** -1 when the partition has no leader. */
  leader: number;
  replicas: number[];
  isr: number[];
}

/** Every partition of `topics` as the cluster's metadata shows it now (asked of any reachable broker). */
export async function describeReplicas(bootstrap: string[], topics: string[], timeoutMs = 5000): Promise<PartitionReplicas[]> {
  const admin = new Admin({ clientId: 'ws2kafka-replicas', bootstrapBrokers: bootstrap, connectTimeout: timeoutMs, requestTimeout: timeoutMs, retries: 1 });
  try {
    const md = await admin.metadata({ topics, forceUpdate: true });
    const out: PartitionReplicas[] = [];
    for (const topic of topics) {
      const t = md.topics.get(topic);
      if (t === undefined) continue;
      t.partitions.forEach((p, partition) => out.push({ topic, partition, leader: p.leader, replicas: [...p.replicas], isr: [...p.isr] }));
    }
    return out;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** A partition is fully in sync when it has a leader and every replica is in its ISR. */
export function fullyInSync(p: PartitionReplicas): boolean {
  return p.leader >= 0 && p.replicas.length > 0 && p.replicas.every((r) => p.isr.includes(r));
}

/** How many partitions each broker leads, broker id → count (partitions without a leader left out). */
export function leaderCounts(partitions: PartitionReplicas[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of partitions) if (p.leader >= 0) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
  return counts;
}

/**
 * Waits until every partition of `topics` exists and satisfies `ok` in the metadata of *each*
 * address in `bootstrap` (asked one by one, so every broker listed must answer and agree); returns
 * the last state seen. When `timeoutMs` (default 60 s) passes, fails with KAFKA_START_FAILED (the
 * local cluster did not get ready) naming the partitions still short.
 */
export async function waitForPartitions(
  bootstrap: string[],
  topics: string[],
  ok: (p: PartitionReplicas) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<PartitionReplicas[]> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let problem = '';
  for (;;) {
    let last: PartitionReplicas[] = [];
    problem = '';
    for (const address of bootstrap) {
      try {
        last = await describeReplicas([address], topics);
      } catch (err) {
        problem = `${address}: ${(err as Error).message}`;
        break;
      }
      const missing = topics.filter((t) => !last.some((p) => p.topic === t));
      const short = last
        .filter((p) => !ok(p))
        .slice(0, 10)
        .map((p) => `${p.topic}-${p.partition} leader ${p.leader} replicas [${p.replicas.join(',')}] isr [${p.isr.join(',')}]`);
      if (missing.length > 0 || short.length > 0) {
        problem = `as ${address} sees it: ${[...short, ...missing.map((t) => `${t}: no metadata`)].join('; ')}`;
        break;
      }
    }
    if (problem === '') return last;
    if (Date.now() > deadline) {
      throw new Ws2kError('KAFKA_START_FAILED', `the partitions were not all ${opts.what ?? 'ready'} within ${timeoutMs / 1000}s: ${problem}`);
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

/**
 * Waits until every partition of `topics` has a leader and its full ISR, as each broker in
 * `bootstrap` sees it (all of them must be up): before taking the next broker down in a rolling restart.
 */
export function waitForFullIsr(bootstrap: string[], topics: string[], opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<PartitionReplicas[]> {
  return waitForPartitions(bootstrap, topics, fullyInSync, { ...opts, what: 'fully in sync' });
}
