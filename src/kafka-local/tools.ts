// The external programs the local broker needs, found and checked with a clear error when absent.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Ws2kError } from '../errors.ts';

const exec = promisify(execFile);
const DOCKER_HINT = 'or run Kafka with Docker instead: docker compose up -d (see docker-compose.yml)';

/** Checks that java is on PATH and is version 17 or newer (Kafka 4 brokers need 17). */
export async function requireJava(): Promise<number> {
  let out: string;
  try {
    const r = await exec('java', ['-version']);
    out = r.stderr + r.stdout;
  } catch {
    throw new Ws2kError('JAVA_MISSING', `java was not found on PATH: the local Kafka broker needs Java 17 or newer (${DOCKER_HINT})`);
  }
  const m = /version "(\d+)(?:\.(\d+))?/.exec(out);
  const major = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : 0;
  if (major < 17) {
    throw new Ws2kError('JAVA_MISSING', `java ${major || '(unknown version)'} found, but the local Kafka broker needs Java 17 or newer (${DOCKER_HINT})`);
  }
  return major;
}

export async function requireMaven(): Promise<void> {
  try {
    await exec('mvn', ['-v']);
  } catch {
    throw new Ws2kError('MAVEN_MISSING', `mvn was not found on PATH: fetching the Kafka broker from Maven Central needs Apache Maven (${DOCKER_HINT})`);
  }
}
