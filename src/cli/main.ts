// The ws2kafka executable: one subcommand per file in this folder, loaded on demand.
import { isWs2kError, Ws2kError } from '../errors.ts';

type CommandModule = { run: (argv: string[]) => Promise<number> };

const commands = {
  run: { summary: 'bridge a WebSocket feed into Kafka', load: () => import('./run.ts') },
  mock: { summary: 'serve a Polygon-compatible mock feed', load: () => import('./mock.ts') },
  proxy: { summary: 'fan one upstream feed out to many local clients', load: () => import('./proxy.ts') },
  verify: { summary: 'audit the topics: lost, duplicated, reordered, corrupted', load: () => import('./verify.ts') },
  bench: { summary: 'measure the whole pipeline on a ladder of rates', load: () => import('./bench.ts') },
  kafka: { summary: 'start, stop or inspect a local Apache Kafka broker', load: () => import('./kafka.ts') },
  top: { summary: 'watch a running bridge: rates, latency, buffer, spool, errors', load: () => import('./top.ts') },
} as const satisfies Record<string, { summary: string; load: () => Promise<CommandModule> }>;

type CommandName = keyof typeof commands;

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commands, name);
}

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: ws2kafka <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'ws2kafka <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  try {
    if (!isCommand(name)) {
      throw new Ws2kError('UNKNOWN_COMMAND', `unknown command '${name}'. Commands: ${Object.keys(commands).join(', ')}`);
    }
    const mod = await commands[name].load();
    return await mod.run(rest);
  } catch (err) {
    if (isWs2kError(err)) {
      process.stderr.write(`ws2kafka: ${err.message} [${err.code}]\n`);
      return err.code === 'USAGE' || err.code === 'UNKNOWN_COMMAND' || err.code === 'MISSING_SETTING' || err.code === 'PROXY_OPEN_WITHOUT_KEYS' ? 2 : 1;
    }
    throw err;
  }
}
