// Does a Kafka broker answer metadata requests at this address? Used by `kafka start` to know when
// the broker is ready, and by `kafka status` / `run` to find out whether one is already there.
import { connect } from 'node:net';
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

/** Does anything accept TCP connections at host:port? */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
