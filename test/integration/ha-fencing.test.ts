// Issue #14, fencing: the active member of an HA group loses Kafka (its packets to the broker are
// dropped by an iptables rule matching its uid; it runs as `nobody`), while it stays alive and
// connected to the feed. It must stop reading the feed before its session can expire, so that the
// standby made active never streams beside it: measured on the mock's connection log (the overlap of
// the two members' connections, the events sent to both) with the takeover time. Then Kafka comes
// back for it: it rejoins as a standby. Needs root, iptables and setpriv: skipped otherwise.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/cli/node-flags.ts';
import { parseMix } from '../../src/mock/options.ts';
import { startMockServer } from '../../src/mock/server.ts';
import { audit } from '../../src/verify/audit.ts';
import { collectOutput, startBridge, testTopics, type BridgeProcess } from '../helpers/bridge.ts';
import { testBrokers, withAdmin } from '../helpers/kafka.ts';
import { freePort, metric, until } from '../helpers/net.ts';

const cli = fileURLToPath(new URL('../../bin/ws2kafka.js', import.meta.url));
const NOBODY = 65534;

function can(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `run` as uid/gid `nobody` (so that an iptables owner rule can cut it alone from Kafka). */
function startAsNobody(args: string[]): BridgeProcess {
  const proc = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, ...NODE_FLAGS, cli, 'run', '--brokers', testBrokers().join(','), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: tmpdir() } });
  return collectOutput(proc);
}

/**
 * Creates the topics (6 partitions) and waits until every partition has a leader: the test is about
 * takeovers, not about a bridge's first seconds on topics created a moment ago.
 */
async function topicsReady(names: string[]): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: names, partitions: 6, replicas: 1 });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const md = await admin.metadata({ topics: names, forceUpdate: true }).catch(() => undefined);
      if (md !== undefined && names.every((n) => (md.topics.get(n)?.partitions ?? []).length === 6 && md.topics.get(n)!.partitions.every((p) => p.leader >= 0))) return;
      if (Date.now() > deadline) throw new Error(`the topics ${names.join(', ')} have no leaders after 30 s`);
      await sleep(100);
    }
  });
}

async function roleOf(port: number): Promise<string> {
  try {
    return ((await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { ha?: { role: string } }).ha?.role ?? 'none';
  } catch {
    return 'unreachable';
  }
}

test('fencing: the active member cut from Kafka stops reading before its session expires; the standby takes over; no overlap', { timeout: 300_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (an iptables rule, a process as nobody)');
  if (!can('iptables', ['-w', '-L', 'OUTPUT', '-n']) || !can('setpriv', ['--version'])) return t.skip('needs iptables and setpriv');
  const topics = testTopics((fn) => t.after(fn));
  await topicsReady([topics.trades, topics.aggregates, topics.unknown, topics.deadLetter, topics.gaps]);
  const id = randomUUID().slice(0, 8);
  const group = `ha-fence-${id}`;
  const haTopic = `ha-control-${id}`;
  t.after(() => withAdmin(async (admin) => {
    if ((await admin.listTopics()).includes(haTopic)) await admin.deleteTopics({ topics: [haTopic] });
  }));
  const kafkaPort = testBrokers()[0]!.split(':').at(-1)!;
  const rule = ['OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', kafkaPort, '-m', 'owner', '--uid-owner', String(NOBODY), '-m', 'comment', '--comment', `ws2kafka-ha-fencing-${id}`, '-j', 'DROP'];
  let blocked = false;
  const unblock = () => {
    if (!blocked) return;
    execFileSync('iptables', ['-w', '-D', ...rule]);
    blocked = false;
  };
  t.after(unblock);

  const mock = await startMockServer({ port: 0, apiKeys: ['k'], maxConnections: 1, evictOldest: true, rate: 2000, mix: parseMix('mix', 'T=90,AM=10') });
  t.after(() => mock.close());
  const [portA, portB] = [await freePort(), await freePort()];
  const spoolA = await mkdtemp(join(tmpdir(), 'ws2kafka-ha-a-'));
  await chmod(spoolA, 0o777);
  const spoolB = await mkdtemp(join(tmpdir(), 'ws2kafka-ha-b-'));
  const args = (port: number, spool: string) => ['--url', mock.url, '--api-key', 'k', '--ha-group', group, '--ha-topic', haTopic, '--metrics-port', String(port), '--metrics-interval', '1s', '--spool-dir', spool, ...topics.flags];
  const a = startAsNobody(args(portA, spoolA));
  t.after(() => a.proc.kill('SIGKILL'));
  await until('A active', 60_000, async () => (await roleOf(portA)) === 'active' && mock.stats().connections.some((c) => c.events > 0), () => a.stderr().slice(-3000));
  const b = startBridge(args(portB, spoolB));
  t.after(() => b.proc.kill('SIGKILL'));
  await until('B standby', 60_000, async () => (await roleOf(portB)) === 'standby', () => b.stderr().slice(-3000));
  await sleep(3000);

  // Cut A from Kafka: its packets to the broker are dropped; the feed and its probes stay reachable.
  execFileSync('iptables', ['-w', '-I', ...rule]);
  blocked = true;
  const blockedAt = Date.now();
  await until('A fenced', 20_000, async () => (await roleOf(portA)) === 'fenced', () => a.stderr().slice(-3000));
  const fencedSeenAt = Date.now();
  const connA = mock.stats().connections[0]!;
  await until('B streaming', 30_000, () => mock.stats().connections.some((c) => c.id !== connA.id && c.events > 0), () => b.stderr().slice(-3000));
  const streamedAt = Date.now();
  await sleep(3000);

  // Kafka comes back for A: it rejoins as a standby (B was elected after it).
  unblock();
  const unblockedAt = Date.now();
  await until('A standby again', 60_000, async () => (await roleOf(portA)) === 'standby', () => a.stderr().slice(-3000));
  const standbyAt = Date.now();
  assert.equal(await roleOf(portB), 'active');
  // What A read and had not delivered when it was fenced: held, then discarded once B had the role.
  const discarded = await metric(portA, /^ws2kafka_ha_discarded_events_total (\S+)$/m);
  await sleep(3000);
  mock.stopTimeline();
  await sleep(1500);
  b.proc.kill('SIGTERM');
  a.proc.kill('SIGTERM');
  const [aExit, bExit] = await Promise.all([a.exited, b.exited]);
  assert.equal(aExit.code, 0, a.stderr().slice(-3000));
  assert.equal(bExit.code, 0, b.stderr().slice(-3000));

  const stats = mock.stats(true);
  const conns = [...stats.connections].sort((x, y) => x.openedAt - y.openedAt);
  const [first, second] = conns;
  const report = await audit({ brokers: testBrokers(), topics: [topics.trades, topics.aggregates], routes: topics.routes, mockStats: stats, gapTopic: topics.gaps });
  const fenceLine = a.stderr().split('\n').find((l) => l.includes('"code":"HA_FENCED"')) ?? '';
  const fencedAt = fenceLine === '' ? NaN : (JSON.parse(fenceLine) as { time: number }).time;
  t.diagnostic(`cut from Kafka at ${blockedAt}; A fenced (its log) ${fencedAt - blockedAt} ms after the cut (seen by polling after ${fencedSeenAt - blockedAt} ms): ${fenceLine.slice(0, 300)}`);
  t.diagnostic(`A's connection closed ${(first?.closedAt ?? NaN) - blockedAt} ms after the cut (${first?.closeReason}); B's connection opened ${(second?.openedAt ?? NaN) - blockedAt} ms after the cut, streaming seen after ${streamedAt - blockedAt} ms`);
  t.diagnostic(`overlap of the two connections: ${(first?.closedAt ?? NaN) - (second?.openedAt ?? NaN)} ms (negative: nobody connected in between)`);
  t.diagnostic(`Kafka back for A at ${unblockedAt}: standby after ${standbyAt - unblockedAt} ms`);
  t.diagnostic(`A's roles: ${a.stderr().split('\n').filter((l) => l.includes('"msg":"ha: ') && l.includes('→')).map((l) => (JSON.parse(l) as { msg: string }).msg).join(', ')}`);
  t.diagnostic(`connections: ${JSON.stringify(conns.map((c) => ({ id: c.id, openedAt: c.openedAt, closedAt: c.closedAt, events: c.events, firstQ: c.firstQ, lastQ: c.lastQ, closeReason: c.closeReason })))}`);
  t.diagnostic(`A discarded ${discarded} events it had read and not delivered (covered by B's takeover gap)`);
  t.diagnostic(`audit ${JSON.stringify({ expected: report.expected, delivered: report.delivered, lost: report.lost, cut: report.cut, not_sent: report.not_sent, duplicated: report.duplicated, reordered: report.reordered, gaps: report.gaps, reorderedSample: report.samples.reordered.slice(0, 3) })}`);

  assert.equal(conns.length, 2, 'A, then B: no member evicted another, A did not come back');
  assert.match(first!.closeReason ?? '', /client closed \(1000\)/, 'A closed its own connection (fenced), it was not evicted by B');
  assert.ok(first!.closedAt! < second!.openedAt, 'A had stopped reading before B connected');
  assert.ok(fencedAt - blockedAt < 10_000, 'A stopped before its session (10 s) could expire');
  assert.ok((first!.lastQ ?? 0) < (second!.firstQ ?? 0), 'no event was sent to both');
  assert.equal(report.lost, 0, JSON.stringify(report.samples.lost));
  assert.equal(report.duplicated, 0, JSON.stringify(report.samples.duplicated));
  assert.equal(report.reordered, 0, `A stopped producing when fenced: nothing of it lands after B's events ${JSON.stringify(report.samples.reordered.slice(0, 3))}`);
  assert.equal(report.corrupted, 0);
  assert.ok(discarded > 0, 'A had events in hand when Kafka went away (2,000/s, nothing acknowledged for 7 s): discarded, not delivered late');
});
