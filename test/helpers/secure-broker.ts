// A secured local broker for tests: its own state directory (a temp WS2KAFKA_HOME), the Kafka jars
// from the user's cache (never fetched again), and five spare ports starting near `preferred`
// (PLAINTEXT, controller, SASL_SSL, SSL with client certificates, SASL_PLAINTEXT). Give each test
// file its own `preferred`, since node --test runs files side by side.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { SASLOptions } from '@platformatic/kafka';
import { ws2kafkaHome } from '../../src/kafka-local/home.ts';
import { startSecureBroker, type SecureBroker } from '../../src/kafka-local/secure-broker.ts';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first of preferred, preferred+100, ... whose five ports are all free. */
export async function spareBasePort(preferred: number): Promise<number> {
  for (let base = preferred; base < preferred + 3000; base += 100) {
    let free = true;
    for (let i = 0; i < 5 && free; i++) free = await portFree(base + i);
    if (free) return base;
  }
  throw new Error(`no five free ports from ${preferred} on`);
}

export type Listener = 'plaintext' | 'saslSsl' | 'ssl' | 'saslPlaintext';

/** Client options (for @platformatic/kafka's Admin, Producer, Consumer) for one listener. */
export interface ClientSecurity {
  bootstrapBrokers: string[];
  tls?: TlsOptions;
  sasl?: SASLOptions;
}

export interface SecureTestBroker extends SecureBroker {
  /** The WS2KAFKA_HOME this broker lives under (for `ws2kafka kafka status` in a child process). */
  home: string;
  /** The right credentials for a listener: SCRAM-SHA-512 on SASL_SSL, PLAIN on SASL_PLAINTEXT, the client certificate on SSL. */
  client(listener: Listener, sasl?: Partial<SASLOptions>): ClientSecurity;
  /** Stops the broker and deletes its home. */
  destroy(): Promise<void>;
}

export async function startSecureTestBroker(preferred: number, log: (line: string) => void = () => {}): Promise<SecureTestBroker> {
  const home = await mkdtemp(join(tmpdir(), 'ws2kafka-secure-'));
  const port = await spareBasePort(preferred);
  let broker: SecureBroker;
  try {
    broker = await startSecureBroker({ home, port, artifactsHome: ws2kafkaHome(), log });
  } catch (err) {
    await rm(home, { recursive: true, force: true });
    throw err;
  }
  const ca = readFileSync(broker.ca);
  const cert = readFileSync(broker.clientCert);
  const key = readFileSync(broker.clientKey);
  const user = { username: broker.username, password: broker.password };
  return {
    ...broker,
    home,
    client(listener, sasl = {}) {
      switch (listener) {
        case 'plaintext':
          return { bootstrapBrokers: [broker.plaintext] };
        case 'saslSsl':
          return { bootstrapBrokers: [broker.saslSsl], tls: { ca }, sasl: { mechanism: 'SCRAM-SHA-512', ...user, ...sasl } };
        case 'ssl':
          return { bootstrapBrokers: [broker.ssl], tls: { ca, cert, key } };
        case 'saslPlaintext':
          return { bootstrapBrokers: [broker.saslPlaintext], sasl: { mechanism: 'PLAIN', ...user, ...sasl } };
      }
    },
    async destroy() {
      try {
        await broker.stop({ clean: true });
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
  };
}
