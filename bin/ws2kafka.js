#!/usr/bin/env -S node --max-semi-space-size=8 --no-allocation-site-pretenuring
// The sources are TypeScript with erasable syntax only: Node >= 22.18 runs them directly,
// so there is no build step to remember. The V8 flags in the first line are those of
// src/cli/node-flags.ts. This shim only checks the Node version first: the
// Kafka client (@platformatic/kafka) needs 22.22+ on the 22 line and 24.6+ on the 24 line.
import module from 'node:module';
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const supported = (major === 22 && minor >= 22) || (major === 24 && minor >= 6) || major >= 25;
if (!supported) {
  process.stderr.write(
    `ws2kafka needs Node.js 22.22+ or 24.6+ (found ${process.versions.node}). ` +
      'Run it through npm (npx ws2kafka, npm start), which uses the Node 24 that npm ci installs, or install Node 22.22+/24.6+.\n',
  );
  process.exit(1);
}
// A stop asked for before a command installs its own handler (loading takes a moment) ends the
// process at once: as a container's PID 1, node would otherwise ignore SIGTERM until then. The
// first handler a command adds for a signal replaces this one.
const stopEarly = (/** @type {NodeJS.Signals} */ signal) => process.exit(signal === 'SIGINT' ? 130 : 143);
process.on('SIGTERM', stopEarly);
process.on('SIGINT', stopEarly);
// Removed on the next tick, once the command's handler is in: removing the last listener first
// would make Node drop its signal handler, and the command's would not get the signal.
process.on('newListener', (/** @type {string | symbol} */ event) => {
  if (event === 'SIGTERM' || event === 'SIGINT') process.nextTick(() => process.removeListener(event, stopEarly));
});
// Node keeps the JavaScript it makes of the TypeScript sources (with V8's bytecode) in a compile
// cache keyed by their content, so every start after the first skips its TypeScript stripper,
// which otherwise stays loaded for the life of the process (measured: an idle process that has
// imported the CLI holds 8 MB of anonymous memory with the cache, 21 MB without; its file-backed
// pages 35 against 43 MB). The cache is <tmpdir>/node-compile-cache unless NODE_COMPILE_CACHE
// names another directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off; an unwritable directory only
// costs that memory.
module.enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// The command is done: a socket a library failed to close must not keep the process alive.
setTimeout(() => process.exit(), 5000).unref();
