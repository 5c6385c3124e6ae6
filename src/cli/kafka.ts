// `ws2kafka kafka start|stop|status`: a local single-node Apache Kafka broker (KRaft) on 127.0.0.1,
// or with --brokers N a cluster of N nodes (src/kafka-local/cluster.ts).
import { Ws2kError } from '../errors.ts';
import { brokerStatus, startBroker, stopBroker, type BrokerOptions, type BrokerStatus } from '../kafka-local/broker.ts';
import { CLUSTER_HEAP, CLUSTER_PORT_STEP, clusterStatus, DEFAULT_CLUSTER_PORT, MAX_CLUSTER_NODES, startCluster, stopCluster } from '../kafka-local/cluster.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { connectionBlocks, defaultSecurePorts, formatConnectionBlocks, SECURITY_MODES, type SecurityMode } from '../kafka-local/listeners.ts';
import { securityFiles } from '../kafka-local/security.ts';
import { parseFlags, portFlag } from './args.ts';

const HELP = `Usage: ws2kafka kafka <start|stop|status> [options]

Runs a single-node Apache Kafka 4.x broker (KRaft) on 127.0.0.1 for tests and local use.
The newest 4.x broker is fetched once from Maven Central with mvn; needs Java 17+ and Maven.
Without them, use Docker instead: docker compose up -d

Options:
  --brokers N              a local cluster of N nodes (1-${MAX_CLUSTER_NODES}; 3 is the usual shape): each a KRaft
                           broker and controller voter; node i (1..N) on port+${CLUSTER_PORT_STEP}*(i-1), its
                           controller on that+1; replication min(3,N), min.insync.replicas 2 on 3+
                           nodes; state in <WS2KAFKA_HOME>/cluster-<port>/node-<i>/. Give it to
                           stop and status too. Not with --security or --controller-port
  --port N                 client port, PLAINTEXT (default 9092; with --brokers, node 1's: ${DEFAULT_CLUSTER_PORT})
  --controller-port N      KRaft controller port (default port+1)
  --security MODE          start: none (default) or sasl_ssl, which adds secured listeners:
                             SASL_SSL (SCRAM-SHA-512, PLAIN)   on --sasl-ssl-port (default port+2)
                             SSL with client certificates      on --ssl-port (default port+3)
                             SASL_PLAINTEXT (PLAIN, SCRAM-SHA-512) on --sasl-plaintext-port (default port+4)
                           with a private CA, certificates and a generated user (needs openssl);
                           the options to connect are printed, the password only as a file path
  --sasl-ssl-port N        start --security sasl_ssl: SASL_SSL port (default port+2)
  --ssl-port N             start --security sasl_ssl: mutual TLS port (default port+3)
  --sasl-plaintext-port N  start --security sasl_ssl: SASL_PLAINTEXT port (default port+4)
  --update                 start: fetch the newest Kafka 4.x even when one is cached
  --clean                  stop: also delete the broker's data, certificates and password
  -h, --help               this text

Environment:
  WS2KAFKA_HOME            cache and state directory (default ~/.cache/ws2kafka); the broker's
                           state is in <WS2KAFKA_HOME>/broker-<port>/, its secrets in security/
  KAFKA_HEAP_OPTS          JVM heap flags for the broker (default -Xms512m -Xmx1g; each node
                           of a --brokers cluster: ${CLUSTER_HEAP})
`;

const ACTIONS = ['start', 'stop', 'status'] as const;

function securityFlag(value: string | undefined): SecurityMode {
  if (value === undefined) return 'none';
  const mode = SECURITY_MODES.find((m) => m === value.toLowerCase());
  if (mode === undefined) throw new Ws2kError('USAGE', `--security '${value}' is not a mode: expected one of ${SECURITY_MODES.join(', ')}`);
  return mode;
}

/** The connection options of the running broker's listeners, when it has secured ones. */
function connectionText(status: BrokerStatus): string | undefined {
  const record = status.listeners;
  if (record?.secure === undefined) return undefined;
  const f = securityFiles(status.stateDir);
  return [
    `options to connect (user ${record.secure.username}; password in ${f.passwordFile}, CA ${f.ca}):`,
    formatConnectionBlocks(connectionBlocks(status.stateDir, record)),
  ].join('\n');
}

/** --brokers N: how many nodes, or undefined for the single-node broker. */
function nodesFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_CLUSTER_NODES) {
    throw new Ws2kError('USAGE', `--brokers '${value}' is not a node count: 'kafka --brokers' takes how many local nodes to run, 1 to ${MAX_CLUSTER_NODES} (a bootstrap list is for run, verify and bench)`);
  }
  return n;
}

type Say = (line: string) => void;

/** `kafka start|stop|status --brokers N`: every node of the local cluster. */
async function runCluster(action: string, nodes: number, port: number, values: { update: boolean; clean: boolean }, say: Say): Promise<number> {
  const home = ws2kafkaHome();
  const log = (line: string) => process.stderr.write(`kafka: ${line}\n`);
  if (action === 'start') {
    const c = await startCluster({ home, basePort: port, nodes, update: values.update, log });
    const list = c.bootstrap.join(',');
    say(
      c.alreadyRunning
        ? `already running: ${c.nodes.length} nodes of the cluster at ${list}; nothing to do`
        : `started: a ${c.nodes.length}-node Kafka cluster (replication ${c.record.replication}, min.insync.replicas ${c.record.minInsync}); state ${c.stateDir}`,
    );
    for (const n of c.nodes) say(`  node ${n.id}: pid ${n.pid ?? '?'} at ${n.bootstrap} (controller ${n.controllerPort}); log ${n.log}`);
    say(`options to connect:\n  --brokers ${list}`);
    return 0;
  }
  if (action === 'stop') {
    const stopped = await stopCluster({ home, basePort: port, nodes, log }, { clean: values.clean });
    say(stopped.length > 0 ? `stopped ${stopped.length} node${stopped.length === 1 ? '' : 's'} (${stopped.join(', ')}) of the cluster at ${port}` : `not running: no node of a cluster started by ws2kafka at ${port}`);
    return 0;
  }
  const s = await clusterStatus({ home, basePort: port, nodes });
  const up = s.nodes.filter((n) => n.running).length;
  say(`${up === s.nodes.length ? 'running' : up === 0 ? 'not running' : 'degraded'}: ${up} of ${s.nodes.length} nodes of the cluster at ${s.nodes.map((n) => n.bootstrap).join(',')}`);
  for (const n of s.nodes) {
    const state = !n.running ? 'not running' : n.foreign ? 'running (not started by ws2kafka)' : `running, pid ${n.pid}, sees ${n.brokersSeen ?? '?'} brokers`;
    say(`  node ${n.id}: ${n.bootstrap} (controller ${n.controllerPort}): ${state}; log ${n.logFile}`);
  }
  return up === s.nodes.length ? 0 : 3;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    'kafka',
    argv,
    {
      port: { type: 'string' },
      brokers: { type: 'string' },
      'controller-port': { type: 'string' },
      security: { type: 'string' },
      'sasl-ssl-port': { type: 'string' },
      'ssl-port': { type: 'string' },
      'sasl-plaintext-port': { type: 'string' },
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
  const nodes = nodesFlag(values.brokers);
  const say = (line: string) => process.stdout.write(line + '\n');
  if (nodes !== undefined) {
    const single = ['security', 'controller-port', 'sasl-ssl-port', 'ssl-port', 'sasl-plaintext-port'] as const;
    const bad = single.find((f) => values[f] !== undefined);
    if (bad !== undefined) throw new Ws2kError('USAGE', `--${bad} is for the single-node broker, not with --brokers (a cluster has PLAINTEXT listeners only; controllers at port+${CLUSTER_PORT_STEP}*(i-1)+1)`);
    return runCluster(action ?? '', nodes, portFlag('port', values.port, DEFAULT_CLUSTER_PORT), values, say);
  }
  const port = portFlag('port', values.port, 9092);
  const security = securityFlag(values.security);
  const portFlags = ['sasl-ssl-port', 'ssl-port', 'sasl-plaintext-port'] as const;
  const given = portFlags.filter((f) => values[f] !== undefined);
  if (given.length > 0 && (action !== 'start' || security === 'none')) {
    throw new Ws2kError('USAGE', `--${given[0]} needs 'kafka start --security sasl_ssl' (the other actions read the ports the broker was started with)`);
  }
  if (values.security !== undefined && action !== 'start') {
    throw new Ws2kError('USAGE', `--security is for 'kafka start' (stop and status find out how the broker was started)`);
  }
  const defaults = defaultSecurePorts(port);
  const o: BrokerOptions = {
    home: ws2kafkaHome(),
    host: '127.0.0.1',
    port,
    controllerPort: portFlag('controller-port', values['controller-port'], port + 1),
    log: (line) => process.stderr.write(`kafka: ${line}\n`),
    ...(security === 'sasl_ssl'
      ? {
          security: {
            saslSsl: portFlag('sasl-ssl-port', values['sasl-ssl-port'], defaults.saslSsl),
            ssl: portFlag('ssl-port', values['ssl-port'], defaults.ssl),
            saslPlaintext: portFlag('sasl-plaintext-port', values['sasl-plaintext-port'], defaults.saslPlaintext),
          },
        }
      : {}),
  };

  if (action === 'start') {
    const { alreadyRunning, status } = await startBroker(o, { update: values.update });
    const connect = connectionText(status);
    if (alreadyRunning) {
      if (security === 'sasl_ssl' && connect === undefined) {
        throw new Ws2kError(
          'USAGE',
          status.foreign
            ? `a Kafka broker not started by ws2kafka already answers at ${status.bootstrap}: it cannot be given secured listeners; choose another --port`
            : `the broker at ${status.bootstrap} (pid ${status.pid}) runs without secured listeners: 'ws2kafka kafka stop --port ${port}' first, then start it again with --security sasl_ssl (its data is kept)`,
        );
      }
      say(
        status.foreign
          ? `a Kafka broker already answers at ${status.bootstrap} (not started by ws2kafka); nothing to do`
          : `already running: Apache Kafka ${status.version ?? ''} (pid ${status.pid}) at ${status.bootstrap}; nothing to do`,
      );
    } else {
      say(`started: Apache Kafka ${status.version ?? ''} (pid ${status.pid}) at ${status.bootstrap}; log ${status.logFile}`);
    }
    if (connect !== undefined) say(connect);
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
  const connect = connectionText(status);
  if (connect !== undefined) say(connect);
  return 0;
}
