// Progress of long work (kafka start's first download of the broker, waiting for it to answer,
// verify's reading of the topics), throttled so that it never floods: at most one report per
// interval. On a terminal one line is rewritten in place (\r, then erase to the end of the line);
// elsewhere (a file, a pipe, CI) each report is a plain line. Outside cli/ so that kafka-local/
// and verify/ can use it. The clock and the writer are injectable: tested without timers.

export interface ProgressOptions {
  /** Writes raw text, e.g. `(s) => process.stderr.write(s)`. */
  write: (text: string) => void;
  /** Rewrite one line in place (a terminal) instead of writing a line per report. */
  tty?: boolean;
  /** Least time between two reports shown (default 1000 ms on a terminal, 2000 ms otherwise). */
  intervalMs?: number;
  /** Put before every line, e.g. `verify: `. */
  prefix?: string;
  /** Terminal width: a rewritten line is cut to fit (a wrapped line could not be rewritten). */
  columns?: number;
  now?: () => number;
}

export class Progress {
  /** Reports shown so far (throttled ones not counted). */
  shown = 0;
  readonly #write: (text: string) => void;
  readonly #tty: boolean;
  readonly #intervalMs: number;
  readonly #prefix: string;
  readonly #columns: number | undefined;
  readonly #now: () => number;
  #shownAt: number;
  /** A rewritten line is on the terminal without its newline. */
  #open = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: ProgressOptions) {
    this.#write = o.write;
    this.#tty = o.tty ?? false;
    this.#intervalMs = o.intervalMs ?? (this.#tty ? 1000 : 2000);
    this.#prefix = o.prefix ?? '';
    this.#columns = o.columns;
    this.#now = o.now ?? Date.now;
    // The first report waits one interval too: work that ends sooner shows only its final line.
    this.#shownAt = this.#now();
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /**
   * Shows the report if an interval has passed since the last one shown (or since the start);
   * `text` is only computed then. Returns whether it was shown.
   */
  update(text: string | (() => string)): boolean {
    const now = this.#now();
    if (now - this.#shownAt < this.#intervalMs) return false;
    this.#shownAt = now;
    this.shown++;
    const line = this.#prefix + (typeof text === 'string' ? text : text());
    if (this.#tty) {
      const fit = this.#columns !== undefined && line.length >= this.#columns ? line.slice(0, Math.max(1, this.#columns - 1)) : line;
      this.#write(`\r${fit}\u001b[K`);
      this.#open = true;
    } else {
      this.#write(line + '\n');
    }
    return true;
  }

  /** A line that stays (a log line, not a report): ends a rewritten line first. Never throttled. */
  line(text: string): void {
    this.#end();
    this.#write(this.#prefix + text + '\n');
  }

  /** Stops `every`; the final report (when given) is shown whatever the time, and stays. */
  done(text?: string): void {
    this.stop();
    if (text !== undefined) {
      if (this.#tty && this.#open) {
        this.#write(`\r${this.#prefix}${text}\u001b[K\n`);
        this.#open = false;
      } else {
        this.line(text);
      }
    } else {
      this.#end();
    }
    this.#shownAt = this.#now();
  }

  /**
   * Reports `text()` about every interval until done() or stop(), from an unref'd timer (so that
   * work that prints nothing by itself, such as a download or a wait, still shows it is alive).
   * The timer ticks four times per interval; update() decides what is shown.
   */
  every(text: () => string): void {
    this.stop();
    this.#timer = setInterval(() => this.update(text), Math.max(50, Math.floor(this.#intervalMs / 4)));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #end(): void {
    if (!this.#open) return;
    this.#write('\n');
    this.#open = false;
  }
}

/** Progress on this process's stderr: rewritten in place when stderr is a terminal, else plain lines. */
export function stderrProgress(prefix = '', intervalMs?: number): Progress {
  const err = process.stderr;
  return new Progress({
    write: (text) => err.write(text),
    tty: err.isTTY,
    prefix,
    ...(err.isTTY && err.columns > 0 ? { columns: err.columns } : {}),
    ...(intervalMs === undefined ? {} : { intervalMs }),
  });
}

/** Progress through a line logger (each report one plain line), for code that only has `log(line)`. */
export function logProgress(log: (line: string) => void, intervalMs = 2000, now?: () => number): Progress {
  return new Progress({ write: (text) => log(text.endsWith('\n') ? text.slice(0, -1) : text), intervalMs, ...(now ? { now } : {}) });
}

/** 1234567 → `1,234,567`. */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en');
}

/** Bytes as MB (10^6, as Maven prints them) with one decimal: `12.3 MB`. */
export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Elapsed milliseconds as whole seconds below a minute (`42 s`), else `3 min 05 s`. */
export function seconds(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
