// Flag parsing for every subcommand: node's parseArgs, with errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Ws2kError } from '../errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<T extends Options>(command: string, argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (err) {
    throw new Ws2kError('USAGE', `${command}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}. See 'ws2kafka ${command} --help'`, { cause: err });
  }
}

/** A TCP port from a flag, or a USAGE error naming the flag and what is accepted. */
export function portFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
    throw new Ws2kError('USAGE', `--${flag} '${value}' is not a port: expected a whole number from 1 to 65535`);
  }
  return n;
}
