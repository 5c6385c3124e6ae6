// `ws2kafka run`: flags → configuration → the bridge; local broker and mock feed when none is given.
import pino from 'pino';
import { Bridge } from '../bridge/bridge.ts';
import type { Feed } from '../bridge/feed.ts';
import { redactUrl } from '../config/parse.ts';
import { describeKafkaSecurity, kafkaSecrets, kafkaSecurityWarnings, redactOptions, scrub } from '../config/kafka-options.ts';
import { loadRunConfig, runFlagSpec, runHelp } from '../config/run-config.ts';
import { Ws2kError } from '../errors.ts';
import { ws2kafkaHome } from '../kafka-local/home.ts';
import { startBroker } from '../kafka-local/broker.ts';
import { brokerAnswers } from '../kafka-local/probe.ts';
import { AckWatch, readiness, statusDocument, type FeedProbe, type ProbeSource } from '../metrics/probes.ts';
import { metricsRegistry, serveMetrics } from '../metrics/prometheus.ts';
import { checkHaConfig, haHealthy, haMemberFor, haReadiness } from '../ha/wire.ts';
import { parseFlags } from './args.ts';

const LOCAL_BROKER = '127.0.0.1:9092';
/** Exit status after the last-resort handler (EX_SOFTWARE). */
const EXIT_INTERNAL = 70;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags('run', argv, runFlagSpec());
  if (values.help) {
    process.stdout.write(runHelp());
    return 0;
  }
  const config = await loadRunConfig(values);
  checkHaConfig(config);
  // Secrets are never put in a log line; should one reach it anyway (inside an error from a
  // library), it is replaced before the line is written.
  const feedKeys = (config.feeds ?? []).flatMap((f) => (f.apiKey !== undefined ? [f.apiKey] : []));
  const secrets = [...kafkaSecrets(config.kafka), ...(config.apiKey !== undefined ? [config.apiKey] : []), ...feedKeys];
  const stderr = pino.destination(2);
  const log = pino({ level: config.logLevel, base: { cmd: 'run' } }, secrets.length === 0 ? stderr : { write: (line: string) => stderr.write(scrub(line, secrets)) });
  log.debug({ flags: redactOptions(values) }, 'command-line options (secrets redacted)');
  const cleanups: Array<() => Promise<void>> = [];
  const secured = config.kafka.tls !== undefined || config.kafka.sasl !== undefined;
  for (const warning of kafkaSecurityWarnings(config.kafka)) {
    process.stderr.write(`ws2kafka run: WARNING: ${warning}\n`);
    log.warn({ kafkaSecurity: describeKafkaSecurity(config.kafka) }, `WARNING: ${warning}`);
  }

  // Without --demo nothing is started or invented: a service that forgot its feed or its brokers
  // must not write synthetic trades into production topics, nor start a broker of its own.
  if (config.demo && config.url) throw new Ws2kError('USAGE', '--demo reads the built-in mock feed: give either --demo or --url (WEBSOCKET_URL), not both');
  if (!config.demo && !config.url && config.feeds === undefined) {
    throw new Ws2kError('MISSING_SETTING', 'no feed to read: set --url (WEBSOCKET_URL), or --demo for the built-in mock feed');
  }
  if (!config.demo && !config.brokers) {
    throw new Ws2kError('MISSING_SETTING', 'no Kafka to write to: set --brokers (KAFKA_BROKERS), or --demo for the local broker at 127.0.0.1:9092');
  }
  let brokers = config.brokers;
  if (!brokers && secured) {
    throw new Ws2kError('USAGE', 'the Kafka TLS and SASL options need --brokers (KAFKA_BROKERS): the local broker started without it is plaintext on 127.0.0.1:9092 (ws2kafka kafka start --security sasl_ssl prints the options of its secured listeners)');
  }
  if (!brokers) {
    brokers = [LOCAL_BROKER];
    if (!(await brokerAnswers(LOCAL_BROKER, 2000))) {
      log.info('no --brokers / KAFKA_BROKERS and nothing answers at 127.0.0.1:9092: starting the local broker (ws2kafka kafka start)');
      await startBroker({ home: ws2kafkaHome(), host: '127.0.0.1', port: 9092, controllerPort: 9093, log: (line) => log.info(line) }, { update: false });
    }
  }

  let url = config.url;
  if (!url && config.feeds === undefined) {
    const { startEmbeddedMock } = await import('./embedded-mock.ts');
    const mock = await startEmbeddedMock(config.mockRate);
    url = mock.url;
    cleanups.push(() => mock.close());
    log.info({ url, rate: config.mockRate }, '--demo: reading the built-in mock feed');
  }

  const done = Promise.withResolvers<{ code: number; reason: string }>();
  // --ha-group: the feeds are connected only while the group has this member active (src/ha/).
  const bridge = new Bridge({ config: { ...config, url, brokers }, log, onDone: (r) => done.resolve(r), deferFeeds: config.haGroup !== undefined });
  const m = bridge.metrics;
  const ha = haMemberFor(config, brokers, bridge, log);

  const acks = new AckWatch();
  const ackTimer = setInterval(() => acks.poll(m), 1000);
  ackTimer.unref();
  cleanups.push(() => Promise.resolve(clearInterval(ackTimer)));
  if (config.metricsPort > 0) {
    const probes: ProbeSource = {
      metrics: m,
      feed: () => feedProbe(bridge.feeds[0]!),
      feeds: () => bridge.feeds.map(feedProbe),
      kafka: { brokers, lanes: () => bridge.sink.brokers(), leaderless: () => bridge.sink.leaderless(), parked: () => bridge.sink.parkedPartitions() },
      spool: () => ({ records: bridge.sink.spooled(), bytes: m.spoolBytes, maxBytes: config.overflow === 'spool' || config.durability === 'disk' ? config.spoolMaxBytes : undefined, writeError: bridge.sink.spoolWriteError() }),
      held: () => (bridge.health()['held'] as unknown[] | undefined) ?? [],
      readyMaxLagMs: config.readyMaxLagMs,
    };
    const server = await serveMetrics(metricsRegistry(m), config.metricsPort, config.metricsHost, {
      healthy: () => (ha === undefined ? bridge.feeds.every((f) => f.source.state === 'streaming') : haHealthy(ha.role, bridge.feeds.every((f) => f.source.state === 'streaming'))),
      details: () => bridge.health(),
      ready: () => (ha === undefined ? readiness(probes, acks) : haReadiness(readiness(probes, acks), ha.role)),
      status: () => (ha === undefined ? statusDocument(probes, acks) : { ...statusDocument(probes, acks), ha: ha.status() }),
    });
    if (server) cleanups.push(() => new Promise((r) => server.close(() => r())));
    else log.warn({ host: config.metricsHost, port: config.metricsPort }, 'the metrics address is taken or not available: /metrics and the probes are not served (choose --metrics-host / --metrics-port, port 0 for none)');
  }
  m.oldestAt = () => bridge.sink.oldestUnacknowledged();
  const line = () => m.line() + '\n';
  const printer = config.metricsIntervalMs > 0 ? setInterval(() => process.stdout.write(line()), config.metricsIntervalMs) : undefined;

  const onSignal = (signal: string) => done.resolve({ code: 0, reason: `received ${signal}` });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The last resort: an error that escaped every handler. Keep what memory holds in the spool,
  // record the crash in the run state (the next start replays and records the gap), exit 70.
  const lastResort = (err: unknown) => {
    m.countError('INTERNAL_ERROR', String((err as Error)?.message ?? err));
    log.fatal({ code: 'INTERNAL_ERROR', err }, '[INTERNAL_ERROR] an error escaped every handler: keeping what memory holds in the spool and exiting; a restart replays it');
    let lost = -1;
    try {
      lost = bridge.emergencyStop();
    } catch (stopErr) {
      log.error({ err: stopErr }, 'the emergency stop failed too');
    }
    if (lost !== 0) log.error({ lost }, `${lost < 0 ? 'an unknown number of' : lost} events held only in memory could not be kept (no spool, or it failed)`);
    process.stdout.write(line());
    process.exit(EXIT_INTERNAL);
  };
  process.on('uncaughtException', lastResort);
  process.on('unhandledRejection', lastResort);

  bridge.start();
  ha?.start().catch((err: unknown) => done.resolve({ code: 1, reason: `ha: ${(err as Error).message}` }));
  const reading = config.feeds !== undefined ? `${config.feeds.length} feeds (${config.feeds.map((f) => `${f.name} ${redactUrl(f.url)} ${f.subscribe}`).join('; ')})` : undefined;
  const every = config.metricsIntervalMs > 0 ? `a metrics line every ${config.metricsIntervalMs / 1000}s` : 'no periodic metrics line';
  process.stdout.write(
    reading !== undefined
      ? `ws2kafka: ${reading} → Kafka ${brokers.join(',')}${secured ? ` over ${describeKafkaSecurity(config.kafka)}` : ''}; ${every}; Ctrl-C stops\n`
      : `ws2kafka: ${config.url ? redactUrl(url ?? '') : `the built-in mock feed (${config.mockRate} events/s)`} → Kafka ${brokers.join(',')}${secured ? ` over ${describeKafkaSecurity(config.kafka)}` : ''}, subscribed to ${config.subscribe}; ${every}; Ctrl-C stops\n`,
  );
  if (config.haGroup !== undefined) process.stdout.write(`ws2kafka: member of HA group ${config.haGroup} (control topic ${config.haTopic}): the feeds are read only while the group makes this member active\n`);
  const result = await done.promise;
  log.info({ reason: result.reason }, 'shutting down: stopped reading; waiting for Kafka to acknowledge what is buffered');
  // An HA member hands over: stop reading (after unsubscribing), deliver, then a final heartbeat and leave the group.
  await ha?.stopReading();
  const { unacknowledged } = await bridge.stop();
  await ha?.leave();
  if (printer) clearInterval(printer);
  process.stdout.write(line());
  for (const c of cleanups) await c().catch(() => undefined);
  process.removeListener('uncaughtException', lastResort);
  process.removeListener('unhandledRejection', lastResort);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  if (unacknowledged > 0) {
    log.error({ unacknowledged }, `${unacknowledged} buffered events were not acknowledged within --shutdown-timeout and are lost`);
    return 1;
  }
  if (result.code !== 0) process.stderr.write(`ws2kafka run: ${result.reason}\n`);
  return result.code;
}

/** One feed as /status and /readyz see it (its URL without secrets). */
function feedProbe(f: Feed): FeedProbe & { name: string } {
  const s = f.source;
  return { name: f.name, state: s.state, url: redactUrl(f.config.url), connectionId: s.connectionId, lastFrameAt: s.lastFrameAt, subscriptions: s.subscriptions };
}
