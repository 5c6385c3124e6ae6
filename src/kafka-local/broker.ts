// A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM) on 127.0.0.1,
// for the tests and for users without a cluster. State lives in <home>/broker-<port>/.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { processAlive as alive } from '../cli/process-alive.ts';
import { Ws2kError } from '../errors.ts';
import { kafkaArtifacts, type KafkaArtifacts } from './artifacts.ts';
import { brokerAnswers, portOpen } from './probe.ts';
import { requireJava } from './tools.ts';

const exec = promisify(execFile);

export interface BrokerOptions {
  home: string;
  host: string;
  port: number;
  controllerPort: number;
  log: (line: string) => void;
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
}

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

function stateDir(o: BrokerOptions): string {
  return join(o.home, `broker-${o.port}`);
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
  if (own) return { ...base, running: true, pid: own.pid, version: own.version };
  if (await brokerAnswers(bootstrap, 1500)) return { ...base, running: true, foreign: true };
  return { ...base, running: false };
}

function serverProperties(o: BrokerOptions, dataDir: string): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${o.host}:${o.controllerPort}`,
    `listeners=PLAINTEXT://${o.host}:${o.port},CONTROLLER://${o.host}:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${o.host}:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=6',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=6',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
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

function jvmArgs(env: NodeJS.ProcessEnv): string[] {
  const heap = env['KAFKA_HEAP_OPTS'] ?? '-Xms512m -Xmx1g';
  return [...heap.split(/\s+/).filter(Boolean), '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true'];
}

/** A random KRaft cluster id: 16 bytes, URL-safe base64 without padding, as kafka-storage random-uuid. */
/** A random cluster id (base64url may begin with '-': it is passed as --cluster-id=ID for that reason). */
function clusterId(): string {
  return randomBytes(16).toString('base64url');
}

async function formatIfNeeded(o: BrokerOptions, kafka: KafkaArtifacts, config: string, dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'meta.properties'))) return;
  o.log(`formatting KRaft log directory ${dataDir}`);
  try {
    await exec('java', ['-cp', join(kafka.libDir, '*'), `-Dlog4j2.configurationFile=${join(stateDir(o), 'log4j2.properties')}`, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId()}`, '-c', config], {
      maxBuffer: 8 * 1024 * 1024,
    });
  } catch (err) {
    const out = err as { stdout?: string; stderr?: string };
    throw new Ws2kError('KAFKA_FORMAT_FAILED', `kafka-storage format failed: ${(out.stderr || out.stdout || String(err)).trim()}`, { cause: err });
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
  for (const port of [o.port, o.controllerPort]) {
    if (await portOpen(o.host, port)) {
      throw new Ws2kError('KAFKA_PORT_BUSY', `${o.host}:${port} is taken by a program that is not a Kafka broker; stop it or choose other ports (--port, --controller-port)`);
    }
  }
  await requireJava();
  const kafka = await kafkaArtifacts(o.home, { update: so.update }, o.log);
  const dir = stateDir(o);
  const dataDir = join(dir, 'data');
  const config = join(dir, 'server.properties');
  await mkdir(dataDir, { recursive: true });
  await writeFile(config, serverProperties(o, dataDir));
  await writeFile(join(dir, 'log4j2.properties'), LOG4J2);
  await formatIfNeeded(o, kafka, config, dataDir);

  const fd = openSync(logFile(o), 'a');
  let exited: number | null | undefined;
  const child = spawn(
    'java',
    [...jvmArgs(so.env ?? process.env), `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, '-cp', join(kafka.libDir, '*'), 'kafka.Kafka', config],
    { detached: true, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  child.once('exit', (code) => (exited = code));
  child.unref();
  if (child.pid === undefined) throw new Ws2kError('KAFKA_START_FAILED', 'could not spawn java');
  await writeFile(pidFile(o), `${child.pid} ${kafka.version}\n`);
  o.log(`starting Apache Kafka ${kafka.version} (pid ${child.pid}) on ${o.host}:${o.port}, log ${logFile(o)}`);

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined || !alive(child.pid)) {
      await rm(pidFile(o), { force: true });
      throw new Ws2kError('KAFKA_START_FAILED', `the broker exited during start-up (status ${exited ?? 'unknown'}); last lines of ${logFile(o)}:\n${await tail(logFile(o), 20)}`);
    }
    if (await brokerAnswers(`${o.host}:${o.port}`, 2000)) {
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
  }
  return own !== undefined;
}
