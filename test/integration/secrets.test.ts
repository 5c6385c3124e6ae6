// Secrets never appear: the bridge runs with a Kafka password (on its command line, the worst
// case), an API key (from --api-key-file, and on the command line) and an OAUTHBEARER token file,
// against the secured local broker (its own home and spare ports) and a wss:// feed signed by a
// private CA (--ca). Everything it prints (stdout with the start-up line, stderr at debug level),
// /metrics and /health while it streams, `run --help` and verify's output are searched for each
// secret; none may appear. Failures too: a wrong password, a rejected API key, a mechanism the
// listener lacks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { ws2kafka } from '../helpers/cli.ts';
import { freePort, relay } from '../helpers/net.ts';
import { startSecureTestBroker, type SecureTestBroker } from '../helpers/secure-broker.ts';

const scratch = mkdtempSync(join(tmpdir(), 'ws2kafka-secrets-test-'));
let b: SecureTestBroker;

before(async () => {
  b = await startSecureTestBroker(29592);
});
after(async () => {
  await b?.destroy();
});

/** A private CA and a server certificate for 127.0.0.1 it signs (openssl, as the local broker's). */
function privateCa(): { ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(scratch, 'feed-ca-'));
  const f = (x: string) => join(dir, x);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=feed-ca');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('feed-key.pem'), '-out', f('feed.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', f('feed.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-out', f('feed.pem'), '-days', '2', '-extfile', f('ext'));
  return { ca: f('ca.pem'), cert: f('feed.pem'), key: f('feed-key.pem') };
}

/** wss:// in front of a ws:// feed: TLS ends here, bytes go on to the feed unchanged. */
async function wssFront(wsUrl: string, tls: { cert: string; key: string }): Promise<{ url: string; close: () => void }> {
  const target = new URL(wsUrl);
  const front = await relay(target.host, { tls });
  return { url: `wss://${front.address}${target.pathname}`, close: front.close };
}

async function get(url: string): Promise<string> {
  try {
    return await (await fetch(url)).text();
  } catch {
    return '';
  }
}

test('no secret appears in stdout, stderr, /metrics, /health, --help or the start-up line', { timeout: 180_000 }, async (t) => {
  const PASSWORD = b.password;
  const WRONG_PASSWORD = `wrong-${randomUUID()}`;
  const API_KEY = `apikey-${randomUUID()}`;
  const OTHER_KEY = `otherkey-${randomUUID()}`;
  const TOKEN = `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ sub: 'ws2kafka', jti: randomUUID() })).toString('base64url')}.`;
  const secrets = { PASSWORD, WRONG_PASSWORD, API_KEY, OTHER_KEY, TOKEN };
  const apiKeyFile = join(scratch, 'api-key');
  writeFileSync(apiKeyFile, `${API_KEY}\n`, { mode: 0o600 });
  const tokenFile = join(scratch, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

  const N = 20_000;
  const mock = await startMockServer({ port: 0, rate: 4000, events: N, mix: parseMix('mix', 'T=90,AM=10'), apiKeys: [API_KEY] });
  t.after(() => mock.close());
  const ca = privateCa();
  const feed = await wssFront(mock.url, ca);
  t.after(() => feed.close());
  const id = randomUUID().slice(0, 8);
  const topics = ['--topics', `T=s-trades-${id},A=s-aggregates-${id},AM=s-aggregates-${id}`, '--unknown-topic', `s-unknown-${id}`, '--dead-letter-topic', `s-dead-${id}`, '--gap-topic', `s-gaps-${id}`];
  const kafka = ['--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'scram-sha-512', '--kafka-username', b.username];
  const seen: Array<[string, string]> = [];

  // 1. Streams: wss with --ca, the API key from its file, the password on the command line.
  const metricsPort = await freePort();
  const run = ws2kafka([
    'run', '--url', feed.url, '--ca', ca.ca, '--api-key-file', apiKeyFile, ...kafka, '--kafka-password', PASSWORD, ...topics,
    '--metrics-port', String(metricsPort), '--metrics-interval', '500ms', '--log-level', 'debug', '--max-events', String(N), '--spool-dir', mkdtempSync(join(scratch, 'spool-')),
  ]);
  t.after(() => {
    run.proc.kill('SIGKILL');
  });
  while (run.proc.exitCode === null) {
    seen.push(['/metrics', await get(`http://127.0.0.1:${metricsPort}/metrics`)], ['/health', await get(`http://127.0.0.1:${metricsPort}/health`)]);
    await sleep(300);
  }
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  assert.ok(seen.some(([w, text]) => w === '/metrics' && text.includes('ws2kafka_events_received_total')), 'the metrics were read while it ran');
  assert.ok(seen.some(([w, text]) => w === '/health' && text.includes('lastError')), 'the health was read while it ran');
  const startup = run.stdout().split('\n').find((l) => l.startsWith('ws2kafka: '))!;
  assert.match(startup, new RegExp(`^ws2kafka: wss://127\\.0\\.0\\.1:\\d+/mock → Kafka ${b.saslSsl.replace(/\./g, '\\.')} over SASL_SSL \\(SCRAM-SHA-512 as ${b.username}, CA .*ca\\.pem\\)`));
  assert.ok((mock.stats().connections[0]?.events ?? 0) > 0, 'the feed took the API key from its file, over wss:// with the private CA');
  seen.push(['start-up line', startup], ['stdout', run.stdout()], ['stderr', run.stderr()]);

  // 2. The API key on the command line and the password in the environment; the feed rejects the key.
  const rejected = ws2kafka(['run', '--url', feed.url, '--ca', ca.ca, '--api-key', OTHER_KEY, ...kafka, ...topics, '--metrics-port', '0', '--log-level', 'debug', '--spool-dir', mkdtempSync(join(scratch, 'spool-'))], { KAFKA_PASSWORD: PASSWORD });
  const killer = setTimeout(() => rejected.proc.kill('SIGKILL'), 30_000);
  const { code: rejectedCode } = await rejected.exited;
  clearTimeout(killer);
  assert.equal(rejectedCode, 1, rejected.stderr());
  assert.match(rejected.stderr(), /AUTH_FAILED|auth/i);
  seen.push(['rejected key: stdout', rejected.stdout()], ['rejected key: stderr', rejected.stderr()]);

  // 3. A wrong password on the command line: KAFKA_SASL_AUTH_FAILED, and the password nowhere.
  const wrong = ws2kafka(['run', '--demo', ...kafka, '--kafka-password', WRONG_PASSWORD, '--metrics-port', '0', '--log-level', 'debug', '--spool-dir', mkdtempSync(join(scratch, 'spool-'))]);
  assert.equal((await wrong.exited).code, 1);
  assert.match(wrong.stderr(), /\[KAFKA_SASL_AUTH_FAILED\]/);
  seen.push(['wrong password: stdout', wrong.stdout()], ['wrong password: stderr', wrong.stderr()]);

  // 4. The token file, towards a listener without OAUTHBEARER (the local broker enables SCRAM and
  //    PLAIN only): read at start for its check, never shown.
  const token = ws2kafka(['run', '--demo', '--brokers', b.saslSsl, '--kafka-ca', b.ca, '--kafka-sasl', 'oauthbearer', '--kafka-oauth-token-file', tokenFile, '--metrics-port', '0', '--log-level', 'debug', '--spool-dir', mkdtempSync(join(scratch, 'spool-'))]);
  assert.equal((await token.exited).code, 1);
  assert.match(token.stderr(), /\[KAFKA_SASL_MECHANISM\]/);
  seen.push(['token: stdout', token.stdout()], ['token: stderr', token.stderr()]);

  // 5. --help with every secret in the environment and on the command line.
  for (const args of [['run', '--help'], ['run', '--kafka-password', PASSWORD, '--api-key', API_KEY, '--help'], ['verify', '--help'], ['bench', '--help']]) {
    const help = ws2kafka(args, { KAFKA_PASSWORD: PASSWORD, POLYGON_API_KEY: API_KEY, KAFKA_OAUTH_TOKEN_FILE: tokenFile });
    assert.equal((await help.exited).code, 0);
    assert.match(help.stdout(), /--kafka-password PASSWORD/);
    seen.push([`${args.join(' ')}: stdout`, help.stdout()], [`${args.join(' ')}: stderr`, help.stderr()]);
  }

  // 6. verify over SASL_SSL with the password on its command line.
  const verify = ws2kafka(['verify', ...kafka, '--kafka-password', PASSWORD, '--topics', `s-trades-${id},s-aggregates-${id}`, '--routes', `T=s-trades-${id},A=s-aggregates-${id},AM=s-aggregates-${id}`, '--mock-stats', mock.statsUrl]);
  assert.equal((await verify.exited).code, 0, verify.stderr());
  seen.push(['verify: stdout', verify.stdout()], ['verify: stderr', verify.stderr()]);

  const leaks: string[] = [];
  for (const [where, text] of seen) {
    for (const [name, secret] of Object.entries(secrets)) if (text.includes(secret)) leaks.push(`${name} in ${where}`);
  }
  assert.deepEqual(leaks, []);
  assert.ok(seen.length > 20);
});
