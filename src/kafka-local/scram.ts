// SCRAM-SHA-512 credentials for the local broker's user, without the password on any command line:
// the salted password (RFC 5802 Hi(), PBKDF2-HMAC-SHA-512) is computed here and handed to
// `kafka-storage format --add-scram` at format time, or to the broker with AlterUserScramCredentials
// (what `kafka-configs --alter --add-config SCRAM-SHA-512=[...]` sends) when the log directory was
// formatted before, without it.
import { pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { alterUserScramCredentialsV0, Connection } from '@platformatic/kafka';
import { Ws2kError } from '../errors.ts';

const pbkdf2Async = promisify(pbkdf2);

/** Kafka's minimum for SCRAM-SHA-512 is 4096; this is the value Kafka's tools choose by default too. */
export const SCRAM_ITERATIONS = 8192;
/** AlterUserScramCredentials' mechanism number for SCRAM-SHA-512. */
const SCRAM_SHA_512 = 2;

export interface ScramCredential {
  iterations: number;
  salt: Buffer;
  saltedPassword: Buffer;
}

export async function scramSha512(password: string, iterations = SCRAM_ITERATIONS): Promise<ScramCredential> {
  const salt = randomBytes(32);
  const saltedPassword = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, 64, 'sha512');
  return { iterations, salt, saltedPassword };
}

/** The `--add-scram` argument of kafka-storage format (salt and salted password, base64). */
export function addScramArgument(username: string, c: ScramCredential): string {
  return `SCRAM-SHA-512=[name=${username},iterations=${c.iterations},salt="${c.salt.toString('base64')}",saltedpassword="${c.saltedPassword.toString('base64')}"]`;
}

/** Creates or replaces the user's SCRAM-SHA-512 credential through a listener that needs no authentication. */
export async function upsertScramUser(host: string, port: number, username: string, password: string, timeoutMs = 10_000): Promise<void> {
  const c = await scramSha512(password);
  const connection = new Connection('ws2kafka-local-scram', { connectTimeout: timeoutMs, requestTimeout: timeoutMs });
  try {
    await connection.connect(host, port);
    await alterUserScramCredentialsV0.api.async(connection, [], [
      { name: username, mechanism: SCRAM_SHA_512, iterations: c.iterations, salt: c.salt, saltedPassword: c.saltedPassword },
    ]);
  } catch (err) {
    throw new Ws2kError('KAFKA_START_FAILED', `could not store the SCRAM-SHA-512 credential of '${username}' on ${host}:${port}: ${(err as Error).message}`, { cause: err });
  } finally {
    await connection.close().catch(() => undefined);
  }
}
