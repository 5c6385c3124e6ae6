// A fixed-memory latency histogram in microseconds: log-linear buckets (32 per power of two,
// about 3 % wide), recorded with integer arithmetic only — cheap enough for every record.

const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
const LINEAR = SUB * 2; // values below this have a bucket each
const BUCKETS = LINEAR + (31 - SUB_BITS) * SUB;

function bucketOf(us: number): number {
  const v = us < 0 ? 0 : us > 0x7fffffff ? 0x7fffffff : us | 0;
  if (v < LINEAR) return v;
  const bits = 31 - Math.clz32(v); // >= SUB_BITS + 1
  return LINEAR + (bits - SUB_BITS - 1) * SUB + ((v >>> (bits - SUB_BITS)) & (SUB - 1));
}

/** The lowest value that falls in bucket b. */
function lowerBound(b: number): number {
  if (b < LINEAR) return b;
  const k = b - LINEAR;
  const bits = Math.floor(k / SUB) + SUB_BITS + 1;
  const sub = k % SUB;
  return (SUB + sub) * 2 ** (bits - SUB_BITS);
}

export class Histogram {
  #counts = new Float64Array(BUCKETS);
  #count = 0;
  #max = 0;

  record(us: number): void {
    this.#counts[bucketOf(us)]!++;
    this.#count++;
    if (us > this.#max) this.#max = us;
  }

  get count(): number {
    return this.#count;
  }

  get max(): number {
    return this.#max;
  }

  /** The value at quantile q (0..1), as the upper end of its bucket, in microseconds. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b]!;
      if (seen >= rank) return Math.min(this.#max, b + 1 < BUCKETS ? lowerBound(b + 1) - 1 : this.#max);
    }
    return this.#max;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#max = 0;
  }
}
