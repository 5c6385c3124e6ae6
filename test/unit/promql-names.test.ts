// The PromQL metric-name extractor that checks the dashboard and the alert rules against /metrics:
// it must find every metric an expression reads and nothing else, or that check proves nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportedNames, isExported, metricNames, tokenize } from '../helpers/promql.ts';

test('metric names: selectors, ranges, functions and aggregations', () => {
  assert.deepEqual(metricNames('ws2kafka_spool_bytes'), ['ws2kafka_spool_bytes']);
  assert.deepEqual(metricNames('ws2kafka_spool_bytes>0'), ['ws2kafka_spool_bytes']);
  assert.deepEqual(metricNames('rate(ws2kafka_events_received_total[5m])'), ['ws2kafka_events_received_total']);
  assert.deepEqual(metricNames('sum by (code) (rate(ws2kafka_produce_errors_total{job="ws2kafka", code!~"NETWORK|TIMEOUT"}[$__rate_interval]))'), ['ws2kafka_produce_errors_total']);
  assert.deepEqual(metricNames('sum(rate(a_total[1m])) without (instance, job) / on (instance) group_left (code) b'), ['a_total', 'b']);
  assert.deepEqual(metricNames('topk by (code) (3, ws2kafka_errors_total)'), ['ws2kafka_errors_total']);
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[5m])))'), ['x_seconds_bucket']);
  assert.deepEqual(metricNames('a and b or c unless d'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(metricNames('a > bool 0 AND b OR c'), ['a', 'b', 'c']);
  assert.deepEqual(metricNames('increase(a[10m] offset 1h) + b @ start() - c offset -5m'), ['a', 'b', 'c']);
  assert.deepEqual(metricNames('max_over_time(deriv(a[5m])[30m:1m])'), ['a']);
  assert.deepEqual(metricNames('predict_linear(a[30m], 3600) > 0.8 * 10737418240 and a > 64 * 1024 * 1024'), ['a']);
  assert.deepEqual(metricNames('label_replace(a, "dst", "$1", "src", "(.*)")'), ['a']);
  assert.deepEqual(metricNames('a / ignoring(le) group_left b'), ['a', 'b']);
  assert.deepEqual(metricNames('vector(1) + scalar(a) + 1e3 + 0x1f + Inf - NaN'), ['a']);
  assert.deepEqual(metricNames('{__name__="ws2kafka_gaps_total", job="x"}'), ['ws2kafka_gaps_total']);
  assert.deepEqual(metricNames('recorded:rate5m:sum'), ['recorded:rate5m:sum']);
  assert.deepEqual(metricNames('a{quantile="0.99"}\n# a comment naming not_a_metric\n+ b'), ['a', 'b']);
});

test('metric names: label names and values, strings and Grafana variables are not metrics', () => {
  assert.deepEqual(metricNames('up{job=~"$job", instance=~"${instance:regex}"}'), ['up']);
  assert.deepEqual(metricNames('a{code="by (x) }{ rate(b[1m])", le=~`c{d}`, e=\'f\\\'g\'}'), ['a']);
  assert.deepEqual(metricNames('increase(a[$__range]) / $__interval_ms'), ['a']);
  assert.deepEqual(metricNames('sum by (instance) (a{job="ws2kafka"}) > 0 and on (instance) sum by (instance) (b) == 0'), ['a', 'b']);
});

test('the extractor reports what it does not understand instead of guessing', () => {
  assert.throws(() => metricNames('rate(a[5m]'), /not closed/);
  assert.throws(() => metricNames('a{job="x"'), /not closed/);
  assert.throws(() => metricNames('a{job="x]'), /unterminated string/);
  assert.throws(() => metricNames('sum(a])'), /'\(' at 3 is not closed before '\]'/);
  assert.throws(() => metricNames('a)'), /unbalanced '\)'/);
  assert.throws(() => tokenize('a ; b'), /unexpected ';'/);
});

test('exported names: TYPE lines (also of labelled counters with no sample yet), samples, histogram series', () => {
  const exposition = exportedNames(
    [
      '# HELP ws2kafka_produce_errors_total Failed produce attempts',
      '# TYPE ws2kafka_produce_errors_total counter',
      '',
      '# TYPE ws2kafka_spool_bytes gauge',
      'ws2kafka_spool_bytes 0',
      '# TYPE ws2kafka_ack_latency_seconds gauge',
      'ws2kafka_ack_latency_seconds{quantile="0.99"} 0.01',
      '# TYPE gc_seconds histogram',
      'gc_seconds_bucket{le="+Inf",kind="minor"} 3',
      'gc_seconds_sum{kind="minor"} 0.1',
      'gc_seconds_count{kind="minor"} 3',
      '# TYPE rpc summary',
      'rpc_count 1',
    ].join('\n'),
  );
  for (const name of ['ws2kafka_produce_errors_total', 'ws2kafka_spool_bytes', 'ws2kafka_ack_latency_seconds', 'gc_seconds', 'gc_seconds_bucket', 'gc_seconds_count', 'rpc_sum', 'rpc_count']) {
    assert.ok(isExported(name, exposition), name);
  }
  for (const name of ['ws2kafka_spool_bytes_total', 'ws2kafka_produce_errors', 'rpc_bucket', 'ws2kafka_spool_bytes_count', 'up']) {
    assert.ok(!isExported(name, exposition), name);
  }
});
