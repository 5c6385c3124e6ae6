// `ws2kafka top` in a real terminal: tmux runs it in a 120x40 pane against a real bridge (the
// mock feed over loopback, the suite's broker); the screen is read with capture-pane. It shows
// rates above zero that change from one refresh to the next, quits on q and on Ctrl-C with
// status 0, and leaves the terminal as it found it (the alternate screen left, the cursor shown,
// the tty modes unchanged).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { startBridge, testTopics, type BridgeProcess } from '../helpers/bridge.ts';
import { ws2kafka } from '../helpers/cli.ts';
import { freePort, metric, metricsText, until } from '../helpers/net.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const tmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
const noTmux = tmux.error !== undefined || tmux.status !== 0 ? `tmux is not installed (${tmux.error?.message ?? tmux.stderr})` : undefined;

let port = 0;
let bridge: BridgeProcess | undefined;
let topicNames: string[] = [];
let closeMock: (() => Promise<void>) | undefined;
/** Run by the file's after hook (an after() called inside before() would run as soon as before ends). */
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  if (noTmux !== undefined) return;
  const topics = testTopics((fn) => cleanups.push(fn));
  topicNames = [topics.trades, topics.aggregates];
  const mock = await startMockServer({ port: 0, rate: 2000 });
  closeMock = () => mock.close();
  port = await freePort();
  bridge = startBridge(['--url', mock.url, '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags]);
  await until('the bridge to produce', 90_000, async () => (await metric(port, /^ws2kafka_events_produced_total (\d+)/m).catch(() => 0)) > 0, () => bridge!.stderr().slice(-2000));
}, { timeout: 120_000 });

after(async () => {
  if (bridge !== undefined) {
    bridge.proc.kill('SIGTERM');
    await bridge.exited;
  }
  await closeMock?.();
  for (const c of cleanups) await c();
});

/** A tmux server of its own (its socket in a temporary directory), a 120x40 pane running sh; killed and removed afterwards. */
function terminal(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'ws2k-top-'));
  const socket = join(dir, 'tmux.sock');
  const run = (...args: string[]) => execFileSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  run('new-session', '-d', '-x', '120', '-y', '40', '-s', 'top', 'sh');
  t.after(() => {
    spawnSync('tmux', ['-S', socket, 'kill-server']);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    screen: () => run('capture-pane', '-p', '-t', 'top'),
    /** tmux's view of the pane: alternate screen on, cursor shown. */
    modes: () => {
      const [alt, cursor] = run('display-message', '-p', '-t', 'top', '#{alternate_on} #{cursor_flag}').trim().split(' ');
      return { alternate: alt === '1', cursorShown: cursor === '1' };
    },
    keys: (...keys: string[]) => run('send-keys', '-t', 'top', ...keys),
    /** Runs `ws2kafka top` in the pane, between two readings of the tty modes and with its exit status echoed. */
    top: (args: string[]) => {
      const script = join(dir, 'top.sh');
      const node = [process.execPath, ...NODE_FLAGS, cli, 'top', ...args].map((a) => `'${a}'`).join(' ');
      writeFileSync(script, `B=$(stty -g)\n${node}\necho EXITED=$?\n[ "$B" = "$(stty -g)" ] && echo TTY=SAME || echo TTY=CHANGED\n`);
      run('send-keys', '-t', 'top', `clear; sh ${script}`, 'Enter');
    },
  };
}

/** The per-second rate and total of a row of the screen ("received   1,234/s   56,789"). */
function figures(screen: string, label: string): { rate: number; total: number } | undefined {
  const m = new RegExp(`^${label.replace(/[()]/g, '\\$&')}\\s+([\\d,.]+)/s\\s+([\\d,]+)`, 'm').exec(screen);
  return m === null ? undefined : { rate: Number(m[1]!.replaceAll(',', '')), total: Number(m[2]!.replaceAll(',', '')) };
}

async function watch(t: { after: (fn: () => void) => void; skip: (m: string) => void }, quitKey: string): Promise<void> {
  if (noTmux !== undefined) return t.skip(noTmux);
  const term = terminal(t);
  term.top(['--url', `http://127.0.0.1:${port}`, '--interval', '1s']);
  let first = '';
  await until('top to show rates above zero', 60_000, () => {
    first = term.screen();
    return (figures(first, 'received')?.rate ?? 0) > 0 && (figures(first, 'produced (acked)')?.rate ?? 0) > 0;
  }, () => first);
  assert.deepEqual(term.modes(), { alternate: true, cursorShown: false });
  assert.match(first, /^ ws2kafka top\s+http:\/\/127\.0\.0\.1:\d+ .*every 1s .*q quit/m);
  assert.match(first, /^feed\s+streaming\s+READY/m);
  assert.match(first, /^ack latency\s+p50 [\d.]+ (µs|ms|s)\s+p99/m);
  assert.match(first, /^buffer\s+[\d,]+ \/ 200,000 events/m);
  // Topic names when the bridge exports per-topic series; otherwise the screen says it has none.
  if (/\{[^}]*topic="/.test(await metricsText(port))) for (const topic of topicNames) assert.ok(first.includes(topic), `${topic} on the screen:\n${first}`);
  else assert.match(first, /exports no per-topic series/);
  for (const line of first.split('\n')) assert.ok(line.length <= 120);

  // The next refreshes: the totals grow and the clock moves.
  const before = figures(first, 'received')!;
  let next = first;
  await until('the figures to change on a refresh', 30_000, () => {
    next = term.screen();
    return (figures(next, 'received')?.total ?? 0) > before.total;
  }, () => next);
  assert.notEqual(/\d\d:\d\d:\d\d/.exec(next)?.[0], /\d\d:\d\d:\d\d/.exec(first)?.[0]);
  assert.ok(figures(next, 'produced (acked)')!.total > figures(first, 'produced (acked)')!.total);

  term.keys(quitKey);
  let final = '';
  await until('top to exit and the shell to print its status', 20_000, () => {
    final = term.screen();
    return /TTY=(SAME|CHANGED)/.test(final);
  }, () => final);
  assert.match(final, /^EXITED=0$/m);
  assert.match(final, /^TTY=SAME$/m, 'raw mode undone: the tty modes are as before');
  assert.doesNotMatch(final, /ws2kafka top|produced \(acked\)/, 'the alternate screen is gone');
  assert.deepEqual(term.modes(), { alternate: false, cursorShown: true });
}

test('top in tmux: rates above zero that change each refresh; q quits with 0 and the terminal is restored', { skip: noTmux, timeout: 120_000 }, (t) => watch(t, 'q'));

test('top in tmux: Ctrl-C quits with 0 and the terminal is restored', { skip: noTmux, timeout: 120_000 }, (t) => watch(t, 'C-c'));

// The mock runs in this process: the CLI is spawned asynchronously so that it keeps sending.
test('top --once on a pipe prints one screen; an unreachable bridge is named and exits 1', { skip: noTmux, timeout: 60_000 }, async () => {
  const once = ws2kafka(['top', '--url', `127.0.0.1:${port}`, '--interval', '500ms']);
  assert.equal((await once.exited).code, 0, once.stderr());
  assert.ok((figures(once.stdout(), 'received')?.rate ?? 0) > 0, once.stdout());
  assert.ok(!once.stdout().includes('\x1b'), 'no escape codes on a pipe');
  const gone = ws2kafka(['top', '--url', `http://127.0.0.1:${await freePort()}`, '--once']);
  assert.equal((await gone.exited).code, 1);
  assert.match(gone.stdout(), /^unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+$/m);
});
