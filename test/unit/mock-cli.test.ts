// The mock and verify command lines: bad values name the flag, the value and what is accepted.
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

test('mock --help lists the options', async () => {
  const r = await ws2kafka('mock', '--help');
  assert.equal(r.code, 0);
  for (const f of ['--rate', '--batch', '--mix', '--replay', '--disconnect-every', '--malformed-ratio', '--slow-consumer-bytes', '--api-keys', '--max-connections']) assert.ok(r.stdout.includes(f), f);
});

test('mock: bad values are USAGE errors naming flag, value and what is accepted', async () => {
  const cases: [string[], RegExp][] = [
    [['--rate', 'fast'], /--rate 'fast' is not accepted: expected a whole number from 1 to 10,000,000/],
    [['--mix', 'T=1,W=2'], /--mix 'T=1,W=2' is not accepted/],
    [['--auth-timeout', 'soon'], /--auth-timeout 'soon' is not accepted: expected a duration/],
    [['--malformed-ratio', '1.5'], /--malformed-ratio '1.5' is not accepted: expected a number from 0 to 1/],
    [['--port', '70000'], /--port '70000' is not accepted/],
    [['--loop'], /--loop is accepted only with --replay FILE/],
  ];
  for (const [args, message] of cases) {
    const r = await ws2kafka('mock', ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
    assert.match(r.stderr, /\[USAGE\]/);
  }
});

test('verify needs --mock-stats or --expect, and checks its values', async () => {
  let r = await ws2kafka('verify');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exactly one of --mock-stats URL .* or --expect N/);
  r = await ws2kafka('verify', '--expect', 'many');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--expect 'many' is not accepted/);
  r = await ws2kafka('verify', '--mock-stats', 'not a url');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--mock-stats 'not a url' is not accepted: expected a URL/);
  r = await ws2kafka('verify', '--expect', '1', '--routes', 'T');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--routes 'T' is not accepted: expected EV=TOPIC pairs/);
});
