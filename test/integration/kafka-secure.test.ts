// `run` and `verify` against the secured local broker (ws2kafka kafka start --security sasl_ssl,
// started once for this file on spare ports with its own home): SASL_SSL with SCRAM-SHA-512 end to
// end (100,000 events audited), mutual TLS, SASL_PLAINTEXT with PLAIN; each refused connection
// exits with its own code within 10 s; and credentials revoked while streaming keep the events in
// the spool, loudly, until they are restored.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaSecurityFrom, type KafkaSecurity } from '../../src/config/kafka-options.ts';
import { ws2kafkaHome } from '../../src/kafka-local/home.ts';
import { upsertScramUser } from '../../src/kafka-local/scram.ts';
import { startSecureBroker } from '../../src/kafka-local/secure-broker.ts';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { ws2kafka, type CliProcess } from '../helpers/cli.ts';
import { freePort, relay, until } from '../helpers/net.ts';
import { startSecureTestBroker, type SecureTestBroker } from '../helpers/secure-broker.ts';

const MIX = parseMix('mix', 'T=90,AM=10');
const scratch = mkdtempSync(join(tmpdir(), 'ws2kafka-secure-test-'));
let b: SecureTestBroker;

before(async () => {
  b = await startSecureTestBroker(29392);
});
after(async () => {
  await b?.destroy();
});

/** `run` with its own spool directory and no metrics port unless given. */
function bridge(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const spool = mkdtempSync(join(scratch, 'spool-'));
  // Without a feed of its own, the built-in mock (--demo): these runs are about Kafka.
  const p = ws2kafka(['run', '--metrics-port', '0', '--spool-dir', spool, ...(args.includes('--url') ? [] : ['--demo']), ...args], env);
  return p;
}

function topics() {
  const id = randomUUID().slice(0, 8);
  const t = { trades: `trades-${id}`, aggregates: `aggregates-${id}` };
  return {
    ...t,
    routes: { T: t.trades, A: t.aggregates, AM: t.aggregates },
    flags: ['--topics', `T=${t.trades},A=${t.aggregates},AM=${t.aggregates}`, '--unknown-topic', `unknown-${id}`, '--dead-letter-topic', `dead-${id}`, '--gap-topic', `gaps-${id}`],
  };
}

/** The options of each listener, as users give them (the password by file). */
const saslSsl = () => ['--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile];
const mtls = () => ['--brokers', b.ssl, '--kafka-ca', b.ca, '--kafka-cert', b.clientCert, '--kafka-key', b.clientKey];
const saslPlaintext = () => ['--brokers', b.saslPlaintext, '--kafka-sasl', 'plain', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile];

/** The same settings as the CLI makes from those flags (for the in-process audit). */
async function securityOf(args: string[]): Promise<KafkaSecurity> {
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.replace(/^--/, '');
    if (a === 'brokers') i++;
    else if (args[i + 1] === undefined || args[i + 1]!.startsWith('--')) flags[a] = true;
    else flags[a] = args[++i]!;
  }
  return kafkaSecurityFrom({ flags, env: {} });
}

/** Streams `events` from the mock through `run` with `listener`'s options, then audits over the same listener. */
async function streamAndAudit(listener: string[], events: number, t: { after: (fn: () => Promise<void> | void) => void }) {
  const tp = topics();
  const mock = await startMockServer({ port: 0, rate: Math.min(events, 100_000), events, mix: MIX, slowConsumerBytes: 1 << 30 });
  t.after(() => mock.close());
  const run = bridge(['--url', mock.url, '--max-events', String(events), '--buffer-size', String(Math.max(events, 1000)), '--metrics-interval', '1s', ...listener, ...tp.flags]);
  t.after(() => {
    run.proc.kill('SIGKILL');
  });
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  assert.match(run.stdout(), /→ Kafka .* over (SASL_SSL|SSL|SASL_PLAINTEXT) \(/, 'the start-up line names the protocol');
  const brokers = [listener[listener.indexOf('--brokers') + 1]!];
  const report = await audit({ brokers, security: await securityOf(listener), topics: [tp.trades, tp.aggregates], routes: tp.routes, mockStats: mock.stats(true) });
  assert.equal(report.lost, 0, JSON.stringify(report.samples));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples));
  assert.equal(report.corrupted, 0, JSON.stringify(report.samples));
  assert.equal(report.delivered, events);
  return { tp, mock };
}

test('SASL_SSL with SCRAM-SHA-512: 100,000 events end to end, audited (also by `verify` over SASL_SSL)', { timeout: 180_000 }, async (t) => {
  const N = 100_000;
  const { tp, mock } = await streamAndAudit(saslSsl(), N, t);
  const verify = ws2kafka(['verify', ...saslSsl(), '--topics', `${tp.trades},${tp.aggregates}`, '--routes', `T=${tp.trades},A=${tp.aggregates},AM=${tp.aggregates}`, '--mock-stats', mock.statsUrl, '--json']);
  const { code } = await verify.exited;
  assert.equal(code, 0, verify.stderr());
  const report = JSON.parse(verify.stdout()) as { ok: boolean; delivered: number };
  assert.equal(report.ok, true);
  assert.equal(report.delivered, N);
});

test('mutual TLS (SSL with a client certificate): 20,000 events, audited', { timeout: 120_000 }, async (t) => {
  await streamAndAudit(mtls(), 20_000, t);
});

test('SASL_PLAINTEXT with PLAIN: 20,000 events, audited', { timeout: 120_000 }, async (t) => {
  await streamAndAudit(saslPlaintext(), 20_000, t);
});

/** A CA of the test's own, and `openssl ca` to issue certificates with any validity window. */
function testCa(name: string) {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  const f = (x: string) => join(dir, x);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '30', '-subj', `/CN=${name}`);
  writeFileSync(f('index.txt'), '');
  writeFileSync(f('serial'), '1000\n');
  writeFileSync(
    f('ca.cnf'),
    [
      '[ca]', 'default_ca = test_ca', '[test_ca]', `dir = ${dir}`, `database = ${f('index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${f('serial')}`,
      'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied',
      '[server]', 'subjectAltName = IP:127.0.0.1,DNS:localhost', 'basicConstraints = CA:FALSE', 'extendedKeyUsage = serverAuth', '',
    ].join('\n'),
  );
  return {
    ca: f('ca.pem'),
    /** A server certificate for 127.0.0.1 and localhost, valid from `start` to `end` (YYYYMMDDHHMMSSZ). */
    issue(cn: string, start: string, end: string): { cert: string; key: string } {
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${cn}-key.pem`), '-out', f(`${cn}.csr`), '-subj', `/CN=${cn}`);
      ssl('ca', '-batch', '-config', f('ca.cnf'), '-cert', f('ca.pem'), '-keyfile', f('ca-key.pem'), '-in', f(`${cn}.csr`), '-out', f(`${cn}.pem`), '-startdate', start, '-enddate', end, '-extensions', 'server', '-notext');
      return { cert: f(`${cn}.pem`), key: f(`${cn}-key.pem`) };
    },
  };
}

test('each refused connection exits non-zero with its own code within 10 s', { timeout: 120_000 }, async (t) => {
  const pw = (name: string, value: string) => {
    const file = join(scratch, name);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return file;
  };
  const wrong = pw('wrong.password', 'not-the-password');
  const other = testCa('other-ca');
  // Hostname mismatch: the broker's certificate names 127.0.0.1 and localhost; 127.0.0.2 reaches
  // the same SASL_SSL listener through a relay.
  const byOtherAddress = await relay(b.saslSsl, { host: '127.0.0.2' });
  t.after(() => byOtherAddress.close());
  // An expired certificate: a TLS endpoint of our own in front of the broker (the local broker's
  // certificate is valid for 825 days), with a certificate of our CA that ended in 2020.
  const expiredCa = testCa('expired-ca');
  const expired = await relay(b.plaintext, { tls: expiredCa.issue('expired', '20200101000000Z', '20200102000000Z') });
  t.after(() => expired.close());
  const cases: Array<{ name: string; code: string; args: string[] }> = [
    { name: 'wrong password', code: 'KAFKA_SASL_AUTH_FAILED', args: ['--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username, '--kafka-password-file', wrong] },
    { name: 'wrong password (PLAIN, SASL_PLAINTEXT)', code: 'KAFKA_SASL_AUTH_FAILED', args: ['--brokers', b.saslPlaintext, '--kafka-sasl', 'plain', '--kafka-username', b.username, '--kafka-password-file', wrong] },
    { name: 'mechanism not enabled', code: 'KAFKA_SASL_MECHANISM', args: ['--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-256', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile] },
    { name: 'SASL towards a listener without SASL', code: 'KAFKA_SASL_MECHANISM', args: ['--brokers', b.plaintext, '--kafka-sasl', 'plain', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile] },
    { name: 'no SASL towards a SASL listener', code: 'KAFKA_SASL_REQUIRED', args: ['--brokers', b.saslPlaintext] },
    { name: 'untrusted CA (the system store)', code: 'KAFKA_TLS_UNTRUSTED', args: ['--brokers', b.saslSsl, '--kafka-tls', '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile] },
    { name: 'untrusted CA (another CA)', code: 'KAFKA_TLS_UNTRUSTED', args: ['--brokers', b.ssl, '--kafka-ca', other.ca, '--kafka-cert', b.clientCert, '--kafka-key', b.clientKey] },
    { name: 'hostname mismatch', code: 'KAFKA_TLS_HOSTNAME_MISMATCH', args: ['--brokers', byOtherAddress.address, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile] },
    { name: 'expired certificate', code: 'KAFKA_TLS_CERT_EXPIRED', args: ['--brokers', expired.address, '--kafka-ca', expiredCa.ca] },
    { name: 'no client certificate for mutual TLS', code: 'KAFKA_TLS_CLIENT_CERT', args: ['--brokers', b.ssl, '--kafka-ca', b.ca] },
    { name: 'TLS to the plaintext port', code: 'KAFKA_TLS_TO_PLAINTEXT', args: ['--brokers', b.plaintext, '--kafka-ca', b.ca] },
    { name: 'TLS to the SASL_PLAINTEXT port', code: 'KAFKA_TLS_TO_PLAINTEXT', args: ['--brokers', b.saslPlaintext, '--kafka-ca', b.ca, '--kafka-sasl', 'plain', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile] },
    { name: 'plaintext to the SSL port', code: 'KAFKA_PLAINTEXT_TO_TLS', args: ['--brokers', b.ssl] },
    { name: 'plaintext to the SASL_SSL port', code: 'KAFKA_PLAINTEXT_TO_TLS', args: ['--brokers', b.saslSsl, '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username, '--kafka-password-file', b.passwordFile] },
  ];
  // Two at a time: each is a process of its own, timed from its spawn.
  const results: Array<{ c: (typeof cases)[number]; r: { code: number | null; ms: number }; stderr: string }> = [];
  const queue = [...cases];
  await Promise.all(
    [0, 1].map(async () => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        const p = bridge(['--log-level', 'warn', ...c.args]);
        const killer = setTimeout(() => p.proc.kill('SIGKILL'), 20_000);
        const r = await p.exited;
        clearTimeout(killer);
        results.push({ c, r, stderr: p.stderr() });
      }
    }),
  );
  const password = readFileSync(b.passwordFile, 'utf8').trim();
  for (const { c, r, stderr } of results) {
    t.diagnostic(`${c.name}: ${c.code} after ${r.ms} ms`);
    assert.equal(r.code, 1, `${c.name}: exit status\n${stderr}`);
    assert.match(stderr, new RegExp(`ws2kafka run: Kafka at \\S+: .*\\[${c.code}\\]`), `${c.name}: the code on the last line\n${stderr}`);
    assert.match(stderr, new RegExp(`"code":"${c.code}"`), `${c.name}: logged with its code`);
    assert.ok(r.ms < 10_000, `${c.name}: exited after ${r.ms} ms`);
    assert.ok(!stderr.includes(password) && !stderr.includes('not-the-password'), `${c.name}: no password in the output`);
  }
  // verify refuses the same way.
  const v = ws2kafka(['verify', '--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username, '--kafka-password-file', wrong, '--expect', '1', '--topics', 'none-such']);
  const vr = await v.exited;
  assert.equal(vr.code, 1, v.stderr());
  assert.match(v.stderr(), /\[KAFKA_SASL_AUTH_FAILED\]/);
  assert.ok(vr.ms < 10_000, `verify exited after ${vr.ms} ms`);
});

async function health(port: number): Promise<{ lastError: { code: string; message: string } | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return (await res.json()) as { lastError: { code: string; message: string } | null };
}

// Last: it restarts the broker.
test('credentials revoked while streaming: events wait in the spool, KAFKA_SASL_AUTH_FAILED in the log and /health, all delivered once restored', { timeout: 420_000 }, async (t) => {
  const user = `revoked-${randomUUID().slice(0, 6)}`;
  const password = `pw-${randomUUID()}`;
  await upsertScramUser(b.host, b.ports.plaintext, user, password);
  const file = join(scratch, `${user}.password`);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  const listener = ['--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-512', '--kafka-username', user, '--kafka-password-file', file];
  const tp = topics();
  const N = 60_000;
  const mock = await startMockServer({ port: 0, rate: 2000, events: N, mix: MIX });
  t.after(() => mock.close());
  const metricsPort = await freePort();
  const run = ws2kafka(['run', '--url', mock.url, '--metrics-port', String(metricsPort), '--metrics-interval', '500ms', '--spool-dir', mkdtempSync(join(scratch, 'spool-')), ...listener, ...tp.flags]);
  t.after(() => {
    run.proc.kill('SIGKILL');
  });
  const produced = () => Number(/Produced: (\d+)/.exec(run.stdout().trim().split('\n').filter((l) => l.startsWith('[Metrics]')).at(-1) ?? '')?.[1] ?? 0);
  const spooled = () => Number(/Spooled: (\d+)/.exec(run.stdout().trim().split('\n').filter((l) => l.startsWith('[Metrics]')).at(-1) ?? '')?.[1] ?? 0);
  await until('the bridge to stream', 30_000, () => produced() > 2000);

  // Revoke: another password for the user, and a broker restart, so that the bridge must log in again.
  await upsertScramUser(b.host, b.ports.plaintext, user, `changed-${randomUUID()}`);
  await b.stop();
  await startSecureBroker({ home: b.home, port: b.ports.plaintext, artifactsHome: ws2kafkaHome() });
  const back = Date.now();
  await until('/health to show KAFKA_SASL_AUTH_FAILED', 10_000, async () => (await health(metricsPort)).lastError?.code === 'KAFKA_SASL_AUTH_FAILED').catch(async (err: Error) => {
    throw new Error(`${err.message}; /health: ${JSON.stringify(await health(metricsPort))}\n${run.stderr().slice(-3000)}`);
  });
  assert.ok(Date.now() - back < 10_000);
  const h = await health(metricsPort);
  assert.match(h.lastError!.message, new RegExp(`SASL authentication failed for user '${user}'`));
  assert.match(run.stderr(), /"code":"KAFKA_SASL_AUTH_FAILED".*Kafka refuses the connection.*Events are kept \(in the spool\)/);
  const stuckAt = produced();
  await until('events to go to the spool', 10_000, () => spooled() > 0);
  await sleep(1500);
  assert.equal(produced(), stuckAt, 'nothing is acknowledged while the credentials are refused');
  assert.equal(run.proc.exitCode, null, 'the bridge keeps running');

  // Restore: everything flows, in order, nothing lost.
  await upsertScramUser(b.host, b.ports.plaintext, user, password);
  await until('the whole timeline sent', 120_000, () => mock.stats().timeline.events >= N);
  await until('everything acknowledged after the credentials came back', 60_000, () => produced() >= N);
  run.proc.kill('SIGTERM');
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  const report = await audit({ brokers: [b.saslSsl], security: await securityOf(listener), topics: [tp.trades, tp.aggregates], routes: tp.routes, mockStats: mock.stats(true) });
  assert.equal(report.lost, 0, JSON.stringify(report.samples));
  assert.equal(report.reordered, 0, JSON.stringify(report.samples));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples));
  assert.equal(report.delivered, N);
  assert.ok(!run.stderr().includes(password) && !run.stdout().includes(password), 'no password in the output');
});
