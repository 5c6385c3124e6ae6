// `ws2kafka kafka start --security sasl_ssl`: one secured local broker (own WS2KAFKA_HOME, spare
// ports) for every case here; each listener takes the right credentials and refuses wrong ones.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';
import { upsertScramUser } from '../../src/kafka-local/scram.ts';
import { startSecureTestBroker, type ClientSecurity, type SecureTestBroker } from '../helpers/secure-broker.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const QUICK = { retries: 0, connectTimeout: 5000, requestTimeout: 5000 } as const;

/** Every code and message down an error's `errors` and `cause` chain (the client nests them). */
function chain(err: unknown, depth = 0): string[] {
  const e = err as { code?: string; name?: string; message?: string; errors?: unknown[]; cause?: unknown } | undefined;
  if (!e || depth > 8) return [];
  return [`${e.code ?? e.name ?? ''}: ${e.message ?? ''}`, ...(e.errors ?? []).flatMap((x) => chain(x, depth + 1)), ...chain(e.cause, depth + 1)];
}

async function listTopics(c: ClientSecurity): Promise<string[]> {
  const admin = new Admin({ clientId: 'secure-test', ...QUICK, ...c });
  try {
    return await admin.listTopics();
  } finally {
    await admin.close();
  }
}

async function produceOne(c: ClientSecurity, topic: string): Promise<bigint> {
  const producer = new Producer({ clientId: 'secure-test', ...QUICK, ...c, serializers: stringSerializers });
  try {
    const r = await producer.send({ messages: [{ topic, key: 'k', value: `through ${c.bootstrapBrokers[0]}` }] });
    const offset = r.offsets?.[0]?.offset;
    assert.ok(offset !== undefined, 'the broker acknowledged the record');
    return offset;
  } finally {
    await producer.close();
  }
}

async function refused(c: ClientSecurity, expected: RegExp): Promise<string> {
  const started = Date.now();
  try {
    await listTopics(c);
  } catch (err) {
    const messages = chain(err);
    assert.ok(messages.some((m) => expected.test(m)), `expected ${expected} in:\n${messages.join('\n')}`);
    assert.ok(Date.now() - started < 10_000, 'refused quickly, not after a hang');
    return messages.join('\n');
  }
  assert.fail(`${c.bootstrapBrokers[0]} accepted what it should refuse`);
}

async function kafkaCli(home: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(process.execPath, [cli, 'kafka', ...args], { env: { ...process.env, WS2KAFKA_HOME: home }, timeout: 120_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

const SASL_FAILED = /PLT_KFK_AUTHENTICATION: SASL authentication failed/;

test('the secured local broker: SASL_SSL, mutual TLS and SASL_PLAINTEXT', async (t) => {
  const b: SecureTestBroker = await startSecureTestBroker(29192);
  t.after(() => b.destroy());
  const topic = 'secure-listeners';
  const admin = new Admin({ clientId: 'secure-test', ...b.client('plaintext') });
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  } finally {
    await admin.close();
  }

  await t.test('SASL_SSL: SCRAM-SHA-512 and PLAIN list topics and produce over TLS', async () => {
    assert.ok((await listTopics(b.client('saslSsl'))).includes(topic));
    const first = await produceOne(b.client('saslSsl'), topic);
    const second = await produceOne(b.client('saslSsl', { mechanism: 'PLAIN' }), topic);
    assert.equal(second, first + 1n);
  });

  await t.test('SASL_SSL: a wrong password is a SASL authentication failure; without the CA, an untrusted certificate', async () => {
    await refused(b.client('saslSsl', { password: 'not-the-password' }), SASL_FAILED);
    await refused(b.client('saslSsl', { mechanism: 'PLAIN', password: 'not-the-password' }), SASL_FAILED);
    await refused(b.client('saslSsl', { username: 'nobody' }), SASL_FAILED);
    await refused({ ...b.client('saslSsl'), tls: {} }, /SELF_SIGNED_CERT_IN_CHAIN/);
    await refused(b.client('saslSsl', { mechanism: 'SCRAM-SHA-256' }), /does not support the requested SASL mechanism/);
  });

  await t.test('SSL: the client certificate is accepted, and required', async () => {
    assert.ok((await listTopics(b.client('ssl'))).includes(topic));
    await produceOne(b.client('ssl'), topic);
    const { tls = {} } = b.client('ssl');
    await refused({ bootstrapBrokers: [b.ssl], tls: { ca: tls.ca } }, /Connection closed|ECONNRESET|certificate/);
  });

  await t.test('SASL_PLAINTEXT: PLAIN and SCRAM-SHA-512 accepted, a wrong password refused', async () => {
    await produceOne(b.client('saslPlaintext'), topic);
    assert.ok((await listTopics(b.client('saslPlaintext', { mechanism: 'SCRAM-SHA-512' }))).includes(topic));
    await refused(b.client('saslPlaintext', { password: 'not-the-password' }), SASL_FAILED);
    await refused({ bootstrapBrokers: [b.saslPlaintext] }, /Connection closed/);
  });

  await t.test('the SCRAM credential can be replaced through PLAINTEXT (how a log directory formatted without it gets it)', async (t2) => {
    const other = 'a-new-password-for-this-test';
    await upsertScramUser(b.host, b.ports.plaintext, b.username, other);
    t2.after(() => upsertScramUser(b.host, b.ports.plaintext, b.username, b.password));
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await listTopics(b.client('saslSsl', { password: other }));
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(200);
      }
    }
    await refused(b.client('saslSsl'), SASL_FAILED);
    // PLAIN reads the JAAS entry, not the SCRAM credential: unchanged.
    await listTopics(b.client('saslSsl', { mechanism: 'PLAIN' }));
  });

  await t.test('kafka status and start print the options per listener, never the password; secrets are 0600', async () => {
    const port = String(b.ports.plaintext);
    const status = await kafkaCli(b.home, 'status', '--port', port);
    assert.equal(status.code, 0, status.out);
    const again = await kafkaCli(b.home, 'start', '--port', port, '--security', 'sasl_ssl');
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /already running: .*nothing to do/);
    for (const out of [status.out, again.out]) {
      assert.ok(!out.includes(b.password), 'no password in the output');
      assert.ok(out.includes(`--brokers ${b.saslSsl} --kafka-sasl scram-sha-512 --kafka-username ws2kafka --kafka-password-file ${b.passwordFile} --kafka-ca ${b.ca}`), out);
      assert.ok(out.includes(`--brokers ${b.ssl} --kafka-ca ${b.ca} --kafka-cert ${b.clientCert} --kafka-key ${b.clientKey}`), out);
      assert.ok(out.includes(`--brokers ${b.saslPlaintext} --kafka-sasl plain --kafka-username ws2kafka --kafka-password-file ${b.passwordFile}`), out);
    }
    assert.equal(readFileSync(b.passwordFile, 'utf8').trim(), b.password);
    const dir = `${b.stateDir}/security`;
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const secret of [b.passwordFile, b.clientKey, `${dir}/ca-key.pem`, `${dir}/broker-key.pem`, `${dir}/broker-keystore.pem`, `${b.stateDir}/server.properties`]) {
      assert.equal(statSync(secret).mode & 0o777, 0o600, secret);
    }
    for (const file of [`${b.stateDir}/broker.log`, `${b.stateDir}/listeners.json`]) {
      assert.ok(!readFileSync(file, 'utf8').includes(b.password), `no password in ${file}`);
    }
    const wrongMode = await kafkaCli(b.home, 'status', '--port', port, '--ssl-port', '1');
    assert.equal(wrongMode.code, 2);
  });

  await t.test('kafka stop --clean stops it and removes the certificates and the password', async () => {
    const stop = await kafkaCli(b.home, 'stop', '--clean', '--port', String(b.ports.plaintext));
    assert.equal(stop.code, 0, stop.out);
    assert.match(stop.out, /stopped the broker/);
    assert.equal(existsSync(`${b.stateDir}/security`), false);
    assert.equal(existsSync(`${b.stateDir}/server.properties`), false);
    const status = await kafkaCli(b.home, 'status', '--port', String(b.ports.plaintext));
    assert.equal(status.code, 3, status.out);
  });
});
