// `ws2kafka proxy`: one upstream feed fanned out to many local clients (flag parsing only; the
// proxy is src/proxy).
import pino from 'pino';
import { parseDuration, parseInteger, parseUrl, redactUrl } from '../config/parse.ts';
import { Ws2kError } from '../errors.ts';
import { PROXY_DEFAULTS, PROXY_LIMITS, startProxyServer, type ProxyOptions } from '../proxy/server.ts';
import { parseFlags } from './args.ts';

const HELP = `Usage: ws2kafka proxy --upstream URL [options]

Keeps one connection to an upstream Polygon-protocol feed (Polygon, or 'ws2kafka mock') and serves
the same protocol to any number of local clients. Upstream is subscribed to the union of the local
subscriptions and unsubscribed from what no client wants any more; each client receives only the
events it subscribed to, bytes unchanged, in upstream order. A client that reads too slowly gets
slow_consumer and is disconnected without slowing the others. Upstream reconnects with backoff and
jitter and resubscribes; local clients stay connected. GET /stats on the local port reports
counters (format: src/proxy/stats.ts), GET /health answers 200 while upstream streams.

Refusals: without --client-keys the proxy listens only on loopback (127.0.0.0/8, ::1, localhost);
any other --host without keys is refused at start [PROXY_OPEN_WITHOUT_KEYS]. With keys, GET /stats
needs one (Authorization: Bearer KEY, or ?apiKey=KEY), else 401. Beyond --max-clients open
connections a new client gets max_connections and a 1013 close [TOO_MANY_CLIENTS].

Upstream:
  --upstream URL              ws:// or wss:// feed URL, e.g. wss://socket.polygon.io/stocks (required)
  --api-key KEY               upstream API key (default: POLYGON_API_KEY); never logged
  --silence-timeout DURATION  reconnect after this long without data or pong (default 30s)

Local side:
  --host HOST                 default 127.0.0.1; a host that is not loopback needs --client-keys
  --port N                    default 8082 (0: any free port; the URL is printed)
  --path PATH                 default /proxy
  --client-keys K1,K2         keys local clients may authenticate with, also for GET /stats
                              (default: PROXY_CLIENT_KEYS, else any key and loopback only); never
                              logged; prefer PROXY_CLIENT_KEYS (ps shows the command line to all)
  --auth-timeout DURATION     auth_timeout and close after this silence (default 10s)
  --max-connections N         per client key (default 0: no limit)
  --max-clients N             open local connections in all, ${PROXY_LIMITS.maxClients.min} to ${PROXY_LIMITS.maxClients.max.toLocaleString('en')} (default ${PROXY_LIMITS.maxClients.default})
  --slow-consumer-bytes N     slow_consumer and disconnect when a client's unsent data exceeds N
                              bytes (default 16 MiB)

Durations: 500ms, 5s, 2m, 1h (a bare number is seconds). Stop with Ctrl-C.
`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags('proxy', argv, {
    upstream: { type: 'string' },
    'api-key': { type: 'string' },
    'silence-timeout': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    path: { type: 'string' },
    'client-keys': { type: 'string' },
    'auth-timeout': { type: 'string' },
    'max-connections': { type: 'string' },
    'max-clients': { type: 'string' },
    'slow-consumer-bytes': { type: 'string' },
  });
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (v.upstream === undefined) throw new Ws2kError('USAGE', "proxy: --upstream URL is required (e.g. ws://127.0.0.1:8081/mock). See 'ws2kafka proxy --help'");
  const log = pino({ name: 'proxy', base: null }, pino.destination({ fd: 2, sync: false }));
  const o: Partial<ProxyOptions> & Pick<ProxyOptions, 'upstream' | 'log'> = { upstream: parseUrl('--upstream', v.upstream), log };
  const key = v['api-key'] ?? process.env['POLYGON_API_KEY'];
  if (key !== undefined && key !== '') o.apiKey = key;
  if (v['silence-timeout'] !== undefined) {
    o.silenceTimeoutMs = positive('--silence-timeout', v['silence-timeout']);
    o.pingIntervalMs = Math.min(PROXY_DEFAULTS.pingIntervalMs, Math.max(1, Math.floor(o.silenceTimeoutMs / 2)));
  }
  if (v.host !== undefined) o.host = v.host;
  if (v.port !== undefined) o.port = parseInteger('--port', v.port, 0, 65535);
  if (v.path !== undefined) {
    if (!v.path.startsWith('/')) throw new Ws2kError('USAGE', `--path '${v.path}' is not accepted: expected a path starting with /`);
    o.path = v.path;
  }
  const envKeys = process.env['PROXY_CLIENT_KEYS'];
  const clientKeys = v['client-keys'] ?? (envKeys === undefined || envKeys.trim() === '' ? undefined : envKeys);
  if (clientKeys !== undefined) {
    o.clientKeys = clientKeys.split(',').map((k) => k.trim()).filter((k) => k !== '');
    // The value holds keys: never echo it.
    const from = v['client-keys'] !== undefined ? '--client-keys' : 'PROXY_CLIENT_KEYS';
    if (o.clientKeys.length === 0) throw new Ws2kError('USAGE', `${from} is not accepted: expected comma-separated keys`);
  }
  if (v['auth-timeout'] !== undefined) o.authTimeoutMs = positive('--auth-timeout', v['auth-timeout']);
  if (v['max-connections'] !== undefined) o.maxConnections = parseInteger('--max-connections', v['max-connections'], 0, 1_000_000);
  const maxClients = PROXY_LIMITS.maxClients;
  if (v['max-clients'] !== undefined) o.maxClients = parseInteger('--max-clients', v['max-clients'], maxClients.min, maxClients.max);
  if (v['slow-consumer-bytes'] !== undefined) o.slowConsumerBytes = parseInteger('--slow-consumer-bytes', v['slow-consumer-bytes'], 1);

  const done = Promise.withResolvers<{ code: number; reason: string }>();
  o.onFatal = (reason) => done.resolve({ code: 1, reason });
  const proxy = await startProxyServer(o);
  if (o.apiKey === undefined) log.info('no --api-key / POLYGON_API_KEY: authenticating upstream with an empty key (fine for the mock)');
  const statsAuth = (o.clientKeys?.length ?? 0) > 0 ? ' (Authorization: Bearer <a client key>)' : '';
  process.stdout.write(`proxy at ${proxy.url} for ${redactUrl(o.upstream)}; stats at ${proxy.statsUrl}${statsAuth}\n`);

  const onSignal = (signal: string) => done.resolve({ code: 0, reason: `received ${signal}` });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const result = await done.promise;
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  const s = proxy.stats();
  await proxy.close();
  log.info({ reason: result.reason, upstreamEvents: s.upstream.events, reconnects: s.upstream.reconnects, framesFailed: s.upstream.framesFailed, clients: s.clients.total, tooManyClients: s.clients.tooManyClients, slowConsumers: s.clients.slowConsumers }, 'stopped');
  log.flush();
  if (result.code !== 0) throw new Ws2kError('AUTH_FAILED', result.reason);
  return 0;
}

function positive(flag: string, value: string): number {
  const ms = parseDuration(flag, value);
  if (ms <= 0) throw new Ws2kError('USAGE', `${flag} '${value}' is not accepted: expected a duration greater than 0`);
  return ms;
}
