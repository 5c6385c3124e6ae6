// The local broker's secrets: a private CA, a broker certificate it signs (SAN DNS:localhost,
// IP:127.0.0.1), a client certificate for mutual TLS, and one generated user's password. All of it
// lives in <home>/broker-<port>/security/ (mode 0700; keys and the password 0600) and is reused by
// later starts while it is valid. Nothing is downloaded.
//
// Certificates come from the openssl command, not node:crypto: node:crypto makes key pairs and
// parses certificates (X509Certificate) but cannot issue or sign one, and writing X.509 DER by hand
// would be a certificate authority of our own to get right. openssl is part of every Debian/Ubuntu
// and macOS install (and the CI installs it when missing). No secret is ever on a command line:
// keys are written unencrypted to 0600 files and passwords never reach openssl.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ws2kError } from '../errors.ts';

const exec = promisify(execFile);

/** The SASL user the local broker knows: SCRAM-SHA-512 credentials and a PLAIN JAAS entry. */
export const LOCAL_USER = 'ws2kafka';

const CA_DAYS = 3650;
const LEAF_DAYS = 825;
/** Certificates closer than this to their end are issued again at start. */
const RENEW_BEFORE_S = 7 * 24 * 3600;

export interface SecurityFiles {
  dir: string;
  /** The private CA's certificate: the trust anchor for --kafka-ca. */
  ca: string;
  caKey: string;
  brokerCert: string;
  brokerKey: string;
  /** Key, broker certificate and CA in one PEM file: Kafka's ssl.keystore.location (type PEM). */
  brokerKeystore: string;
  /** The mutual-TLS client: --kafka-cert and --kafka-key. */
  clientCert: string;
  clientKey: string;
  /** The generated user's password, alone on one line: --kafka-password-file. */
  passwordFile: string;
}

export function securityFiles(stateDir: string): SecurityFiles {
  const dir = join(stateDir, 'security');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    brokerCert: join(dir, 'broker.pem'),
    brokerKey: join(dir, 'broker-key.pem'),
    brokerKeystore: join(dir, 'broker-keystore.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client-key.pem'),
    passwordFile: join(dir, `${LOCAL_USER}.password`),
  };
}

/** Checks that openssl runs; the error says what needs it and how to get it. */
export async function requireOpenssl(): Promise<string> {
  try {
    const { stdout } = await exec('openssl', ['version']);
    return stdout.trim();
  } catch {
    throw new Ws2kError(
      'KAFKA_START_FAILED',
      'openssl was not found on PATH: the secured listeners (--security sasl_ssl) need it to issue their certificates (apt-get install openssl, or start without --security)',
    );
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await exec('openssl', args, { maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Ws2kError('KAFKA_START_FAILED', `openssl ${args[0] ?? ''} failed: ${(e.stderr ?? String(err)).trim()}`, { cause: err });
  }
}

/** Does `cert` exist, chain to `ca`, and stay valid for RENEW_BEFORE_S more? */
async function stillGood(cert: string, ca?: string): Promise<boolean> {
  try {
    await exec('openssl', ['x509', '-noout', '-checkend', String(RENEW_BEFORE_S), '-in', cert]);
    if (ca !== undefined) await exec('openssl', ['verify', '-CAfile', ca, cert]);
    return true;
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch {
    return false;
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function issueCa(f: SecurityFiles): Promise<void> {
  await rm(f.caKey, { force: true });
  await openssl([
    'req', '-x509', ...EC_KEY, '-keyout', f.caKey, '-out', f.ca, '-days', String(CA_DAYS), '-sha256',
    '-subj', `/O=ws2kafka/CN=ws2kafka local CA ${randomBytes(4).toString('hex')}`,
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await chmod(f.caKey, 0o600);
}

/** A key and a certificate signed by the CA; `extensions` in openssl's x509v3 config syntax. */
async function issueLeaf(f: SecurityFiles, cert: string, key: string, subject: string, extensions: string[]): Promise<void> {
  const csr = `${cert}.csr`;
  const ext = `${cert}.ext`;
  try {
    await rm(key, { force: true });
    await openssl(['req', '-new', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', subject]);
    await chmod(key, 0o600);
    await writeFile(ext, extensions.join('\n') + '\n');
    await openssl([
      'x509', '-req', '-in', csr, '-CA', f.ca, '-CAkey', f.caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
      '-days', String(LEAF_DAYS), '-sha256', '-extfile', ext, '-out', cert,
    ]);
  } finally {
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
}

/** A random password: 32 bytes, base64url (plain ASCII, nothing to escape in JAAS or a shell). */
function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

export interface SecurityMaterial {
  files: SecurityFiles;
  username: string;
  password: string;
  /** What was made afresh at this call (empty when everything was reused). */
  created: string[];
}

/**
 * Makes sure the CA, the broker and client certificates and the password exist and are usable,
 * issuing only what is missing, expiring within a week, or no longer signed by the CA.
 */
export async function ensureSecurityMaterial(stateDir: string): Promise<SecurityMaterial> {
  await requireOpenssl();
  const f = securityFiles(stateDir);
  await mkdir(f.dir, { recursive: true, mode: 0o700 });
  await chmod(f.dir, 0o700);
  const created: string[] = [];

  let password = '';
  try {
    password = (await readFile(f.passwordFile, 'utf8')).trim();
  } catch {
    // none yet
  }
  if (!/^[A-Za-z0-9_-]{16,}$/.test(password)) {
    password = newPassword();
    await writeFile(f.passwordFile, password + '\n', { mode: 0o600 });
    created.push('password');
  }
  await chmod(f.passwordFile, 0o600);

  const caGood = (await exists(f.caKey)) && (await stillGood(f.ca));
  if (!caGood) {
    await issueCa(f);
    created.push('CA');
  }
  if (!caGood || !(await exists(f.brokerKey)) || !(await stillGood(f.brokerCert, f.ca))) {
    await issueLeaf(f, f.brokerCert, f.brokerKey, '/O=ws2kafka/CN=localhost', [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    created.push('broker certificate');
  }
  if (!caGood || !(await exists(f.clientKey)) || !(await stillGood(f.clientCert, f.ca))) {
    await issueLeaf(f, f.clientCert, f.clientKey, `/O=ws2kafka/CN=${LOCAL_USER}`, [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
    ]);
    created.push('client certificate');
  }
  // Kafka's PEM keystore: the unencrypted PKCS#8 key, then the chain (leaf first).
  const keystore = [await readFile(f.brokerKey, 'utf8'), await readFile(f.brokerCert, 'utf8'), await readFile(f.ca, 'utf8')].map((s) => s.trimEnd()).join('\n') + '\n';
  await writeFile(f.brokerKeystore, keystore, { mode: 0o600 });
  await chmod(f.brokerKeystore, 0o600);
  return { files: f, username: LOCAL_USER, password, created };
}

/** The generated user's password, when the security material exists. */
export async function readLocalPassword(stateDir: string): Promise<string | undefined> {
  try {
    const password = (await readFile(securityFiles(stateDir).passwordFile, 'utf8')).trim();
    return password || undefined;
  } catch {
    return undefined;
  }
}
