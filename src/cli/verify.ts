// `ws2kafka verify`: arrives with issue #3.
import { notImplemented } from './not-implemented.ts';

export function run(_argv: string[]): Promise<number> {
  return notImplemented('verify', 3);
}
