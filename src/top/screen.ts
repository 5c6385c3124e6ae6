// The terminal side of `top`: the alternate screen with the cursor hidden, a redraw every
// interval and on resize, q or Ctrl-C (raw-mode stdin) or SIGINT/SIGTERM/SIGHUP to quit, and the
// terminal put back as it was on every way out (a normal quit, an error, process exit).
// Without a terminal (stdout piped) or with --once: one screen printed as plain lines, then exit.
import { reason, takeReading, type Reading } from './reading.ts';
import { viewLines, type Unreachable, type ViewInput } from './view.ts';

export interface TopOptions {
  /** The bridge's base URL (http://host:port). */
  url: string;
  intervalMs: number;
  /** One screen, then exit (also when stdout is not a terminal). */
  once: boolean;
  /** SGR colours; undefined: when the terminal has them (NO_COLOR, FORCE_COLOR respected). */
  color?: boolean | undefined;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
}

const ENTER = '\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J';
const LEAVE = '\x1b[0m\x1b[?25h\x1b[?1049l';
const QUIT_KEYS = new Set(['q', 'Q', '\x03', '\x04']); // q, Ctrl-C, Ctrl-D

/** Runs top until the user quits; the exit status (0; 1 when --once found the bridge unreachable). */
export async function runTop(o: TopOptions): Promise<number> {
  const out = o.stdout ?? process.stdout;
  const color = o.color ?? (out.isTTY === true && out.hasColors());
  if (o.once || out.isTTY !== true) return once(o, out, color);
  return live(o, out, o.stdin ?? process.stdin, color);
}

const timeoutOf = (intervalMs: number) => Math.max(2000, intervalMs);

/** Two readings an interval apart (so rates are there), printed once. */
async function once(o: TopOptions, out: NodeJS.WriteStream, color: boolean): Promise<number> {
  const width = out.columns ?? (Number(process.env['COLUMNS']) || 120);
  const view: ViewInput = { url: o.url, intervalMs: o.intervalMs, width, now: Date.now(), previous: undefined, current: undefined, once: true };
  const started = Date.now();
  try {
    view.previous = await takeReading(o.url, AbortSignal.timeout(timeoutOf(o.intervalMs)));
    await new Promise((r) => setTimeout(r, o.intervalMs));
    view.current = await takeReading(o.url, AbortSignal.timeout(timeoutOf(o.intervalMs)));
  } catch (err) {
    view.current = view.previous;
    view.previous = undefined;
    view.unreachable = { reason: reason(err), since: started, attempts: 1 };
  }
  view.now = Date.now();
  out.write(viewLines(view, color).join('\n') + '\n');
  return view.unreachable === undefined ? 0 : 1;
}

async function live(o: TopOptions, out: NodeJS.WriteStream, input: NodeJS.ReadStream, color: boolean): Promise<number> {
  let previous: Reading | undefined;
  let current: Reading | undefined;
  let unreachable: Unreachable | undefined;
  let stopped = false;
  const quit = Promise.withResolvers<void>();
  const inflight = new AbortController();
  const stop = () => {
    if (stopped) return;
    stopped = true;
    inflight.abort();
    quit.resolve();
  };

  const draw = () => {
    if (stopped) return;
    const width = Math.max(20, out.columns || 80);
    const rows = Math.max(1, out.rows || 24);
    const lines = viewLines({ url: o.url, intervalMs: o.intervalMs, width, now: Date.now(), previous, current, unreachable }, color).slice(0, rows);
    out.write('\x1b[H' + lines.map((l) => `${l}\x1b[K`).join('\r\n') + '\x1b[J');
  };
  const onKey = (data: Buffer | string) => {
    const s = data.toString();
    for (const c of s) if (QUIT_KEYS.has(c)) return stop();
    if (s === 'r' || s === ' ') draw();
  };
  const raw = input.isTTY === true;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      if (raw) input.setRawMode(false);
    } catch {
      // the terminal is gone: nothing to put back
    }
    input.pause();
    out.write(LEAVE);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  out.write(ENTER);
  process.on('exit', restore);
  for (const s of signals) process.on(s, stop);
  out.on('resize', draw);
  out.on('error', stop); // the terminal went away (EIO, EPIPE): nothing to show; kept on for the restore's write
  input.on('data', onKey);
  try {
    if (raw) input.setRawMode(true);
    input.resume();
    draw();
    let stale = false;
    while (!stopped) {
      const started = Date.now();
      try {
        const reading = await takeReading(o.url, AbortSignal.any([inflight.signal, AbortSignal.timeout(timeoutOf(o.intervalMs))]));
        // After an outage the counters may have restarted: rates start over from this reading.
        previous = stale ? undefined : current;
        current = reading;
        unreachable = undefined;
        stale = false;
      } catch (err) {
        if (stopped) break;
        unreachable = { reason: reason(err), since: unreachable?.since ?? started, attempts: (unreachable?.attempts ?? 0) + 1 };
        stale = true;
      }
      draw();
      const wait = Math.max(0, o.intervalMs - (Date.now() - started));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([quit.promise, new Promise<void>((r) => (timer = setTimeout(r, wait)))]);
      clearTimeout(timer);
    }
  } finally {
    stop();
    input.off('data', onKey);
    out.off('resize', draw);
    for (const s of signals) process.off(s, stop);
    restore();
    process.off('exit', restore);
  }
  return 0;
}
