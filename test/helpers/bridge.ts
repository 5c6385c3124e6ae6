// Runs `ws2kafka run` as its own process, as users do, with topics no other test uses.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { testBrokers } from './kafka.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

export interface TestTopics {
  trades: string;
  aggregates: string;
  unknown: string;
  deadLetter: string;
  gaps: string;
  /** ev → topic for `audit`. */
  routes: Record<string, string>;
  /** The run flags that select these topics. */
  flags: string[];
}

/** Fresh topic names for one test; deleted by `after`. */
export function testTopics(after: (fn: () => Promise<void>) => void): TestTopics {
  const id = randomUUID().slice(0, 8);
  const t = { trades: `trades-${id}`, aggregates: `aggregates-${id}`, unknown: `unknown-${id}`, deadLetter: `dead-${id}`, gaps: `gaps-${id}` };
  after(async () => {
    const admin = new Admin({ clientId: 'ws2kafka-test', bootstrapBrokers: testBrokers() });
    try {
      const existing = new Set(await admin.listTopics());
      const mine = Object.values(t).filter((x) => existing.has(x));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    } finally {
      await admin.close();
    }
  });
  return {
    ...t,
    routes: { T: t.trades, A: t.aggregates, AM: t.aggregates },
    flags: ['--topics', `T=${t.trades},A=${t.aggregates},AM=${t.aggregates}`, '--unknown-topic', t.unknown, '--dead-letter-topic', t.deadLetter, '--gap-topic', t.gaps],
  };
}

export interface BridgeProcess {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `run` with the suite's broker, no metrics port, and a spool directory of its own. */
export function startBridge(args: string[], env: NodeJS.ProcessEnv = {}): BridgeProcess {
  const spool = args.includes('--spool-dir') ? [] : ['--spool-dir', mkdtempSync(join(tmpdir(), 'ws2kafka-spool-'))];
  const proc = spawn(process.execPath, [...NODE_FLAGS, cli, 'run', '--brokers', testBrokers().join(','), '--metrics-port', '0', ...spool, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collectOutput(proc);
}

/** What a spawned process prints, collected, and its exit. */
export function collectOutput(proc: ChildProcess): BridgeProcess {
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** The numbers of the last metrics line the bridge printed. */
export function lastMetrics(stdout: string): { received: number; produced: number; dropped: number; rejected: number; reconnects: number } {
  const lines = stdout.trim().split('\n').filter((l) => l.startsWith('[Metrics]'));
  const line = lines.at(-1) ?? '';
  const num = (re: RegExp) => Number(re.exec(line)?.[1] ?? NaN);
  return {
    received: num(/Received: (\d+) events/),
    produced: num(/Produced: (\d+)/),
    dropped: num(/Dropped: (\d+)/),
    rejected: num(/Rejected: (\d+)/),
    reconnects: num(/Reconnects: (\d+)/),
  };
}

/** One figure (`Spooled`, `Replayed`, `Dropped`, `Oldest`...) of the last metrics line; NaN when absent. */
export function metricOf(stdout: string, name: string): number {
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('[Metrics]')).at(-1) ?? '';
  return Number(new RegExp(`${name}: (\\d+)`).exec(line)?.[1] ?? NaN);
}

/** Resolves when `check()` holds, polling; rejects after timeoutMs with `what`. */
export async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
