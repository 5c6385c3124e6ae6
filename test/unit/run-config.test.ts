import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadRunConfig, RUN_OPTIONS } from '../../src/config/run-config.ts';

test('defaults: the issue\'s subscription, topics and producer settings', async () => {
  const c = await loadRunConfig({}, {});
  assert.equal(c.subscribe, 'T.*,AM.*');
  assert.equal(c.topics['T'], 'trades');
  assert.equal(c.topics['AM'], 'aggregates');
  assert.equal(c.topics['A'], 'aggregates');
  assert.equal(c.compression, 'lz4');
  assert.equal(c.metricsIntervalMs, 30_000);
  assert.equal(c.url, undefined);
  assert.equal(c.brokers, undefined);
});

test('precedence: file < environment < flags', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-config-'));
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'buffer-size: 5000\ncompression: zstd\nsubscribe: Q.*\ntopics:\n  T: file-trades\n');
  const c = await loadRunConfig({ config: file, compression: 'gzip' }, { KAFKA_BUFFER_SIZE: '7000', KAFKA_COMPRESSION: 'snappy' });
  assert.equal(c.bufferSize, 7000, 'env over file');
  assert.equal(c.compression, 'gzip', 'flag over env');
  assert.equal(c.subscribe, 'Q.*', 'file over default');
  assert.equal(c.topics['T'], 'file-trades');
  assert.equal(c.topics['AM'], 'aggregates', 'defaults kept for unmapped evs');
});

test('bad values name the option, the value and what is accepted', async () => {
  await assert.rejects(loadRunConfig({ compression: 'brotli' }, {}), /--compression 'brotli' is not valid: expected one of lz4, snappy, zstd, gzip, none/);
  await assert.rejects(loadRunConfig({}, { KAFKA_BUFFER_SIZE: 'lots' }), /KAFKA_BUFFER_SIZE 'lots' is not valid: expected a whole number from 1000/);
  await assert.rejects(loadRunConfig({ 'metrics-interval': '5 minutes' }, {}), /--metrics-interval '5 minutes' is not valid: expected a duration/);
  await assert.rejects(loadRunConfig({ url: 'http://x' }, {}), /--url 'http:\/\/x\/' is not valid: expected a ws:\/\/ or wss:\/\/ URL/);
  await assert.rejects(loadRunConfig({ topics: 'T:trades' }, {}), /--topics 'T:trades' is not valid: expected EV=TOPIC pairs/);
  await assert.rejects(loadRunConfig({ overflow: 'spill' }, {}), /--overflow 'spill' is not valid: expected one of spool, block, drop/);
});

test('a secret in a bad URL is not echoed', async () => {
  await assert.rejects(loadRunConfig({ url: 'http://user:hunter2@host/x?apiKey=hunter2' }, {}), (err: Error) => !err.message.includes('hunter2'));
});

test('an unknown key in the config file is named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-config-'));
  const file = join(dir, 'c.json');
  await writeFile(file, '{"bufer-size": 5}');
  await assert.rejects(loadRunConfig({ config: file }, {}), /unknown option 'bufer-size'/);
});

test('docs/configuration.md documents every option', async () => {
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  for (const o of RUN_OPTIONS) {
    assert.ok(doc.includes(`\`--${o.flag} `), `--${o.flag} is documented`);
    if (o.env) assert.ok(doc.includes(`\`${o.env}\``), `${o.env} is documented`);
  }
});
