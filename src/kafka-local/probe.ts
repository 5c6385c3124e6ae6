// Does a Kafka broker answer metadata requests at this address? Used by `kafka start` to know when
// the broker is ready, and by `kafka status` / `run` to find out whether one is already there.
import { connect } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Admin, type SASLOptions } from '@platformatic/kafka';

/** How to reach a secured listener: TLS options (ca, cert, key) and/or SASL credentials. */
export interface ProbeSecurity {
  tls?: TlsOptions;
  sasl?: SASLOptions;
}

/** One metadata request; the error's message when it fails. */
export async function probeMetadata(bootstrap: string, timeoutMs = 3000, security: ProbeSecurity = {}): Promise<{ brokers: number } | { error: string }> {
  const admin = new Admin({
    clientId: 'ws2kafka-probe',
    bootstrapBrokers: [bootstrap],
    connectTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retries: 0,
    ...(security.tls ? { tls: security.tls } : {}),
    ...(security.sasl ? { sasl: security.sasl } : {}),
  });
  try {
    const md = await admin.metadata({ topics: [], forceUpdate: true });
    return { brokers: md.brokers.size };
  } catch (err) {
    return { error: describe(err) };
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** The innermost useful message of a client error (MultipleErrors wraps the real one). */
function describe(err: unknown): string {
  let e = err as { message?: string; errors?: unknown[]; cause?: unknown } | undefined;
  for (let i = 0; i < 5 && e; i++) {
    const inner = (e.errors?.[0] ?? e.cause) as typeof e;
    if (!inner) break;
    e = inner;
  }
  return e?.message ?? String(err);
}

export async function brokerAnswers(bootstrap: string, timeoutMs = 3000, security: ProbeSecurity = {}): Promise<{ brokers: number } | undefined> {
  const r = await probeMetadata(bootstrap, timeoutMs, security);
  return 'brokers' in r ? r : undefined;
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
