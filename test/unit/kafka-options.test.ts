// The Kafka connection options (src/config/kafka-options.ts): parsing and validation, the files they
// name, the mapping to @platformatic/kafka's options, redaction; and the classification of the
// errors a refused connection raises (src/kafka/connection-errors.ts), from errors shaped as the
// client and node:tls raise them (the integration test meets the real ones).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { javaClientProperties } from '../../src/bench/ceiling.ts';
import {
  describeKafkaSecurity,
  KAFKA_OPTIONS,
  kafkaChildOptions,
  kafkaClientOptions,
  kafkaSecrets,
  kafkaSecurityFrom,
  kafkaSecurityWarnings,
  parseKafkaSecurity,
  redactOptions,
  scrub,
  secretFromFile,
  type KafkaOptionSources,
  type KafkaSecurity,
} from '../../src/config/kafka-options.ts';
import { loadRunConfig, runHelp } from '../../src/config/run-config.ts';
import { ErrorCodes } from '../../src/errors.ts';
import { classifyKafkaError, KAFKA_CONNECTION_CODES } from '../../src/kafka/connection-errors.ts';

const SECRET = 'pa55-w0rd-never-shown';

function sources(flags: Record<string, string | boolean> = {}, env: NodeJS.ProcessEnv = {}, file?: Record<string, unknown>): KafkaOptionSources {
  return { flags, env, ...(file ? { file, configPath: 'c.yaml' } : {}) };
}

/** A directory with a CA, a certificate it signs with its key, another key, a password and a token file. */
async function fixtures(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-kopts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=test-ca');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('client-key.pem'), '-out', f('client.csr'), '-subj', '/CN=client');
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-out', f('client.pem'), '-days', '2');
  ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('other-key.pem'));
  await writeFile(f('password'), `${SECRET}\n`);
  await writeFile(f('token'), 'token-one\n');
  await writeFile(f('not-pem'), 'hello\n');
  return { dir, f };
}

test('no option: plaintext, no SASL, no client option', async () => {
  const s = await kafkaSecurityFrom(sources());
  assert.deepEqual(s, { tls: undefined, sasl: undefined });
  assert.deepEqual(kafkaClientOptions(s, ['127.0.0.1:9092']), {});
  assert.equal(describeKafkaSecurity(s), 'PLAINTEXT');
});

test('TLS is on with --kafka-tls, or when any other TLS option is given', () => {
  assert.equal(parseKafkaSecurity(sources({ 'kafka-tls': true })).tls, true);
  assert.equal(parseKafkaSecurity(sources({}, { KAFKA_TLS: 'true' })).tls, true);
  assert.equal(parseKafkaSecurity(sources({ 'kafka-ca': '/x/ca.pem' })).tls, true);
  assert.equal(parseKafkaSecurity(sources({ 'kafka-tls-insecure': true })).tls, true);
  assert.equal(parseKafkaSecurity(sources({}, {}, { 'kafka-cert': 'c.pem', 'kafka-key': 'k.pem' })).tls, true);
  assert.equal(parseKafkaSecurity(sources({}, { KAFKA_TLS: 'false' })).tls, false);
});

test('bad combinations name the flags and what is accepted', () => {
  const bad = (s: KafkaOptionSources, re: RegExp) => assert.throws(() => parseKafkaSecurity(s), (err: Error & { code?: string }) => err.code === 'USAGE' && re.test(err.message));
  bad(sources({ 'kafka-cert': 'c.pem' }), /--kafka-cert and --kafka-key go together \(mutual TLS\): --kafka-cert was given without --kafka-key; give both or neither/);
  bad(sources({ 'kafka-key': 'k.pem' }), /--kafka-key was given without --kafka-cert/);
  bad(sources({ 'kafka-ca': 'ca.pem' }, { KAFKA_TLS: 'false' }), /KAFKA_TLS is false but --kafka-ca is given/);
  bad(sources({}, { KAFKA_TLS: 'maybe' }), /KAFKA_TLS 'maybe' is not valid: expected true or false/);
  bad(sources({ 'kafka-sasl': 'scram' }), /--kafka-sasl 'scram' is not valid: expected one of plain, scram-sha-256, scram-sha-512, oauthbearer/);
  bad(sources({ 'kafka-sasl': 'scram-sha-512' }), /--kafka-sasl scram-sha-512 needs --kafka-username NAME and a password \(--kafka-password-file FILE, KAFKA_PASSWORD or --kafka-password\)/);
  bad(sources({ 'kafka-sasl': 'plain', 'kafka-username': 'u' }), /--kafka-sasl plain needs a password/);
  bad(sources({ 'kafka-sasl': 'plain', 'kafka-password': SECRET }), /--kafka-sasl plain needs --kafka-username NAME$/);
  bad(sources({ 'kafka-username': 'u', 'kafka-password': SECRET }), /--kafka-username, --kafka-password are only used with --kafka-sasl/);
  bad(sources({ 'kafka-oauth-token-file': 't' }), /--kafka-oauth-token-file is only used with --kafka-sasl/);
  bad(sources({ 'kafka-sasl': 'oauthbearer' }), /--kafka-sasl oauthbearer needs --kafka-oauth-token-file FILE/);
  bad(sources({ 'kafka-sasl': 'oauthbearer', 'kafka-oauth-token-file': 't', 'kafka-username': 'u' }), /oauthbearer takes no --kafka-username or password/);
  bad(sources({ 'kafka-sasl': 'plain', 'kafka-username': 'u', 'kafka-password': SECRET, 'kafka-oauth-token-file': 't' }), /--kafka-oauth-token-file is only used with --kafka-sasl oauthbearer, not plain/);
  bad(sources({ 'kafka-sasl': 'plain', 'kafka-username': 'u', 'kafka-password': SECRET, 'kafka-password-file': 'p' }), /--kafka-password and --kafka-password-file are both given: give one of them/);
  bad(sources({ 'kafka-ca': '' }), /--kafka-ca is empty: expected FILE/);
});

test('no message about a bad combination holds the password', () => {
  for (const s of [
    sources({ 'kafka-password': SECRET }),
    sources({ 'kafka-sasl': 'plain', 'kafka-password': SECRET }),
    sources({ 'kafka-sasl': 'oauthbearer', 'kafka-oauth-token-file': 't', 'kafka-password': SECRET }),
    sources({ 'kafka-sasl': 'plain', 'kafka-username': 'u', 'kafka-password': SECRET, 'kafka-password-file': 'p' }),
  ]) {
    assert.throws(() => parseKafkaSecurity(s), (err: Error) => !err.message.includes(SECRET));
  }
});

test('precedence: config file < environment < flags; a password file at a higher level wins over a password', () => {
  const file = { 'kafka-sasl': 'plain', 'kafka-username': 'from-file', 'kafka-password': 'file-pw' };
  const r = parseKafkaSecurity(sources({ 'kafka-username': 'from-flag' }, { KAFKA_SASL: 'scram-sha-512', KAFKA_PASSWORD: 'env-pw' }, file));
  assert.equal(r.sasl, 'scram-sha-512', 'env over file');
  assert.equal(r.username, 'from-flag', 'flag over env');
  assert.equal(r.password, 'env-pw', 'env over file');
  const f = parseKafkaSecurity(sources({ 'kafka-password-file': '/run/secrets/kafka' }, { KAFKA_SASL: 'plain', KAFKA_USERNAME: 'u', KAFKA_PASSWORD: 'env-pw' }));
  assert.equal(f.password, undefined);
  assert.equal(f.passwordFile, '/run/secrets/kafka', 'the flag (a file) over the environment (a value)');
  const g = parseKafkaSecurity(sources({ 'kafka-password': 'flag-pw' }, { KAFKA_SASL: 'plain', KAFKA_USERNAME: 'u', KAFKA_PASSWORD_FILE: '/x' }));
  assert.equal(g.password, 'flag-pw');
  assert.equal(g.passwordFile, undefined);
  // The config file may name the secret's file instead of holding it.
  const h = parseKafkaSecurity(sources({}, {}, { 'kafka-sasl': 'scram-sha-256', 'kafka-username': 'u', 'kafka-password-file': '/run/secrets/kafka' }));
  assert.equal(h.passwordFile, '/run/secrets/kafka');
  assert.equal(h.sasl, 'scram-sha-256');
});

test('files are read at start: the password without its trailing newline; unreadable, empty or wrong files are named', async (t) => {
  const { f } = await fixtures(t);
  const s = await kafkaSecurityFrom(sources({ 'kafka-sasl': 'scram-sha-512', 'kafka-username': 'alice', 'kafka-password-file': f('password'), 'kafka-ca': f('ca.pem') }));
  assert.equal(s.sasl?.password, SECRET);
  assert.equal(s.sasl?.passwordFile, f('password'));
  assert.match(s.tls?.ca ?? '', /BEGIN CERTIFICATE/);
  assert.equal(secretFromFile('a b \r\n'), 'a b ', 'one trailing newline (CRLF too) is dropped, nothing else');
  assert.equal(secretFromFile('x\n\n'), 'x\n');
  const bad = async (flags: Record<string, string>, re: RegExp) => assert.rejects(kafkaSecurityFrom(sources(flags)), (err: Error & { code?: string }) => err.code === 'USAGE' && re.test(err.message) && !err.message.includes(SECRET));
  await bad({ 'kafka-ca': f('missing.pem') }, /--kafka-ca '.*missing\.pem' cannot be read \(ENOENT\): expected a PEM file of CA certificates/);
  await bad({ 'kafka-ca': f('not-pem') }, /--kafka-ca '.*not-pem' is not valid: expected a PEM file of CA certificates/);
  await bad({ 'kafka-cert': f('client.pem'), 'kafka-key': f('ca.pem') }, /--kafka-key '.*ca\.pem' is not valid: expected an unencrypted PEM private key/);
  await bad({ 'kafka-cert': f('client.pem'), 'kafka-key': f('other-key.pem') }, /--kafka-cert '.*client\.pem' and --kafka-key '.*other-key\.pem' are not a usable pair: the key does not belong to the certificate/);
  await writeFile(f('empty'), '\n');
  await bad({ 'kafka-sasl': 'plain', 'kafka-username': 'u', 'kafka-password-file': f('empty') }, /--kafka-password-file '.*empty' is empty/);
  await bad({ 'kafka-sasl': 'oauthbearer', 'kafka-oauth-token-file': f('empty') }, /--kafka-oauth-token-file '.*empty' is empty/);
  await bad({ 'kafka-sasl': 'oauthbearer', 'kafka-oauth-token-file': f('nope') }, /--kafka-oauth-token-file '.*nope' cannot be read \(ENOENT\)/);
  const mtls = await kafkaSecurityFrom(sources({ 'kafka-cert': f('client.pem'), 'kafka-key': f('client-key.pem') }));
  assert.match(mtls.tls?.cert ?? '', /BEGIN CERTIFICATE/);
  assert.match(mtls.tls?.key ?? '', /PRIVATE KEY/);
});

test("the mapping to the client's options: tls, tlsServerName, sasl", async (t) => {
  const { f } = await fixtures(t);
  const full = await kafkaSecurityFrom(sources({ 'kafka-ca': f('ca.pem'), 'kafka-cert': f('client.pem'), 'kafka-key': f('client-key.pem'), 'kafka-sasl': 'scram-sha-512', 'kafka-username': 'alice', 'kafka-password': SECRET }));
  const o = kafkaClientOptions(full, ['broker-1.example.com:9094']);
  assert.match(String(o.tls?.ca), /BEGIN CERTIFICATE/);
  assert.match(String(o.tls?.cert), /BEGIN CERTIFICATE/);
  assert.match(o.tls?.key as string, /PRIVATE KEY/);
  assert.equal(o.tls?.rejectUnauthorized, undefined, 'verification stays on (Node verifies chain and hostname)');
  assert.equal(o.tlsServerName, true, 'SNI with the broker host name');
  assert.deepEqual(o.sasl, { mechanism: 'SCRAM-SHA-512', username: 'alice', password: SECRET });
  assert.equal(kafkaClientOptions(full, ['127.0.0.1:9094']).tlsServerName, undefined, 'no SNI for IP addresses (RFC 6066)');

  const insecure = await kafkaSecurityFrom(sources({ 'kafka-tls-insecure': true }));
  assert.deepEqual(kafkaClientOptions(insecure, ['h:1']).tls, { rejectUnauthorized: false });
  const systemStore = await kafkaSecurityFrom(sources({ 'kafka-tls': true }));
  assert.deepEqual(kafkaClientOptions(systemStore, ['h:1']).tls, {}, "the system's CA store");
  for (const [mechanism, name] of [['plain', 'PLAIN'], ['scram-sha-256', 'SCRAM-SHA-256'], ['scram-sha-512', 'SCRAM-SHA-512']] as const) {
    const s = await kafkaSecurityFrom(sources({ 'kafka-sasl': mechanism, 'kafka-username': 'u', 'kafka-password-file': f('password') }));
    assert.equal(kafkaClientOptions(s, ['h:1']).sasl?.mechanism, name);
    assert.equal(kafkaClientOptions(s, ['h:1']).sasl?.password, SECRET);
    assert.equal(kafkaClientOptions(s, ['h:1']).tls, undefined, 'SASL_PLAINTEXT');
  }
});

test('OAUTHBEARER: the token is read from its file at every authentication, so a rotated token is used', async (t) => {
  const { f } = await fixtures(t);
  const s = await kafkaSecurityFrom(sources({ 'kafka-sasl': 'oauthbearer', 'kafka-oauth-token-file': f('token') }));
  const sasl = kafkaClientOptions(s, ['h:1']).sasl!;
  assert.equal(sasl.mechanism, 'OAUTHBEARER');
  assert.equal(typeof sasl.token, 'function', 'a provider: @platformatic/kafka calls it for each SASL authentication');
  const token = sasl.token as () => Promise<string>;
  assert.equal(await token(), 'token-one');
  await writeFile(f('token'), 'token-two\n');
  assert.equal(await token(), 'token-two');
  await writeFile(f('token'), '');
  await assert.rejects(token(), /token file .* is empty/);
  assert.deepEqual(kafkaSecrets(s), [], 'the token is never held: read when needed');
});

test('redaction: secret options print as [REDACTED]; scrub removes secret values from any text', () => {
  assert.deepEqual(redactOptions({ 'kafka-password': SECRET, 'api-key': 'k-123456', 'kafka-username': 'alice', brokers: 'h:1' }), {
    'kafka-password': '[REDACTED]',
    'api-key': '[REDACTED]',
    'kafka-username': 'alice',
    brokers: 'h:1',
  });
  assert.equal(scrub(`login ${SECRET} failed; again ${SECRET}`, [SECRET]), 'login [REDACTED] failed; again [REDACTED]');
  assert.equal(scrub('abc', ['b']), 'abc', 'too short to scrub safely');
  assert.ok(KAFKA_OPTIONS.filter((o) => 'secret' in o).map((o) => o.flag).includes('kafka-password'));
});

test('describe, warnings and child options never hold the password; children get it through the environment', async (t) => {
  const { f } = await fixtures(t);
  const s = await kafkaSecurityFrom(sources({ 'kafka-ca': f('ca.pem'), 'kafka-sasl': 'scram-sha-512', 'kafka-username': 'alice' }, { KAFKA_PASSWORD: SECRET }));
  assert.equal(describeKafkaSecurity(s), `SASL_SSL (SCRAM-SHA-512 as alice, CA ${f('ca.pem')})`);
  const child = kafkaChildOptions(s);
  assert.deepEqual(child.args, ['--kafka-tls', '--kafka-ca', f('ca.pem'), '--kafka-sasl', 'scram-sha-512', '--kafka-username', 'alice']);
  assert.deepEqual(child.env, { KAFKA_PASSWORD: SECRET });
  const fromFile = await kafkaSecurityFrom(sources({ 'kafka-sasl': 'plain', 'kafka-username': 'alice', 'kafka-password-file': f('password') }));
  assert.deepEqual(kafkaChildOptions(fromFile), { args: ['--kafka-sasl', 'plain', '--kafka-username', 'alice', '--kafka-password-file', f('password')], env: {} });
  assert.match(kafkaSecurityWarnings(fromFile).join('\n'), /--kafka-sasl plain without TLS: the password crosses the network in clear/);
  const insecure = await kafkaSecurityFrom(sources({ 'kafka-tls-insecure': true }));
  assert.match(kafkaSecurityWarnings(insecure).join('\n'), /certificates and names are NOT verified/);
  assert.equal(describeKafkaSecurity(insecure), 'SSL (certificates NOT verified)');
  for (const text of [describeKafkaSecurity(s), ...kafkaSecurityWarnings(s), ...child.args, describeKafkaSecurity(fromFile)]) assert.ok(!text.includes(SECRET));
});

test("bench's Java client properties: protocol, PEM trust store, JAAS with the password escaped", async (t) => {
  const { f } = await fixtures(t);
  const s = await kafkaSecurityFrom(sources({ 'kafka-ca': f('ca.pem'), 'kafka-sasl': 'scram-sha-512', 'kafka-username': 'al"ice', 'kafka-password': 'p\\w"d' }));
  const props = javaClientProperties(s, undefined);
  assert.match(props, /^security\.protocol=SASL_SSL$/m);
  assert.match(props, /^ssl\.truststore\.type=PEM$/m);
  assert.ok(props.includes('sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="al\\\\"ice" password="p\\\\\\\\w\\\\"d";'), props);
  assert.equal(javaClientProperties(undefined, undefined), '');
});

test('run: the Kafka options, --api-key-file and --ca through loadRunConfig; the config file may hold them', async (t) => {
  const { f } = await fixtures(t);
  await writeFile(f('api-key'), 'the-api-key\n');
  const file = f('c.yaml');
  await writeFile(file, `kafka-sasl: scram-sha-512\nkafka-username: alice\nkafka-password-file: ${f('password')}\nkafka-ca: ${f('ca.pem')}\napi-key-file: ${f('api-key')}\n`);
  const c = await loadRunConfig({ config: file, url: 'wss://feed.example/stocks', ca: f('ca.pem') }, {});
  assert.equal(c.apiKey, 'the-api-key');
  assert.match(c.feedCa ?? '', /BEGIN CERTIFICATE/);
  assert.equal(c.kafka.sasl?.password, SECRET);
  assert.match(c.kafka.tls?.ca ?? '', /BEGIN CERTIFICATE/);
  const flagKey = await loadRunConfig({ config: file, 'api-key': 'flag-key' }, {});
  assert.equal(flagKey.apiKey, 'flag-key', 'a flag over the file named in the config file');
  await assert.rejects(loadRunConfig({ 'api-key': 'k', 'api-key-file': f('api-key') }, {}), /--api-key and --api-key-file are both given/);
  await assert.rejects(loadRunConfig({ url: 'ws://feed.example/x', ca: f('ca.pem') }, {}), /--ca '.*' is for a wss:\/\/ feed, but --url is not wss:\/\//);
  await assert.rejects(loadRunConfig({ 'kafka-cert': f('client.pem') }, {}), /--kafka-cert and --kafka-key go together/);
  const help = runHelp();
  assert.match(help, /--api-key KEY .*visible to every user of the host through ps/);
  for (const o of KAFKA_OPTIONS) assert.ok(help.includes(`--${o.flag}`) && help.includes(`(env ${o.env})`), o.flag);
});

test('docs/configuration.md documents every Kafka connection option and its environment variable', async () => {
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  for (const o of KAFKA_OPTIONS) {
    assert.ok(doc.includes(`\`--${o.flag}`), `--${o.flag} is documented`);
    assert.ok(doc.includes(`\`${o.env}\``), `${o.env} is documented`);
  }
});

// Errors as the client raises them (shapes copied from a real broker: see kafka-secure.test.ts).
const network = (cause: unknown, where = '127.0.0.1:9094') => ({ code: 'PLT_KFK_MULTIPLE', message: 'Listing topics failed.', errors: [{ code: 'PLT_KFK_MULTIPLE', message: 'Cannot connect to any broker.', errors: [{ code: 'PLT_KFK_NETWORK', message: `Connection to ${where} failed.`, cause }] }] });
const tlsError = (code: string, message: string) => Object.assign(new Error(message), { code });
const saslError = (outer: string, apiId: string, response?: unknown) => ({ code: 'PLT_KFK_AUTHENTICATION', message: outer, cause: { code: 'PLT_KFK_RESPONSE', message: 'Received response with error', response, errors: [{ code: 'PLT_KFK_PROTOCOL', apiId, message: '' }] } });

test('classification: each refusal has its code, names the broker and what to do, and holds no secret', async (t) => {
  const { f } = await fixtures(t);
  const s: KafkaSecurity = await kafkaSecurityFrom(sources({ 'kafka-ca': f('ca.pem'), 'kafka-sasl': 'scram-sha-512', 'kafka-username': 'alice', 'kafka-password': SECRET }));
  const cases: Array<[unknown, string, RegExp]> = [
    [network(tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca')), 'KAFKA_TLS_UNTRUSTED', /not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate\): no CA in --kafka-ca .*ca\.pem signs it/],
    [network(tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain')), 'KAFKA_TLS_UNTRUSTED', /SELF_SIGNED_CERT_IN_CHAIN/],
    [network(tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the cert's list: 127.0.0.1"), '127.0.0.2:9094'), 'KAFKA_TLS_HOSTNAME_MISMATCH', /^Kafka at 127\.0\.0\.2:9094: the broker's certificate does not name the address connected to/],
    [network(tlsError('CERT_HAS_EXPIRED', 'certificate has expired')), 'KAFKA_TLS_CERT_EXPIRED', /has expired \(CERT_HAS_EXPIRED\)/],
    [network(tlsError('ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'ssl/tls alert bad certificate')), 'KAFKA_TLS_CLIENT_CERT', /requires a client certificate .*--kafka-cert FILE and --kafka-key FILE/],
    [network({ code: 'PLT_KFK_USER', message: 'TLS handshake failed. Please verify the broker supports TLS.', cause: tlsError('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established') }), 'KAFKA_TLS_TO_PLAINTEXT', /speaks plaintext/],
    [network(tlsError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')), 'KAFKA_TLS_TO_PLAINTEXT', /answered in plaintext/],
    [{ code: 'PLT_KFK_MULTIPLE', message: 'Listing topics failed.', errors: [{ code: 'PLT_KFK_USER', message: 'Broker requires TLS.' }] }, 'KAFKA_PLAINTEXT_TO_TLS', /expects TLS/],
    [network(saslError('SASL authentication failed.', 'SASL_AUTHENTICATION_FAILED')), 'KAFKA_SASL_AUTH_FAILED', /SASL authentication failed for user 'alice' with SCRAM-SHA-512/],
    [network(saslError('Cannot find a suitable SASL mechanism.', 'UNSUPPORTED_SASL_MECHANISM', { errorCode: 33, mechanisms: ['PLAIN', 'SCRAM-SHA-512'] })), 'KAFKA_SASL_MECHANISM', /does not enable SASL SCRAM-SHA-512 \(UNSUPPORTED_SASL_MECHANISM\); it enables PLAIN, SCRAM-SHA-512/],
    [network(saslError('Cannot find a suitable SASL mechanism.', 'ILLEGAL_SASL_STATE')), 'KAFKA_SASL_MECHANISM', /does not use SASL/],
    [network(tlsError('ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'no protocols available')), 'KAFKA_TLS_HANDSHAKE_FAILED', /TLS handshake failed \(ERR_SSL_NO_PROTOCOLS_AVAILABLE/],
  ];
  for (const [err, code, re] of cases) {
    const c = classifyKafkaError(err, s);
    assert.equal(c?.code, code, `${code}: ${c?.message}`);
    assert.match(c.message, re);
    assert.ok(!c.message.includes(SECRET));
    assert.ok(c.message.startsWith('Kafka at '), c.message);
  }
  // Not about the settings: left to the caller's retries.
  assert.equal(classifyKafkaError(network(tlsError('ECONNREFUSED', 'connect ECONNREFUSED')), s), undefined);
  assert.equal(classifyKafkaError({ code: 'PLT_KFK_MULTIPLE', message: 'x', errors: [{ code: 'PLT_KFK_NETWORK', message: 'Connection closed' }] }, s), undefined);
  // The codes are in the registry, and retrying the same thing does not help.
  for (const code of KAFKA_CONNECTION_CODES) assert.equal(ErrorCodes[code].retryable, false, code);
});

test('a config file that does not parse is located, never quoted (it may hold a password)', async (t) => {
  const { f } = await fixtures(t);
  await writeFile(f('bad.yaml'), `kafka-sasl: plain\nkafka-password: "${SECRET}\n  : [\n`);
  await assert.rejects(loadRunConfig({ config: f('bad.yaml') }, {}), (err: Error) => /--config '.*bad\.yaml' is not valid YAML: at line \d+, column \d+/.test(err.message) && !err.message.includes(SECRET));
  await writeFile(f('bad.json'), `{"kafka-password": "${SECRET}", }`);
  await assert.rejects(loadRunConfig({ config: f('bad.json') }, {}), (err: Error) => /--config '.*bad\.json' is not valid JSON: at (line|character)/.test(err.message) && !err.message.includes(SECRET));
});
