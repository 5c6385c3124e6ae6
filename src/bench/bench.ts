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
import type { BenchResult, RungResult } from './result.ts';
import { MIX, runRung } from './rung.ts';
import { renderSvg } from './svg.ts';

const LOCAL_BROKER = '127.0.0.1:9092';

export async function bench(o: BenchOptions, progress: (line: string) => void, live: Set<Child>): Promise<BenchResult> {
  let brokers = o.brokers;
  if (brokers === undefined && o.security !== undefined) {
    throw new Ws2kError('USAGE', 'the Kafka TLS and SASL options need --brokers: the local broker bench starts without it is plaintext on 127.0.0.1:9092');
  }
  if (o.linkDelayMs !== undefined) {
    if (brokers !== undefined) throw new Ws2kError('USAGE', '--link-delay cannot be combined with --brokers: bench starts a broker of its own for it');
    const env = await startLinkEnvironment(o.linkDelayMs, progress, live);
    try {
      return await ladder(o, env.direct, progress, live, env);
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
  return ladder(o, brokers, progress, live, undefined);
}

/** The rungs and the ceiling against `brokers` (with --link-delay, the pipeline's Kafka is the link). */
async function ladder(o: BenchOptions, brokers: string[], progress: (line: string) => void, live: Set<Child>, env: LinkEnvironment | undefined): Promise<BenchResult> {
  const pipeline =
    `${o.peer === undefined ? `ws2kafka run${o.inflight !== undefined ? ` --inflight ${o.inflight}` : ''}` : `--peer ${o.peer}`}` +
    `${o.security !== undefined ? ` over ${describeKafkaSecurity(o.security)}` : ''}` +
    `${o.linkDelayMs !== undefined ? `, Kafka through a +${o.linkDelayMs} ms round-trip link` : ''}`;
  const contention = new Set<string>();
  const noteContention = () => {
    const ours = new Set(processTree(process.pid));
    for (const c of live) {
      try {
        for (const p of processTree(c.pid)) ours.add(p);
      } catch {
        // not started
      }
    }
    for (const p of otherHeavyProcesses(ours)) contention.add(p);
  };

  const rates: RungResult[] = [];
  for (const offered of o.rates) {
    progress(`${pipeline}: offering ${offered.toLocaleString('en')} events/s for ${o.durationMs / 1000}s`);
    noteContention();
    const r = await runRung({
      brokers, pipelineBrokers: env?.viaLink, link: env?.link, inflight: o.inflight,
      security: o.security, offered, durationMs: o.durationMs, batch: o.batch, drainMs: o.drainMs, peer: o.peer, mockPort: o.mockPort, progress, live,
    });
    noteContention();
    progress(
      `  ${offered.toLocaleString('en')}/s: acknowledged ${r.acked_per_s.toLocaleString('en')}/s, lost ${r.lost}, duplicated ${r.duplicated}, p99 ${r.p99_ms ?? r.e2e_p99_ms ?? 'n/a'} ms: ${r.sustained ? 'sustained' : `not sustained (${r.reasons.join('; ')})`}`,
    );
    rates.push(r);
  }
  // With --link-delay the producer ceiling is measured through the link as well.
  const ceiling = o.ceiling ? await measureCeiling(env?.viaLink ?? brokers, o.security, o.batch, o.ceilingRecords, live, progress) : null;
  const sustained = sustainedRate(rates);
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
    settings: { duration_s: o.durationMs / 1000, batch: o.batch, mix: MIX, brokers, drain_s: o.drainMs / 1000, link_delay_ms: o.linkDelayMs ?? null, inflight: o.inflight ?? null },
    machine: { ...m, node: process.version, kafka: kafkaLibs()?.version ?? null, date: new Date().toISOString() },
    contention: [...contention],
  };
}

/** Writes bench.json and bench.svg into dir; returns their paths. */
export async function writeOut(dir: string, r: BenchResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'bench.json');
  const svg = join(dir, 'bench.svg');
  await writeFile(json, JSON.stringify(r, null, 2) + '\n');
  await writeFile(svg, renderSvg(r));
  return [json, svg];
}
