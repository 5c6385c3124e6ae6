// The proxy command line: --help, and bad values as USAGE errors naming the flag (never a key).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

async function ws2kafka(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await exec(process.execPath, [cli, ...args])) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('proxy --help lists the options and the defaults', async () => {
  const r = await ws2kafka('proxy', '--help');
  assert.equal(r.code, 0);
  for (const f of ['--upstream', '--api-key', '--host', '--port', '--path', '--client-keys', '--slow-consumer-bytes', '--auth-timeout', '8082', '/proxy']) assert.ok(r.stdout.includes(f), f);
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
    [['--upstream', 'ws://127.0.0.1:1/x', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await ws2kafka('proxy', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\[USAGE\]/);
  }
});
