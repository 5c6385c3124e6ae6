// Runs the ws2kafka CLI as its own process, as users do, collecting what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));

export interface CliProcess {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The exit status, and how long after its spawn the process exited. */
  exited: Promise<{ code: number | null; ms: number }>;
}

/** `ws2kafka ...args`, with `env` over this process's environment. */
export function ws2kafka(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const started = Date.now();
  const proc = spawn(process.execPath, [...NODE_FLAGS, cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) => proc.once('exit', (code) => resolve({ code, ms: Date.now() - started })));
  return { proc, stdout: () => out, stderr: () => err, exited };
}
