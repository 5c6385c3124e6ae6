// `ws2kafka bench`: the end-to-end ladder (flag parsing and output only; the work is src/bench).
import { bench, writeOut } from '../bench/bench.ts';
import type { Child } from '../bench/children.ts';
import { BENCH_DEFAULTS, MAX_BURST, MIN_BURST, benchOptions } from '../bench/options.ts';
import { BENTHOS_VERSION } from '../bench/peers.ts';
import { burstTable } from '../bench/burst-result.ts';
import { table } from '../bench/result.ts';
import { fileValue, kafkaFlagSpec, kafkaHelpRows, kafkaSecurityFrom, kafkaSecurityWarnings } from '../config/kafka-options.ts';
import { readConfigFile } from '../config/run-config.ts';
import { parseFlags } from './args.ts';

const HELP = () => `Usage: ws2kafka bench [options]

Climbs a ladder of offered rates (or, with --burst N, offers one burst). For each rate: fresh topics, \`ws2kafka mock\` in its own process
offering T and AM events (90:10) in frames of --batch events for --duration, \`ws2kafka run\` in its
own process, then verify's audit. Reports per rate: events/s acknowledged by Kafka, lost and
duplicated (audit), receive-to-acknowledgement p50/p99/max (the bridge's own histogram), bridge
CPU seconds per million events, bridge peak RSS, spool use (n/a until issue #5). The sustained
throughput is the highest rate with nothing lost and no backlog growing (docs/benchmarks.md).
Progress goes to stderr; the table (or --json) to stdout.

Options:
  --rates LIST          offered events/s (default ${BENCH_DEFAULTS.rates.join(',')}; 200k and 1m work too)
  --duration DURATION   how long each rate is offered (default ${BENCH_DEFAULTS.durationMs / 1000}s)
  --batch N             events per frame (default ${BENCH_DEFAULTS.batch})
  --config FILE         run's config file (JSON or YAML): its brokers and Kafka connection options
                        are used (flags and the environment win over it)
  --brokers HOST:PORT   Kafka (default 127.0.0.1:9092, started with 'ws2kafka kafka start' if nothing answers)
  --peer "COMMAND"      also measure this pipeline beside 'ws2kafka run': each rate (or the burst)
                        runs for ws2kafka, then for the peer, each on fresh topics, and the summary
                        gives both sustained rates and their ratio. A shell command reads the same
                        mock at ws://127.0.0.1:8081/mock (--mock-port) and writes topics trades and
                        aggregates (deleted and created afresh each time); WEBSOCKET_URL,
                        KAFKA_BROKERS, TRADES_TOPIC, AGGREGATES_TOPIC, BENCH_RATE and SPOOL_DIR (a
                        fresh directory) are set in its environment
  --peer benthos        Benthos ${BENTHOS_VERSION} with bench/peers/benthos/bench.yaml (websocket input,
                        unarchive json_array, kafka_franz idempotent, one batch in flight), built by
                        bench/peers/benthos/build.sh into ~/.cache/ws2kafka (run first when absent)
  --peer-only           measure the --peer instead of 'ws2kafka run' (not beside it)
  --mock-port N         the mock's port for a --peer command (default ${BENCH_DEFAULTS.mockPort})
  --burst N             instead of the ladder: N events (${MIN_BURST.toLocaleString('en')} to ${MAX_BURST.toLocaleString('en')}) offered once at the
                        mock's full speed; reports events not sent, whether the feed dropped the
                        pipeline as a slow reader, peak spool, time to drain, the audit, peak RSS
                        and CPU. Not with --rates, --duration, --ceiling or --link-delay; --drain
                        defaults to ${BENCH_DEFAULTS.burstDrainMs / 1000}s with it; --out writes DIR/burst.json
  --ceiling             also measure the machine's limits on the same records: the mock into a
                        receive-only client, and kafka-producer-perf-test; prints the fraction
  --ceiling-records N   records for kafka-producer-perf-test (default ${BENCH_DEFAULTS.ceilingRecords.toLocaleString('en')})
  --drain DURATION      longest wait after the feed stops for the backlog to reach Kafka (default ${BENCH_DEFAULTS.drainMs / 1000}s)
  --link-delay RTT      reach Kafka through a link that adds RTT (a duration) to every round trip
                        (half each way), as a remote cluster would: bench starts a broker of its
                        own that advertises a delaying TCP relay's address, so every connection
                        the pipeline opens goes through it; bench's own clients and the audit
                        connect directly. E.g. 20ms; 0 measures the relay alone. Not with --brokers
  --inflight N          passed to 'ws2kafka run' (produce requests in flight); run's default when absent
  --json                print one JSON object instead of the table
  --out DIR             also write DIR/bench.json and DIR/bench.svg (acknowledged rate and p99 against offered)

Kafka connection (as for run, passed on to the bridge; the password through the environment):
${kafkaHelpRows(23).join('\n')}
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags('bench', argv, {
    config: { type: 'string' },
    ...kafkaFlagSpec(),
    rates: { type: 'string' },
    duration: { type: 'string' },
    batch: { type: 'string' },
    brokers: { type: 'string' },
    peer: { type: 'string' },
    'mock-port': { type: 'string' },
    ceiling: { type: 'boolean' },
    'ceiling-records': { type: 'string' },
    drain: { type: 'string' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    'link-delay': { type: 'string' },
    inflight: { type: 'string' },
    burst: { type: 'string' },
    'peer-only': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(HELP());
    return 0;
  }
  const file = values.config !== undefined ? await readConfigFile(values.config) : {};
  const o = benchOptions({ ...values, brokers: values.brokers ?? (file['brokers'] !== undefined ? fileValue(file['brokers']) : undefined) });
  const security = await kafkaSecurityFrom({ flags: values, env: process.env, file, configPath: values.config });
  if (security.tls !== undefined || security.sasl !== undefined) {
    o.security = security;
    for (const warning of kafkaSecurityWarnings(security)) process.stderr.write(`ws2kafka bench: WARNING: ${warning}\n`);
  }
  const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const live = new Set<Child>();
  const interrupted = Promise.withResolvers<number>();
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the processes bench started`);
    void Promise.all([...live].map((c) => c.stop(5000))).finally(() => interrupted.resolve(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await Promise.race([bench(o, progress, live), interrupted.promise]);
    if (typeof result === 'number') return result;
    if (o.out !== undefined) for (const f of await writeOut(o.out, result)) progress(`wrote ${f}`);
    process.stdout.write(o.json ? JSON.stringify(result) + '\n' : 'burst' in result ? burstTable(result) : table(result));
    return 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    for (const c of live) await c.stop(5000).catch(() => undefined);
  }
}
