// Resolves the newest Apache Kafka 4.x broker (org.apache.kafka:kafka_2.13 plus kafka-tools for
// kafka-producer-perf-test) and its runtime classpath from Maven Central into the cache directory.
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ws2kError } from '../errors.ts';
import { requireMaven } from './tools.ts';

const exec = promisify(execFile);
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

/** Asks Maven for the newest 4.x broker and copies its runtime classpath into `home/kafka/<version>/libs`. */
export async function fetchKafka(home: string, log: (line: string) => void): Promise<KafkaArtifacts> {
  await requireMaven();
  const work = join(home, 'kafka', `.resolve-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await writeFile(join(work, 'pom.xml'), pom());
    log(`resolving Apache Kafka ${KAFKA_RANGE} from Maven Central...`);
    try {
      await exec('mvn', ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${join(work, 'libs')}`], {
        cwd: work,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const out = err as { stdout?: string; stderr?: string };
      const detail = `${out.stdout ?? ''}${out.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new Ws2kError('KAFKA_FETCH_FAILED', `Maven could not resolve org.apache.kafka:kafka_2.13:${KAFKA_RANGE}:\n${detail}`, { cause: err });
    }
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
