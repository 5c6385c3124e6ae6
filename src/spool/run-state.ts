// What a bridge leaves in its spool directory so that the next run can tell a crash from a stop:
// `run-state.json`, rewritten (atomically, by rename) about once a second while it streams, with
// the connection and the last moment data arrived; a clean stop marks it clean. A run that finds
// it unclean knows the previous one died (SIGKILL, OOM, power) and that the feed's data since
// `last_data_at` was never read: it reports that window as a gap record.
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface RunState {
  pid: number;
  /** The connection data last arrived on ('' before any). */
  connection_id: string;
  /** Wall-clock ms of the last data frame, at most a beat old (0 before any). */
  last_data_at: number;
  clean: boolean;
  updated_at: number;
}

export class RunStateFile {
  readonly file: string;
  /** What the previous run left, if anything readable. */
  readonly previous: RunState | undefined;

  constructor(dir: string) {
    this.file = join(dir, 'run-state.json');
    this.previous = readState(this.file);
  }

  /** The previous run ended without a clean stop after it had read data. */
  crashed(): RunState | undefined {
    const p = this.previous;
    return p !== undefined && !p.clean && p.connection_id !== '' && p.last_data_at > 0 ? p : undefined;
  }

  /** The error of the last write that failed (cleared by one that succeeds). */
  writeError: NodeJS.ErrnoException | undefined;

  /**
   * Records the state; never throws. On a full or failing disk the atomic rename cannot get a new
   * file: the state is then written over the old file in place (it is padded to a fixed length, so
   * this needs no new blocks), and if even that fails the error is kept in `writeError` and the
   * old state stays (a crash then reports a longer gap than it was: more, never less).
   */
  write(connectionId: string, lastDataAt: number, clean: boolean): boolean {
    const state: RunState = { pid: process.pid, connection_id: connectionId, last_data_at: lastDataAt, clean, updated_at: Date.now() };
    const text = (JSON.stringify(state) + '\n').padEnd(STATE_BYTES, ' ');
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, this.file);
      this.writeError = undefined;
      return true;
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
        // The rename could not be done: rewrite the old file in place.
        const fd = openSync(this.file, 'r+');
        try {
          writeSync(fd, text, 0);
        } finally {
          closeSync(fd);
        }
        this.writeError = undefined;
        return true;
      } catch {
        this.writeError = err as NodeJS.ErrnoException;
        return false;
      }
    }
  }
}

/** The state file's fixed length (JSON padded with spaces): an in-place rewrite needs no new blocks. */
const STATE_BYTES = 256;

function readState(file: string): RunState | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunState>;
    if (typeof s.connection_id !== 'string' || typeof s.last_data_at !== 'number' || typeof s.clean !== 'boolean') return undefined;
    return { pid: Number(s.pid) || 0, connection_id: s.connection_id, last_data_at: s.last_data_at, clean: s.clean, updated_at: Number(s.updated_at) || 0 };
  } catch {
    return undefined;
  }
}
