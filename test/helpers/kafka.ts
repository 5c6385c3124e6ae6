// The broker the tests talk to: KAFKA_BROKERS, or the local one that test/global-setup.ts starts.
import { randomUUID } from 'node:crypto';
import { Admin } from '@platformatic/kafka';

export function testBrokers(): string[] {
  return (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',').map((b) => b.trim());
}

/** Creates a topic with a name no other test run uses; deleted when `after` runs. */
export async function freshTopic(prefix: string, partitions: number, after: (fn: () => Promise<void>) => void): Promise<string> {
  const topic = `${prefix}-${randomUUID().slice(0, 8)}`;
  const admin = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers() });
  try {
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
  after(async () => {
    const cleanup = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers() });
    try {
      await cleanup.deleteTopics({ topics: [topic] });
    } finally {
      await cleanup.close();
    }
  });
  return topic;
}

/** Runs `fn` with an admin client of the suite's broker, closed afterwards. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers() });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}
