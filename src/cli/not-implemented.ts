import { Ws2kError } from '../errors.ts';

/** A subcommand whose issue is still open: says so plainly instead of pretending. */
export function notImplemented(command: string, issue: number): Promise<number> {
  return Promise.reject(new Ws2kError('NOT_IMPLEMENTED', `'${command}' is not built yet (issue #${issue})`));
}
