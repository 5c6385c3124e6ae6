// The chart of `bench --out`: acknowledged rate and p99 latency against offered rate, hand-written
// SVG (no dependency). Offered rate on a log scale (the ladder doubles); acknowledged rate on the
// left axis with the ideal acked = offered line; p99 on the right axis. Pure.
import type { BenchResult } from './result.ts';

const W = 760;
const H = 420;
const L = 80;
const R = 80;
const T = 50;
const B = 60;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round numbers for an axis from 0 to at least max. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = 0; v < max + step / 2; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  if ((ticks.at(-1) ?? 0) < max) ticks.push((ticks.at(-1) ?? 0) + step);
  return ticks;
}

const short = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : `${+n.toFixed(1)}`);

export function renderSvg(r: BenchResult): string {
  const rungs = r.rates;
  const offered = rungs.map((x) => x.offered);
  const minX = offered.length > 0 ? Math.min(...offered) : 1;
  const maxX = Math.max(...offered, minX * 2);
  const lx = (v: number) => Math.log(v);
  const x = (v: number) => L + ((lx(v) - lx(minX)) / Math.max(1e-9, lx(maxX) - lx(minX))) * (W - L - R);
  const rateTicks = niceTicks(Math.max(maxX, ...rungs.map((x) => x.acked_per_s)));
  const rateMax = rateTicks.at(-1) ?? 1;
  const p99s = rungs.map((x) => x.p99_ms ?? x.e2e_p99_ms).filter((v): v is number => v !== null);
  const msTicks = niceTicks(Math.max(1, ...p99s));
  const msMax = msTicks.at(-1) ?? 1;
  const yRate = (v: number) => H - B - (v / rateMax) * (H - T - B);
  const yMs = (v: number) => H - B - (v / msMax) * (H - T - B);
  const f = (n: number) => n.toFixed(1);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(`ws2kafka bench: ${r.pipeline}`)}</text>`);
  parts.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(`sustained ${r.sustained_events_per_s === null ? 'n/a' : short(r.sustained_events_per_s)} events/s; ${r.settings.duration_s}s per rate, ${r.settings.batch} events per frame; ${r.machine.date}`)}</text>`);
  // axes and grid
  for (const t of rateTicks) {
    parts.push(`<line x1="${L}" y1="${f(yRate(t))}" x2="${W - R}" y2="${f(yRate(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${f(yRate(t) + 4)}" text-anchor="end" fill="#1f77b4">${short(t)}</text>`);
  }
  for (const t of msTicks) parts.push(`<text x="${W - R + 6}" y="${f(yMs(t) + 4)}" fill="#d62728">${short(t)}</text>`);
  for (const v of offered) {
    parts.push(`<line x1="${f(x(v))}" y1="${H - B}" x2="${f(x(v))}" y2="${H - B + 5}" stroke="black"/>`);
    parts.push(`<text x="${f(x(v))}" y="${H - B + 18}" text-anchor="middle">${short(v)}</text>`);
  }
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`);
  parts.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#1f77b4"/>`);
  parts.push(`<line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="#d62728"/>`);
  parts.push(`<text x="${W / 2}" y="${H - 18}" text-anchor="middle">offered rate, events/s (log scale)</text>`);
  parts.push(`<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" fill="#1f77b4">acknowledged events/s</text>`);
  parts.push(`<text transform="translate(${W - 18} ${(T + H - B) / 2}) rotate(90)" text-anchor="middle" fill="#d62728">p99 latency, ms</text>`);
  // ideal: acked = offered
  parts.push(`<polyline class="ideal" fill="none" stroke="#999" stroke-dasharray="4 4" points="${offered.map((v) => `${f(x(v))},${f(yRate(v))}`).join(' ')}"/>`);
  parts.push(`<polyline class="acked" fill="none" stroke="#1f77b4" stroke-width="2" points="${rungs.map((v) => `${f(x(v.offered))},${f(yRate(v.acked_per_s))}`).join(' ')}"/>`);
  for (const v of rungs) {
    parts.push(`<circle cx="${f(x(v.offered))}" cy="${f(yRate(v.acked_per_s))}" r="4" fill="${v.sustained ? '#1f77b4' : 'white'}" stroke="#1f77b4"><title>${esc(`offered ${v.offered}: acked ${Math.round(v.acked_per_s)}/s, ${v.sustained ? 'sustained' : v.reasons.join('; ')}`)}</title></circle>`);
  }
  const latency = rungs.filter((v) => (v.p99_ms ?? v.e2e_p99_ms) !== null);
  parts.push(`<polyline class="p99" fill="none" stroke="#d62728" stroke-width="2" points="${latency.map((v) => `${f(x(v.offered))},${f(yMs(v.p99_ms ?? v.e2e_p99_ms ?? 0))}`).join(' ')}"/>`);
  for (const v of latency) parts.push(`<rect x="${f(x(v.offered) - 3)}" y="${f(yMs(v.p99_ms ?? v.e2e_p99_ms ?? 0) - 3)}" width="6" height="6" fill="#d62728"/>`);
  // legend
  const lg = T + 8;
  parts.push(`<line x1="${L + 12}" y1="${lg}" x2="${L + 36}" y2="${lg}" stroke="#1f77b4" stroke-width="2"/><text x="${L + 42}" y="${lg + 4}">acknowledged/s (filled: sustained)</text>`);
  parts.push(`<line x1="${L + 12}" y1="${lg + 16}" x2="${L + 36}" y2="${lg + 16}" stroke="#d62728" stroke-width="2"/><text x="${L + 42}" y="${lg + 20}">${rungs.some((v) => v.p99_ms !== null) ? 'p99 receive-to-ack' : 'p99 feed-to-Kafka (audit)'}</text>`);
  parts.push(`<line x1="${L + 12}" y1="${lg + 32}" x2="${L + 36}" y2="${lg + 32}" stroke="#999" stroke-dasharray="4 4"/><text x="${L + 42}" y="${lg + 36}">acknowledged = offered</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
