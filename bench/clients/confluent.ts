// @confluentinc/kafka-javascript (librdkafka): produce() queues a record; a delivery report per
// record (dr_cb) says it was acknowledged or failed. The run ends when all reports are in.
import { createRequire } from 'node:module';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BROKERS, freshTopic, makeWorkload, measure, RECORDS } from './workload.ts';

interface RdProducer {
  connect(opts: object, cb: (err: Error | null) => void): void;
  produce(topic: string, partition: number | null, value: Buffer, key: Buffer): void;
  on(event: 'delivery-report', cb: (err: Error | null) => void): void;
  setPollInBackground(set: boolean): void;
  disconnect(cb: () => void): void;
}
const rd = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
  Producer: new (conf: object) => RdProducer;
  CODES: { ERRORS: { ERR__QUEUE_FULL: number } };
};

const LINGER = process.env['LINGER_MS'] ?? '5';
const w = makeWorkload();
const topic = await freshTopic('bench-confluent');
const producer = new rd.Producer({
  'bootstrap.servers': BROKERS,
  'client.id': 'bench-confluent',
  acks: 'all',
  'enable.idempotence': true,
  'compression.codec': 'lz4',
  'linger.ms': Number(LINGER),
  'batch.size': 1_000_000,
  'batch.num.messages': 10_000,
  'queue.buffering.max.messages': 500_000,
  partitioner: 'murmur2_random',
  dr_cb: true,
});
await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
producer.setPollInBackground(true);

let reported = 0;
let failed = 0;
producer.on('delivery-report', (err) => {
  reported++;
  if (err) failed++;
});

await measure(`@confluentinc/kafka-javascript (linger ${LINGER} ms)`, async () => {
  for (let i = 0; i < RECORDS; ) {
    try {
      const p = i % w.values.length;
      producer.produce(topic, null, w.values[p]!, w.keys[w.keyOf[p]!]!);
      i++;
      if ((i & 8191) === 0) await yieldLoop(); // let delivery reports in
    } catch (err) {
      if ((err as { code?: number }).code !== rd.CODES.ERRORS.ERR__QUEUE_FULL) throw err;
      await sleep(1);
    }
  }
  while (reported < RECORDS) await sleep(1);
  return failed;
});
await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
