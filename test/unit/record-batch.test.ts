// The hand-written record batches, read back by the Kafka client's own decoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRecordsBatch, murmur2 as clientMurmur2, Reader, readRecordsBatch } from '@platformatic/kafka';
import { batchCount, murmur2, partitionOf, produceRequestBody, RecordBatchEncoder, stampBatch, type BatchRecord, type Compression } from '../../src/sink/record-batch.ts';
import { eventTimeMs } from '../../src/split/split.ts';

/**
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78), bit by bit: written here on purpose,
 * independent of the table (and native) versions the code under test uses.
 */
function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Kafka record batch v2: baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32, attributes int16, ... */
const CRC_AT = 8 + 4 + 4 + 1;
const ATTRIBUTES_AT = CRC_AT + 4;

/** The stored CRC and the CRC32C of the bytes from the attributes to the end of the batch. */
function batchCrcs(batch: Buffer): { stored: number; computed: number } {
  return { stored: batch.readUInt32BE(CRC_AT), computed: crc32cBitwise(batch.subarray(ATTRIBUTES_AT)) };
}

function assertBatchCrc(batch: Buffer, what: string): void {
  assert.equal(batch[16], 2, `${what}: magic 2`);
  assert.equal(batch.readInt32BE(8), batch.length - 12, `${what}: batchLength covers the rest of the buffer`);
  const { stored, computed } = batchCrcs(batch);
  assert.equal(stored.toString(16), computed.toString(16), `${what}: stored CRC is CRC32C(attributes..end)`);
}

test('the test\'s own CRC32C gives the standard check values', () => {
  // The CRC-32C catalogue check value, and RFC 3720 (iSCSI) B.4 vectors.
  assert.equal(crc32cBitwise(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32cBitwise(Buffer.alloc(32, 0x00)), 0x8a9136aa);
  assert.equal(crc32cBitwise(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32cBitwise(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32cBitwise(Buffer.alloc(0)), 0);
});

test('murmur2 gives the values of Apache Kafka\'s own UtilsTest', () => {
  const cases: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, want] of cases) assert.equal(murmur2(Buffer.from(key)), want, key);
});

test('murmur2 agrees with the client\'s for keys of every length 0..40, also inside a larger buffer', () => {
  for (let len = 0; len <= 40; len++) {
    const key = Buffer.from(Array.from({ length: len }, (_, i) => (i * 37 + len * 11) & 0xff));
    const want = Number(clientMurmur2(key)) | 0;
    assert.equal(murmur2(key), want, `length ${len}`);
    const framed = Buffer.concat([Buffer.from('xx'), key, Buffer.from('yy')]);
    assert.equal(murmur2(framed.subarray(2, 2 + len)), want);
  }
  // toPositive(murmur2) % n, as the Java client's default partitioner: never negative.
  assert.equal(partitionOf(Buffer.from('21'), 6), (-973932308 & 0x7fffffff) % 6);
});

function sample(): BatchRecord[] {
  return [
    { key: Buffer.from('AAPL'), value: Buffer.from('{"ev":"T","sym":"AAPL","p":1}') },
    { key: undefined, value: Buffer.from('{"ev":"status"}') },
    { key: Buffer.from('MSFT'), value: Buffer.alloc(300, 0x61), headers: new Map([[Buffer.from('ws2kafka.reason'), Buffer.from('bad frame')]]) },
    { key: Buffer.from(''), value: Buffer.from('[]') },
  ];
}

for (const compression of ['none', 'lz4', 'snappy', 'gzip', 'zstd'] as Compression[]) {
  test(`a record batch (${compression}) reads back record for record, with ids, sequence and CRC`, () => {
    const records = sample();
    const encoder = new RecordBatchEncoder(compression);
    const order = [2, 0, 3, 1];
    const batch = encoder.encode(records, order, 0, 4, { producerId: 42n, producerEpoch: 3, baseSequence: 1000 }, 1_790_000_000_123);
    const read = readRecordsBatch(Reader.from(batch));
    assert.equal(read.magic, 2);
    assert.equal(read.producerId, 42n);
    assert.equal(read.producerEpoch, 3);
    assert.equal(read.firstSequence, 1000);
    assert.equal(read.lastOffsetDelta, 3);
    assert.equal(read.firstTimestamp, 1_790_000_000_123n);
    assert.equal(read.attributes & 7, { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[compression]);
    assert.equal(read.length, batch.length - 12);
    assert.equal(batchCount(batch), 4);
    assert.equal(read.records.length, 4);
    read.records.forEach((r, k) => {
      const want = records[order[k]!]!;
      assert.equal(r.offsetDelta, k);
      // A null key stays null (not an empty key), and an empty key stays empty.
      assert.equal(r.key === null ? null : r.key.toString('hex'), want.key === undefined ? null : want.key.toString('hex'));
      assert.equal(r.value?.toString('hex'), want.value?.toString('hex'));
      const headers = r.headers.map(([hk, hv]) => [hk?.toString(), hv?.toString()]);
      assert.deepEqual(headers, want.headers ? [...want.headers].map(([hk, hv]) => [hk.toString(), hv.toString()]) : []);
    });
    // Kafka checks the CRC32C of everything from the attributes on: re-stamping keeps it right.
    assertBatchCrc(batch, `${compression}, as encoded`);
    stampBatch(batch, { producerId: 7n, producerEpoch: 0, baseSequence: 0 });
    assertBatchCrc(batch, `${compression}, re-stamped`);
    const again = readRecordsBatch(Reader.from(batch));
    assert.equal(again.producerId, 7n);
    assert.equal(again.firstSequence, 0);
  });
}

test('every batch carries the CRC32C of its bytes from the attributes to the end, for each compression and record count', () => {
  const ids = { producerId: 123_456_789_012n, producerEpoch: 9, baseSequence: 77 };
  for (const compression of ['none', 'lz4', 'snappy', 'gzip', 'zstd'] as Compression[]) {
    // One encoder per compression, reused, as the sink does: a batch must not carry bytes of the previous one.
    const encoder = new RecordBatchEncoder(compression);
    for (const n of [1, 2, 4, 17, 500]) {
      const records: BatchRecord[] = Array.from({ length: n }, (_, i) => ({
        key: i % 5 === 1 ? undefined : Buffer.from(`SYM${i % 13}`),
        value: Buffer.from(`{"ev":"T","sym":"SYM${i % 13}","p":${(i * 7.31).toFixed(2)},"q":${i + 1}}`),
        headers: i % 7 === 3 ? [[Buffer.from('ws2kafka.reason'), Buffer.from(`reason ${i}`)]] : undefined,
      }));
      const order = records.map((_, i) => n - 1 - i);
      const batch = encoder.encode(records, order, 0, n, ids, 1_790_000_000_000 + n);
      const what = `${compression}, ${n} records`;
      assert.equal(batchCount(batch), n, what);
      assertBatchCrc(batch, what);
      assert.equal(readRecordsBatch(Reader.from(batch)).records.length, n, what);
      // A sub-range of the same records (from > 0) is a batch of its own, with its own CRC.
      if (n > 2) assertBatchCrc(encoder.encode(records, order, 1, n - 1, ids, 1_790_000_000_000), `${what}, records 1..${n - 2}`);
      stampBatch(batch, { producerId: 1n, producerEpoch: 2, baseSequence: 2_000_000_000 });
      assertBatchCrc(batch, `${what}, re-stamped`);
    }
  }
});

test('the CRC check fails when any one byte after the crc field changes, and only the partition leader epoch and earlier are outside it', () => {
  const records = sample();
  for (const compression of ['none', 'zstd'] as Compression[]) {
    const batch = new RecordBatchEncoder(compression).encode(records, [0, 1, 2, 3], 0, 4, { producerId: 42n, producerEpoch: 3, baseSequence: 1000 }, 1_790_000_000_123);
    assertBatchCrc(batch, compression);
    // attributes, last offset delta, timestamps, producer id, epoch, base sequence, count, the records: each byte position.
    for (let at = ATTRIBUTES_AT; at < batch.length; at++) {
      const flipped = Buffer.from(batch);
      flipped[at] = flipped[at]! ^ 0x01;
      const { stored, computed } = batchCrcs(flipped);
      assert.notEqual(computed, stored, `${compression}: flipping byte ${at} of ${batch.length} must break the CRC`);
      assert.throws(() => assertBatchCrc(flipped, `${compression}, byte ${at} flipped`), assert.AssertionError);
    }
    // A changed stored CRC is caught too.
    const badCrc = Buffer.from(batch);
    badCrc[CRC_AT + 3] = badCrc[CRC_AT + 3]! ^ 0x80;
    assert.throws(() => assertBatchCrc(badCrc, `${compression}, crc flipped`), assert.AssertionError);
    // Base offset and partition leader epoch are set by the broker: Kafka leaves them out of the CRC.
    const outside = Buffer.from(batch);
    outside.writeBigInt64BE(99n, 0);
    outside.writeInt32BE(5, 12);
    assertBatchCrc(outside, `${compression}, base offset and leader epoch changed`);
  }
});

test('a batch bigger than the encoder\'s first scratch buffer is written whole', () => {
  const records: BatchRecord[] = Array.from({ length: 3000 }, (_, i) => ({ key: Buffer.from(`K${i}`), value: Buffer.alloc(1000, i & 0xff) }));
  const order = records.map((_, i) => i);
  const batch = new RecordBatchEncoder('lz4').encode(records, order, 0, records.length, { producerId: 1n, producerEpoch: 0, baseSequence: 0 }, Date.now());
  const read = readRecordsBatch(Reader.from(batch));
  assert.equal(read.records.length, 3000);
  assert.equal(read.records[2999]!.value?.[0], 2999 & 0xff);
  assert.equal(read.records[2999]!.key?.toString(), 'K2999');
  assertBatchCrc(batch, '3000 records, lz4');
});

/** Each record's timestamp as a consumer computes it: firstTimestamp + timestampDelta. */
function recordTimestamps(batch: Buffer): bigint[] {
  const read = readRecordsBatch(Reader.from(batch));
  return read.records.map((r) => read.firstTimestamp + r.timestampDelta);
}

for (const compression of ['none', 'lz4', 'zstd'] as Compression[]) {
  test(`per-record timestamps (${compression}): firstTimestamp the smallest, maxTimestamp the largest, each record its own`, () => {
    const records = sample();
    const encoder = new RecordBatchEncoder(compression);
    const ids = { producerId: 42n, producerEpoch: 3, baseSequence: 0 };
    // Aligned with the records (not with the order), out of order, with a fraction of a ms.
    const timestamps = new Float64Array([1_790_000_000_500, 1_790_000_000_100.9, 1_790_000_000_300, 1_790_000_000_100]);
    const order = [2, 0, 3, 1];
    const batch = encoder.encode(records, order, 0, 4, ids, 1_790_000_009_999, timestamps);
    const read = readRecordsBatch(Reader.from(batch));
    assert.equal(read.firstTimestamp, 1_790_000_000_100n);
    assert.equal(read.maxTimestamp, 1_790_000_000_500n);
    assert.deepEqual(read.records.map((r) => r.timestampDelta), [200n, 400n, 0n, 0n]);
    assert.deepEqual(recordTimestamps(batch), order.map((i) => BigInt(Math.floor(timestamps[i]!))));
    assert.equal(read.records.length, 4);
    read.records.forEach((r, k) => assert.equal(r.value?.toString('hex'), records[order[k]!]!.value?.toString('hex')));
    assertBatchCrc(batch, compression);
    // A sub-range: its own smallest and largest.
    const part = readRecordsBatch(Reader.from(encoder.encode(records, order, 0, 2, ids, 1_790_000_009_999, timestamps)));
    assert.equal(part.firstTimestamp, 1_790_000_000_300n);
    assert.equal(part.maxTimestamp, 1_790_000_000_500n);
    // A plain array does as well as a Float64Array.
    assert.deepEqual(recordTimestamps(encoder.encode(records, order, 0, 4, ids, 0, [...timestamps])), recordTimestamps(batch));
  });
}

test('records without a timestamp of their own (-1, negative, NaN, over 2^52, or no array) get the time the batch is written', () => {
  const records = sample();
  const encoder = new RecordBatchEncoder('none');
  const ids = { producerId: 1n, producerEpoch: 0, baseSequence: 0 };
  const now = 1_790_000_000_000.7;
  const batch = encoder.encode(records, [0, 1, 2, 3], 0, 4, ids, now, [-1, Number.NaN, 1_789_999_999_000, 2 ** 53]);
  assert.deepEqual(recordTimestamps(batch), [1_790_000_000_000n, 1_790_000_000_000n, 1_789_999_999_000n, 1_790_000_000_000n]);
  const read = readRecordsBatch(Reader.from(batch));
  assert.equal(read.firstTimestamp, 1_789_999_999_000n);
  assert.equal(read.maxTimestamp, 1_790_000_000_000n);
  // No array: every record the batch's time, deltas 0 (one byte each, as before).
  const same = readRecordsBatch(Reader.from(encoder.encode(records, [0, 1, 2, 3], 0, 4, ids, now)));
  assert.equal(same.firstTimestamp, 1_790_000_000_000n);
  assert.equal(same.maxTimestamp, 1_790_000_000_000n);
  assert.deepEqual(same.records.map((r) => r.timestampDelta), [0n, 0n, 0n, 0n]);
});

test('timestamp deltas of every varint length, up to 2^52 ms, read back exactly, and the batch length is right', () => {
  const deltas = [0, 1, 63, 64, 8191, 8192, 2 ** 20, 2 ** 27, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 34, 2 ** 35, 2 ** 41, 2 ** 42, 2 ** 48, 2 ** 52 - 1];
  const records: BatchRecord[] = deltas.map((d, i) => ({ key: Buffer.from(`K${i}`), value: Buffer.from(`{"d":${d}}`) }));
  const order = records.map((_, i) => i);
  for (const compression of ['none', 'snappy'] as Compression[]) {
    const batch = new RecordBatchEncoder(compression).encode(records, order, 0, records.length, { producerId: 1n, producerEpoch: 0, baseSequence: 0 }, 5, deltas);
    assertBatchCrc(batch, compression);
    const read = readRecordsBatch(Reader.from(batch));
    assert.equal(read.firstTimestamp, 0n);
    assert.equal(read.maxTimestamp, BigInt(2 ** 52 - 1));
    assert.deepEqual(read.records.map((r) => r.timestampDelta), deltas.map((d) => BigInt(d)), compression);
    assert.deepEqual(read.records.map((r) => r.key?.toString()), records.map((r) => r.key?.toString()));
  }
});

test('per-record timestamps agree with the client\'s own record batch for the same records', () => {
  const records = sample();
  const times = [1_790_000_000_100, 1_790_000_000_100, 1_790_000_000_250, 1_790_000_001_000];
  const ours = readRecordsBatch(Reader.from(new RecordBatchEncoder('none').encode(records, [0, 1, 2, 3], 0, 4, { producerId: 9n, producerEpoch: 1, baseSequence: 5 }, 0, times)));
  // The client writes the first record's time as firstTimestamp: sorted times make them the same.
  const theirs = readRecordsBatch(
    Reader.from(
      createRecordsBatch(
        records.map((r, i) => ({ topic: 't', ...(r.key ? { key: r.key } : {}), value: r.value!, timestamp: BigInt(times[i]!), headers: new Map(r.headers ? [...r.headers] : []) })),
        { producerId: 9n, producerEpoch: 1 },
      ).buffer,
    ),
  );
  assert.equal(ours.firstTimestamp, theirs.firstTimestamp);
  assert.equal(ours.maxTimestamp, theirs.maxTimestamp);
  assert.deepEqual(ours.records.map((r) => r.timestampDelta), theirs.records.map((r) => r.timestampDelta));
});

test('a produce request body groups partitions under their topic, in first-seen order', () => {
  const b = (n: number) => Buffer.alloc(n, n);
  const body = produceRequestBody(-1, 30000, [
    { topic: 'trades', partition: 2, batch: b(3) },
    { topic: 'aggregates', partition: 0, batch: b(200) },
    { topic: 'trades', partition: 5, batch: b(1) },
  ]);
  const r = Reader.from(body);
  assert.equal(r.readNullableString(), null);
  assert.equal(r.readInt16(), -1);
  assert.equal(r.readInt32(), 30000);
  const topics = r.readArray((t) => {
    const name = t.readString();
    const parts = t.readArray((p) => {
      const index = p.readInt32();
      const bytes = p.readBytes();
      p.readTaggedFields();
      return [index, bytes.length, bytes[0]];
    }, true, false);
    t.readTaggedFields();
    return [name, parts];
  }, true, false);
  r.readTaggedFields();
  assert.deepEqual(topics, [
    ['trades', [[2, 3, 3], [5, 1, 1]]],
    ['aggregates', [[0, 200, 200]]],
  ]);
  assert.equal(r.remaining, 0);
});

// ---------------------------------------------------------------------------------------------
// The event's own time (--timestamp event), read from its bytes when its batch is written.

test('eventTimeMs: the top-level t as ms; µs and ns converted by dropping digits; no numeric t is NaN', () => {
  const ms = 1_790_000_000_123;
  const at = (json: string) => eventTimeMs(Buffer.from(json));
  assert.equal(at(`{"ev":"T","sym":"A","t":${ms}}`), ms);
  assert.equal(at(`{"t":${ms},"ev":"T"}`), ms);
  assert.equal(at(`{"ev":"T","t":${ms}999}`), ms, 'µs (16 digits): the last three dropped, not rounded');
  assert.equal(at(`{"ev":"T","t":${ms}999999}`), ms, 'ns (19 digits): the last six dropped, exactly');
  assert.equal(at(`{"ev":"T","t":${ms}000001}`), ms);
  assert.equal(at('{"t":100000000000000}'), 1e14, 'up to 1e14: ms');
  assert.equal(at('{"t":100000000000001}'), 100000000000, 'over 1e14: µs');
  assert.equal(at('{"t":100000000000000000}'), 1e14, 'up to 1e17: µs');
  assert.equal(at('{"t":100000000001000000}'), 100000000001, 'over 1e17: ns');
  assert.equal(at(`{"t":${ms}.999}`), ms, 'a fraction dropped');
  assert.equal(at('{"t":1.79e12}'), 1.79e12);
  assert.equal(at('{"t":1.79e18}'), 1.79e12, 'ns with an exponent');
  assert.equal(at(`{ "ev" : "T" , "t" : ${ms} , "q" : 1 }`), ms, 'whitespace anywhere JSON allows it');
  assert.equal(at(`{"ev":"T","t":1,"t":${ms}}`), ms, 'the last t wins, as JSON.parse reads it');
  assert.equal(at(`{"\\u0074":${ms}}`), ms, 'a key spelled with an escape is decoded');
  assert.equal(at(`{"x":{"t":${ms}},"y":[{"t":1}],"s":"\\"t\\":5,","T":"t"}`), NaN, 'only a top-level t counts');
  for (const none of ['{"ev":"T"}', '{}', `{"t":"${ms}"}`, '{"t":null}', '{"t":true}', `{"t":[${ms}]}`, `{"t":{"t":${ms}}}`, `{"t":${ms},"t":null}`, '{"t":0}', `{"t":-${ms}}`, '{"t":1e300}', '{"tt":1,"T":2}']) {
    assert.equal(at(none), NaN, none);
  }
  // Not an object, or cut short: no time, and no throw.
  for (const odd of ['', '[]', `[{"t":${ms}}]`, '"t"', `{"t":${ms}`, '{"t":', '{"t', '{"a":"\\x"}']) assert.doesNotThrow(() => at(odd), odd);
  assert.equal(at(`[{"t":${ms}}]`), NaN);
});

test('eventTimeMs agrees with JSON.parse on generated events (where a double holds t exactly)', () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const values = () => {
    const pick = rnd(9);
    if (pick === 0) return `"${rnd(1e6)}"`;
    if (pick === 1) return `{"t":${rnd(1e9)},"u":[1,{"t":2}]}`;
    if (pick === 2) return 'null';
    if (pick === 3) return `[${rnd(1e6)},"t"]`;
    if (pick === 4) return `${1_700_000_000_000 + rnd(1e9)}`;
    if (pick === 5) return `${(1_700_000_000_000 + rnd(1e9)) * 1000 + rnd(1000)}`;
    if (pick === 6) return `${1_700_000_000_000 + rnd(1e9)}.${rnd(1000)}`;
    if (pick === 7) return `-${rnd(1e6)}`;
    return 'true';
  };
  const names = ['t', 'T', 'ev', 'sym', 'tt', '\\u0074', 'x', 't '];
  for (let n = 0; n < 5000; n++) {
    const members: string[] = [];
    for (let m = rnd(6); m >= 0; m--) members.push(`"${names[rnd(names.length)]}"${rnd(2) ? ' : ' : ':'}${values()}`);
    const json = `{${members.join(',')}}`;
    const t = (JSON.parse(json) as { t?: unknown }).t;
    const want = typeof t === 'number' && t > 0 ? Math.floor(t > 1e17 ? t / 1e6 : t > 1e14 ? t / 1e3 : t) : NaN;
    assert.equal(eventTimeMs(Buffer.from(json)), want, json);
  }
});
