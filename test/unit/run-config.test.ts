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

test('--replication: auto by default, -1 (the broker\'s default) or 1..32', async () => {
  assert.equal((await loadRunConfig({}, {})).replication, 'auto');
  assert.equal((await loadRunConfig({ replication: '3' }, {})).replication, 3);
  assert.equal((await loadRunConfig({}, { KAFKA_REPLICATION: '-1' })).replication, -1);
  assert.equal((await loadRunConfig({ replication: 'auto' }, { KAFKA_REPLICATION: '2' })).replication, 'auto');
  await assert.rejects(loadRunConfig({ replication: '0' }, {}), /--replication '0' is not valid: expected auto \(min\(3, brokers\)\), -1/);
  await assert.rejects(loadRunConfig({ replication: 'three' }, {}), /--replication 'three' is not valid/);
});

test('--topic-config: KEY=VALUE pairs from a flag, TOPIC_CONFIG, or the file as a map or a list', async () => {
  assert.deepEqual((await loadRunConfig({}, {})).topicConfig, {});
  assert.deepEqual((await loadRunConfig({ 'topic-config': 'retention.ms=3600000, min.insync.replicas=2' }, {})).topicConfig, { 'retention.ms': '3600000', 'min.insync.replicas': '2' });
  assert.deepEqual((await loadRunConfig({}, { TOPIC_CONFIG: 'cleanup.policy=delete' })).topicConfig, { 'cleanup.policy': 'delete' });
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-config-'));
  const map = join(dir, 'map.yaml');
  await writeFile(map, 'topic-config:\n  retention.ms: 3600000\n  compression.type: producer\n');
  assert.deepEqual((await loadRunConfig({ config: map }, {})).topicConfig, { 'retention.ms': '3600000', 'compression.type': 'producer' });
  const list = join(dir, 'list.json');
  await writeFile(list, '{"topic-config": ["retention.ms=60000", "segment.bytes=1048576"]}');
  assert.deepEqual((await loadRunConfig({ config: list }, {})).topicConfig, { 'retention.ms': '60000', 'segment.bytes': '1048576' });
  assert.deepEqual((await loadRunConfig({ config: list, 'topic-config': 'retention.ms=1' }, {})).topicConfig, { 'retention.ms': '1' }, 'the flag replaces the file');
});

test('--topic-config: a bad key or value names the flag and the pair', async () => {
  await assert.rejects(loadRunConfig({ 'topic-config': 'Retention.MS=1' }, {}), /--topic-config 'Retention.MS=1' is not valid: expected KEY=VALUE pairs .*lowercase dotted/);
  await assert.rejects(loadRunConfig({ 'topic-config': 'retention_ms=1' }, {}), /--topic-config 'retention_ms=1' is not valid/);
  await assert.rejects(loadRunConfig({ 'topic-config': 'retention.ms' }, {}), /--topic-config 'retention.ms' is not valid: expected a value for retention.ms/);
  await assert.rejects(loadRunConfig({ 'topic-config': 'retention.ms=' }, {}), /--topic-config 'retention.ms=' is not valid: expected a value/);
  await assert.rejects(loadRunConfig({ 'topic-config': '.ms=1' }, {}), /--topic-config '.ms=1' is not valid/);
  await assert.rejects(loadRunConfig({}, { TOPIC_CONFIG: 'retention.ms=1,retention.ms=2' }), /TOPIC_CONFIG .* is not valid: expected each topic config once \(retention.ms is given twice\)/);
});

test('--timestamp: receive by default, or event', async () => {
  assert.equal((await loadRunConfig({}, {})).timestamp, 'receive');
  assert.equal((await loadRunConfig({}, { TIMESTAMP: 'event' })).timestamp, 'event');
  await assert.rejects(loadRunConfig({ timestamp: 'now' }, {}), /--timestamp 'now' is not valid: expected one of receive, event/);
});

test('feeds: a list in the config file, each with its own url, key, subscriptions, topics and control topics; the rest from the top level', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-config-'));
  const keyFile = join(dir, 'crypto-key');
  await writeFile(keyFile, 'crypto-secret\n');
  const file = join(dir, 'feeds.yaml');
  await writeFile(
    file,
    [
      'api-key: shared-secret',
      'subscribe: T.*',
      'dead-letter-topic: dead-shared',
      'topics:',
      '  T: all-trades',
      'feeds:',
      '  - name: stocks',
      '    url: wss://socket.polygon.io/stocks',
      '    subscribe: T.*,AM.*',
      '  - name: crypto',
      '    url: wss://socket.polygon.io/crypto',
      '    api-key-file: ' + keyFile,
      '    subscribe: [XT.*, XA.*]',
      '    topics: { XT: crypto-trades-x }',
      '    gap-topic: gaps-crypto',
      '    dead-letter-topic: dead-crypto',
      '',
    ].join('\n'),
  );
  const c = await loadRunConfig({ config: file, 'gap-topic': 'gaps-flag' }, {});
  assert.equal(c.url, undefined);
  assert.deepEqual(
    c.feeds?.map((f) => [f.name, f.url, f.apiKey, f.subscribe, f.topics['T'], f.topics['XT'], f.topics['AM'], f.deadLetterTopic, f.gapTopic, f.unknownTopic]),
    [
      ['stocks', 'wss://socket.polygon.io/stocks', 'shared-secret', 'T.*,AM.*', 'all-trades', 'crypto-trades', 'aggregates', 'dead-shared', 'gaps-flag', 'ws2kafka-unknown'],
      ['crypto', 'wss://socket.polygon.io/crypto', 'crypto-secret', 'XT.*,XA.*', 'all-trades', 'crypto-trades-x', 'aggregates', 'dead-crypto', 'gaps-crypto', 'ws2kafka-unknown'],
    ],
  );
  // Without a list: no feeds (the flags describe one feed, as before).
  assert.equal((await loadRunConfig({ url: 'ws://127.0.0.1:1/x' }, {})).feeds, undefined);
  // JSON works too.
  const json = join(dir, 'feeds.json');
  await writeFile(json, JSON.stringify({ feeds: [{ name: 'a', url: 'ws://127.0.0.1:1/a', topics: 'T=ta' }] }));
  assert.deepEqual((await loadRunConfig({ config: json }, { SUBSCRIBE: 'Q.*' })).feeds?.map((f) => [f.name, f.subscribe, f.topics['T']]), [['a', 'Q.*', 'ta']]);
});

test('feeds: a mistake names the file, the feed and the key; a URL beside the list or --demo is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ws2kafka-config-'));
  const write = async (name: string, feeds: unknown, extra: Record<string, unknown> = {}) => {
    const file = join(dir, name);
    await writeFile(file, JSON.stringify({ ...extra, feeds }));
    return file;
  };
  const ok = { name: 'a', url: 'ws://127.0.0.1:1/a' };
  await assert.rejects(loadRunConfig({ config: await write('empty.json', []) }, {}), /feeds must be a non-empty list/);
  await assert.rejects(loadRunConfig({ config: await write('noname.json', [{ url: 'ws://x/' }]) }, {}), /feeds\[0\]\.name '' is not valid: expected a name of letters/);
  await assert.rejects(loadRunConfig({ config: await write('badname.json', [{ ...ok, name: 'a b' }]) }, {}), /feeds\[0\]\.name 'a b' is not valid/);
  await assert.rejects(loadRunConfig({ config: await write('twice.json', [ok, ok]) }, {}), /feeds\[1\]\.name 'a' is given to two feeds/);
  await assert.rejects(loadRunConfig({ config: await write('nourl.json', [{ name: 'a' }]) }, {}), /feed 'a' has no url/);
  await assert.rejects(loadRunConfig({ config: await write('http.json', [{ name: 'a', url: 'http://x/?apiKey=hunter2' }]) }, {}), (err: Error) => /feed 'a' url '.*' is not valid: expected a ws:\/\/ or wss:\/\/ URL/.test(err.message) && !err.message.includes('hunter2'));
  await assert.rejects(loadRunConfig({ config: await write('unknown.json', [{ ...ok, urll: 'x' }]) }, {}), /feeds\[0\]: unknown key 'urll'; a feed's keys are: name, url, api-key/);
  await assert.rejects(loadRunConfig({ config: await write('topic.json', [{ ...ok, 'gap-topic': 'a b' }]) }, {}), /feed 'a' gap-topic 'a b' is not valid: expected a Kafka topic name/);
  await assert.rejects(loadRunConfig({ config: await write('map.json', [{ ...ok, topics: 'T:x' }]) }, {}), /feed 'a' topics 'T:x' is not valid: expected EV=TOPIC pairs/);
  await assert.rejects(loadRunConfig({ config: await write('keys.json', [{ ...ok, 'api-key': 'k', 'api-key-file': '/k' }]) }, {}), /feed 'a': api-key and api-key-file are both given/);
  await assert.rejects(loadRunConfig({ config: await write('nokey.json', [{ ...ok, 'api-key-file': join(dir, 'absent') }]) }, {}), /feed 'a': api-key-file '.*absent' cannot be read \(ENOENT\)/);
  await assert.rejects(loadRunConfig({ config: await write('ca.json', [{ ...ok, ca: '/ca.pem' }]) }, {}), /feed 'a': ca '\/ca.pem' is for a wss:\/\/ feed/);
  await assert.rejects(loadRunConfig({ config: await write('notobj.json', ['ws://x/']) }, {}), /feeds\[0\] is not valid: expected an object with name, url/);
  const listed = await write('listed.json', [ok]);
  await assert.rejects(loadRunConfig({ config: listed, url: 'ws://127.0.0.1:1/b' }, {}), /lists feeds, and --url gives one more/);
  await assert.rejects(loadRunConfig({ config: listed }, { WEBSOCKET_URL: 'ws://127.0.0.1:1/b' }), /lists feeds, and WEBSOCKET_URL gives one more/);
  await assert.rejects(loadRunConfig({ config: await write('both.json', [ok], { url: 'ws://127.0.0.1:1/b' }) }, {}), /lists feeds, and url in the file gives one more/);
  await assert.rejects(loadRunConfig({ config: listed, demo: true }, {}), /--demo \(the built-in mock feed\) cannot be added/);
});

test('--buffer-bytes: sizes with units, 0 for no byte bound, a bad value names the flag and the range', async () => {
  assert.equal((await loadRunConfig({}, {})).bufferBytes, 64 * 1024 * 1024, 'default 64MiB');
  const bytes = async (v: string) => (await loadRunConfig({ 'buffer-bytes': v }, {})).bufferBytes;
  assert.equal(await bytes('256MB'), 256_000_000);
  assert.equal(await bytes('256MiB'), 256 * 1024 ** 2);
  assert.equal(await bytes('64m'), 64 * 1024 ** 2);
  assert.equal(await bytes('1GiB'), 1024 ** 3);
  assert.equal(await bytes('1.5g'), 1.5 * 1024 ** 3);
  assert.equal(await bytes('512KiB'), 512 * 1024);
  assert.equal(await bytes('100kb'), 100_000);
  assert.equal(await bytes('1048576'), 1048576);
  assert.equal(await bytes('0'), 0, '0: no byte bound');
  assert.equal((await loadRunConfig({}, { KAFKA_BUFFER_BYTES: '32m' })).bufferBytes, 32 * 1024 ** 2);
  await assert.rejects(bytes('lots'), /--buffer-bytes 'lots' is not valid: expected 0 \(no bound\) or a size from 64KiB to 1TiB/);
  await assert.rejects(bytes('1k'), /--buffer-bytes '1k' is not valid: expected 0 \(no bound\) or a size from 64KiB to 1TiB/);
  await assert.rejects(bytes('2TiB'), /--buffer-bytes '2TiB' is not valid/);
  await assert.rejects(loadRunConfig({}, { KAFKA_BUFFER_BYTES: '-5m' }), /KAFKA_BUFFER_BYTES '-5m' is not valid/);
});
