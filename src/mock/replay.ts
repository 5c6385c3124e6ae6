// --replay FILE: frames from a file, one per line, sent byte for byte whatever they contain.
import { readFile } from 'node:fs/promises';
import { Ws2kError } from '../errors.ts';
import type { Rng } from './generator.ts';

export interface ReplayFrames {
  frames: Buffer[];
  /** Events per frame: the length of a JSON array of objects, else 0. */
  events: number[];
}

/**
 * Splits the file on \n (a \r before it is dropped too, so CRLF files work); empty lines are
 * skipped. Every other byte of a line is sent as it is.
 */
export async function loadReplay(file: string): Promise<ReplayFrames> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    throw new Ws2kError('REPLAY_FILE_UNREADABLE', `--replay ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const frames: Buffer[] = [];
  const events: number[] = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    let stop = end;
    if (stop > start && data[stop - 1] === 0x0d) stop--;
    if (stop > start) {
      const frame = data.subarray(start, stop);
      frames.push(frame);
      events.push(countEvents(frame));
    }
    start = end + 1;
  }
  if (frames.length === 0) throw new Ws2kError('REPLAY_FILE_UNREADABLE', `--replay ${file}: the file holds no frames (one per line expected)`);
  return { frames, events };
}

function countEvents(frame: Buffer): number {
  try {
    const v: unknown = JSON.parse(frame.toString('utf8'));
    return Array.isArray(v) && v.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e)) ? v.length : 0;
  } catch {
    return 0;
  }
}

/** The order of one pass: 0..n-1, or a random permutation (Fisher–Yates). */
export function passOrder(n: number, randomize: boolean, rng: Rng): Uint32Array<ArrayBuffer> {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!randomize) return order;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i] ?? 0;
    order[i] = order[j] ?? 0;
    order[j] = t;
  }
  return order;
}
