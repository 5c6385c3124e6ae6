// `ws2kafka top`: a live terminal view of a running bridge from its /metrics and /status (flag
// parsing only; the view is src/top).
import { Ws2kError } from '../errors.ts';
import { parseDuration } from '../mock/options.ts';
import { baseUrl } from '../top/reading.ts';
import { runTop } from '../top/screen.ts';
import { parseFlags } from './args.ts';

const HELP = `Usage: ws2kafka top [--url http://HOST:PORT] [options]

A live view of a running bridge, refreshed every --interval, like vector top: feed state and
readiness, events received, produced (acknowledged by Kafka), spooled, replayed, dropped and dead
letters per second and in total, ack latency (p50, p99), buffer use, spool size, the oldest
unacknowledged event, per-topic counts (when the bridge exports series with a topic label), gaps,
reconnects, produce errors and errors by code, the last error with its code, and the process'
CPU and memory. Rates are the difference of the counters between two refreshes.

It only reads GET /metrics and GET /status of the bridge's metrics address (run's --metrics-host
and --metrics-port); nothing else needs to run. When the bridge does not answer, top says
"unreachable: <reason>" and keeps trying. Quit with q or Ctrl-C.

Options:
  --url URL            the bridge's metrics address (default http://127.0.0.1:9464; host:port works)
  --interval DURATION  time between refreshes (default 1s; 500ms, 2s, 1m...)
  --once               print one screen (two readings an interval apart, for the rates) and exit:
                       0, or 1 when the bridge does not answer. The same happens when stdout is
                       not a terminal (a pipe, a file)
  --no-color           no colours (NO_COLOR in the environment does the same)
`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags('top', argv, {
    url: { type: 'string', default: 'http://127.0.0.1:9464' },
    interval: { type: 'string', default: '1s' },
    once: { type: 'boolean', default: false },
    'no-color': { type: 'boolean', default: false },
  });
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let url: string;
  try {
    url = baseUrl(v.url);
  } catch (err) {
    throw new Ws2kError('USAGE', `--url '${v.url}' is not accepted: expected http://HOST:PORT (${(err as Error).message})`, { cause: err });
  }
  const intervalMs = parseDuration('interval', v.interval);
  if (intervalMs < 100) throw new Ws2kError('USAGE', `--interval '${v.interval}' is not accepted: expected at least 100ms`);
  return runTop({ url, intervalMs, once: v.once, color: v['no-color'] ? false : undefined });
}
