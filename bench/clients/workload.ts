// The workload of the client comparison: ~130-byte Polygon trade events over 500 keys into a
// fresh 6-partition topic, acks=all, idempotence, lz4, every delivery confirmed.
import { Admin } from '@platformatic/kafka';

export const RECORDS = Number(process.env['RECORDS'] ?? 2_000_000);
export const KEYS = 500;
export const PARTITIONS = 6;
export const BROKERS = process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092';

const POOL = 20_000;

export interface Workload {
  keys: Buffer[];
  values: Buffer[];
  /** Index into `keys` for value i of the pool. */
  keyOf: Uint16Array;
}

/** A pool of distinct trade events; record i of the run is pool entry i % POOL. */
export function makeWorkload(): Workload {
  const syms = Array.from({ length: KEYS }, (_, k) => `S${String(k).padStart(3, '0')}X`);
  const keys = syms.map((s) => Buffer.from(s));
  const values: Buffer[] = [];
  const keyOf = new Uint16Array(POOL);
  let t = 1_651_684_192_462;
  for (let i = 0; i < POOL; i++) {
    const k = i % KEYS;
    keyOf[i] = k;
    t += 3;
    const price = (100 + ((i * 7919) % 10_000) / 100).toFixed(2);
    values.push(
      Buffer.from(
        `{"ev":"T","sym":"${syms[k]}","i":"${52_983_525_029_461 + i}","x":${(i % 19) + 1},"p":${price},"s":${100 * ((i % 9) + 1)},"c":[14,41],"t":${t},"q":${4_009_402 + i},"z":3,"trft":${t - 2}}`,
      ),
    );
  }
  return { keys, values, keyOf };
}

export async function freshTopic(prefix: string): Promise<string> {
  const topic = `${prefix}-${Date.now()}`;
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: [BROKERS] });
  try {
    await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  } finally {
    await admin.close();
  }
  return topic;
}

export interface Result {
  client: string;
  records: number;
  seconds: number;
  recordsPerS: number;
  cpuSeconds: number;
  peakRssMb: number;
  failed: number;
}

/** Measures from the first produce to the last acknowledgement; CPU and RSS of this whole process. */
export async function measure(client: string, body: () => Promise<number>): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const failed = await body();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const result: Result = {
    client,
    records: RECORDS,
    seconds: round(seconds, 2),
    recordsPerS: Math.round(RECORDS / seconds),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    failed,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  return result;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
