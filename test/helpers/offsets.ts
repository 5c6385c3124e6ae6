// End offsets of a cluster's partitions sampled over time, straight from the brokers, and what
// follows from them: how much each set of partitions grew, and the longest stretch without growth.
// For the cluster tests (issue #12): they show which partitions kept flowing while a broker was
// down, paused or cut off from the bridge.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { describeReplicas, type PartitionReplicas } from './cluster.ts';

/** Partitions of each topic the cluster tests create. */
export const PARTITIONS = 6;
/** How often the sampler asks. */
export const SAMPLE_MS = 250;

export interface Sample {
  at: number;
  /** End offset per "topic/partition" (missing: its leader did not answer). */
  ends: Map<string, number>;
  /** Leader per "topic/partition" (from the metadata of the brokers asked). */
  leaders: Map<string, number>;
  /** In-sync replicas per "topic/partition". */
  isr: Map<string, number[]>;
}

/** Samples end offsets and leaders of the topics every SAMPLE_MS, asking the brokers given. */
export function sampler(bootstrap: () => string[], topics: string[], partitions = PARTITIONS): { samples: Sample[]; stop: () => Promise<void> } {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const admin = new Admin({ clientId: 'ws2kafka-sampler', bootstrapBrokers: bootstrap(), connectTimeout: 500, requestTimeout: 1000, retries: 0 });
      try {
        const ends = new Map<string, number>();
        const leaders = new Map<string, number>();
        const isr = new Map<string, number[]>();
        const replicas = await describeReplicas(bootstrap(), topics, 1000).catch(() => [] as PartitionReplicas[]);
        for (const p of replicas) {
          leaders.set(`${p.topic}/${p.partition}`, p.leader);
          isr.set(`${p.topic}/${p.partition}`, p.isr);
        }
        await Promise.allSettled(
          topics.flatMap((name) =>
            Array.from({ length: partitions }, async (_, partition) => {
              const r = await admin.listOffsets({ topics: [{ name, partitions: [{ partitionIndex: partition, timestamp: -1n }] }] });
              const offset = r[0]?.partitions[0]?.offset;
              if (offset !== undefined) ends.set(`${name}/${partition}`, Number(offset));
            }),
          ),
        );
        samples.push({ at: started, ends, leaders, isr });
      } finally {
        await admin.close().catch(() => undefined);
      }
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - started)));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Fresh topics on the cluster, and the run flags that select them (with PARTITIONS partitions). */
export function clusterTopics() {
  const id = randomUUID().slice(0, 8);
  const t = { trades: `c-trades-${id}`, aggregates: `c-aggregates-${id}`, unknown: `c-unknown-${id}`, deadLetter: `c-dead-${id}`, gaps: `c-gaps-${id}` };
  return {
    ...t,
    routes: { T: t.trades, A: t.aggregates, AM: t.aggregates },
    flags: ['--topics', `T=${t.trades},A=${t.aggregates},AM=${t.aggregates}`, '--unknown-topic', t.unknown, '--dead-letter-topic', t.deadLetter, '--gap-topic', t.gaps, '--partitions', String(PARTITIONS)],
  };
}

/** The growth of the summed end offsets of `keys` from sample to sample: [at, growth]. */
export function growth(samples: Sample[], keys: string[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const last = new Map<string, number>();
  for (const s of samples) {
    let grown = 0;
    for (const k of keys) {
      const e = s.ends.get(k);
      if (e === undefined) continue;
      const before = last.get(k);
      if (before !== undefined && e > before) grown += e - before;
      last.set(k, e);
    }
    out.push([s.at, grown]);
  }
  return out;
}

/** What `keys` grew in each whole second from `from` to `to` (by the samples taken in it). */
export function perSecond(samples: Sample[], keys: string[], from: number, to: number): number[] {
  const g = growth(samples, keys);
  const out: number[] = [];
  for (let s = from; s + 1000 <= to; s += 1000) out.push(g.filter(([at]) => at >= s && at < s + 1000).reduce((a, [, n]) => a + n, 0));
  return out;
}

/** The longest stretch (ms) within [from, to] in which `keys` acknowledged nothing at all. */
export function longestStall(samples: Sample[], keys: string[], from: number, to: number): number {
  let longest = 0;
  let lastGrowth = from;
  for (const [at, grown] of growth(samples, keys)) {
    if (at < from || at > to) continue;
    if (grown > 0) {
      longest = Math.max(longest, at - lastGrowth);
      lastGrowth = at;
    }
  }
  return Math.max(longest, to - lastGrowth);
}

/** Partitions of the trades topic that grew in most samples before `until`: a steady flow, whose stops and restarts show. */
export function busyKeys(samples: Sample[], keys: string[], until: number, tradesPrefix = 'c-trades-'): string[] {
  return keys.filter((k) => {
    if (!k.startsWith(tradesPrefix)) return false; // the aggregates topic is a tenth of the flow, in bursts
    const before = growth(samples, [k]).filter(([at]) => at < until);
    return before.filter(([, g]) => g > 0).length >= before.length / 2;
  });
}
