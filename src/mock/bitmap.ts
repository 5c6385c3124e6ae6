// A growable bitmap over sequence numbers from a base q: which q values a connection was sent.
// Bits are set in increasing q order in practice, but any q >= base may be set.

export class QBitmap {
  readonly base: number;
  #bytes: Uint8Array;
  #count = 0;
  #last = -1;

  constructor(base: number, initialBytes = 1024) {
    this.base = base;
    this.#bytes = new Uint8Array(initialBytes);
  }

  /** Sets q (q >= base); returns false when it was already set. */
  set(q: number): boolean {
    const i = q - this.base;
    if (i < 0) throw new RangeError(`q ${q} is below the bitmap's base ${this.base}`);
    const byte = i >>> 3;
    if (byte >= this.#bytes.length) {
      let n = this.#bytes.length * 2;
      while (n <= byte) n *= 2;
      const grown = new Uint8Array(n);
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    const bit = 1 << (i & 7);
    const b = this.#bytes[byte] ?? 0;
    if ((b & bit) !== 0) return false;
    this.#bytes[byte] = b | bit;
    this.#count++;
    if (i > this.#last) this.#last = i;
    return true;
  }

  has(q: number): boolean {
    const i = q - this.base;
    if (i < 0 || i > this.#last) return false;
    return ((this.#bytes[i >>> 3] ?? 0) & (1 << (i & 7))) !== 0;
  }

  /** How many q values are set. */
  get count(): number {
    return this.#count;
  }

  /** The highest q set, or base - 1 when none. */
  get lastQ(): number {
    return this.base + this.#last;
  }

  /** The bits up to the highest set one, bit (q - base) at byte >> 3, bit & 7 (LSB first). */
  toBytes(): Uint8Array {
    if (this.#last < 0) return new Uint8Array(0);
    return this.#bytes.subarray(0, (this.#last >>> 3) + 1);
  }

  static fromBytes(base: number, bytes: Uint8Array): QBitmap {
    const b = new QBitmap(base, Math.max(1, bytes.length));
    for (let byte = 0; byte < bytes.length; byte++) {
      const v = bytes[byte] ?? 0;
      if (v === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((v & (1 << bit)) !== 0) b.set(base + byte * 8 + bit);
    }
    return b;
  }
}
