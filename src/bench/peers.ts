// The pipelines bench measures: `ws2kafka run`, or a peer (--peer): a shell command, or a short name
// for a peer whose build script and config live in bench/peers/<name>/ (`benthos`).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ws2kError } from '../errors.ts';

export const BENTHOS_VERSION = 'v4.27.0';
const PEERS_DIR = fileURLToPath(new URL('../../bench/peers/', import.meta.url));

export interface PeerSpec {
  /** How the summary names it: `benthos v4.27.0`, or `--peer <command>`. */
  label: string;
  /** The shell command (run with /bin/sh -c, in its own process group). */
  command: string;
  /**
   * true: the rung's fresh topic names are passed in TRADES_TOPIC and AGGREGATES_TOPIC and the mock
   * listens on a free port (WEBSOCKET_URL says which). false (an arbitrary command): the topics are
   * `trades` and `aggregates` (deleted and created afresh) and the mock listens on --mock-port.
   */
  freshTopics: boolean;
}

/** The short names --peer accepts besides a shell command. */
export const NAMED_PEERS = ['benthos'] as const;

/** Where build.sh puts the Benthos binary (WS2KAFKA_CACHE, XDG_CACHE_HOME or ~/.cache, then ws2kafka/). */
export function benthosBinary(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env['WS2KAFKA_CACHE'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'ws2kafka');
  return join(cache, `benthos-${BENTHOS_VERSION}`, 'bin', 'benthos');
}

export const BENTHOS_BUILD = join(PEERS_DIR, 'benthos', 'build.sh');
export const BENTHOS_CONFIG = join(PEERS_DIR, 'benthos', 'bench.yaml');

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A shell command as given (old behaviour), or a named peer's spec without building anything. */
export function peerSpec(peer: string, binary = benthosBinary()): PeerSpec {
  if (peer.trim() === 'benthos') {
    return { label: `benthos ${BENTHOS_VERSION}`, command: `exec ${quote(binary)} -c ${quote(BENTHOS_CONFIG)}`, freshTopics: true };
  }
  return { label: `--peer ${peer}`, command: peer, freshTopics: false };
}

/**
 * The spec of --peer, building a named peer first when its binary is absent (build.sh, which tells
 * what it does on stderr; minutes the first time). A failed build is a BENCH_FAILED error saying how
 * to build it by hand.
 */
export async function preparePeer(peer: string, progress: (line: string) => void): Promise<PeerSpec> {
  if (peer.trim() !== 'benthos') return peerSpec(peer);
  const binary = benthosBinary();
  if (!existsSync(binary)) {
    progress(`--peer benthos: ${binary} is absent: building Benthos ${BENTHOS_VERSION} with ${BENTHOS_BUILD} (needs Go and the Go module proxy; a few minutes the first time)`);
    const child = spawn('bash', [BENTHOS_BUILD], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      for (const line of d.toString().split('\n')) if (line.startsWith('build.sh:')) progress(`  ${line}`);
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(-1));
      child.once('exit', (c) => resolve(c));
    });
    if (code !== 0 || !existsSync(binary)) {
      throw new Ws2kError('BENCH_FAILED', `--peer benthos: building Benthos failed (exit ${code}); run ${BENTHOS_BUILD} by hand and see its output:\n${tail.trim().split('\n').slice(-8).join('\n')}`);
    }
  }
  return peerSpec(peer, binary);
}
