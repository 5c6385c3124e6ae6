// `ws2kafka mock`: a Polygon-compatible mock feed (flag parsing only; the server is src/mock).
import pino from 'pino';
import { Ws2kError } from '../errors.ts';
import { MOCK_DEFAULTS, parseDuration, parseInteger, parseMix, parseRatio, type MockOptions } from '../mock/options.ts';
import { startMockServer } from '../mock/server.ts';
import { parseFlags } from './args.ts';

const HELP = `Usage: ws2kafka mock [options]

Serves a Polygon-compatible WebSocket feed of synthetic events (T, Q, A, AM, XT) to any number of
clients: connected status, auth, subscribe/unsubscribe, one global timeline with "q" (a global
sequence number) and "t" (send time, ms) in every event. GET /stats on the same port reports what
each connection was sent (format: src/mock/stats.ts).

Address:
  --host HOST                 default 127.0.0.1
  --port N                    default 8081 (0: any free port; the URL is printed)
  --path PATH                 default /mock

Protocol:
  --api-keys K1,K2            accepted keys (default: any key)
  --auth-timeout DURATION     auth_timeout and close after this silence (default 10s)
  --max-connections N         per key; the extra connection gets max_connections (default 0: no limit)
  --evict-oldest              with --max-connections: the new connection wins, the oldest of its key
                              gets max_connections and is closed (at the new one's first subscribe)

Events:
  --rate N                    events/s (replay: frames/s), default 1000
  --batch N                   events per frame at most, default 100
  --symbols N                 tickers, skewed activity (default 500)
  --mix T=60,Q=25,A=5,AM=5,XT=5   share of each type in the timeline (the default)
  --events N                  stop sending after N events (replay: frames); connections stay open
  --duration DURATION         stop sending this long after the timeline starts
  --seed N                    random seed (default 1: the same timeline every run)
  --replay FILE               send FILE's lines as frames, byte for byte, instead
  --randomize                 replay: a random order each pass
  --loop                      replay: start again at the end

Faults:
  --disconnect-every DURATION force_disconnect each connection this long after it opened
  --malformed-ratio R         share of data frames followed by a malformed frame (0..1)
  --slow-consumer-bytes N     slow_consumer and disconnect when unsent data exceeds N (default 64 MiB)

Durations: 500ms, 5s, 2m, 1h (a bare number is seconds). Stop with Ctrl-C.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags('mock', argv, {
    host: { type: 'string' },
    port: { type: 'string' },
    path: { type: 'string' },
    'api-keys': { type: 'string' },
    'auth-timeout': { type: 'string' },
    'max-connections': { type: 'string' },
    'evict-oldest': { type: 'boolean', default: false },
    rate: { type: 'string' },
    batch: { type: 'string' },
    symbols: { type: 'string' },
    mix: { type: 'string' },
    events: { type: 'string' },
    duration: { type: 'string' },
    seed: { type: 'string' },
    replay: { type: 'string' },
    randomize: { type: 'boolean', default: false },
    loop: { type: 'boolean', default: false },
    'disconnect-every': { type: 'string' },
    'malformed-ratio': { type: 'string' },
    'slow-consumer-bytes': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const logger = pino({ name: 'mock', base: null }, pino.destination({ fd: 2, sync: false }));
  const o: Partial<MockOptions> = { logger };
  const v = values;
  if (v.host !== undefined) o.host = v.host;
  if (v.port !== undefined) o.port = parseInteger('port', v.port, 0, 65535);
  if (v.path !== undefined) {
    if (!v.path.startsWith('/')) throw new Ws2kError('USAGE', `--path '${v.path}' is not accepted: expected a path starting with /`);
    o.path = v.path;
  }
  if (v['api-keys'] !== undefined) {
    o.apiKeys = v['api-keys'].split(',').map((k) => k.trim()).filter((k) => k !== '');
    if (o.apiKeys.length === 0) throw new Ws2kError('USAGE', `--api-keys '${v['api-keys']}' is not accepted: expected comma-separated keys`);
  }
  if (v['auth-timeout'] !== undefined) o.authTimeoutMs = parseDuration('auth-timeout', v['auth-timeout']);
  if (v['max-connections'] !== undefined) o.maxConnections = parseInteger('max-connections', v['max-connections'], 0, 1_000_000);
  if (v['evict-oldest']) {
    if (v['max-connections'] === undefined) throw new Ws2kError('USAGE', '--evict-oldest is accepted only with --max-connections N');
    o.evictOldest = true;
  }
  if (v.rate !== undefined) o.rate = parseInteger('rate', v.rate, 1, 10_000_000);
  if (v.batch !== undefined) o.batch = parseInteger('batch', v.batch, 1, 100_000);
  if (v.symbols !== undefined) o.symbols = parseInteger('symbols', v.symbols, 1, 65_535);
  if (v.mix !== undefined) o.mix = parseMix('mix', v.mix);
  if (v.events !== undefined) o.events = parseInteger('events', v.events, 1, Number.MAX_SAFE_INTEGER);
  if (v.duration !== undefined) o.durationMs = parseDuration('duration', v.duration);
  if (v.seed !== undefined) o.seed = parseInteger('seed', v.seed, 0, 0xffffffff);
  if (v.replay !== undefined) o.replay = v.replay;
  if ((v.randomize || v.loop) && v.replay === undefined) {
    throw new Ws2kError('USAGE', `--${v.randomize ? 'randomize' : 'loop'} is accepted only with --replay FILE`);
  }
  o.randomize = v.randomize;
  o.loop = v.loop;
  if (v['disconnect-every'] !== undefined) o.disconnectEveryMs = parseDuration('disconnect-every', v['disconnect-every']);
  if (v['malformed-ratio'] !== undefined) o.malformedRatio = parseRatio('malformed-ratio', v['malformed-ratio']);
  if (v['slow-consumer-bytes'] !== undefined) o.slowConsumerBytes = parseInteger('slow-consumer-bytes', v['slow-consumer-bytes'], 1, Number.MAX_SAFE_INTEGER);

  const mock = await startMockServer(o);
  const rate = o.rate ?? MOCK_DEFAULTS.rate;
  process.stdout.write(`mock feed at ${mock.url} (${rate.toLocaleString('en')} ${o.replay === undefined ? 'events' : 'frames'}/s once a client subscribes); stats at ${mock.statsUrl}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const s = mock.stats();
  await mock.close();
  logger.info({ timelineEvents: s.timeline.events, sentEvents: s.sent.events, connections: s.connections.length }, 'stopped');
  logger.flush();
  return 0;
}
