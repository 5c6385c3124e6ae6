// The proxy command line: --help, and bad values as USAGE errors naming the flag (never a key).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { IncomingMessage } from 'node:http';
import { ClientKeys, isLoopbackHost, loopbackLiteral, requestKey } from '../../src/proxy/exposure.ts';
import { PROXY_DEFAULTS, PROXY_LIMITS } from '../../src/proxy/options.ts';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

async function ws2kafka(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return ws2kafkaEnv({}, ...args);
}

async function ws2kafkaEnv(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await exec(process.execPath, [cli, ...args], { env: { ...process.env, ...env } })) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('proxy --help lists the options and the defaults', async () => {
  const r = await ws2kafka('proxy', '--help');
  assert.equal(r.code, 0);
  for (const f of ['--upstream', '--api-key', '--host', '--port', '--path', '--client-keys', '--slow-consumer-bytes', '--auth-timeout', '8082', '/proxy', '--max-clients', 'PROXY_CLIENT_KEYS', 'PROXY_OPEN_WITHOUT_KEYS', 'TOO_MANY_CLIENTS']) assert.ok(r.stdout.includes(f), f);
  assert.match(r.stdout, /--max-clients N .*\(default 100\)/);
});

test('proxy: missing or bad values are USAGE errors (exit 2) naming the flag', async () => {
  const cases: [string[], RegExp][] = [
    [[], /--upstream URL is required/],
    [['--upstream', 'http://x'], /--upstream 'http:\/\/x\/?' is not valid: expected a ws:\/\/ or wss:\/\/ URL/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--port', 'high'], /--port 'high' is not valid/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--path', 'proxy'], /--path 'proxy' is not accepted/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--auth-timeout', 'soon'], /--auth-timeout 'soon' is not valid/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--slow-consumer-bytes', '0'], /--slow-consumer-bytes '0' is not valid/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--client-keys', ' , '], /--client-keys is not accepted/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--max-clients', '0'], /--max-clients '0' is not valid: expected a whole number from 1 to 1000000/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--max-clients', 'lots'], /--max-clients 'lots' is not valid/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--max-clients', '1000001'], /--max-clients '1000001' is not valid/],
    [['--upstream', 'ws://127.0.0.1:1/x', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await ws2kafka('proxy', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\[USAGE\]/);
  }
});

test('proxy: a non-loopback --host without client keys exits 2 with PROXY_OPEN_WITHOUT_KEYS, naming the flags', async () => {
  for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
    const r = await ws2kafkaEnv({ PROXY_CLIENT_KEYS: '' }, 'proxy', '--upstream', 'ws://127.0.0.1:1/x', '--host', host, '--port', '0');
    assert.equal(r.code, 2, `${host}: ${r.stderr}`);
    assert.match(r.stderr, /\[PROXY_OPEN_WITHOUT_KEYS\]/);
    assert.match(r.stderr, /--client-keys K1,K2/);
    assert.match(r.stderr, new RegExp(`--host '${host.replace(/\./g, '\\.')}'`));
    assert.equal(r.stdout, '', 'nothing started');
  }
});

test('proxy: PROXY_CLIENT_KEYS holding no key is a USAGE error that names the variable, not its value', async () => {
  const r = await ws2kafkaEnv({ PROXY_CLIENT_KEYS: ' ,, ' }, 'proxy', '--upstream', 'ws://127.0.0.1:1/x');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /PROXY_CLIENT_KEYS is not accepted: expected comma-separated keys \[USAGE\]/);
});

test('max-clients is a documented limit: default 100, bounds, its error code', () => {
  assert.equal(PROXY_DEFAULTS.maxClients, 100);
  assert.deepEqual([PROXY_LIMITS.maxClients.flag, PROXY_LIMITS.maxClients.default, PROXY_LIMITS.maxClients.min, PROXY_LIMITS.maxClients.code], ['max-clients', 100, 1, 'TOO_MANY_CLIENTS']);
});

test('loopbackLiteral: 127.0.0.0/8, ::1 in any spelling, v4-mapped loopback and localhost are loopback; the rest is not', () => {
  for (const h of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', ' localhost ']) {
    assert.equal(loopbackLiteral(h), true, h);
  }
  for (const h of ['0.0.0.0', '::', '', '  ', '10.0.0.1', '192.168.1.10', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1%eth0', '2001:db8::1']) {
    assert.equal(loopbackLiteral(h), false, h);
  }
  for (const h of ['example.com', 'my-host', '127.1']) assert.equal(loopbackLiteral(h), undefined, `${h}: a name to resolve`);
});

test('isLoopbackHost resolves names: 127.1 (the resolver reads it as 127.0.0.1) is loopback; literals need no lookup', async () => {
  assert.equal(await isLoopbackHost('127.1'), true);
  assert.equal(await isLoopbackHost('localhost'), true);
  assert.equal(await isLoopbackHost('0.0.0.0'), false);
});

test('requestKey: Authorization Bearer first (any case), else ?apiKey; another scheme carries no key', () => {
  const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;
  const u = (q = '') => new URL(`http://127.0.0.1/stats${q}`);
  assert.equal(requestKey(req('Bearer abc'), u()), 'abc');
  assert.equal(requestKey(req('bearer   abc '), u()), 'abc');
  assert.equal(requestKey(req('Bearer abc'), u('?apiKey=zzz')), 'abc', 'the header wins');
  assert.equal(requestKey(req(), u('?apiKey=zzz')), 'zzz');
  assert.equal(requestKey(req('Basic YTpi'), u('?apiKey=zzz')), undefined);
  assert.equal(requestKey(req(), u()), undefined);
});

test('ClientKeys: accepts exactly the configured keys; without keys none is required', () => {
  const keys = new ClientKeys(['one', 'two']);
  assert.equal(keys.required, true);
  assert.ok(keys.accepts('one') && keys.accepts('two'));
  for (const k of [undefined, '', 'on', 'one ', 'ONE', 'three']) assert.equal(keys.accepts(k), false, String(k));
  assert.equal(new ClientKeys([]).required, false);
});
