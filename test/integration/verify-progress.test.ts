// `ws2kafka verify` shows its progress on stderr (what it does, then one final line with the
// records read per topic and the rate; lines every 2 s in between when reading takes longer),
// leaves stdout to the report (--json still parses), and --quiet silences stderr.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import { ws2kafka } from '../helpers/cli.ts';
import { freshTopic, testBrokers } from '../helpers/kafka.ts';

const N = 20_000;

test('verify prints progress on stderr, the report alone on stdout; --quiet prints none', { timeout: 180_000 }, async (t) => {
  const topic = await freshTopic('verify-progress', 3, (fn) => t.after(fn));
  const producer = new Producer({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers(), acks: ProduceAcks.ALL, idempotent: true });
  try {
    const syms = ['AAPL', 'MSFT', 'NVDA', 'TSLA'];
    for (let i = 0; i < N; i += 1000) {
      const messages = [];
      for (let q = i + 1; q <= i + 1000; q++) {
        const sym = syms[q % syms.length] ?? 'AAPL';
        messages.push({ topic, key: Buffer.from(sym), value: Buffer.from(JSON.stringify({ ev: 'T', sym, p: 100 + q / 100, s: 1, t: Date.now(), q })) });
      }
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
  const args = ['verify', '--brokers', testBrokers().join(','), '--topics', topic, '--routes', `T=${topic}`, '--expect', String(N), '--json'];

  const v = ws2kafka(args);
  assert.equal((await v.exited).code, 0, v.stderr());
  const report = JSON.parse(v.stdout()) as { ok: boolean; records: Record<string, number> };
  assert.equal(report.ok, true);
  assert.equal(report.records[topic], N);
  const err = v.stderr();
  assert.match(err, new RegExp(`^verify: reading ${topic}$`, 'm'));
  const final = new RegExp(`^verify: read 20,000 records \\(${topic} 20,000\\) in \\d+\\.\\d s, [\\d,]+ records/s$`, 'm');
  assert.match(err, final, err);
  // Any report before the final line has the documented shape (there is one every 2 s of reading).
  for (const line of err.split('\n').filter((l) => l.startsWith('verify: reading ') && l.includes('/'))) {
    assert.match(line, new RegExp(`^verify: reading ${topic} [\\d,]+/20,000 \\(\\d+%\\), [\\d,]+ records/s, \\d+ s$`));
  }
  assert.doesNotMatch(err, /\r/, 'stderr is not a terminal here: plain lines');

  const quiet = ws2kafka([...args, '--quiet']);
  assert.equal((await quiet.exited).code, 0, quiet.stderr());
  assert.equal(quiet.stderr(), '', '--quiet: nothing on stderr');
  assert.equal((JSON.parse(quiet.stdout()) as { ok: boolean }).ok, true);
});
