// The container image (issue #13): built from the Dockerfile with podman (runc) on a local
// stand-in of its base image (container/make-base.sh: Debian from the apt mirror, Node 24 from the
// npm registry), then run as a deployment runs it: the feed and Kafka given, probes polled, and
// stopped as `docker stop` stops it (SIGTERM), which must drain to Kafka and exit 0.
// Needs root, podman, runc and debootstrap (.ci/run installs them); skipped otherwise.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { readToEnd } from '../../src/kafka/read.ts';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { lastMetrics, testTopics } from '../helpers/bridge.ts';
import { testBrokers } from '../helpers/kafka.ts';
import { freePort, until } from '../helpers/net.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const IMAGE = 'localhost/ws2kafka:test';
const SPOOL = '/var/lib/ws2kafka/spool';
// runc, not crun; explicit limits, since podman's defaults (nofile 1048576) are above the hard
// limits of hosts like this one and runc refuses them.
const PODMAN = ['--runtime', 'runc'];
const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'];
const exec = promisify(execFile);

/** Why the image cannot be built and run here; undefined when it can. */
function cannotRun(): string | undefined {
  if (process.platform !== 'linux') return 'the container test needs Linux';
  if (process.getuid?.() !== 0) return 'the container test needs root (podman with runc, debootstrap for the base image)';
  const absent = ['podman', 'runc', 'debootstrap'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (absent.length > 0) return `the container test needs ${absent.join(', ')} (apt-get install podman runc debootstrap; .ci/run installs them)`;
  return undefined;
}
const skip = cannotRun();

async function podman(args: string[], timeoutMs = 300_000): Promise<{ out: string; err: string }> {
  const r = await exec('podman', [...PODMAN, ...args], { cwd: root, maxBuffer: 64 << 20, timeout: timeoutMs });
  return { out: r.stdout.trim(), err: r.stderr.trim() };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - started };
}

test('the Dockerfile runs node directly as PID 1 (exec form), with the V8 flags every ws2kafka process uses', () => {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  assert.ok(entrypoint, 'an ENTRYPOINT in exec form');
  assert.deepEqual(JSON.parse(entrypoint), ['node', ...NODE_FLAGS, 'bin/ws2kafka.js', 'run']);
});

test('the image: built on the bookworm-slim Node 24 base, production dependencies only, non-root, the spool a volume, a HEALTHCHECK on /livez', { skip, timeout: 900_000 }, async (t) => {
  const base = await timed(() => exec('bash', ['container/make-base.sh'], { cwd: root, maxBuffer: 16 << 20, timeout: 600_000 }));
  t.diagnostic(`${base.value.stdout.trim().split('\n').at(-1)} (${base.ms} ms)`);
  // --format docker: the OCI format has no HEALTHCHECK. --network host: no bridge network is
  // needed for npm ci. --pull=never: the base is the local one.
  const build = await timed(() => podman(['build', '--format', 'docker', '--pull=never', '--network', 'host', ...ULIMITS, '-t', IMAGE, '.'], 600_000));
  const size = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).out);
  t.diagnostic(`podman build: ${build.ms} ms; ${IMAGE}: ${(size / 1e6).toFixed(0)} MB`);

  type Inspected = {
    Config: { User: string; Entrypoint: string[]; Volumes: Record<string, object>; StopSignal: string; Env: string[]; ExposedPorts: Record<string, object> };
    Healthcheck: { Test: string[] } | undefined;
  };
  const [image] = JSON.parse((await podman(['image', 'inspect', IMAGE])).out) as Inspected[];
  assert.ok(image);
  const config = image.Config;
  assert.equal(config.User, '1000:1000', 'a numeric non-root user (Kubernetes runAsNonRoot can check it)');
  assert.deepEqual(config.Entrypoint, ['node', ...NODE_FLAGS, 'bin/ws2kafka.js', 'run']);
  assert.ok(SPOOL in config.Volumes, JSON.stringify(config.Volumes));
  assert.ok(config.Env.includes(`SPOOL_DIR=${SPOOL}`) && config.Env.includes('METRICS_HOST=0.0.0.0'), config.Env.join(' '));
  assert.ok('9464/tcp' in config.ExposedPorts);
  assert.equal(config.StopSignal, 'SIGTERM');
  assert.equal(image.Healthcheck?.Test[0], 'CMD', JSON.stringify(image.Healthcheck));
  assert.match(image.Healthcheck.Test.join(' '), /\/livez/);

  const id = await podman(['run', '--rm', ...ULIMITS, '--network', 'none', '--entrypoint', 'id', IMAGE]);
  assert.match(id.out, /^uid=1000\(node\) gid=1000\(node\)/);

  // Every production dependency and none of the development ones (the `node` package among them:
  // in the image, node is the base image's).
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const names = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies), 'eslint', 'typescript'];
  const present = JSON.parse(
    (await podman(['run', '--rm', ...ULIMITS, '--network', 'none', '--entrypoint', 'node', IMAGE, '-e', `const fs = require('fs'); console.log(JSON.stringify(${JSON.stringify(names)}.filter((n) => fs.existsSync('node_modules/' + n))))`])).out,
  ) as string[];
  assert.deepEqual(present.filter((n) => !Object.hasOwn(pkg.dependencies, n)), [], 'no development dependency in the image');
  assert.deepEqual(present.filter((n) => Object.hasOwn(pkg.dependencies, n)).sort(), Object.keys(pkg.dependencies).sort());
  const version = await podman(['run', '--rm', ...ULIMITS, '--network', 'none', '--entrypoint', 'node', IMAGE, '--version']);
  assert.match(version.out, /^v24\./);
});

test('the container (read-only root) streams a feed into Kafka; /readyz 200, the HEALTHCHECK healthy; a `docker stop` (SIGTERM) drains and exits 0 with every event received in Kafka', { skip, timeout: 300_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const mock = await startMockServer({ port: 0, rate: 2000, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const port = await freePort();
  const name = `ws2kafka-test-${randomUUID().slice(0, 8)}`;
  // --network host: the feed and the broker listen on this host's loopback. The probes stay on
  // loopback too (--metrics-host 127.0.0.1), on a port given by flag (the HEALTHCHECK reads it from
  // PID 1's command line). --read-only: the spool volume is the only place written.
  // --health-interval disable: no systemd here to time the checks; one is run by hand below.
  const started = Date.now();
  await podman([
    'run', '-d', '--name', name, ...ULIMITS, '--network', 'host', '--read-only', '--health-interval', 'disable',
    IMAGE, '--url', mock.url, '--brokers', testBrokers().join(','), '--metrics-host', '127.0.0.1', `--metrics-port=${port}`, '--metrics-interval', '1s', ...topics.flags,
  ]);
  t.after(async () => {
    await podman(['rm', '-f', '-v', name]).catch(() => undefined);
  });
  const logs = async () => {
    const l = await podman(['logs', name]).catch((e: Error) => ({ out: '', err: e.message }));
    return { stdout: l.out, stderr: l.err };
  };

  let ready = 0;
  await until('/readyz 200 from the container', 90_000, async () => {
    ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
    return ready === 200;
  }).catch(async (err: Error) => assert.fail(`${err.message}\n${(await logs()).stderr.slice(-3000)}`));
  t.diagnostic(`/readyz 200 ${Date.now() - started} ms after podman run`);
  await until('5,000 events sent to the container', 60_000, () => (mock.stats().connections[0]?.events ?? 0) > 5000);
  assert.equal((await fetch(`http://127.0.0.1:${port}/livez`)).status, 200);
  await podman(['healthcheck', 'run', name]); // exits non-zero (and rejects) when unhealthy

  // node is PID 1, with no shell in between: SIGTERM reaches ws2kafka itself.
  const pid1 = (await podman(['exec', name, 'cat', '/proc/1/cmdline'])).out.split('\0');
  const entrypoint = ['node', ...NODE_FLAGS, 'bin/ws2kafka.js', 'run'];
  assert.deepEqual(pid1.slice(0, entrypoint.length), entrypoint);
  // The spool is a volume the non-root user can write.
  type Mount = { Type: string; Source: string; Destination: string };
  const mounts = JSON.parse((await podman(['inspect', '--format', '{{json .Mounts}}', name])).out) as Mount[];
  const spool = mounts.find((m) => m.Destination === SPOOL);
  assert.ok(spool?.Type === 'volume', JSON.stringify(mounts));
  assert.equal(statSync(spool.Source).uid, 1000);

  const stop = await timed(() => podman(['stop', '-t', '30', name], 60_000));
  const state = JSON.parse((await podman(['inspect', '--format', '{{json .State}}', name])).out) as { ExitCode: number; Status: string };
  const { stdout, stderr } = await logs();
  t.diagnostic(`podman stop: ${stop.ms} ms; exit ${state.ExitCode}`);
  assert.equal(state.Status, 'exited');
  assert.equal(state.ExitCode, 0, stderr.slice(-3000));
  assert.match(stderr, /"reason":"received SIGTERM"/);
  const m = lastMetrics(stdout);
  assert.ok(m.received > 5000, stdout.slice(-500));
  assert.equal(m.produced, m.received, 'everything received was acknowledged before exit');

  const qs = new Set<number>();
  await readToEnd({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], onRecord: (r) => qs.add(Number(/"q":(\d+)/.exec(r.value.toString('latin1'))?.[1])) });
  assert.equal(qs.size, m.received, 'every event the container received is in Kafka');
});
