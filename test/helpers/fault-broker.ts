// A broker of its own for tests that kill it: the same local Apache Kafka as `ws2kafka kafka
// start`, on other ports (state in <home>/broker-<port>/), wiped when the test file ends.
import { setTimeout as sleep } from 'node:timers/promises';
import { brokerStatus, startBroker, stopBroker, type BrokerOptions } from '../../src/kafka-local/broker.ts';
import { ws2kafkaHome } from '../../src/kafka-local/home.ts';

export interface FaultBroker {
  bootstrap: string;
  start(): Promise<void>;
  /** SIGKILL, as a crash: no clean shutdown, no flush. */
  kill(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

export function faultBroker(port: number): FaultBroker {
  const o: BrokerOptions = { home: ws2kafkaHome(), host: '127.0.0.1', port, controllerPort: port + 1, log: () => {} };
  return {
    bootstrap: `127.0.0.1:${port}`,
    async start() {
      await startBroker(o, { update: false });
    },
    async kill() {
      const { pid } = await brokerStatus(o);
      if (pid === undefined) throw new Error(`no broker of ours runs on port ${port}`);
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await sleep(100);
      }
      throw new Error(`broker pid ${pid} survived SIGKILL`);
    },
    async destroy() {
      await stopBroker(o, { clean: true });
    },
  };
}
