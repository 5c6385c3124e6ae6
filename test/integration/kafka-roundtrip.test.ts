// The plumbing: 10,000 keyed records through the chosen client into a fresh topic on the real
// broker, read back: each exactly once, with its key and its bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompressionAlgorithms, ProduceAcks, Producer } from '@platformatic/kafka';
import { readToEnd } from '../../src/kafka/read.ts';
import { freshTopic, testBrokers } from '../helpers/kafka.ts';

test('10,000 keyed records arrive exactly once with their keys and bytes', async (t) => {
  const topic = await freshTopic('roundtrip', 6, (fn) => t.after(fn));
  const producer = new Producer({
    clientId: 'ws2kafka-test',
    bootstrapBrokers: testBrokers(),
    idempotent: true,
    acks: ProduceAcks.ALL,
    compression: CompressionAlgorithms.LZ4,
  });
  t.after(() => producer.close());

  const sent = new Map<string, string>();
  const N = 10_000;
  for (let start = 0; start < N; start += 1000) {
    const messages = [];
    for (let i = start; i < start + 1000; i++) {
      // Odd bytes on purpose: unicode, an escaped quote, a number beyond 2^53.
      const value = `{"ev":"T","sym":"K${i % 97}","q":${i},"p":1.5e3,"n":"é\\"ü","big":9007199254740993}`;
      sent.set(String(i), value);
      messages.push({ topic, key: Buffer.from(`K${i % 97}`), value: Buffer.from(value) });
    }
    await producer.send({ messages });
  }

  const seen = new Map<string, number>();
  const counts = await readToEnd({
    brokers: testBrokers(),
    topics: [topic],
    onRecord: (r) => {
      const value = r.value.toString();
      const q = /"q":(\d+)/.exec(value)?.[1] ?? 'none';
      assert.equal(value, sent.get(q), `bytes of record q=${q}`);
      assert.equal(r.key.toString(), `K${Number(q) % 97}`, `key of record q=${q}`);
      seen.set(q, (seen.get(q) ?? 0) + 1);
    },
  });

  assert.equal(counts.get(topic), N);
  assert.equal(seen.size, N, 'every record arrived');
  assert.deepEqual([...seen.values()].filter((c) => c !== 1), [], 'no record arrived twice');
});
