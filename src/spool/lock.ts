// One bridge per spool directory: a lock file holding the owner's pid. A lock left by a process
// that no longer runs (a crash) is taken over.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive as alive } from '../cli/process-alive.ts';
import { Ws2kError } from '../errors.ts';

/** Takes the directory's lock; returns the release function. */
export function lockSpool(dir: string): () => void {
  const file = join(dir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new Ws2kError('SPOOL_LOCKED', `the spool directory ${dir} is in use by process ${owner}; give each bridge its own --spool-dir`);
      }
      rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  throw new Ws2kError('SPOOL_LOCKED', `could not lock the spool directory ${dir}`);
}
