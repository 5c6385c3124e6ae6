// `ws2kafka bench`: the broker (started when none is given), the ladder of rungs, the ceiling, the
// summary; and the files of --out. The CLI (src/cli/bench.ts) only parses flags and prints.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeKafkaSecurity } from '../config/kafka-options.ts';
import { Ws2kError } from '../errors.ts';
import { startBroker } from '../kafka-local/broker.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { brokerAnswers } from '../kafka-local/probe.ts';
import { measureCeiling, kafkaLibs } from './ceiling.ts';
import type { Child } from './children.ts';
import { startLinkEnvironment, type LinkEnvironment } from './link.ts';
import { ceilingRate, fractionOf, sustainedRate } from './judge.ts';
import type { BenchOptions } from './options.ts';
import { machine, otherHeavyProcesses, processTree } from './proc.ts';
import { BURST_RATE, runBurst } from './burst.ts';
import type { BurstResult, BurstRun } from './burst-result.ts';
import { preparePeer, type PeerSpec } from './peers.ts';
import { ratioOf, type BenchResult, type RungResult } from './result.ts';
import { MIX, runRung } from './rung.ts';
import { renderSvg } from './svg.ts';

const LOCAL_BROKER = '127.0.0.1:9092';

export async function bench(o: BenchOptions, progress: (line: string) => void, live: Set<Child>): Promise<BenchResult | BurstResult> {
  let brokers = o.brokers;
  if (brokers === undefined && o.security !== undefined) {
    throw new Ws2kError('USAGE', 'the Kafka TLS and SASL options need --brokers: the local broker bench starts without it is plaintext on 127.0.0.1:9092');
  }
  const peer = o.peer === undefined ? undefined : await preparePeer(o.peer, progress);
  if (o.linkDelayMs !== undefined) {
    if (brokers !== undefined) throw new Ws2kError('USAGE', '--link-delay cannot be combined with --brokers: bench starts a broker of its own for it');
    const env = await startLinkEnvironment(o.linkDelayMs, progress, live);
    try {
      return await ladder(o, peer, env.direct, progress, live, env);
    } finally {
      await env.stop();
    }
  }
  if (brokers === undefined) {
    brokers = [LOCAL_BROKER];
    if (!(await brokerAnswers(LOCAL_BROKER, 2000))) {
      progress('no --brokers and nothing answers at 127.0.0.1:9092: starting the local broker (ws2kafka kafka start)');
      await startBroker({ home: ws2kafkaHome(), host: '127.0.0.1', port: 9092, controllerPort: 9093, log: progress }, { update: false });
    }
  }
  if (o.burst !== undefined) return bursts(o, o.burst, peer, brokers, progress, live);
  return ladder(o, peer, brokers, progress, live, undefined);
}

/** What watches for other heavy processes sharing the cores (noted in the result). */
function contentionWatch(live: Set<Child>): { note: () => void; seen: Set<string> } {
  const seen = new Set<string>();
  const note = () => {
    const ours = new Set(processTree(process.pid));
    for (const c of live) {
      try {
        for (const p of processTree(c.pid)) ours.add(p);
      } catch {
        // not started
      }
    }
    for (const p of otherHeavyProcesses(ours)) seen.add(p);
  };
  return { note, seen };
}

function ws2kafkaLabel(o: BenchOptions): string {
  return `ws2kafka run${o.inflight !== undefined ? ` --inflight ${o.inflight}` : ''}`;
}

/** --burst N: the burst to ws2kafka run, then (--peer) to the peer. */
async function bursts(o: BenchOptions, events: number, peer: PeerSpec | undefined, brokers: string[], progress: (line: string) => void, live: Set<Child>): Promise<BurstResult> {
  const contention = contentionWatch(live);
  const targets: { peer: PeerSpec | undefined; label: string }[] = [];
  if (!(o.peerOnly && peer !== undefined)) targets.push({ peer: undefined, label: ws2kafkaLabel(o) });
  if (peer !== undefined) targets.push({ peer, label: peer.label });
  const runs: BurstRun[] = [];
  for (const t of targets) {
    progress(`${t.label}: a burst of ${events.toLocaleString('en')} events at the mock's full speed`);
    contention.note();
    runs.push(
      await runBurst({ brokers, inflight: t.peer === undefined ? o.inflight : undefined, security: o.security, peer: t.peer, mockPort: o.mockPort, events, batch: o.batch, drainMs: o.drainMs, progress, live, pipeline: t.label }),
    );
    contention.note();
  }
  const m = machine();
  return {
    burst: runs[0]!,
    peer: runs[1] ?? null,
    settings: { events, batch: o.batch, mix: MIX, brokers, drain_s: o.drainMs / 1000, mock_rate: BURST_RATE, inflight: o.inflight ?? null },
    machine: { ...m, node: process.version, kafka: kafkaLibs()?.version ?? null, date: new Date().toISOString() },
    contention: [...contention.seen],
  };
}

/** The rungs and the ceiling against `brokers` (with --link-delay, the pipeline's Kafka is the link). */
async function ladder(o: BenchOptions, peer: PeerSpec | undefined, brokers: string[], progress: (line: string) => void, live: Set<Child>, env: LinkEnvironment | undefined): Promise<BenchResult> {
  const over =
    `${o.security !== undefined ? ` over ${describeKafkaSecurity(o.security)}` : ''}` +
    `${o.linkDelayMs !== undefined ? `, Kafka through a +${o.linkDelayMs} ms round-trip link` : ''}`;
  const peerOnly = o.peerOnly && peer !== undefined;
  const pipeline = `${peerOnly ? peer.label : ws2kafkaLabel(o)}${over}`;
  const peerPipeline = peer === undefined || peerOnly ? undefined : `${peer.label}${over}`;
  const contention = contentionWatch(live);

  const rung = async (label: string, target: PeerSpec | undefined, offered: number): Promise<RungResult> => {
    progress(`${label}: offering ${offered.toLocaleString('en')} events/s for ${o.durationMs / 1000}s`);
    contention.note();
    const r = await runRung({
      brokers, pipelineBrokers: env?.viaLink, link: env?.link, inflight: target === undefined ? o.inflight : undefined,
      security: o.security, offered, durationMs: o.durationMs, batch: o.batch, drainMs: o.drainMs, peer: target, mockPort: o.mockPort, progress, live,
    });
    contention.note();
    progress(
      `  ${offered.toLocaleString('en')}/s: acknowledged ${r.acked_per_s.toLocaleString('en')}/s, lost ${r.lost}, duplicated ${r.duplicated}, p99 ${r.p99_ms ?? r.e2e_p99_ms ?? 'n/a'} ms: ${r.sustained ? 'sustained' : `not sustained (${r.reasons.join('; ')})`}`,
    );
    return r;
  };

  const rates: RungResult[] = [];
  const peerRates: RungResult[] = [];
  for (const offered of o.rates) {
    rates.push(await rung(pipeline, peerOnly ? peer : undefined, offered));
    // Beside ws2kafka: the same rate for the peer right after, on topics of its own.
    if (peerPipeline !== undefined) peerRates.push(await rung(peerPipeline, peer, offered));
  }
  // With --link-delay the producer ceiling is measured through the link as well.
  const ceiling = o.ceiling ? await measureCeiling(env?.viaLink ?? brokers, o.security, o.batch, o.ceilingRecords, live, progress) : null;
  const sustained = sustainedRate(rates);
  const peerSustained = sustainedRate(peerRates);
  const ceilingEvents = ceiling === null ? null : ceilingRate(ceiling.receive_events_per_s, ceiling.producer_records_per_s);
  const m = machine();
  return {
    sustained_events_per_s: sustained,
    ceiling_events_per_s: ceilingEvents,
    fraction_of_ceiling: fractionOf(sustained, ceilingEvents),
    rates,
    ceiling,
    // The link's counters are filled in when it stops (after this returns, before the result is printed).
    link: env?.result ?? null,
    pipeline,
    peer: peerPipeline === undefined ? null : { pipeline: peerPipeline, sustained_events_per_s: peerSustained, rates: peerRates, ratio: ratioOf(sustained, peerSustained) },
    settings: { duration_s: o.durationMs / 1000, batch: o.batch, mix: MIX, brokers, drain_s: o.drainMs / 1000, link_delay_ms: o.linkDelayMs ?? null, inflight: o.inflight ?? null },
    machine: { ...m, node: process.version, kafka: kafkaLibs()?.version ?? null, date: new Date().toISOString() },
    contention: [...contention.seen],
  };
}

/** Writes bench.json and bench.svg into dir (a burst: burst.json); returns their paths. */
export async function writeOut(dir: string, r: BenchResult | BurstResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  if ('burst' in r) {
    const path = join(dir, 'burst.json');
    await writeFile(path, JSON.stringify(r, null, 2) + '\n');
    return [path];
  }
  const json = join(dir, 'bench.json');
  const svg = join(dir, 'bench.svg');
  await writeFile(json, JSON.stringify(r, null, 2) + '\n');
  await writeFile(svg, renderSvg(r));
  return [json, svg];
}
