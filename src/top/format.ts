// Text for `top`: numbers, rates, sizes and durations in a few characters, and lines made of
// styled segments that are cut to the terminal's width before any escape code is added (so a
// cut never splits an escape sequence and the width is counted in visible characters only).

export const STYLE = {
  bold: '1',
  dim: '2',
  inverse: '7',
  red: '31',
  green: '32',
  yellow: '33',
  cyan: '36',
} as const;

export type Style = keyof typeof STYLE;

export interface Segment {
  text: string;
  style?: Style | undefined;
}

export type Line = Segment[];

/** A segment; `style` undefined is plain text. */
export function seg(text: string, style?: Style): Segment {
  return style === undefined ? { text } : { text, style };
}

/** The line as text of at most `width` visible characters (a cut ends in …), with SGR codes when `color`. */
export function lineText(line: Line, width: number, color: boolean): string {
  let out = '';
  let room = Math.max(0, width);
  for (const s of line) {
    if (room <= 0) break;
    let text = s.text.replace(/\p{Cc}/gu, ' ');
    if (text.length > room) text = room > 1 ? text.slice(0, room - 1) + '…' : '…';
    room -= text.length;
    out += color && s.style !== undefined && text !== '' ? `\x1b[${STYLE[s.style]}m${text}\x1b[0m` : text;
  }
  return color ? out : out.trimEnd();
}

/** Visible length of a line. */
export function lineLength(line: Line): number {
  let n = 0;
  for (const s of line) n += s.text.length;
  return n;
}

/** 1234567 → "1,234,567"; NaN or undefined → "–". */
export function count(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

/** A rate per second: "12,345/s", "3.2/s" below 10, "–" when unknown. */
export function rate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n > 0 && n < 10) return `${n.toFixed(1)}/s`;
  return `${count(n)}/s`;
}

/** Bytes in binary units: "0 B", "512 B", "1.5 KiB", "148.4 MiB", "10.0 GiB". */
export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'] as const;
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** A duration in seconds as "850 µs", "4.1 ms", "56 ms", "1.25 s", "3m05s", "2h07m". */
export function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s) || s < 0) return '–';
  if (s === 0) return '0 ms';
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 0.01) return `${(s * 1000).toFixed(1)} ms`;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(whole / 86_400)}d${String(Math.floor((whole % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** An interval in ms as typed: "1s", "500ms", "1.5s", "2m". */
export function every(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 || ms > 10_000) return `${Number((ms / 1000).toFixed(1))}s`;
  return `${ms}ms`;
}

/** How long ago an ISO time (or ms epoch) was, from `now`: "0.4 s ago"; "never" for null. */
export function ago(at: string | number | null | undefined, now: number): string {
  if (at === null || at === undefined) return 'never';
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return '–';
  return `${seconds(Math.max(0, now - t) / 1000)} ago`;
}

/** HH:MM:SS of a wall-clock time, local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** A bar of `width` cells filled in proportion to used/capacity: "[####......]". */
export function bar(used: number, capacity: number, width: number): string {
  const f = capacity > 0 ? Math.min(1, Math.max(0, used / capacity)) : 0;
  const filled = used > 0 ? Math.max(1, Math.round(f * width)) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
