// verify's progress while it reads the topics: records read per topic against the sum of the
// topic's end offsets when the read began (the records to read, when the topic starts at offset 0
// as ws2kafka's do), the rate since the previous report, the time; throttled by the Progress it
// reports to, then one final line with the average rate. Records are counted per topic (a Map update per record; the JSON check of each record
// costs far more). The consumer's stream can hand over records for many seconds without letting a
// timer run, so every 1024th record also offers a report (the Progress throttles it).
import { count, seconds, type Progress } from '../progress.ts';

export class ReadProgress {
  readonly #progress: Progress;
  readonly #topics: readonly string[];
  readonly #now: () => number;
  readonly #read = new Map<string, number>();
  readonly #text = () => this.line();
  #records = 0;
  #lastAt: number;
  #lastTotal = 0;
  #ends = new Map<string, bigint>();
  #started: number;

  constructor(progress: Progress, topics: readonly string[], now: () => number = Date.now) {
    this.#progress = progress;
    this.#topics = topics;
    this.#now = now;
    this.#started = now();
    this.#lastAt = this.#started;
    for (const t of topics) this.#read.set(t, 0);
  }

  /** Reports every interval (the Progress's) until finish() or stop(). */
  start(): void {
    this.#started = this.#now();
    this.#lastAt = this.#started;
    this.#progress.every(this.#text);
  }

  /** The sums of the end offsets per topic (ReadOptions.onEnds). */
  ends(sums: Map<string, bigint>): void {
    this.#ends = sums;
  }

  /** One record of `topic` read. */
  record(topic: string): void {
    this.#read.set(topic, (this.#read.get(topic) ?? 0) + 1);
    if ((++this.#records & 1023) === 0) this.#progress.update(this.#text);
  }

  /**
   * `reading trades 1,200/3,000, aggregates 40/100 (40%), 1,234 records/s, 3 s`, the rate being
   * that since the previous call (the first report's includes joining the group and the first fetch).
   */
  line(): string {
    let total = 0;
    let end = 0;
    const parts: string[] = [];
    for (const t of this.#topics) {
      const n = this.#read.get(t) ?? 0;
      const e = Number(this.#ends.get(t) ?? 0n);
      total += n;
      end += e;
      parts.push(`${t} ${count(n)}/${count(e)}`);
    }
    const now = this.#now();
    const pct = end > 0 ? ` (${Math.min(100, Math.floor((total / end) * 100))}%)` : '';
    const rate = this.#rate(total - this.#lastTotal, now - this.#lastAt);
    this.#lastAt = now;
    this.#lastTotal = total;
    return `reading ${parts.join(', ')}${pct}, ${rate}, ${seconds(now - this.#started)}`;
  }

  /** The final line, whatever the time: `read 3,100 records (trades 3,000, aggregates 100) in 1.2 s, 2,583 records/s`. */
  finish(): void {
    let total = 0;
    const parts: string[] = [];
    for (const t of this.#topics) {
      const n = this.#read.get(t) ?? 0;
      total += n;
      parts.push(`${t} ${count(n)}`);
    }
    const ms = this.#now() - this.#started;
    this.#progress.done(`read ${count(total)} records (${parts.join(', ')}) in ${(ms / 1000).toFixed(1)} s, ${this.#rate(total, ms)}`);
  }

  /** Stops reporting without a final line (the read failed: its error says why). */
  stop(): void {
    this.#progress.done();
  }

  #rate(total: number, ms: number): string {
    return `${count(ms > 0 ? (total * 1000) / ms : 0)} records/s`;
  }
}
