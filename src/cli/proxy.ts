// `ws2kafka proxy`: arrives with issue #3.
import { notImplemented } from './not-implemented.ts';

export function run(_argv: string[]): Promise<number> {
  return notImplemented('proxy', 3);
}
