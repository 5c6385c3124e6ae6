// @platformatic/kafka (pure TypeScript): send() takes a batch and resolves when the broker has
// acknowledged every record in it, so awaiting every send confirms every record.
import { CompressionAlgorithms, ProduceAcks, Producer } from '@platformatic/kafka';
import { BROKERS, freshTopic, makeWorkload, measure, RECORDS } from './workload.ts';

const BATCH = Number(process.env['BATCH'] ?? 4000);
const INFLIGHT = Number(process.env['INFLIGHT'] ?? 4);

const w = makeWorkload();
const topic = await freshTopic('bench-platformatic');
const producer = new Producer({
  clientId: 'bench-platformatic',
  bootstrapBrokers: [BROKERS],
  idempotent: true,
  acks: ProduceAcks.ALL,
  compression: CompressionAlgorithms.LZ4,
  retries: 10,
});
await producer.metadata({ topics: [topic] });

await measure(`@platformatic/kafka (batch ${BATCH}, ${INFLIGHT} in flight)`, async () => {
  let acked = 0;
  let failed = 0;
  const inflight = new Set<Promise<void>>();
  for (let start = 0; start < RECORDS; start += BATCH) {
    const end = Math.min(start + BATCH, RECORDS);
    const messages = new Array<{ topic: string; key: Buffer; value: Buffer }>(end - start);
    for (let i = start; i < end; i++) {
      const p = i % w.values.length;
      messages[i - start] = { topic, key: w.keys[w.keyOf[p]!]!, value: w.values[p]! };
    }
    const sent: Promise<void> = producer.send({ messages }).then(
      () => {
        acked += messages.length;
        inflight.delete(sent);
      },
      (err: unknown) => {
        failed += messages.length;
        inflight.delete(sent);
        process.stderr.write(`send failed: ${String(err)}\n`);
      },
    );
    inflight.add(sent);
    if (inflight.size >= INFLIGHT) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (acked + failed !== RECORDS) throw new Error(`acknowledged ${acked} + failed ${failed} != ${RECORDS}`);
  return failed;
});
await producer.close();
