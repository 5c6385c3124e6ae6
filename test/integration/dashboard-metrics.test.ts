// The compose stack's monitoring (issue #13): every query of the Grafana dashboard and every alert
// rule names only metrics that a running bridge exports on /metrics, and the compose file, the
// Prometheus config and Grafana's provisioning point at each other. (Compose itself needs a Docker
// engine; these checks are what can be run without one.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startMockServer } from '../../src/mock/server.ts';
import { startBridge, testTopics } from '../helpers/bridge.ts';
import { freePort, metricsText, until } from '../helpers/net.ts';
import { PROMETHEUS_SERIES, exportedNames, isExported, metricNames } from '../helpers/promql.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const yaml = (path: string) => parseYaml(read(path), { merge: true }) as Record<string, unknown>;
const DASHBOARD = 'deploy/grafana/dashboards/ws2kafka.json';
const ALERTS = 'deploy/prometheus/alerts.yml';

interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating?: { list: Array<{ name: string; query: string | { query: string }; datasource?: { uid?: string } }> };
}

/** Every panel, those nested in (collapsed) rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every PromQL query of the dashboard, with where it is: panel targets and template variables. */
function dashboardQueries(d: Dashboard): Array<{ where: string; expr: string }> {
  const queries: Array<{ where: string; expr: string }> = [];
  for (const p of allPanels(d.panels)) {
    for (const [i, t] of (p.targets ?? []).entries()) {
      if (t.expr !== undefined) queries.push({ where: `panel ${p.id} "${p.title}" target ${i}`, expr: t.expr });
    }
  }
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    // Grafana's label_values(selector, label): only the selector is PromQL.
    const lv = /^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/s.exec(q);
    queries.push({ where: `variable $${v.name}`, expr: lv ? lv[1]! : q });
  }
  return queries;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
function alertRules(): Rule[] {
  const doc = yaml(ALERTS) as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard;
const queries = [...dashboardQueries(dashboard), ...alertRules().map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr }))];

test('the dashboard: every panel has queries on the provisioned datasource, unique ids, inside the 24-column grid', () => {
  const datasources = yaml('deploy/grafana/provisioning/datasources/prometheus.yml') as { datasources: Array<{ uid: string; url: string; type: string }> };
  const uid = datasources.datasources[0]!.uid;
  assert.equal(datasources.datasources[0]!.type, 'prometheus');
  const panels = allPanels(dashboard.panels);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, `panel ids are unique: ${ids.join(',')}`);
  assert.ok(panels.some((p) => p.type === 'row' && (p.panels ?? []).length > 0), 'a collapsed row holds panels (and the queries above found them)');
  for (const p of panels) {
    const g = p.gridPos!;
    assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `panel ${p.id} "${p.title}" fits the grid`);
    if (p.type === 'row') continue;
    assert.ok(['timeseries', 'stat'].includes(p.type), `panel ${p.id}: ${p.type}`);
    assert.equal(p.datasource?.uid, uid, `panel ${p.id} "${p.title}" uses the provisioned datasource`);
    assert.ok((p.targets ?? []).length > 0, `panel ${p.id} "${p.title}" has queries`);
    for (const t of p.targets!) assert.equal(t.datasource?.uid, uid);
  }
  for (const v of dashboard.templating?.list ?? []) assert.equal(v.datasource?.uid, uid, `variable ${v.name}`);
  // What the issue asks the dashboard to show, by the metrics that show it.
  const named = new Set(queries.filter((q) => !q.where.startsWith('rule')).flatMap((q) => metricNames(q.expr)));
  for (const m of [
    'ws2kafka_events_received_total',
    'ws2kafka_events_produced_total',
    'ws2kafka_ack_latency_seconds',
    'ws2kafka_buffer_events',
    'ws2kafka_spool_bytes',
    'ws2kafka_oldest_unacked_age_seconds',
    'ws2kafka_gaps_total',
    'ws2kafka_reconnects_total',
    'ws2kafka_dead_letters_produced_total',
    'ws2kafka_errors_total',
    'ws2kafka_produce_errors_total',
    'ws2kafka_records_refused_total',
    'ws2kafka_held_records',
    'ws2kafka_process_process_cpu_seconds_total',
    'ws2kafka_process_process_resident_memory_bytes',
  ]) {
    assert.ok(named.has(m), `the dashboard shows ${m}`);
  }
});

test('the alert rules: each has a for (or fires at once on a counter increase), a severity, a summary and a description', () => {
  const rules = alertRules();
  assert.ok(rules.length >= 10, `${rules.length} rules`);
  const names = rules.map((r) => r.alert);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const r of rules) {
    assert.ok(r.alert, 'alerting rules only');
    assert.ok(r.for === undefined || /^\d+[smh]$/.test(r.for), `${r.alert}: for ${r.for}`);
    // Without `for`, a rule must be about an increase (a count that only goes up has happened).
    if (r.for === undefined) assert.match(r.expr, /increase\(|changes\(/, `${r.alert} fires at once only on a counted event`);
    assert.ok(['critical', 'warning'].includes(r.labels?.['severity'] ?? ''), `${r.alert}: severity`);
    assert.ok(r.annotations?.['summary'] && r.annotations['description'], `${r.alert}: summary and description`);
    assert.ok(metricNames(r.expr).length > 0, `${r.alert} reads a metric`);
  }
});

test('compose, Prometheus and Grafana point at each other: scrape target, brokers, rule file, dashboard path', () => {
  const compose = yaml('docker-compose.yml') as {
    services: Record<string, { profiles?: string[]; environment?: Record<string, string>; command?: string[]; volumes?: string[]; ports?: string[]; networks?: { default?: { aliases?: string[] } }; build?: string }>;
  };
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['grafana', 'kafka', 'prometheus', 'ws2kafka', 'ws2kafka-demo']);
  assert.equal(s['kafka']!.profiles, undefined, '`docker compose up -d` still starts Kafka alone');
  assert.ok(s['kafka']!.ports!.includes('127.0.0.1:9092:9092'), 'Kafka for the host on 127.0.0.1:9092, as ws2kafka kafka start');
  const advertised = String(s['kafka']!.environment!['KAFKA_ADVERTISED_LISTENERS']).split(',');
  assert.ok(advertised.includes('PLAINTEXT://127.0.0.1:9092'), advertised.join(','));
  const prometheus = yaml('deploy/prometheus/prometheus.yml') as { global: { scrape_interval: string }; rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
  assert.equal(prometheus.global.scrape_interval, '5s');
  assert.deepEqual(prometheus.rule_files, ['alerts.yml'], 'the rule file next to prometheus.yml (both mounted at /etc/prometheus)');
  const job = prometheus.scrape_configs.find((c) => c.job_name === 'ws2kafka');
  assert.ok(job, 'a scrape job named ws2kafka (the alerts select job="ws2kafka")');
  const [host, port] = job.static_configs[0]!.targets[0]!.split(':');
  for (const name of ['ws2kafka', 'ws2kafka-demo']) {
    const b = s[name]!;
    assert.equal(b.build, '.');
    assert.ok(b.networks?.default?.aliases?.includes(host!), `${name} answers to ${host}`);
    assert.deepEqual(b.command, ['--metrics-host', '0.0.0.0'], `${name} serves /metrics to the other containers`);
    assert.equal(port, '9464', 'the bridge\'s default --metrics-port');
    const brokers = b.environment!['KAFKA_BROKERS']!;
    assert.ok(advertised.some((l) => l.endsWith(`//${brokers}`)), `${name}: KAFKA_BROKERS ${brokers} is an advertised listener`);
    assert.ok(b.volumes?.some((v) => v.endsWith(`:${b.environment!['SPOOL_DIR']}`)), `${name}: the spool is a volume`);
  }
  assert.equal(s['ws2kafka-demo']!.environment!['DEMO'], '1');
  assert.equal(s['ws2kafka']!.environment!['DEMO'], undefined, 'the feed profile never runs the demo');
  assert.notEqual(s['ws2kafka']!.volumes![0]!.split(':')[0], s['ws2kafka-demo']!.volumes![0]!.split(':')[0], 'a demo spool is never replayed into the real feed\'s topics');
  assert.ok(s['prometheus']!.volumes!.includes('./deploy/prometheus:/etc/prometheus:ro'));
  const datasources = yaml('deploy/grafana/provisioning/datasources/prometheus.yml') as { datasources: Array<{ url: string }> };
  assert.equal(datasources.datasources[0]!.url, 'http://prometheus:9090');
  const providers = yaml('deploy/grafana/provisioning/dashboards/ws2kafka.yml') as { providers: Array<{ options: { path: string } }> };
  const dashboards = providers.providers[0]!.options.path;
  assert.ok(s['grafana']!.volumes!.includes(`./deploy/grafana/dashboards:${dashboards}:ro`), `the dashboards mounted at ${dashboards}`);
  assert.ok(s['grafana']!.volumes!.includes('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro'));
  assert.equal(s['grafana']!.environment!['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'], `${dashboards}/ws2kafka.json`);
  for (const name of ['kafka', 'ws2kafka', 'ws2kafka-demo', 'prometheus', 'grafana']) {
    for (const p of s[name]!.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p} on loopback only`);
  }
  const secret = yaml('deploy/compose.secret.yml') as { services: Record<string, { environment: Record<string, string> }> };
  assert.equal(secret.services['ws2kafka']!.environment['POLYGON_API_KEY'], '', 'the key file replaces the variable (both at once is a usage error)');
});

/** Series of one bridge for promtool, 15 s apart: `values` in promtool's notation ('0+7500x120': 0, then +7500 per sample). */
function bridgeSeries(overrides: Record<string, string> = {}, extra: Array<{ series: string; values: string }> = []) {
  const healthy: Record<string, string> = {
    up: '1x120',
    ws2kafka_events_received_total: '0+7500x120', // 500 events/s
    ws2kafka_events_produced_total: '0+7500x120',
    ws2kafka_frames_received_total: '0+300x120',
    ws2kafka_oldest_unacked_age_seconds: '0.01x120',
    ws2kafka_spool_bytes: '0x120',
    ws2kafka_buffer_events: '20x120',
    ws2kafka_buffer_capacity_events: '200000x120',
    ws2kafka_events_dropped_total: '0x120',
    ws2kafka_gaps_total: '0x120',
    ws2kafka_reconnects_total: '0x120',
    ws2kafka_frames_rejected_total: '0x120',
    ws2kafka_events_rejected_total: '0x120',
    ws2kafka_records_refused_total: '0x120',
    ws2kafka_spool_write_errors_total: '0x120',
    ws2kafka_held_records: '0x120',
    ws2kafka_process_process_cpu_seconds_total: '0+1.5x120', // 0.1 core
    ws2kafka_process_process_start_time_seconds: '1000x120',
    ws2kafka_process_nodejs_eventloop_lag_p99_seconds: '0.02x120',
  };
  return [...Object.entries({ ...healthy, ...overrides }).map(([name, values]) => ({ series: `${name}{job="ws2kafka",instance="b:9464"}`, values })), ...extra];
}
const B = { job: 'ws2kafka', instance: 'b:9464' };
const critical = (labels: Record<string, string> = B) => [{ exp_labels: { ...labels, severity: 'critical' } }];
const warning = (labels: Record<string, string> = B) => [{ exp_labels: { ...labels, severity: 'warning' } }];
const byInstance = { instance: 'b:9464' };

/** promtool test cases: each alert fires when it should (and not before), and none fires on a healthy bridge. */
function alertCases(alertNames: string[]) {
  return [
    {
      name: 'healthy: nothing fires',
      interval: '15s',
      input_series: bridgeSeries(),
      alert_rule_test: alertNames.map((alertname) => ({ eval_time: '29m', alertname, exp_alerts: [] })),
    },
    {
      name: 'Kafka away from 10 min: events spooled, no acknowledgement, produce errors',
      interval: '15s',
      input_series: bridgeSeries(
        {
          ws2kafka_events_produced_total: '0+7500x40 300000x80',
          ws2kafka_oldest_unacked_age_seconds: '0.01x40 0+15x80',
          ws2kafka_spool_bytes: '0x40 0+12750000x80', // 850 kB/s to disk
        },
        [{ series: 'ws2kafka_produce_errors_total{job="ws2kafka",instance="b:9464",code="NETWORK"}', values: '_x40 1+3x80' }],
      ),
      alert_rule_test: [
        { eval_time: '12m', alertname: 'Ws2kafkaKafkaNotAcknowledging', exp_alerts: [] },
        { eval_time: '14m', alertname: 'Ws2kafkaKafkaNotAcknowledging', exp_alerts: critical(byInstance) },
        { eval_time: '10m30s', alertname: 'Ws2kafkaBehind', exp_alerts: [] },
        { eval_time: '14m', alertname: 'Ws2kafkaBehind', exp_alerts: warning(byInstance) },
        { eval_time: '20m', alertname: 'Ws2kafkaFarBehind', exp_alerts: [] },
        { eval_time: '25m', alertname: 'Ws2kafkaFarBehind', exp_alerts: critical(byInstance) },
        { eval_time: '15m', alertname: 'Ws2kafkaSpoolGrowing', exp_alerts: [] },
        { eval_time: '18m', alertname: 'Ws2kafkaSpoolGrowing', exp_alerts: warning() },
        { eval_time: '29m', alertname: 'Ws2kafkaSpoolFillingUp', exp_alerts: [] }, // 3 GB/h: a 10 GiB spool lasts
        { eval_time: '14m', alertname: 'Ws2kafkaProduceErrors', exp_alerts: [] },
        { eval_time: '16m', alertname: 'Ws2kafkaProduceErrors', exp_alerts: warning({ instance: 'b:9464', code: 'NETWORK' }) },
        { eval_time: '29m', alertname: 'Ws2kafkaFeedSilent', exp_alerts: [] },
        { eval_time: '29m', alertname: 'Ws2kafkaEventsDropped', exp_alerts: [] },
      ],
    },
    {
      name: 'single events at 10 min: the first occurrence fires',
      interval: '15s',
      input_series: bridgeSeries({
        up: '1x40 0x10 1x70',
        ws2kafka_frames_rejected_total: '0x40 1x80',
        ws2kafka_gaps_total: '0x40 1x80',
        ws2kafka_reconnects_total: '0x40 1 2 3x78',
        ws2kafka_events_dropped_total: '0x40 5x80',
        ws2kafka_spool_write_errors_total: '0x40 2x80',
        ws2kafka_held_records: '0x40 100x80',
        ws2kafka_process_process_start_time_seconds: '1000x40 1600x20 1900x60',
      }),
      alert_rule_test: [
        { eval_time: '10m30s', alertname: 'Ws2kafkaDown', exp_alerts: [] },
        { eval_time: '12m', alertname: 'Ws2kafkaDown', exp_alerts: critical() },
        { eval_time: '14m', alertname: 'Ws2kafkaDown', exp_alerts: [] },
        { eval_time: '11m', alertname: 'Ws2kafkaDeadLetters', exp_alerts: warning() },
        { eval_time: '25m', alertname: 'Ws2kafkaDeadLetters', exp_alerts: [] },
        { eval_time: '11m', alertname: 'Ws2kafkaGap', exp_alerts: warning() },
        { eval_time: '11m', alertname: 'Ws2kafkaReconnectsFlapping', exp_alerts: warning() },
        { eval_time: '11m', alertname: 'Ws2kafkaEventsDropped', exp_alerts: critical() },
        { eval_time: '11m', alertname: 'Ws2kafkaSpoolWriteErrors', exp_alerts: critical() },
        { eval_time: '12m', alertname: 'Ws2kafkaHeldTopic', exp_alerts: [] },
        { eval_time: '16m', alertname: 'Ws2kafkaHeldTopic', exp_alerts: critical() },
        { eval_time: '12m', alertname: 'Ws2kafkaRestarting', exp_alerts: [] },
        { eval_time: '16m', alertname: 'Ws2kafkaRestarting', exp_alerts: warning() },
      ],
    },
    {
      name: 'the feed goes silent at 5 min',
      interval: '15s',
      input_series: bridgeSeries({ ws2kafka_frames_received_total: '0+300x20 6000x100' }),
      alert_rule_test: [
        { eval_time: '12m', alertname: 'Ws2kafkaFeedSilent', exp_alerts: [] },
        { eval_time: '16m', alertname: 'Ws2kafkaFeedSilent', exp_alerts: warning() },
      ],
    },
    {
      name: 'saturated: buffer near full, a spool filling at 6.7 MB/s, a busy core, a late event loop',
      interval: '15s',
      input_series: bridgeSeries({
        ws2kafka_buffer_events: '190000x120',
        ws2kafka_spool_bytes: '0+100000000x120',
        ws2kafka_process_process_cpu_seconds_total: '0+14.25x120', // 0.95 core
        ws2kafka_process_nodejs_eventloop_lag_p99_seconds: '0.8x120',
      }),
      alert_rule_test: [
        { eval_time: '1m', alertname: 'Ws2kafkaBufferFull', exp_alerts: [] },
        { eval_time: '3m', alertname: 'Ws2kafkaBufferFull', exp_alerts: warning() },
        { eval_time: '3m', alertname: 'Ws2kafkaSpoolFillingUp', exp_alerts: [] },
        { eval_time: '10m', alertname: 'Ws2kafkaSpoolFillingUp', exp_alerts: critical() },
        { eval_time: '10m', alertname: 'Ws2kafkaSpoolGrowing', exp_alerts: warning() },
        { eval_time: '8m', alertname: 'Ws2kafkaCpuSaturated', exp_alerts: [] },
        { eval_time: '16m', alertname: 'Ws2kafkaCpuSaturated', exp_alerts: warning() },
        { eval_time: '4m', alertname: 'Ws2kafkaEventLoopLag', exp_alerts: [] },
        { eval_time: '6m', alertname: 'Ws2kafkaEventLoopLag', exp_alerts: warning() },
      ],
    },
  ];
}

test('with promtool on PATH: the Prometheus config and its rules are valid, and each alert fires when it should', (t) => {
  if (spawnSync('promtool', ['--version']).error) {
    t.skip('promtool is not on PATH (it comes with Prometheus; or `go install github.com/prometheus/prometheus/cmd/promtool@latest`)');
    return;
  }
  const check = spawnSync('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'], { cwd: root, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check config (and its rule file)\n${check.stdout}${check.stderr}`);
  // promtool compares firing alerts with their annotations too: the cases run on the rules without
  // them (their templates were checked just above), so that a case states only what it is about.
  const dir = mkdtempSync(join(tmpdir(), 'ws2kafka-alerts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const doc = yaml(ALERTS) as { groups: Array<{ rules: Rule[] }> };
  for (const g of doc.groups) for (const r of g.rules) delete r.annotations;
  writeFileSync(join(dir, 'alerts.yml'), stringifyYaml(doc));
  const cases = alertCases(alertRules().map((r) => r.alert!));
  const tested = new Set(cases.slice(1).flatMap((c) => c.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  assert.deepEqual(alertRules().map((r) => r.alert).filter((a) => !tested.has(a!)), [], 'every alert has a case where it fires');
  writeFileSync(join(dir, 'alerts.test.yml'), stringifyYaml({ rule_files: ['alerts.yml'], evaluation_interval: '15s', tests: cases }));
  const r = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool test rules\n${r.stdout}${r.stderr}`);
});

test('a running bridge exports every metric the dashboard and the alert rules name', { timeout: 120_000 }, async (t) => {
  const topics = testTopics((fn) => t.after(fn));
  const mock = await startMockServer({ port: 0, rate: 500 });
  t.after(() => mock.close());
  const port = await freePort();
  const bridge = startBridge(['--url', mock.url, '--metrics-port', String(port), '--metrics-interval', '0', ...topics.flags]);
  t.after(() => bridge.proc.kill('SIGKILL'));
  let text = '';
  await until('events acknowledged by Kafka', 60_000, async () => {
    text = await metricsText(port).catch(() => '');
    return /^ws2kafka_events_produced_total [1-9]/m.test(text);
  }, () => bridge.stderr().slice(-2000));
  const exposition = exportedNames(text);

  // prom-client declares a labelled counter (# TYPE) before its first sample: a metric the
  // dashboard names is exported even when nothing has been counted under it yet.
  assert.ok(exposition.types.has('ws2kafka_produce_errors_total') && exposition.types.has('ws2kafka_errors_total'));
  if (!exposition.samples.has('ws2kafka_errors_total')) assert.equal(exposition.types.get('ws2kafka_errors_total'), 'counter');

  const missing: string[] = [];
  let checked = 0;
  for (const q of queries) {
    const names = metricNames(q.expr);
    assert.ok(names.length > 0, `${q.where} names no metric: ${q.expr}`);
    for (const name of names) {
      if (PROMETHEUS_SERIES.has(name)) continue;
      checked++;
      if (!isExported(name, exposition)) missing.push(`${q.where}: ${name}`);
    }
  }
  assert.deepEqual(missing, [], 'metrics the dashboard or the alerts name and the bridge does not export');
  t.diagnostic(`${queries.length} queries, ${checked} metric references, all exported`);
  // The check can fail: a name the bridge does not export is reported.
  const bogus = metricNames('sum(rate(ws2kafka_events_recieved_total[5m]))');
  assert.deepEqual(bogus.filter((n) => !isExported(n, exposition)), ['ws2kafka_events_recieved_total']);

  bridge.proc.kill('SIGTERM');
  // Exit 0 after draining; { code: null, signal: 'SIGTERM' } means no SIGTERM handler was installed.
  assert.deepEqual(await bridge.exited, { code: 0, signal: null }, bridge.stderr().slice(-1500));
});
