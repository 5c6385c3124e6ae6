// A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM) on 127.0.0.1,
// for the tests and for users without a cluster. State lives in <home>/broker-<port>/; with
// `security` set it also listens with SASL_SSL, SSL (mutual TLS) and SASL_PLAINTEXT (listeners.ts),
// its certificates and password in <home>/broker-<port>/security/ (security.ts).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { processAlive as alive } from '../cli/process-alive.ts';
import { Ws2kError } from '../errors.ts';
import { logProgress, seconds } from '../progress.ts';
import { kafkaArtifacts, type KafkaArtifacts } from './artifacts.ts';
import { listenerProperties, readListenerRecord, removeListenerRecord, writeListenerRecord, type ListenerRecord, type RemoteListener, type SecurePorts } from './listeners.ts';
import { brokerAnswers, portOpen, probeMetadata, type ProbeSecurity } from './probe.ts';
import { addScramArgument, scramSha512, upsertScramUser } from './scram.ts';
import { ensureSecurityMaterial, securityFiles, type SecurityMaterial } from './security.ts';
import { requireJava } from './tools.ts';

const exec = promisify(execFile);

export interface BrokerOptions {
  home: string;
  host: string;
  port: number;
  controllerPort: number;
  log: (line: string) => void;
  /** Also start the secured listeners on these ports (SASL_SSL, SSL with client certificates, SASL_PLAINTEXT). */
  security?: SecurePorts;
  /** Where the Kafka jars are cached (`<artifactsHome>/kafka/<version>/libs`); `home` when absent. */
  artifactsHome?: string;
  /** The state directory; <home>/broker-<port>/ when absent (cluster nodes: <home>/cluster-<port>/node-<id>/). */
  stateDir?: string;
  /** One node of a multi-node cluster (cluster.ts); a single-node broker when absent. */
  node?: ClusterNodeRole;
  /** JVM heap flags when KAFKA_HEAP_OPTS is unset (default -Xms512m -Xmx1g). */
  heap?: string;
  /** Also a PLAINTEXT listener that advertises another address (a relay's: `bench --link-delay`). */
  remote?: RemoteListener;
}

/** What makes a broker one node of a KRaft cluster: its id, the controller quorum, shared settings. */
export interface ClusterNodeRole {
  id: number;
  /** controller.quorum.voters: `1@127.0.0.1:9193,2@127.0.0.1:9203,...` */
  voters: string;
  /** The KRaft cluster id every node's log directory is formatted with. */
  clusterId: string;
  /** default.replication.factor, offsets and transaction state topics. */
  replication: number;
  /** min.insync.replicas, and the transaction state log's min ISR. */
  minInsync: number;
}

export interface BrokerStatus {
  running: boolean;
  /** Our own broker's process id, when we started it. */
  pid?: number;
  version?: string;
  bootstrap: string;
  /** A broker answers at the address but was not started by ws2kafka. */
  foreign?: boolean;
  stateDir: string;
  logFile: string;
  /** The listeners our running broker was started with (from listeners.json). */
  listeners?: ListenerRecord;
}

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;
/** Once PLAINTEXT answers, how long the secured listeners may take to accept the generated credentials. */
const SECURE_READY_MS = 30_000;

export function stateDir(o: Pick<BrokerOptions, 'home' | 'port' | 'stateDir'>): string {
  return o.stateDir ?? join(o.home, `broker-${o.port}`);
}

function pidFile(o: BrokerOptions): string {
  return join(stateDir(o), 'broker.pid');
}

function logFile(o: BrokerOptions): string {
  return join(stateDir(o), 'broker.log');
}

/** The pid from our pid file, if that process is still our Kafka broker (not a recycled pid). */
async function ourPid(o: BrokerOptions): Promise<{ pid: number; version: string } | undefined> {
  let text: string;
  try {
    text = await readFile(pidFile(o), 'utf8');
  } catch {
    return undefined;
  }
  const [pidText = '', version = ''] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('kafka.Kafka')) return undefined;
  } catch {
    // No /proc (not Linux): trust the pid file.
  }
  return { pid, version };
}

export async function brokerStatus(o: BrokerOptions): Promise<BrokerStatus> {
  const bootstrap = `${o.host}:${o.port}`;
  const base = { bootstrap, stateDir: stateDir(o), logFile: logFile(o) };
  const own = await ourPid(o);
  if (own) {
    const listeners = await readListenerRecord(stateDir(o));
    return { ...base, running: true, pid: own.pid, version: own.version, ...(listeners ? { listeners } : {}) };
  }
  if (await brokerAnswers(bootstrap, 1500)) return { ...base, running: true, foreign: true };
  return { ...base, running: false };
}

function serverProperties(o: BrokerOptions, dataDir: string, secure: SecurityMaterial | undefined): string {
  const n = o.node;
  const rf = n?.replication ?? 1;
  const isr = n?.minInsync ?? 1;
  return [
    'process.roles=broker,controller',
    `node.id=${n?.id ?? 1}`,
    `controller.quorum.voters=${n?.voters ?? `1@${o.host}:${o.controllerPort}`}`,
    ...listenerProperties(o.host, o.port, o.controllerPort, o.security && secure ? { ports: o.security, ...secure } : undefined, o.remote),
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=6',
    `default.replication.factor=${rf}`,
    `min.insync.replicas=${isr}`,
    `offsets.topic.replication.factor=${rf}`,
    'offsets.topic.num.partitions=6',
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${isr}`,
    `share.coordinator.state.topic.replication.factor=${rf}`,
    `share.coordinator.state.topic.min.isr=${isr}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    'delete.topic.enable=true',
    '',
  ].join('\n');
}

const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
`;

function jvmArgs(env: NodeJS.ProcessEnv, defaultHeap = '-Xms512m -Xmx1g'): string[] {
  const heap = env['KAFKA_HEAP_OPTS'] ?? defaultHeap;
  return [...heap.split(/\s+/).filter(Boolean), '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true'];
}

/**
 * A random KRaft cluster id: 16 bytes, URL-safe base64 without padding, as kafka-storage random-uuid
 * (base64url may begin with '-': it is passed as --cluster-id=ID for that reason).
 */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Formats the log directory unless it is already; with the user's SCRAM-SHA-512 credential when
 * secured (salted here: the password itself is never on the java command line). True when it formatted.
 */
async function formatIfNeeded(o: BrokerOptions, kafka: KafkaArtifacts, config: string, dataDir: string, secure: SecurityMaterial | undefined): Promise<boolean> {
  if (existsSync(join(dataDir, 'meta.properties'))) return false;
  o.log(`formatting KRaft log directory ${dataDir}`);
  const scram = secure ? ['--add-scram', addScramArgument(secure.username, await scramSha512(secure.password))] : [];
  try {
    await exec(
      'java',
      ['-cp', join(kafka.libDir, '*'), `-Dlog4j2.configurationFile=${join(stateDir(o), 'log4j2.properties')}`, 'kafka.tools.StorageTool', 'format', `--cluster-id=${o.node?.clusterId ?? newClusterId()}`, '-c', config, ...scram],
      { maxBuffer: 8 * 1024 * 1024 },
    );
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    throw new Ws2kError('KAFKA_FORMAT_FAILED', `kafka-storage format failed: ${(out.stderr || out.stdout || String(err)).trim()}`, { cause: err });
  }
  return true;
}

/** How to reach each secured listener with the generated credentials, for the readiness probe. */
function secureProbes(o: BrokerOptions, m: SecurityMaterial, files: { ca: Buffer; cert: Buffer; key: Buffer }): { name: string; bootstrap: string; security: ProbeSecurity }[] {
  const p = o.security;
  if (p === undefined) return [];
  const scram = { mechanism: 'SCRAM-SHA-512', username: m.username, password: m.password } as const;
  return [
    { name: 'SASL_SSL (SCRAM-SHA-512)', bootstrap: `${o.host}:${p.saslSsl}`, security: { tls: { ca: files.ca }, sasl: scram } },
    { name: 'SSL (client certificate)', bootstrap: `${o.host}:${p.ssl}`, security: { tls: { ca: files.ca, cert: files.cert, key: files.key } } },
    { name: 'SASL_PLAINTEXT (PLAIN)', bootstrap: `${o.host}:${p.saslPlaintext}`, security: { sasl: { mechanism: 'PLAIN', username: m.username, password: m.password } } },
  ];
}

/**
 * A log directory formatted earlier (by a plain start, or before the password was made again) may
 * lack the SCRAM credential for this password: when SCRAM is refused, store it through PLAINTEXT.
 */
async function ensureScramUser(o: BrokerOptions, m: SecurityMaterial): Promise<void> {
  if (o.security === undefined) return;
  const sasl = { mechanism: 'SCRAM-SHA-512', username: m.username, password: m.password } as const;
  if ('brokers' in (await probeMetadata(`${o.host}:${o.security.saslPlaintext}`, 2000, { sasl }))) return;
  await upsertScramUser(o.host, o.port, m.username, m.password);
  o.log(`security: stored the SCRAM-SHA-512 credential of '${m.username}' (the log directory had none for this password)`);
}

/** Waits until every secured listener accepts the generated credentials (a SCRAM user stored after start takes a moment). */
async function waitForSecureListeners(o: BrokerOptions, m: SecurityMaterial, deadline: number): Promise<void> {
  const f = m.files;
  const probes = secureProbes(o, m, { ca: await readFile(f.ca), cert: await readFile(f.clientCert), key: await readFile(f.clientKey) });
  for (const probe of probes) {
    for (;;) {
      const r = await probeMetadata(probe.bootstrap, 2000, probe.security);
      if ('brokers' in r) break;
      if (Date.now() > deadline) {
        throw new Ws2kError('KAFKA_START_FAILED', `the ${probe.name} listener at ${probe.bootstrap} refused the generated credentials: ${r.error}; see ${logFile(o)}`);
      }
      await sleep(250);
    }
  }
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface StartOptions {
  update: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Starts the broker unless one already answers; returns when it answers metadata requests. */
export async function startBroker(o: BrokerOptions, so: StartOptions): Promise<{ alreadyRunning: boolean; status: BrokerStatus }> {
  const before = await brokerStatus(o);
  if (before.running) return { alreadyRunning: true, status: before };
  const secured = o.security ? [o.security.saslSsl, o.security.ssl, o.security.saslPlaintext] : [];
  for (const port of [o.port, o.controllerPort, ...secured, ...(o.remote ? [o.remote.port] : [])]) {
    if (await portOpen(o.host, port)) {
      const flags = o.security ? '--port, --controller-port, --sasl-ssl-port, --ssl-port, --sasl-plaintext-port' : '--port, --controller-port';
      throw new Ws2kError('KAFKA_PORT_BUSY', `${o.host}:${port} is taken by a program that is not a Kafka broker; stop it or choose other ports (${flags})`);
    }
  }
  await requireJava();
  const dir = stateDir(o);
  const secure = o.security ? await ensureSecurityMaterial(dir) : undefined;
  if (secure && secure.created.length > 0) o.log(`security: made ${secure.created.join(', ')} in ${secure.files.dir}`);
  const kafka = await kafkaArtifacts(o.artifactsHome ?? o.home, { update: so.update }, o.log);
  const dataDir = join(dir, 'data');
  const config = join(dir, 'server.properties');
  await mkdir(dataDir, { recursive: true });
  // 0600: with the secured listeners it holds the PLAIN user's password (JAAS).
  await writeFile(config, serverProperties(o, dataDir, secure), { mode: 0o600 });
  await chmod(config, 0o600);
  await writeFile(join(dir, 'log4j2.properties'), LOG4J2);
  const formatted = await formatIfNeeded(o, kafka, config, dataDir, secure);
  await writeListenerRecord(dir, {
    host: o.host,
    plaintext: o.port,
    controller: o.controllerPort,
    ...(o.security && secure ? { secure: { ...o.security, username: secure.username } } : {}),
    ...(o.remote ? { remote: o.remote } : {}),
  });

  const fd = openSync(logFile(o), 'a');
  let exited: number | null | undefined;
  const child = spawn(
    'java',
    [...jvmArgs(so.env ?? process.env, o.heap), `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, '-cp', join(kafka.libDir, '*'), 'kafka.Kafka', config],
    { detached: true, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  child.once('exit', (code) => (exited = code));
  child.unref();
  if (child.pid === undefined) throw new Ws2kError('KAFKA_START_FAILED', 'could not spawn java');
  await writeFile(pidFile(o), `${child.pid} ${kafka.version}\n`);
  o.log(`starting Apache Kafka ${kafka.version} (pid ${child.pid}) on ${o.host}:${o.port}, log ${logFile(o)}`);

  const deadline = Date.now() + START_TIMEOUT_MS;
  // A cold JVM takes seconds: say so every 5 s rather than look stuck.
  const spawnedAt = Date.now();
  const waiting = logProgress(o.log, 5000);
  while (Date.now() < deadline) {
    waiting.update(() => `waiting for the broker on ${o.host}:${o.port} (${seconds(Date.now() - spawnedAt)})`);
    if (exited !== undefined || !alive(child.pid)) {
      await rm(pidFile(o), { force: true });
      throw new Ws2kError('KAFKA_START_FAILED', `the broker exited during start-up (status ${exited ?? 'unknown'}); last lines of ${logFile(o)}:\n${await tail(logFile(o), 20)}`);
    }
    if (await brokerAnswers(`${o.host}:${o.port}`, 2000)) {
      if (secure) {
        try {
          if (!formatted) await ensureScramUser(o, secure);
          await waitForSecureListeners(o, secure, Math.min(deadline, Date.now() + SECURE_READY_MS));
        } catch (err) {
          await stopBroker(o);
          throw err;
        }
      }
      return { alreadyRunning: false, status: await brokerStatus(o) };
    }
    await sleep(250);
  }
  await stopBroker(o);
  throw new Ws2kError('KAFKA_START_FAILED', `the broker did not answer metadata requests within ${START_TIMEOUT_MS / 1000}s; last lines of ${logFile(o)}:\n${await tail(logFile(o), 20)}`);
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

/** Stops our broker (SIGTERM, then SIGKILL after a deadline). Returns false when none was running. */
export async function stopBroker(o: BrokerOptions, opts: { clean?: boolean } = {}): Promise<boolean> {
  const own = await ourPid(o);
  if (own) {
    o.log(`stopping Apache Kafka (pid ${own.pid})`);
    process.kill(own.pid, 'SIGTERM');
    if (!(await waitForExit(own.pid, STOP_TIMEOUT_MS))) {
      o.log(`the broker did not exit within ${STOP_TIMEOUT_MS / 1000}s of SIGTERM; sending SIGKILL`);
      process.kill(own.pid, 'SIGKILL');
      if (!(await waitForExit(own.pid, 10_000))) {
        throw new Ws2kError('KAFKA_STOP_FAILED', `the broker (pid ${own.pid}) is still running after SIGKILL`);
      }
    }
  }
  await rm(pidFile(o), { force: true });
  if (opts.clean) {
    await rm(join(stateDir(o), 'data'), { recursive: true, force: true });
    o.log(`removed the broker's data in ${join(stateDir(o), 'data')}`);
    const security = securityFiles(stateDir(o)).dir;
    if (existsSync(security)) {
      await rm(security, { recursive: true, force: true });
      o.log(`removed the broker's certificates and password in ${security}`);
    }
    await removeListenerRecord(stateDir(o));
    // Rewritten at every start; after a secured one it holds the PLAIN user's password.
    await rm(join(stateDir(o), 'server.properties'), { force: true });
  }
  return own !== undefined;
}
