// Reconnect delays: exponential from 0.5 s doubling to a 60 s cap, with "equal jitter" (half the
// delay fixed, half random), as Polygon's official clients do.
export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  #attempt = 0;
  #random: () => number;

  constructor(baseMs = 500, capMs = 60_000, random: () => number = Math.random) {
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.#random = random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; at least `floorMs` (e.g. after max_connections). */
  next(floorMs = 0): number {
    const d = Math.min(this.capMs, this.baseMs * 2 ** this.#attempt);
    this.#attempt++;
    return Math.max(floorMs, Math.round(d / 2 + (this.#random() * d) / 2));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
