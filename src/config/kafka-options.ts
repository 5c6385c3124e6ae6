// The Kafka connection options (TLS and SASL), one definition for every command that talks to
// Kafka (run, verify, bench): their flags, environment variables and config-file keys, their
// validation (a bad combination names the flags and what is accepted), the files they name (read
// at start), and the one function that turns them into @platformatic/kafka's connection options.
// Secrets (the password, the OAUTHBEARER token) never leave this module in a message: see
// redactOptions and kafkaSecrets for what callers print and log.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { ConnectionOptions } from '@platformatic/kafka';
import { Ws2kError } from '../errors.ts';
import { usage } from './parse.ts';

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** A Kafka connection option: a string flag with an argument, or a boolean flag (arg undefined). */
export interface KafkaOption {
  flag: string;
  env: string;
  arg: string | undefined;
  help: string;
  /** Its value is a secret: never printed, logged or echoed in an error. */
  secret?: true;
}

/** Every Kafka connection option, in the order --help lists them. */
export const KAFKA_OPTIONS = [
  { flag: 'kafka-tls', env: 'KAFKA_TLS', arg: undefined, help: 'connect to Kafka over TLS (on when any --kafka-ca, --kafka-cert, --kafka-key or --kafka-tls-insecure is given); SNI and hostname verification as Node.js does them' },
  { flag: 'kafka-ca', env: 'KAFKA_CA', arg: 'FILE', help: "PEM bundle of the CAs that sign the brokers' certificates (default: the system's CA store)" },
  { flag: 'kafka-cert', env: 'KAFKA_CERT', arg: 'FILE', help: 'client certificate (PEM, may hold its chain) for mutual TLS; needs --kafka-key' },
  { flag: 'kafka-key', env: 'KAFKA_KEY', arg: 'FILE', help: "the client certificate's private key (PEM, unencrypted); needs --kafka-cert" },
  { flag: 'kafka-tls-insecure', env: 'KAFKA_TLS_INSECURE', arg: undefined, help: "TLS without verifying the brokers' certificates or names (tests only: anyone on the path can read and change the traffic); a loud warning at start" },
  { flag: 'kafka-sasl', env: 'KAFKA_SASL', arg: SASL_MECHANISMS.join('|'), help: 'SASL mechanism (plain and scram-* need --kafka-username and a password, oauthbearer --kafka-oauth-token-file)' },
  { flag: 'kafka-username', env: 'KAFKA_USERNAME', arg: 'NAME', help: 'SASL user name' },
  { flag: 'kafka-password', env: 'KAFKA_PASSWORD', arg: 'PASSWORD', secret: true, help: 'SASL password; prefer KAFKA_PASSWORD or --kafka-password-file: a value on the command line is visible to every user of the host through ps; never logged' },
  { flag: 'kafka-password-file', env: 'KAFKA_PASSWORD_FILE', arg: 'FILE', help: 'file holding the SASL password (read at start; a trailing newline is ignored)' },
  { flag: 'kafka-oauth-token-file', env: 'KAFKA_OAUTH_TOKEN_FILE', arg: 'FILE', help: 'file holding the OAUTHBEARER token, read again at every SASL authentication, so a rotated token is used by the next connection; never logged' },
] as const satisfies readonly KafkaOption[];

export type KafkaFlag = (typeof KAFKA_OPTIONS)[number]['flag'];

/** The Kafka connection settings, validated, with the files they name read. */
export interface KafkaSecurity {
  /** TLS towards the brokers; undefined: plaintext. */
  tls:
    | {
        /** Contents of --kafka-ca (PEM); undefined: the system store. */
        ca: string | undefined;
        caFile: string | undefined;
        /** Contents of --kafka-cert and --kafka-key (PEM), for mutual TLS. */
        cert: string | undefined;
        certFile: string | undefined;
        key: string | undefined;
        keyFile: string | undefined;
        insecure: boolean;
      }
    | undefined;
  sasl:
    | {
        mechanism: SaslMechanism;
        username: string | undefined;
        /** The password (from --kafka-password, KAFKA_PASSWORD, the file, or --kafka-password-file). */
        password: string | undefined;
        /** Where the password was read from, when from a file (passed on to child processes). */
        passwordFile: string | undefined;
        tokenFile: string | undefined;
      }
    | undefined;
}

/** Plaintext, no SASL: what every client used before these options existed. */
export const PLAINTEXT: KafkaSecurity = { tls: undefined, sasl: undefined };

/** Where a value came from, lowest first: equal levels of a secret and its file conflict. */
const LEVEL = { default: 0, file: 1, env: 2, flag: 3 } as const;

interface Raw {
  value: string;
  /** How the value is named in messages: --flag, ENV, or "flag in FILE". */
  source: string;
  level: number;
}

/** The sources of the options: parsed flags (strings or booleans), the environment, a config file's object. */
export interface KafkaOptionSources {
  flags: Record<string, string | boolean | undefined>;
  env: NodeJS.ProcessEnv;
  file?: Record<string, unknown>;
  /** The config file's path, for messages. */
  configPath?: string | undefined;
}

/** A config file value as the flag's text (lists joined by commas). */
export function fileValue(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => fileValue(x)).join(',');
  if (typeof v === 'object' && v !== null) return Object.entries(v).map(([k, x]) => `${k}=${fileValue(x)}`).join(',');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** An option's value from flags < env < file, with where it came from; undefined when none gives it. */
export function pickOption(o: { flag: string; env?: string | undefined }, s: KafkaOptionSources): Raw | undefined {
  const fromFlag = s.flags[o.flag];
  if (fromFlag !== undefined) return { value: String(fromFlag), source: `--${o.flag}`, level: LEVEL.flag };
  const fromEnv = o.env === undefined ? undefined : s.env[o.env];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: o.env!, level: LEVEL.env };
  const fromFile = s.file?.[o.flag];
  if (fromFile !== undefined && fromFile !== null) return { value: fileValue(fromFile), source: `${o.flag} in ${s.configPath ?? 'the config file'}`, level: LEVEL.file };
  return undefined;
}

function parseBool(r: Raw): boolean {
  const v = r.value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw usage(r.source, r.value, 'true or false (as a flag: given or not)');
}

/** The settings as given (file paths, the password value), validated but with no file read yet. */
export interface KafkaSecurityRequest {
  tls: boolean;
  tlsInsecure: boolean;
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  sasl: SaslMechanism | undefined;
  username: string | undefined;
  password: string | undefined;
  passwordFile: string | undefined;
  tokenFile: string | undefined;
}

const F = (flag: KafkaFlag) => `--${flag}`;

/**
 * Picks every Kafka option from its sources and checks the combination: a bad one is a USAGE
 * error naming the flags and what is accepted. No file is read here (loadKafkaSecurity does).
 */
export function parseKafkaSecurity(s: KafkaOptionSources): KafkaSecurityRequest {
  const raw = (flag: KafkaFlag) => pickOption(KAFKA_OPTIONS.find((o) => o.flag === flag)!, s);
  const text = (flag: KafkaFlag): string | undefined => {
    const r = raw(flag);
    if (r === undefined) return undefined;
    if (r.value.trim() === '') {
      const o = KAFKA_OPTIONS.find((x) => x.flag === flag)!;
      throw new Ws2kError('USAGE', `${r.source} is empty: expected ${o.arg ?? 'a value'}`);
    }
    return flag === 'kafka-password' ? r.value : r.value.trim();
  };
  const tlsRaw = raw('kafka-tls');
  const insecureRaw = raw('kafka-tls-insecure');
  const tlsInsecure = insecureRaw === undefined ? false : parseBool(insecureRaw);
  const ca = text('kafka-ca');
  const cert = text('kafka-cert');
  const key = text('kafka-key');
  const tlsImplied = ca !== undefined || cert !== undefined || key !== undefined || tlsInsecure;
  const tlsAsked = tlsRaw === undefined ? undefined : parseBool(tlsRaw);
  if (tlsAsked === false && tlsImplied) {
    const given = [ca && F('kafka-ca'), cert && F('kafka-cert'), key && F('kafka-key'), tlsInsecure && F('kafka-tls-insecure')].filter(Boolean).join(', ');
    throw new Ws2kError('USAGE', `${tlsRaw!.source} is false but ${given} ${given.includes(',') ? 'are' : 'is'} given: TLS options need TLS (leave --kafka-tls out, or set it true)`);
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new Ws2kError('USAGE', `${F('kafka-cert')} and ${F('kafka-key')} go together (mutual TLS): ${cert === undefined ? `${F('kafka-key')} was given without ${F('kafka-cert')}` : `${F('kafka-cert')} was given without ${F('kafka-key')}`}; give both or neither`);
  }

  const saslRaw = raw('kafka-sasl');
  let sasl: SaslMechanism | undefined;
  if (saslRaw !== undefined) {
    const v = saslRaw.value.trim().toLowerCase();
    sasl = SASL_MECHANISMS.find((m) => m === v);
    if (sasl === undefined) throw usage(saslRaw.source, saslRaw.value, `one of ${SASL_MECHANISMS.join(', ')}`);
  }
  const username = text('kafka-username');
  // The password and its file: the one from the higher level wins (a flag over the environment
  // over the config file); both at the same level is a mistake.
  const pwRaw = raw('kafka-password');
  const pwFileRaw = raw('kafka-password-file');
  if (pwRaw !== undefined && pwRaw.value === '') throw new Ws2kError('USAGE', `${pwRaw.source} is empty: expected the SASL password`);
  if (pwRaw !== undefined && pwFileRaw !== undefined && pwRaw.level === pwFileRaw.level) {
    throw new Ws2kError('USAGE', `${pwRaw.source} and ${pwFileRaw.source} are both given: give one of them (the file keeps the password out of ps and the environment)`);
  }
  const fileWins = pwFileRaw !== undefined && (pwRaw === undefined || pwFileRaw.level > pwRaw.level);
  const password = fileWins ? undefined : pwRaw?.value;
  const passwordFile = fileWins ? text('kafka-password-file') : undefined;
  const tokenFile = text('kafka-oauth-token-file');

  const hasPassword = password !== undefined || passwordFile !== undefined;
  const passwordNames = `${F('kafka-password-file')} FILE, KAFKA_PASSWORD or ${F('kafka-password')}`;
  if (sasl === undefined) {
    const stray = [username !== undefined && F('kafka-username'), hasPassword && (passwordFile !== undefined ? F('kafka-password-file') : F('kafka-password')), tokenFile !== undefined && F('kafka-oauth-token-file')].filter(Boolean);
    if (stray.length > 0) {
      throw new Ws2kError('USAGE', `${stray.join(', ')} ${stray.length > 1 ? 'are' : 'is'} only used with ${F('kafka-sasl')}: give ${F('kafka-sasl')} ${SASL_MECHANISMS.join('|')}`);
    }
  } else if (sasl === 'oauthbearer') {
    if (tokenFile === undefined) throw new Ws2kError('USAGE', `${F('kafka-sasl')} oauthbearer needs ${F('kafka-oauth-token-file')} FILE (the token; read again at every authentication)`);
    if (username !== undefined || hasPassword) {
      throw new Ws2kError('USAGE', `${F('kafka-sasl')} oauthbearer takes no ${F('kafka-username')} or password (the token names the principal); they are for plain, scram-sha-256 and scram-sha-512`);
    }
  } else {
    if (tokenFile !== undefined) throw new Ws2kError('USAGE', `${F('kafka-oauth-token-file')} is only used with ${F('kafka-sasl')} oauthbearer, not ${sasl}`);
    if (username === undefined || !hasPassword) {
      const missing = [username === undefined && `${F('kafka-username')} NAME`, !hasPassword && `a password (${passwordNames})`].filter(Boolean).join(' and ');
      throw new Ws2kError('USAGE', `${F('kafka-sasl')} ${sasl} needs ${missing}`);
    }
  }
  return { tls: tlsAsked === true || tlsImplied, tlsInsecure, ca, cert, key, sasl, username, password, passwordFile, tokenFile };
}

async function readOptionFile(flag: string, path: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Ws2kError('USAGE', `--${flag} '${path}' cannot be read (${e.code ?? e.message}): expected ${what}`);
  }
  return text;
}

/** A secret file's value: the text without its trailing newline (one \n or \r\n). */
export function secretFromFile(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** Reads a PEM file and checks it holds what it should (a certificate, a private key). */
async function readPem(flag: string, path: string, label: RegExp, what: string): Promise<string> {
  const text = await readOptionFile(flag, path, what);
  if (!label.test(text)) throw new Ws2kError('USAGE', `--${flag} '${path}' is not valid: expected ${what}`);
  return text;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/** A PEM CA bundle for a TLS option (also the feed's --ca). */
export function readCaBundle(flag: string, path: string): Promise<string> {
  return readPem(flag, path, PEM_CERT, 'a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)');
}

/** Reads the files the settings name (CA, client certificate and key, password, token) and checks them. */
export async function loadKafkaSecurity(r: KafkaSecurityRequest): Promise<KafkaSecurity> {
  let tls: KafkaSecurity['tls'];
  if (r.tls) {
    const ca = r.ca === undefined ? undefined : await readCaBundle('kafka-ca', r.ca);
    const cert = r.cert === undefined ? undefined : await readPem('kafka-cert', r.cert, PEM_CERT, 'a PEM certificate (-----BEGIN CERTIFICATE-----)');
    const key = r.key === undefined ? undefined : await readPem('kafka-key', r.key, PEM_KEY, 'an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)');
    if (cert !== undefined && key !== undefined) {
      try {
        createSecureContext({ cert, key });
      } catch (err) {
        const m = (err as Error).message;
        const why = /mismatch/i.test(m) ? 'the key does not belong to the certificate' : /decrypt|pass ?phrase|encrypted/i.test(m) ? 'the key is encrypted (decrypt it: openssl pkey -in KEY -out KEY.plain)' : m;
        throw new Ws2kError('USAGE', `--kafka-cert '${r.cert}' and --kafka-key '${r.key}' are not a usable pair: ${why}`);
      }
    }
    tls = { ca, caFile: r.ca, cert, certFile: r.cert, key, keyFile: r.key, insecure: r.tlsInsecure };
  }
  let sasl: KafkaSecurity['sasl'];
  if (r.sasl !== undefined) {
    let password = r.password;
    if (r.passwordFile !== undefined) {
      password = secretFromFile(await readOptionFile('kafka-password-file', r.passwordFile, 'a file holding the SASL password'));
      if (password === '') throw new Ws2kError('USAGE', `--kafka-password-file '${r.passwordFile}' is empty: expected the SASL password`);
    }
    if (r.tokenFile !== undefined) {
      const token = (await readOptionFile('kafka-oauth-token-file', r.tokenFile, 'a file holding the OAUTHBEARER token')).trim();
      if (token === '') throw new Ws2kError('USAGE', `--kafka-oauth-token-file '${r.tokenFile}' is empty: expected the OAUTHBEARER token`);
    }
    sasl = { mechanism: r.sasl, username: r.username, password, passwordFile: r.passwordFile, tokenFile: r.tokenFile };
  }
  return { tls, sasl };
}

/** parseKafkaSecurity then loadKafkaSecurity. */
export async function kafkaSecurityFrom(s: KafkaOptionSources): Promise<KafkaSecurity> {
  return loadKafkaSecurity(parseKafkaSecurity(s));
}

/** The OAUTHBEARER token, read from its file now (each SASL authentication calls this). */
export async function readToken(path: string): Promise<string> {
  const token = (await readFile(path, 'utf8')).trim();
  if (token === '') throw new Error(`the OAUTHBEARER token file ${path} is empty`);
  return token;
}

export type KafkaClientSecurity = Pick<ConnectionOptions, 'tls' | 'tlsServerName' | 'sasl'>;

const CLIENT_MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512', oauthbearer: 'OAUTHBEARER' } as const;

/**
 * The one mapping from the settings to @platformatic/kafka's connection options, given to every
 * client ws2kafka creates towards Kafka. SNI: the broker's host name is sent when the bootstrap
 * list names a host (tlsServerName: true); with IP addresses only, none is (RFC 6066 forbids an
 * IP there). Hostname verification is Node's (checkServerIdentity, against the address
 * connected to), skipped with --kafka-tls-insecure together with the chain.
 */
export function kafkaClientOptions(s: KafkaSecurity | undefined, brokers: readonly string[]): KafkaClientSecurity {
  const out: KafkaClientSecurity = {};
  if (s?.tls !== undefined) {
    const t = s.tls;
    out.tls = {
      ...(t.ca !== undefined ? { ca: t.ca } : {}),
      ...(t.cert !== undefined ? { cert: t.cert } : {}),
      ...(t.key !== undefined ? { key: t.key } : {}),
      ...(t.insecure ? { rejectUnauthorized: false } : {}),
    };
    if (brokers.some((b) => isIP(hostOf(b)) === 0)) out.tlsServerName = true;
  }
  if (s?.sasl !== undefined) {
    const a = s.sasl;
    const mechanism = CLIENT_MECHANISMS[a.mechanism];
    if (a.mechanism === 'oauthbearer') {
      const file = a.tokenFile!;
      // A provider: the token is read again at every authentication (rotated tokens).
      out.sasl = { mechanism, token: () => readToken(file) };
    } else {
      out.sasl = { mechanism, ...(a.username !== undefined ? { username: a.username } : {}), ...(a.password !== undefined ? { password: a.password } : {}) };
    }
  }
  return out;
}

/** "host:port" → host (brackets of an IPv6 literal removed). */
export function hostOf(broker: string): string {
  const i = broker.lastIndexOf(':');
  const host = i < 0 ? broker : broker.slice(0, i);
  return host.replace(/^\[|\]$/g, '');
}

/** One line for the start-up line and logs: the security protocol, mechanism, user; never a secret. */
export function describeKafkaSecurity(s: KafkaSecurity | undefined): string {
  const tls = s?.tls;
  const sasl = s?.sasl;
  const protocol = tls !== undefined ? (sasl !== undefined ? 'SASL_SSL' : 'SSL') : sasl !== undefined ? 'SASL_PLAINTEXT' : 'PLAINTEXT';
  const parts: string[] = [];
  if (sasl !== undefined) parts.push(`${CLIENT_MECHANISMS[sasl.mechanism]}${sasl.username !== undefined ? ` as ${sasl.username}` : ''}`);
  if (tls !== undefined) {
    if (tls.insecure) parts.push('certificates NOT verified');
    else parts.push(tls.caFile !== undefined ? `CA ${tls.caFile}` : "the system's CAs");
    if (tls.certFile !== undefined) parts.push(`client certificate ${tls.certFile}`);
  }
  return parts.length === 0 ? protocol : `${protocol} (${parts.join(', ')})`;
}

/** Warnings to print at start: TLS without verification, a password sent in clear. */
export function kafkaSecurityWarnings(s: KafkaSecurity | undefined): string[] {
  const out: string[] = [];
  if (s?.tls?.insecure === true) {
    out.push("--kafka-tls-insecure: the brokers' certificates and names are NOT verified; anyone on the network path can read and change the traffic, credentials included. Use --kafka-ca instead outside tests");
  }
  if (s?.tls === undefined && s?.sasl?.mechanism === 'plain') {
    out.push('--kafka-sasl plain without TLS: the password crosses the network in clear (SASL_PLAINTEXT); add --kafka-tls unless the network is trusted');
  }
  if (s?.tls === undefined && s?.sasl?.mechanism === 'oauthbearer') {
    out.push('--kafka-sasl oauthbearer without TLS: the token crosses the network in clear; add --kafka-tls unless the network is trusted');
  }
  return out;
}

/** The secret values in the settings (to scrub from anything printed): the password. */
export function kafkaSecrets(s: KafkaSecurity | undefined): string[] {
  return s?.sasl?.password !== undefined ? [s.sasl.password] : [];
}

/** Flags whose values are secrets, of any command (Kafka's and the feed's). */
export const SECRET_FLAGS: ReadonlySet<string> = new Set([...KAFKA_OPTIONS.filter((o) => 'secret' in o).map((o) => o.flag), 'api-key']);

export const REDACTED = '[REDACTED]';

/** A copy of an options object (flag name → value) fit to print: secret values replaced. */
export function redactOptions<T extends Record<string, unknown>>(options: T): T {
  const out: Record<string, unknown> = { ...options };
  for (const k of Object.keys(out)) if (SECRET_FLAGS.has(k) && out[k] !== undefined) out[k] = REDACTED;
  return out as T;
}

/** Replaces every occurrence of each secret in a text (secrets shorter than 4 characters are left: too likely to match by chance). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * The options and environment to give a child process (bench's `run` and `verify`) so that it
 * connects as this one does: file paths and names as flags, the password through the environment
 * (KAFKA_PASSWORD, never on a command line, where ps shows it).
 */
export function kafkaChildOptions(s: KafkaSecurity | undefined): { args: string[]; env: Record<string, string> } {
  const args: string[] = [];
  const env: Record<string, string> = {};
  if (s?.tls !== undefined) {
    args.push('--kafka-tls');
    if (s.tls.caFile !== undefined) args.push('--kafka-ca', s.tls.caFile);
    if (s.tls.certFile !== undefined) args.push('--kafka-cert', s.tls.certFile, '--kafka-key', s.tls.keyFile!);
    if (s.tls.insecure) args.push('--kafka-tls-insecure');
  }
  if (s?.sasl !== undefined) {
    args.push('--kafka-sasl', s.sasl.mechanism);
    if (s.sasl.username !== undefined) args.push('--kafka-username', s.sasl.username);
    if (s.sasl.passwordFile !== undefined) args.push('--kafka-password-file', s.sasl.passwordFile);
    else if (s.sasl.password !== undefined) env['KAFKA_PASSWORD'] = s.sasl.password;
    if (s.sasl.tokenFile !== undefined) args.push('--kafka-oauth-token-file', s.sasl.tokenFile);
  }
  return { args, env };
}

/** parseArgs option specs of the Kafka options (booleans without a value, the others with one). */
export function kafkaFlagSpec(): Record<string, { type: 'string' } | { type: 'boolean' }> {
  const spec: Record<string, { type: 'string' } | { type: 'boolean' }> = {};
  for (const o of KAFKA_OPTIONS) spec[o.flag] = o.arg === undefined ? { type: 'boolean' } : { type: 'string' };
  return spec;
}

/** --help lines of the Kafka options, `width` wide on the left. */
export function kafkaHelpRows(width: number): string[] {
  return KAFKA_OPTIONS.map((o) => `${`  --${o.flag}${o.arg === undefined ? '' : ` ${o.arg}`}`.padEnd(width)} ${o.help} (env ${o.env})`);
}
