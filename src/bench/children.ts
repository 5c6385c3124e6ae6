// The processes of a rung: `ws2kafka mock`, `ws2kafka run` or a --peer shell command (and the
// delay link of --link-delay), each in its own process group, with the tail of their output kept
// for error messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { NODE_FLAGS } from '../cli/node-flags.ts';
import { Ws2kError } from '../errors.ts';

const CLI = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const TAIL = 8192;

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #out = '';
  #err = '';
  #waiters: Array<() => void> = [];

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => {
      this.#out = (this.#out + d.toString()).slice(-TAIL);
      for (const w of this.#waiters) w();
    });
    proc.stderr?.on('data', (d: Buffer) => (this.#err = (this.#err + d.toString()).slice(-TAIL)));
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const w of this.#waiters) w();
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    if (this.proc.pid === undefined) throw new Ws2kError('BENCH_FAILED', `${this.name} could not be started`);
    return this.proc.pid;
  }

  stdout(): string {
    return this.#out;
  }

  /** The last 8 KiB of its stderr. */
  stderr(): string {
    return this.#err;
  }

  /** The last lines of its output, for an error message. */
  tail(lines = 12): string {
    return `${this.#out}\n${this.#err}`.trim().split('\n').slice(-lines).join('\n');
  }

  /** Resolves with the match once stdout matches `re`; throws if it exits first or after timeoutMs. */
  async waitFor(re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#out);
      if (m) return m;
      if (this.exit !== undefined) throw new Ws2kError('BENCH_FAILED', `${this.name} exited (${this.exit.code ?? this.exit.signal}) before ${what}:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Ws2kError('BENCH_FAILED', `${this.name}: no ${what} within ${timeoutMs / 1000}s:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 250);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.push(done);
      });
      this.#waiters = [];
    }
  }

  /** SIGTERM to its process group, SIGKILL after graceMs; resolves when it has exited. */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exit !== undefined) return this.exit;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-this.pid, s);
      } catch {
        try {
          this.proc.kill(s);
        } catch {
          // already gone
        }
      }
    };
    signal('SIGTERM');
    const r = await Promise.race([this.exited, sleep(graceMs).then(() => undefined)]);
    if (r !== undefined) return r;
    signal('SIGKILL');
    return this.exited;
  }
}

/** `node bin/ws2kafka.js <args>` in its own process group. */
export function ws2kafka(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return new Child(name, spawn(process.execPath, [...NODE_FLAGS, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } }));
}

/** A Node script of the project (`node <flags> <script> <args>`) in its own process group. */
export function nodeScript(name: string, script: string, args: string[]): Child {
  return new Child(name, spawn(process.execPath, [...NODE_FLAGS, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
}

/** A shell command (--peer) in its own process group. */
export function shell(name: string, command: string, env: NodeJS.ProcessEnv = {}): Child {
  return new Child(name, spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, ...env } }));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Ws2kError('BENCH_FAILED', 'could not find a free port');
  return address.port;
}
