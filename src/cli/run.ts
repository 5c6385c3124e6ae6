// `ws2kafka run`: arrives with issue #4.
import { notImplemented } from './not-implemented.ts';

export function run(_argv: string[]): Promise<number> {
  return notImplemented('run', 4);
}
