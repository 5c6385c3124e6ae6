// Resolves the newest Apache Kafka 4.x broker (org.apache.kafka:kafka_2.13 plus kafka-tools for
// kafka-producer-perf-test) and its runtime classpath from Maven Central into the cache directory.
// The first time this downloads some 100 files; Maven's own lines are read for a progress line
// (files and MB so far, elapsed time) at most every 2 s.
import { spawn } from 'node:child_process';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Ws2kError } from '../errors.ts';
import { count, logProgress, megabytes, seconds } from '../progress.ts';
import { requireMaven } from './tools.ts';

const KAFKA_RANGE = '[4.0.0,5.0.0)';
const KAFKA_JAR = /^kafka_2\.13-(4\.\d+\.\d+)\.jar$/;

export interface KafkaArtifacts {
  version: string;
  /** A directory of jars; the classpath is `${libDir}/*`. */
  libDir: string;
}

function pom(): string {
  const dep = (artifact: string) =>
    `<dependency><groupId>org.apache.kafka</groupId><artifactId>${artifact}</artifactId><version>${KAFKA_RANGE}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ws2kafka.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>${dep('kafka_2.13')}${dep('kafka-tools')}</dependencies>
</project>
`;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The newest Kafka already fetched into `home`, if any. */
export async function cachedKafka(home: string): Promise<KafkaArtifacts | undefined> {
  let names: string[];
  try {
    names = await readdir(join(home, 'kafka'));
  } catch {
    return undefined;
  }
  const versions = names.flatMap((n) => (/^\d+\.\d+\.\d+$/.test(n) ? [n] : [])).sort(compareVersions);
  const version = versions.at(-1);
  return version === undefined ? undefined : { version, libDir: join(home, 'kafka', version, 'libs') };
}

/** What Maven has done so far, read from its output lines (mvn -B, without -q). */
export class MavenTransfers {
  files = 0;
  bytes = 0;
  copied = 0;
  /** The last lines (for the error message when Maven fails). */
  readonly tail: string[] = [];

  /** One line of Maven's output. */
  add(raw: string): void {
    // -B turns colours off, but Maven 3.8 still prints a reset code (ESC[0m) at the edges.
    const line = raw.replace(ANSI_COLOUR, '');
    if (line.trim() === '' || line.trim() === '[INFO]') return;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    const d = DOWNLOADED.exec(line);
    if (d !== null) {
      this.files++;
      this.bytes += Number(d[1]) * (UNITS[d[2] ?? 'B'] ?? 1);
      return;
    }
    if (COPYING.test(line)) this.copied++;
  }

  /** While Maven works: `37 files, 12.3 MB so far`, or `nothing downloaded yet`. */
  progress(): string {
    return this.files === 0 ? 'nothing downloaded yet' : `${this.#downloaded()} so far`;
  }

  /** When Maven is done: `91 jars copied; 37 files (12.3 MB) downloaded`, or `...; nothing downloaded (...)`. */
  summary(): string {
    const copied = `${count(this.copied)} jar${this.copied === 1 ? '' : 's'} copied`;
    return this.files === 0 ? `${copied}; nothing downloaded (all in the local Maven repository)` : `${copied}; ${this.#downloaded()} downloaded`;
  }

  #downloaded(): string {
    return `${count(this.files)} file${this.files === 1 ? '' : 's'}, ${megabytes(this.bytes)}`;
  }
}

const TAIL_LINES = 25;
/** A colour code: ESC [ ... m. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
/** `[INFO] Downloaded from central: https://.../x.jar (6.6 MB at 2.1 MB/s)` */
const DOWNLOADED = /Downloaded from [^:]+: \S+ \(([\d.]+) (B|kB|KB|MB|GB)\b/;
const COPYING = /\bCopying \S+ to /;
/** Maven prints sizes in SI units. */
const UNITS: Readonly<Record<string, number>> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 };

/** Runs mvn (no -q: its transfer lines are the progress), calling `onLine` after each line it prints. */
async function runMaven(args: string[], cwd: string, transfers: MavenTransfers, onLine: () => void): Promise<void> {
  const child = spawn('mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (stream: NodeJS.ReadableStream) => createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
    transfers.add(line);
    onLine();
  });
  read(child.stdout);
  read(child.stderr);
  const code = await new Promise<number | string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status, signal) => resolve(status ?? signal ?? 'unknown'));
  });
  if (code !== 0) throw new Error(`mvn exited with ${code}`);
}

/**
 * Asks Maven for the newest 4.x broker and copies its runtime classpath into
 * `home/kafka/<version>/libs`. While Maven works, a progress line through `log` at most every
 * `progressEveryMs` (default 2 s): files and MB downloaded so far, and the time.
 */
export async function fetchKafka(home: string, log: (line: string) => void, o: { progressEveryMs?: number } = {}): Promise<KafkaArtifacts> {
  await requireMaven();
  const work = join(home, 'kafka', `.resolve-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await writeFile(join(work, 'pom.xml'), pom());
    log(`resolving Apache Kafka ${KAFKA_RANGE} from Maven Central...`);
    const started = Date.now();
    const transfers = new MavenTransfers();
    const progress = logProgress(log, o.progressEveryMs ?? 2000);
    const text = () => `resolving Apache Kafka from Maven Central: ${transfers.progress()} (${seconds(Date.now() - started)})`;
    // Maven's lines and a timer (Maven is silent while it resolves the version range or a large jar).
    progress.every(text);
    try {
      await runMaven(['-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${join(work, 'libs')}`], work, transfers, () => progress.update(text));
    } catch (err) {
      progress.stop();
      const detail = transfers.tail.slice(-15).join('\n') || (err as Error).message;
      throw new Ws2kError('KAFKA_FETCH_FAILED', `Maven could not resolve org.apache.kafka:kafka_2.13:${KAFKA_RANGE}:\n${detail}`, { cause: err });
    }
    progress.done(`Maven done in ${seconds(Date.now() - started)}: ${transfers.summary()}`);
    const jars = await readdir(join(work, 'libs'));
    const version = jars.map((j) => KAFKA_JAR.exec(j)?.[1]).find((v) => v !== undefined);
    if (version === undefined) {
      throw new Ws2kError('KAFKA_FETCH_FAILED', 'Maven finished but no kafka_2.13 jar was copied');
    }
    const target = join(home, 'kafka', version);
    await rm(target, { recursive: true, force: true });
    await rename(work, target);
    log(`Apache Kafka ${version}: ${jars.length} jars in ${join(target, 'libs')}`);
    return { version, libDir: join(target, 'libs') };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function kafkaArtifacts(home: string, opts: { update: boolean }, log: (line: string) => void): Promise<KafkaArtifacts> {
  if (!opts.update) {
    const cached = await cachedKafka(home);
    if (cached) return cached;
  }
  return fetchKafka(home, log);
}
