// The secured local broker as a library, for tests and tools: starts (or finds) the broker of
// <home>/broker-<port>/ with its secured listeners and returns everything a client needs.
import { readFile } from 'node:fs/promises';
import { startBroker, stateDir, stopBroker, type BrokerOptions } from './broker.ts';
import { connectionBlocks, defaultSecurePorts, type ConnectionBlock, type SecurePorts } from './listeners.ts';
import { securityFiles } from './security.ts';
import { Ws2kError } from '../errors.ts';

export interface SecureBrokerOptions {
  /** State directory root: the broker lives in <home>/broker-<port>/. */
  home: string;
  /** PLAINTEXT port; the others default to port+1 (controller), +2, +3, +4. */
  port: number;
  controllerPort?: number;
  ports?: Partial<SecurePorts>;
  /** Where the Kafka jars are cached, when not under `home` (tests pass the user's cache). */
  artifactsHome?: string;
  log?: (line: string) => void;
}

export interface SecureBroker {
  host: string;
  /** host:port of each listener. */
  plaintext: string;
  saslSsl: string;
  ssl: string;
  saslPlaintext: string;
  ports: SecurePorts & { plaintext: number; controller: number };
  /** PEM file paths. */
  ca: string;
  clientCert: string;
  clientKey: string;
  username: string;
  password: string;
  passwordFile: string;
  stateDir: string;
  pid: number | undefined;
  /** The options for run/verify/bench, one block per listener (no password in them). */
  connectionBlocks: ConnectionBlock[];
  /** Stops the broker; `clean` also deletes its data, certificates and password. */
  stop(opts?: { clean?: boolean }): Promise<void>;
}

export async function startSecureBroker(so: SecureBrokerOptions): Promise<SecureBroker> {
  const host = '127.0.0.1';
  const ports = { ...defaultSecurePorts(so.port), ...so.ports };
  const o: BrokerOptions = {
    home: so.home,
    host,
    port: so.port,
    controllerPort: so.controllerPort ?? so.port + 1,
    log: so.log ?? (() => {}),
    security: ports,
    ...(so.artifactsHome !== undefined ? { artifactsHome: so.artifactsHome } : {}),
  };
  const { status } = await startBroker(o, { update: false });
  const record = status.listeners;
  if (status.foreign || record?.secure === undefined) {
    throw new Ws2kError('USAGE', `a broker already runs at ${status.bootstrap} without ws2kafka's secured listeners; stop it first or choose another port`);
  }
  const dir = stateDir(o);
  const f = securityFiles(dir);
  const password = (await readFile(f.passwordFile, 'utf8')).trim();
  const s = record.secure;
  return {
    host,
    plaintext: `${host}:${record.plaintext}`,
    saslSsl: `${host}:${s.saslSsl}`,
    ssl: `${host}:${s.ssl}`,
    saslPlaintext: `${host}:${s.saslPlaintext}`,
    ports: { plaintext: record.plaintext, controller: record.controller, saslSsl: s.saslSsl, ssl: s.ssl, saslPlaintext: s.saslPlaintext },
    ca: f.ca,
    clientCert: f.clientCert,
    clientKey: f.clientKey,
    username: s.username,
    password,
    passwordFile: f.passwordFile,
    stateDir: dir,
    pid: status.pid,
    connectionBlocks: connectionBlocks(dir, record),
    async stop(opts = {}) {
      await stopBroker(o, opts);
    },
  };
}
