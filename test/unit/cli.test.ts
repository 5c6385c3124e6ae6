import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

async function ws2kafka(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [cli, ...args]);
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('--help lists every subcommand', async () => {
  const r = await ws2kafka('--help');
  assert.equal(r.code, 0);
  for (const c of ['run', 'mock', 'proxy', 'verify', 'bench', 'kafka', 'top']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
});

test('an unknown subcommand is named, with the list, and exits 2', async () => {
  const r = await ws2kafka('frobnicate');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.match(r.stderr, /run, mock, proxy, verify, bench, kafka/);
});

test('a bad flag value names the flag and what is accepted', async () => {
  const r = await ws2kafka('kafka', 'status', '--port', 'abc');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--port 'abc' is not a port: expected a whole number from 1 to 65535/);
});

test('an unknown flag is named', async () => {
  const r = await ws2kafka('kafka', 'status', '--prot', '1');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--prot/);
});

test('kafka without an action lists the actions', async () => {
  const r = await ws2kafka('kafka');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /one of: start, stop, status/);
});

test('the V8 flags agree: the shebang of bin/ws2kafka.js, npm start, the image and src/cli/node-flags.ts', async () => {
  const { readFile } = await import('node:fs/promises');
  const { NODE_FLAGS } = await import('../../src/cli/node-flags.ts');
  const shebang = (await readFile(cli, 'utf8')).split('\n')[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  assert.equal(pkg.scripts.start, `node ${NODE_FLAGS.join(' ')} bin/ws2kafka.js run --demo`);
  const dockerfile = await readFile(new URL('../../Dockerfile', import.meta.url), 'utf8');
  assert.match(dockerfile, new RegExp(`^ENTRYPOINT \\["node", ${NODE_FLAGS.map((f) => `"${f}", `).join('')}"bin/ws2kafka.js", "run"\\]$`, 'm'));
});
