// CRC32C (Castagnoli), as Kafka's record batches use: @node-rs/crc32 (native, prebuilt on npm)
// when it loads, else a table-driven fallback in JavaScript (same results, slower).
import { createRequire } from 'node:module';

type Crc = (data: Uint8Array, initial?: number) => number;

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

export function crc32cJs(data: Uint8Array, initial = 0): number {
  let crc = ~initial >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

function load(): Crc {
  try {
    const native = (createRequire(import.meta.url)('@node-rs/crc32') as { crc32c: (d: Uint8Array, i?: number) => number }).crc32c;
    return (data, initial) => native(data, initial) >>> 0;
  } catch {
    return crc32cJs;
  }
}

export const crc32c: Crc = load();
