// Where ws2kafka keeps what it downloads and the local broker's state: outside the repository,
// so a fresh clone reuses the Kafka artifacts fetched before.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function ws2kafkaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env['WS2KAFKA_HOME']) return env['WS2KAFKA_HOME'];
  const cache = env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(cache, 'ws2kafka');
}
