// Why a connection to Kafka failed, as one of our codes (docs/errors.md): TLS (untrusted, hostname,
// expired, client certificate, handshake), TLS and plaintext crossed, SASL (credentials, mechanism,
// required). classifyKafkaError reads the errors @platformatic/kafka and node:tls raise (the
// client nests them: errors[] and cause); diagnoseKafkaError also probes the listener when the
// error alone says nothing (the broker closed the connection, or it timed out), which is what
// a broker that wants a client certificate or SASL does to a client that has none.
// Messages never hold a secret: only codes, addresses, user names, mechanisms and file paths.
import { Connection, saslHandshakeV1 } from '@platformatic/kafka';
import { hostOf, kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError, type ErrorCode } from '../errors.ts';

export const KAFKA_CONNECTION_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'KAFKA_TLS_UNTRUSTED',
  'KAFKA_TLS_HOSTNAME_MISMATCH',
  'KAFKA_TLS_CERT_EXPIRED',
  'KAFKA_TLS_CLIENT_CERT',
  'KAFKA_TLS_HANDSHAKE_FAILED',
  'KAFKA_TLS_TO_PLAINTEXT',
  'KAFKA_PLAINTEXT_TO_TLS',
  'KAFKA_SASL_AUTH_FAILED',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_REQUIRED',
]);

export function isKafkaConnectionCode(code: string): code is ErrorCode {
  return KAFKA_CONNECTION_CODES.has(code as ErrorCode);
}

/** node:tls / OpenSSL verification codes meaning "no trusted CA signs this chain". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
/** Alerts the broker sends about our certificate (none given, or one it does not accept). */
const CLIENT_CERT_ALERT = /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)/;
/** What a TLS client reads from a plaintext peer. */
const PLAINTEXT_PEER = /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST|UNKNOWN_PROTOCOL/;

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  apiId?: unknown;
  errors?: unknown;
  cause?: unknown;
  response?: unknown;
}

/** Every error in the chain (itself, errors[], cause), depth first. */
function chain(err: unknown, out: ErrorLike[] = [], depth = 0): ErrorLike[] {
  if (err === null || typeof err !== 'object' || depth > 8 || out.length > 64) return out;
  const e = err as ErrorLike;
  out.push(e);
  if (Array.isArray(e.errors)) for (const x of e.errors) chain(x, out, depth + 1);
  chain(e.cause, out, depth + 1);
  return out;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The broker address in the client's "Connection to host:port failed." message, if any. */
function addressIn(errors: ErrorLike[]): string | undefined {
  for (const e of errors) {
    const m = /Connection to (\S+:\d+) (failed|timed out)/.exec(str(e.message));
    if (m) return m[1];
  }
  return undefined;
}

/** The SASL mechanisms a SaslHandshake response lists, if the chain holds one. */
function mechanismsIn(errors: ErrorLike[]): string[] | undefined {
  for (const e of errors) {
    const r = e.response as { mechanisms?: unknown } | undefined;
    if (r !== undefined && r !== null && Array.isArray(r.mechanisms)) return r.mechanisms.map(String);
  }
  return undefined;
}

/** Node's certificate messages, without its advice about --use-system-ca. */
function nodeMessage(e: ErrorLike): string {
  return str(e.message).replace(/; if the root CA is installed locally.*$/s, '');
}

const MECH = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512', oauthbearer: 'OAUTHBEARER' } as const;

function mechanismOf(s: KafkaSecurity | undefined): string | undefined {
  return s?.sasl === undefined ? undefined : MECH[s.sasl.mechanism];
}

function make(code: ErrorCode, where: string, text: string, cause: unknown): Ws2kError {
  return new Ws2kError(code, `Kafka at ${where}: ${text}`, { cause });
}

/**
 * Our code for a failed connection, from the error alone; undefined when the error does not say
 * (unreachable, closed, timed out: see diagnoseKafkaError) or is not about the connection.
 */
export function classifyKafkaError(err: unknown, s: KafkaSecurity | undefined, brokers: readonly string[] = []): Ws2kError | undefined {
  if (err instanceof Ws2kError && isKafkaConnectionCode(err.code)) return err;
  const errors = chain(err);
  const where = addressIn(errors) ?? (brokers.length > 0 ? brokers.join(',') : 'the brokers');
  const tls = s?.tls;
  const ca = tls?.caFile !== undefined ? `--kafka-ca ${tls.caFile}` : "the system's CA store";
  for (const e of errors) {
    const code = str(e.code);
    const message = str(e.message);
    if (UNTRUSTED.has(code)) {
      return make('KAFKA_TLS_UNTRUSTED', where, `the broker's certificate is not trusted (${code}: ${nodeMessage(e)}): no CA in ${ca} signs it. Give the CA that signs the brokers' certificates with --kafka-ca FILE`, err);
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return make('KAFKA_TLS_HOSTNAME_MISMATCH', where, `the broker's certificate does not name the address connected to (${nodeMessage(e)}). Connect with a name or address the certificate holds (--brokers, and the broker's advertised listeners), or reissue the certificate with it`, err);
    }
    if (EXPIRED.has(code)) {
      const what = code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet';
      return make('KAFKA_TLS_CERT_EXPIRED', where, `the broker's certificate ${what} (${code}). Renew it on the broker (and check this host's clock: ${new Date().toISOString()})`, err);
    }
    if (code.startsWith('ERR_SSL_') && CLIENT_CERT_ALERT.test(code)) {
      const text = tls?.certFile !== undefined
        ? `the broker refused the client certificate --kafka-cert ${tls.certFile} (TLS alert ${code}): it is not signed by a CA the broker trusts, or has expired`
        : `the broker requires a client certificate (TLS alert ${code}): give --kafka-cert FILE and --kafka-key FILE (mutual TLS)`;
      return make('KAFKA_TLS_CLIENT_CERT', where, text, err);
    }
    if (tls !== undefined && (PLAINTEXT_PEER.test(code) || /wrong version number/i.test(message))) {
      return make('KAFKA_TLS_TO_PLAINTEXT', where, `TLS was attempted but the listener answered in plaintext (${code || message}). Use the port of the broker's SSL or SASL_SSL listener, or leave out --kafka-tls and the other TLS options for a PLAINTEXT or SASL_PLAINTEXT listener`, err);
    }
    if (tls !== undefined && message.startsWith('TLS handshake failed')) {
      return make('KAFKA_TLS_TO_PLAINTEXT', where, "the listener closed the connection at the TLS greeting: it speaks plaintext. Use the port of the broker's SSL or SASL_SSL listener, or leave out --kafka-tls and the other TLS options", err);
    }
    if (message === 'Broker requires TLS.') {
      return make('KAFKA_PLAINTEXT_TO_TLS', where, `the listener expects TLS (it answered with a TLS record). Add --kafka-tls${tls === undefined ? ', with --kafka-ca FILE unless its CA is in the system store' : ''}`, err);
    }
    if (e.apiId === 'SASL_AUTHENTICATION_FAILED' || (code === 'PLT_KFK_AUTHENTICATION' && message.startsWith('SASL authentication failed'))) {
      const sasl = s?.sasl;
      const text = sasl?.mechanism === 'oauthbearer'
        ? `the broker rejected the OAUTHBEARER token from ${sasl.tokenFile ?? 'the token file'} (SASL_AUTHENTICATION_FAILED): expired, or not accepted by the broker's validator`
        : `SASL authentication failed${sasl?.username !== undefined ? ` for user '${sasl.username}'` : ''}${sasl !== undefined ? ` with ${MECH[sasl.mechanism]}` : ''} (SASL_AUTHENTICATION_FAILED): a wrong user name or password${sasl?.mechanism.startsWith('scram') === true ? `, or the user has no ${MECH[sasl.mechanism]} credential on the cluster` : ''}`;
      return make('KAFKA_SASL_AUTH_FAILED', where, text, err);
    }
    if (code === 'PLT_KFK_AUTHENTICATION' && /provider threw/.test(message)) {
      const cause = str((e.cause as ErrorLike | undefined)?.message);
      return make('KAFKA_SASL_AUTH_FAILED', where, `the OAUTHBEARER token could not be read for authentication: ${cause || message}`, err);
    }
    if (e.apiId === 'UNSUPPORTED_SASL_MECHANISM') {
      const enabled = mechanismsIn(errors);
      return make('KAFKA_SASL_MECHANISM', where, `the listener does not enable SASL ${mechanismOf(s) ?? ''} (UNSUPPORTED_SASL_MECHANISM)${enabled ? `; it enables ${enabled.join(', ') || 'none'}` : ''}. Choose one of those with --kafka-sasl`, err);
    }
    if (e.apiId === 'ILLEGAL_SASL_STATE') {
      return make('KAFKA_SASL_MECHANISM', where, `the listener does not use SASL (it answered the SASL handshake with ILLEGAL_SASL_STATE). Leave out --kafka-sasl, or use the port of the broker's SASL_SSL or SASL_PLAINTEXT listener`, err);
    }
  }
  for (const e of errors) {
    const code = str(e.code);
    if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || code.startsWith('ERR_TLS_')) {
      return make('KAFKA_TLS_HANDSHAKE_FAILED', where, `the TLS handshake failed (${code}: ${str(e.message).trim()})`, err);
    }
  }
  return undefined;
}

/** The error says the connection closed, reset or timed out without a reason of its own. */
function silentFailure(errors: ErrorLike[]): boolean {
  return errors.some((e) => {
    const code = str(e.code);
    const message = str(e.message);
    return code === 'PLT_KFK_TIMEOUT' || code === 'ECONNRESET' || code === 'EPIPE' || message === 'Connection closed' || message.startsWith('Connection closed') || message === 'Connection error';
  });
}

const PROBE_TIMEOUT_MS = 3000;

type Probe = { connected: true; mechanisms: string[] | 'none' | undefined; socketError: unknown } | { connected: false; error: unknown };

/** Connects as the clients do (TLS, no SASL) and asks the listener which SASL mechanisms it has. */
async function probe(host: string, port: number, s: KafkaSecurity | undefined, brokers: readonly string[]): Promise<Probe> {
  const { tls, tlsServerName } = kafkaClientOptions(s, brokers);
  const c = new Connection('ws2kafka-probe', { connectTimeout: PROBE_TIMEOUT_MS, requestTimeout: PROBE_TIMEOUT_MS, ...(tls ? { tls } : {}), ...(tlsServerName !== undefined ? { tlsServerName } : {}) });
  let socketError: unknown;
  c.on('error', (e: unknown) => (socketError ??= e));
  try {
    try {
      await c.connect(host, port);
    } catch (error) {
      return { connected: false, error: socketError ?? error };
    }
    const mechanism = mechanismOf(s) ?? 'PLAIN';
    let requestError: unknown;
    const mechanisms = await new Promise<string[] | 'none' | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), PROBE_TIMEOUT_MS);
      saslHandshakeV1.api(c, mechanism, (error: unknown, response: { mechanisms?: string[] } | undefined) => {
        clearTimeout(timer);
        if (!error) return resolve(response?.mechanisms ?? []);
        const errors = chain(error);
        if (errors.some((e) => e.apiId === 'ILLEGAL_SASL_STATE')) return resolve('none');
        requestError = error;
        resolve(mechanismsIn(errors));
      });
    });
    // A TLS record in answer (the client's "Broker requires TLS."), or an alert, says more than the socket.
    return { connected: true, mechanisms, socketError: socketError ?? requestError };
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** Does a plaintext Kafka answer there (a SaslHandshake response of any kind)? */
async function answersPlaintext(host: string, port: number): Promise<boolean> {
  const p = await probe(host, port, undefined, []);
  return p.connected && p.mechanisms !== undefined;
}

/** Does a TLS server answer there (a completed handshake, verification aside)? */
async function answersTls(host: string, port: number): Promise<boolean> {
  const insecure: KafkaSecurity = { tls: { ca: undefined, caFile: undefined, cert: undefined, certFile: undefined, key: undefined, keyFile: undefined, insecure: true }, sasl: undefined };
  const p = await probe(host, port, insecure, []);
  if (p.connected) return true;
  // A listener that wants a client certificate still answered in TLS.
  return chain(p.error).some((e) => str(e.code).startsWith('ERR_SSL_') && CLIENT_CERT_ALERT.test(str(e.code)));
}

/**
 * classifyKafkaError, and when the error alone does not say (closed, reset, timed out), a probe of
 * the listener: a TLS alert about the client certificate, the SASL mechanisms it enables (or none),
 * whether it speaks plaintext or TLS (at most a few seconds; `probe: false` skips it). Undefined
 * when nothing points at the connection settings (e.g. the broker is down: the caller retries).
 */
export async function diagnoseKafkaError(err: unknown, s: KafkaSecurity | undefined, brokers: readonly string[], o: { probe?: boolean } = {}): Promise<Ws2kError | undefined> {
  const known = classifyKafkaError(err, s, brokers);
  if (known !== undefined) return known;
  const errors = chain(err);
  if (o.probe === false || !silentFailure(errors)) return undefined;
  const where = addressIn(errors) ?? brokers[0];
  if (where === undefined) return undefined;
  const host = hostOf(where);
  const port = Number(where.slice(where.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) return undefined;
  let p: Probe;
  try {
    p = await probe(host, port, s, brokers);
  } catch {
    return undefined;
  }
  if (!p.connected) {
    const c = classifyKafkaError(p.error, s, [where]);
    if (c !== undefined) return c;
    // Crossed TLS and plaintext that ended in a timeout rather than an answer.
    if (chain(p.error).some((e) => str(e.code) === 'PLT_KFK_TIMEOUT' || /timed out/.test(str(e.message)))) {
      if (s?.tls !== undefined && (await answersPlaintext(host, port))) return classifyKafkaError(new Error('wrong version number'), s, [where]);
      if (s?.tls === undefined && (await answersTls(host, port))) return classifyKafkaError(new Error('Broker requires TLS.'), s, [where]);
    }
    return undefined;
  }
  if (p.socketError !== undefined) {
    const c = classifyKafkaError(p.socketError, s, [where]);
    if (c !== undefined) return c;
  }
  const mechanisms = p.mechanisms;
  if (Array.isArray(mechanisms)) {
    if (s?.sasl === undefined) {
      return new Ws2kError('KAFKA_SASL_REQUIRED', `Kafka at ${where}: the listener requires SASL authentication (it enables ${mechanisms.join(', ') || 'no mechanism'}). Give --kafka-sasl ${mechanisms.map((m) => m.toLowerCase()).join('|')} with its credentials`, { cause: err });
    }
    const mine = mechanismOf(s)!;
    if (!mechanisms.includes(mine)) {
      return new Ws2kError('KAFKA_SASL_MECHANISM', `Kafka at ${where}: the listener does not enable SASL ${mine} (UNSUPPORTED_SASL_MECHANISM); it enables ${mechanisms.join(', ') || 'none'}. Choose one of those with --kafka-sasl`, { cause: err });
    }
  } else if (mechanisms === 'none' && s?.sasl !== undefined) {
    return classifyKafkaError({ apiId: 'ILLEGAL_SASL_STATE', message: 'no SASL' }, s, [where]);
  } else if (mechanisms === undefined && s?.tls !== undefined && s.tls.certFile === undefined) {
    // Closed right after the TLS handshake, with no reason given: how a broker that requires a
    // client certificate treats a client without one under TLS 1.3.
    return new Ws2kError('KAFKA_TLS_CLIENT_CERT', `Kafka at ${where}: the broker closed the TLS connection right after the handshake, without a Kafka answer: it most likely requires a client certificate. Give --kafka-cert FILE and --kafka-key FILE (mutual TLS)`, { cause: err });
  }
  return undefined;
}
