// The local broker's listeners. PLAINTEXT on --port always; with --security sasl_ssl also three
// secured ones, by default at fixed offsets from --port (the controller keeps port+1):
//   port+2  SASL_SSL        SCRAM-SHA-512 and PLAIN over TLS
//   port+3  SSL             TLS with a required client certificate (mutual TLS)
//   port+4  SASL_PLAINTEXT  PLAIN and SCRAM-SHA-512 without TLS
// What a start chose is written to <home>/broker-<port>/listeners.json (no secret in it), so that
// `kafka status` prints the same connection options later, whatever flags it is given.
// Optionally one more PLAINTEXT listener, REMOTE, that listens on one port and advertises another
// (`bench --link-delay`: the delay link's, so that every connection a client opens after the
// bootstrap goes through the link too).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { securityFiles, type SecurityFiles } from './security.ts';

export const SECURITY_MODES = ['none', 'sasl_ssl'] as const;
export type SecurityMode = (typeof SECURITY_MODES)[number];

export interface SecurePorts {
  saslSsl: number;
  ssl: number;
  saslPlaintext: number;
}

export function defaultSecurePorts(port: number): SecurePorts {
  return { saslSsl: port + 2, ssl: port + 3, saslPlaintext: port + 4 };
}

/**
 * A PLAINTEXT listener named REMOTE on host:port whose metadata names advertisedHost:advertisedPort
 * as the broker's address: clients that bootstrap through a relay at that address keep using it.
 */
export interface RemoteListener {
  port: number;
  advertisedHost: string;
  advertisedPort: number;
}

/** What listeners.json holds: what the broker of this state directory was last started with. */
export interface ListenerRecord {
  host: string;
  plaintext: number;
  controller: number;
  secure?: SecurePorts & { username: string };
  remote?: RemoteListener;
}

function recordFile(stateDir: string): string {
  return join(stateDir, 'listeners.json');
}

export async function writeListenerRecord(stateDir: string, r: ListenerRecord): Promise<void> {
  await writeFile(recordFile(stateDir), JSON.stringify(r, null, 2) + '\n');
}

export async function readListenerRecord(stateDir: string): Promise<ListenerRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFile(stateDir), 'utf8')) as ListenerRecord;
  } catch {
    return undefined;
  }
}

export async function removeListenerRecord(stateDir: string): Promise<void> {
  await rm(recordFile(stateDir), { force: true });
}

function jaasValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/**
 * server.properties lines for the listeners. The PLAIN user's password is in the JAAS lines, so
 * the file holding them is written with mode 0600; Kafka logs these values as [hidden].
 */
export function listenerProperties(
  host: string,
  port: number,
  controllerPort: number,
  secure?: { ports: SecurePorts; files: SecurityFiles; username: string; password: string },
  remote?: RemoteListener,
): string[] {
  const lines = baseListenerProperties(host, port, controllerPort, secure);
  if (remote === undefined) return lines;
  // The REMOTE listener joins the three lines that name every listener.
  const extra: Record<string, string> = {
    'listeners=': `,REMOTE://${host}:${remote.port}`,
    'advertised.listeners=': `,REMOTE://${remote.advertisedHost}:${remote.advertisedPort}`,
    'listener.security.protocol.map=': ',REMOTE:PLAINTEXT',
  };
  return lines.map((line) => {
    for (const [key, more] of Object.entries(extra)) if (line.startsWith(key)) return line + more;
    return line;
  });
}

function baseListenerProperties(host: string, port: number, controllerPort: number, secure?: { ports: SecurePorts; files: SecurityFiles; username: string; password: string }): string[] {
  if (secure === undefined) {
    return [
      `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://${host}:${port}`,
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    ];
  }
  const { ports: p, files: f } = secure;
  const plainJaas = `org.apache.kafka.common.security.plain.PlainLoginModule required user_${secure.username}="${jaasValue(secure.password)}";`;
  const scramJaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const sasl = (listener: string) => [
    `listener.name.${listener}.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN`,
    `listener.name.${listener}.plain.sasl.jaas.config=${plainJaas}`,
    `listener.name.${listener}.scram-sha-512.sasl.jaas.config=${scramJaas}`,
  ];
  return [
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort},SASL_SSL://${host}:${p.saslSsl},SSL://${host}:${p.ssl},SASL_PLAINTEXT://${host}:${p.saslPlaintext}`,
    `advertised.listeners=PLAINTEXT://${host}:${port},SASL_SSL://${host}:${p.saslSsl},SSL://${host}:${p.ssl},SASL_PLAINTEXT://${host}:${p.saslPlaintext}`,
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT',
    'sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN',
    ...sasl('sasl_ssl'),
    ...sasl('sasl_plaintext'),
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${f.brokerKeystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${f.ca}`,
    'ssl.client.auth=none',
    'listener.name.ssl.ssl.client.auth=required',
  ];
}

/** A path as one shell word: quoted only when it needs to be. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface ConnectionBlock {
  title: string;
  /** Options for `ws2kafka run|verify|bench`, as argv words. */
  args: string[];
}

/** The options that reach each listener, one block per listener, with the password as a file path. */
export function connectionBlocks(stateDir: string, r: ListenerRecord): ConnectionBlock[] {
  const blocks: ConnectionBlock[] = [{ title: 'PLAINTEXT', args: ['--brokers', `${r.host}:${r.plaintext}`] }];
  if (r.secure === undefined) return blocks;
  const f = securityFiles(stateDir);
  const user = r.secure.username;
  blocks.push(
    {
      title: 'SASL_SSL with SCRAM-SHA-512 (PLAIN is enabled too)',
      args: ['--brokers', `${r.host}:${r.secure.saslSsl}`, '--kafka-sasl', 'scram-sha-512', '--kafka-username', user, '--kafka-password-file', f.passwordFile, '--kafka-ca', f.ca],
    },
    {
      title: 'SSL with a client certificate (mutual TLS)',
      args: ['--brokers', `${r.host}:${r.secure.ssl}`, '--kafka-ca', f.ca, '--kafka-cert', f.clientCert, '--kafka-key', f.clientKey],
    },
    {
      title: 'SASL_PLAINTEXT with PLAIN (SCRAM-SHA-512 is enabled too)',
      args: ['--brokers', `${r.host}:${r.secure.saslPlaintext}`, '--kafka-sasl', 'plain', '--kafka-username', user, '--kafka-password-file', f.passwordFile],
    },
  );
  return blocks;
}

export function formatConnectionBlocks(blocks: ConnectionBlock[]): string {
  return blocks.map((b) => `  ${b.title}:\n    ${b.args.map(shellWord).join(' ')}`).join('\n');
}
