// `ws2kafka verify`: audits what reached Kafka against what the mock sent (src/verify/audit.ts).
import { fileValue, kafkaFlagSpec, kafkaHelpRows, kafkaSecurityFrom, kafkaSecurityWarnings } from '../config/kafka-options.ts';
import { readConfigFile } from '../config/run-config.ts';
import { Ws2kError } from '../errors.ts';
import { parseDuration, parseInteger } from '../mock/options.ts';
import { stderrProgress } from '../progress.ts';
import { audit, type AuditOptions, type AuditReport } from '../verify/audit.ts';
import { DEFAULT_ROUTES, parseRoutes } from '../verify/events.ts';
import { parseFlags } from './args.ts';

const HELP = () => `Usage: ws2kafka verify (--mock-stats URL | --expect N) [options]

Reads every record of the topics and reports: records per topic; lost (sent by the mock but
absent); duplicated (a q seen twice); reordered (q not increasing for a key within a partition);
corrupted (a value that is not a valid event of an ev routed to that topic, or a key that is not
its symbol); latency_ms from each event's t to its record's timestamp (p50, p99, max); not_sent
(timeline events the bridge subscribed to but no connection was sent: it was disconnected).
With --gap-topic, also gaps (the bridge's gap records: records, unreadable, covered_connections)
and cut: events missing after the last one of a mock connection that reached Kafka, when that
connection closed inside a recorded gap (from - 1 s to to + 1 s); they are not counted as lost.
Exits 0 only when lost, duplicated, reordered and corrupted are all 0 (1 otherwise).

Options:
  --config FILE             run's config file (JSON or YAML): its brokers and Kafka connection
                            options are used (flags and the environment win over it)
  --brokers HOST:PORT,...   default 127.0.0.1:9092
  --topics T1,T2            default trades,aggregates
  --routes EV=TOPIC,...     which ev belongs in which topic (default ${Object.entries(DEFAULT_ROUTES).map(([e, t]) => `${e}=${t}`).join(',')})
  --mock-stats URL          the mock's stats, e.g. http://127.0.0.1:8081/stats (what was sent, per connection)
  --expect N                instead: N distinct events expected (lost = N - distinct q found)
  --gap-topic TOPIC         the bridge's gap topic (run's --gap-topic, default there ws2kafka-gaps):
                            count a connection's tail cut off inside a recorded gap as cut, not lost
  --settle DURATION         first wait until the topics have not grown for this long (default: no wait)
  --timeout DURATION        give up settling or reading after this long (default 5m)
  --json                    print one JSON object instead of text (stdout only: progress stays on stderr)
  --quiet                   no progress on stderr (by default: what it is doing, and while reading,
                            records read per topic against the end offsets and the rate, every 2 s,
                            on a terminal one line rewritten every second; then a final line)

Kafka connection (as for run; see docs/configuration.md):
${kafkaHelpRows(27).join('\n')}
`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags('verify', argv, {
    config: { type: 'string' },
    ...kafkaFlagSpec(),
    brokers: { type: 'string' },
    topics: { type: 'string', default: 'trades,aggregates' },
    routes: { type: 'string' },
    'mock-stats': { type: 'string' },
    expect: { type: 'string' },
    'gap-topic': { type: 'string' },
    settle: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  });
  if (v.help) {
    process.stdout.write(HELP());
    return 0;
  }
  const list = (flag: string, text: string) => {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (items.length === 0) throw new Ws2kError('USAGE', `--${flag} '${text}' is not accepted: expected a comma-separated list`);
    return items;
  };
  const file = v.config !== undefined ? await readConfigFile(v.config) : {};
  const brokers = v.brokers ?? (file['brokers'] !== undefined ? fileValue(file['brokers']) : '127.0.0.1:9092');
  const security = await kafkaSecurityFrom({ flags: v, env: process.env, file, configPath: v.config });
  for (const warning of kafkaSecurityWarnings(security)) process.stderr.write(`ws2kafka verify: WARNING: ${warning}\n`);
  const o: AuditOptions = { brokers: list('brokers', brokers), topics: list('topics', v.topics), security };
  if (v.routes !== undefined) {
    const routes = parseRoutes(v.routes);
    if (routes === undefined) throw new Ws2kError('USAGE', `--routes '${v.routes}' is not accepted: expected EV=TOPIC pairs, e.g. T=trades,A=aggregates,AM=aggregates`);
    o.routes = routes;
  }
  if ((v['mock-stats'] === undefined) === (v.expect === undefined)) {
    throw new Ws2kError('USAGE', 'verify: give exactly one of --mock-stats URL (the mock\'s /stats) or --expect N');
  }
  if (v['mock-stats'] !== undefined) {
    try {
      new URL(v['mock-stats']);
    } catch {
      throw new Ws2kError('USAGE', `--mock-stats '${v['mock-stats']}' is not accepted: expected a URL such as http://127.0.0.1:8081/stats`);
    }
    o.mockStats = v['mock-stats'];
  }
  if (v['gap-topic'] !== undefined) {
    const gapTopic = v['gap-topic'].trim();
    if (gapTopic === '') throw new Ws2kError('USAGE', "--gap-topic '' is not accepted: expected a topic name, e.g. ws2kafka-gaps");
    o.gapTopic = gapTopic;
  }
  if (v.expect !== undefined) o.expect = parseInteger('expect', v.expect, 0, Number.MAX_SAFE_INTEGER);
  if (v.settle !== undefined) o.settleMs = parseDuration('settle', v.settle);
  if (v.timeout !== undefined) o.timeoutMs = parseDuration('timeout', v.timeout);
  if (!v.quiet) {
    // stderr only: stdout holds the report (bench and scripts parse --json there).
    const progress = stderrProgress('verify: ');
    o.progress = progress;
    o.log = (line) => progress.line(line);
  }

  let report: AuditReport;
  try {
    report = await audit(o);
  } finally {
    o.progress?.done(); // ends a line left open on a terminal, before an error is printed
  }
  process.stdout.write(v.json ? JSON.stringify(report) + '\n' : text(report));
  return report.ok ? 0 : 1;
}

function text(r: AuditReport): string {
  const n = (x: number | null) => (x === null ? '-' : x.toLocaleString('en'));
  const lines = [
    `records: ${Object.entries(r.records).map(([t, c]) => `${t} ${n(c)}`).join(', ')}`,
    `expected ${n(r.expected)}, delivered ${n(r.delivered)} distinct events`,
    `lost ${n(r.lost)}, duplicated ${n(r.duplicated)}, reordered ${n(r.reordered)}, corrupted ${n(r.corrupted)}`,
    `not_sent ${n(r.not_sent)} (timeline events no connection was sent)${r.unexpected > 0 ? `, unexpected ${n(r.unexpected)}` : ''}${r.unaudited > 0 ? `, unaudited ${n(r.unaudited)}` : ''}`,
    ...(r.gaps === null
      ? []
      : [`cut ${n(r.cut)} (tails of connections that closed inside a gap); gaps: records ${n(r.gaps.records)}, unreadable ${n(r.gaps.unreadable)}, covered_connections ${n(r.gaps.covered_connections)}`]),
    `latency_ms p50 ${n(r.latency_ms.p50)}, p99 ${n(r.latency_ms.p99)}, max ${n(r.latency_ms.max)}`,
  ];
  if (r.samples.lost.length > 0) lines.push(`lost q (first ${r.samples.lost.length}): ${r.samples.lost.join(', ')}`);
  if (r.samples.cut.length > 0) lines.push(`cut q (first ${r.samples.cut.length}): ${r.samples.cut.join(', ')}`);
  if (r.samples.duplicated.length > 0) lines.push(`duplicated q: ${r.samples.duplicated.join(', ')}`);
  for (const x of r.samples.reordered) lines.push(`reordered: ${x.topic}[${x.partition}] key ${x.key}: q ${x.q} after ${x.after}`);
  for (const x of r.samples.corrupted) lines.push(`corrupted: ${x.topic}[${x.partition}]@${x.offset}: ${x.problem}`);
  lines.push(r.ok ? 'OK: nothing lost, duplicated, reordered or corrupted' : 'FAILED');
  return lines.join('\n') + '\n';
}
