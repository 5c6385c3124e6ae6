// Does a Kafka broker answer metadata requests at this address? Used by `kafka start` to know when
// the broker is ready, and by `kafka status` / `run` to find out whether one is already there.
import { Admin } from '@platformatic/kafka';

export async function brokerAnswers(bootstrap: string, timeoutMs = 3000): Promise<{ brokers: number } | undefined> {
  const admin = new Admin({
    clientId: 'ws2kafka-probe',
    bootstrapBrokers: [bootstrap],
    connectTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retries: 0,
  });
  try {
    const md = await admin.metadata({ topics: [], forceUpdate: true });
    return { brokers: md.brokers.size };
  } catch {
    return undefined;
  } finally {
    await admin.close().catch(() => undefined);
  }
}
