// `ws2kafka bench`: arrives with issue #6.
import { notImplemented } from './not-implemented.ts';

export function run(_argv: string[]): Promise<number> {
  return notImplemented('bench', 6);
}
