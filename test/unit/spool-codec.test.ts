import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAt, DecodeStatus, encodeRecord, encodedSize, type SpoolRecord } from '../../src/spool/codec.ts';
import { crc32c, crc32cJs } from '../../src/spool/crc32c.ts';

const rec = (i: number, key: string | undefined = `K${i}`): SpoolRecord => ({
  topic: i % 2 ? 'trades' : 'aggregates',
  key: key === undefined ? undefined : Buffer.from(key),
  value: Buffer.from(`{"ev":"T","sym":"K${i}","q":${i},"note":"é😀"}`),
  headers: i % 3 === 0 ? [[Buffer.from('ws2kafka.reason'), Buffer.from('why')]] : [],
  receivedAt: 1_700_000_000_000 + i + 0.25,
});

test('CRC32C: the standard check value, native and JavaScript alike', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32cJs(Buffer.from('123456789')), 0xe3069283);
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
  assert.equal(crc32c(data), crc32cJs(data));
});

test('records round-trip: topic, null and empty keys, value bytes, headers, receive time', () => {
  const records = [rec(1), rec(2, undefined), rec(3, ''), rec(6)];
  const buf = Buffer.concat(records.map(encodeRecord));
  let o = 0;
  for (const r of records) {
    assert.equal(encodeRecord(r).length, encodedSize(r));
    const d = decodeAt(buf, o);
    assert.equal(d.status, DecodeStatus.OK);
    assert.deepEqual(d.record, r);
    o = d.next;
  }
  assert.equal(o, buf.length);
});

test('a torn tail reads as incomplete at the last whole record, whatever the cut', () => {
  const whole = Buffer.concat([encodeRecord(rec(1)), encodeRecord(rec(2))]);
  const first = encodeRecord(rec(1)).length;
  for (let cut = first; cut < whole.length; cut++) {
    const d = decodeAt(whole.subarray(0, cut), first);
    assert.equal(d.status, DecodeStatus.INCOMPLETE, `cut at ${cut}`);
    assert.equal(d.next, first);
  }
});

test('any flipped byte is caught', () => {
  const buf = encodeRecord(rec(3));
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i] = bad[i]! ^ 0x40;
    const d = decodeAt(bad, 0);
    assert.notEqual(d.status, DecodeStatus.OK, `byte ${i}`);
  }
});
