// `ws2kafka kafka start|stop|status`: a local single-node Apache Kafka broker (KRaft) on 127.0.0.1.
import { Ws2kError } from '../errors.ts';
import { brokerStatus, startBroker, stopBroker, type BrokerOptions } from '../kafka-local/broker.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { parseFlags, portFlag } from './args.ts';

const HELP = `Usage: ws2kafka kafka <start|stop|status> [options]

Runs a single-node Apache Kafka 4.x broker (KRaft) on 127.0.0.1 for tests and local use.
The newest 4.x broker is fetched once from Maven Central with mvn; needs Java 17+ and Maven.
Without them, use Docker instead: docker compose up -d

Options:
  --port N             client port (default 9092)
  --controller-port N  KRaft controller port (default 9093)
  --update             start: fetch the newest Kafka 4.x even when one is cached
  --clean              stop: also delete the broker's data
  -h, --help           this text

Environment:
  WS2KAFKA_HOME        cache and state directory (default ~/.cache/ws2kafka)
  KAFKA_HEAP_OPTS      JVM heap flags for the broker (default -Xms512m -Xmx1g)
`;

const ACTIONS = ['start', 'stop', 'status'] as const;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    'kafka',
    argv,
    {
      port: { type: 'string' },
      'controller-port': { type: 'string' },
      update: { type: 'boolean', default: false },
      clean: { type: 'boolean', default: false },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const action = positionals[0];
  if (positionals.length !== 1 || !ACTIONS.some((a) => a === action)) {
    throw new Ws2kError('USAGE', `kafka: expected one action, one of: ${ACTIONS.join(', ')} (got '${positionals.join(' ')}')`);
  }
  const port = portFlag('port', values.port, 9092);
  const o: BrokerOptions = {
    home: ws2kafkaHome(),
    host: '127.0.0.1',
    port,
    controllerPort: portFlag('controller-port', values['controller-port'], port + 1),
    log: (line) => process.stderr.write(`kafka: ${line}\n`),
  };
  const say = (line: string) => process.stdout.write(line + '\n');

  if (action === 'start') {
    const { alreadyRunning, status } = await startBroker(o, { update: values.update });
    if (alreadyRunning) {
      say(
        status.foreign
          ? `a Kafka broker already answers at ${status.bootstrap} (not started by ws2kafka); nothing to do`
          : `already running: Apache Kafka ${status.version ?? ''} (pid ${status.pid}) at ${status.bootstrap}; nothing to do`,
      );
    } else {
      say(`started: Apache Kafka ${status.version ?? ''} (pid ${status.pid}) at ${status.bootstrap}; log ${status.logFile}`);
    }
    return 0;
  }
  if (action === 'stop') {
    const stopped = await stopBroker(o, { clean: values.clean });
    say(stopped ? `stopped the broker at ${o.host}:${o.port}` : `not running: no broker started by ws2kafka at ${o.host}:${o.port}`);
    return 0;
  }
  const status = await brokerStatus(o);
  if (!status.running) {
    say(`not running: nothing answers at ${status.bootstrap}`);
    return 3;
  }
  say(
    status.foreign
      ? `running: a Kafka broker answers at ${status.bootstrap} (not started by ws2kafka)`
      : `running: Apache Kafka ${status.version ?? ''} (pid ${status.pid}) at ${status.bootstrap}; data ${status.stateDir}; log ${status.logFile}`,
  );
  return 0;
}
