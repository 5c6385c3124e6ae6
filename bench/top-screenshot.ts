// The screenshot of `ws2kafka top` in docs/img/top.png, from a real run: the local broker, `ws2kafka
// mock --rate 20000`, `ws2kafka run` reading it, and `ws2kafka top` in a 120x40 tmux pane. The pane
// is captured with its colours (tmux capture-pane -e -p), turned into HTML by the small ANSI
// converter below, and photographed by headless Chromium.
//
//   npx ws2kafka kafka start            # the local broker at 127.0.0.1:9092, if not running
//   node bench/top-screenshot.ts [--out docs/img/top.png] [--rate 20000] [--warmup 20s]
//   node bench/top-screenshot.ts --from-ansi capture.ansi [--out top.png]   # only the rendering
//
// Needs tmux and chromium (Debian: apt-get install -y tmux chromium fonts-dejavu-core). The topics
// (top-shot-<id>-*) are deleted afterwards; the .ansi capture is kept next to the PNG's name in
// the temporary directory printed at the end.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { NODE_FLAGS } from '../src/cli/node-flags.ts';

const cli = fileURLToPath(new URL('../bin/ws2kafka.js', import.meta.url));
const COLS = 120;
const ROWS = 40;

// ---------------------------------------------------------------------------------------------
// ANSI (what tmux capture-pane -e writes: SGR sequences only) → HTML.

const PALETTE = ['#1d1f21', '#cc6666', '#8fbf5f', '#e0b050', '#81a2be', '#b294bb', '#6fbfb5', '#c5c8c6'];
const BRIGHT = ['#666666', '#ff7b7b', '#b5e37c', '#f5d06f', '#a3c4e6', '#d2b4dc', '#8fe0d6', '#ffffff'];
const FG = '#d0d3d1';
const BG = '#1d1f21';

interface Pen {
  bold: boolean;
  dim: boolean;
  inverse: boolean;
  fg: string | undefined;
  bg: string | undefined;
}

const plainPen = (): Pen => ({ bold: false, dim: false, inverse: false, fg: undefined, bg: undefined });

function applySgr(pen: Pen, params: number[]): void {
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) Object.assign(pen, plainPen());
    else if (p === 1) pen.bold = true;
    else if (p === 2) pen.dim = true;
    else if (p === 22) pen.bold = pen.dim = false;
    else if (p === 7) pen.inverse = true;
    else if (p === 27) pen.inverse = false;
    else if (p >= 30 && p <= 37) pen.fg = PALETTE[p - 30];
    else if (p >= 90 && p <= 97) pen.fg = BRIGHT[p - 90];
    else if (p === 39) pen.fg = undefined;
    else if (p >= 40 && p <= 47) pen.bg = PALETTE[p - 40];
    else if (p >= 100 && p <= 107) pen.bg = BRIGHT[p - 100];
    else if (p === 49) pen.bg = undefined;
    else if ((p === 38 || p === 48) && params[i + 1] === 5) i += 2; // 256 colours: not used by top
    else if ((p === 38 || p === 48) && params[i + 1] === 2) i += 4;
  }
}

const escapeHtml = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function styleOf(pen: Pen): string {
  let fg = pen.fg ?? FG;
  let bg = pen.bg;
  if (pen.inverse) [fg, bg] = [bg ?? BG, fg];
  const css = [`color:${fg}`];
  if (bg !== undefined) css.push(`background:${bg}`);
  if (pen.bold) css.push('font-weight:bold');
  if (pen.dim) css.push('opacity:0.6');
  return css.join(';');
}

/** One HTML <pre> of the capture: a span per run of equally styled text. */
export function ansiToHtml(ansi: string): string {
  const pen = plainPen();
  let html = '';
  let run = '';
  let runStyle = styleOf(pen);
  const flush = () => {
    if (run !== '') html += runStyle === styleOf(plainPen()) ? escapeHtml(run) : `<span style="${runStyle}">${escapeHtml(run)}</span>`;
    run = '';
  };
  const re = new RegExp(`${String.fromCharCode(27)}\\[([0-9;]*)([A-Za-z])`, 'g');
  let at = 0;
  for (let m = re.exec(ansi); m !== null; m = re.exec(ansi)) {
    run += ansi.slice(at, m.index);
    at = re.lastIndex;
    if (m[2] !== 'm') continue; // only SGR matters in a capture
    flush();
    applySgr(pen, m[1] === '' ? [] : m[1]!.split(';').map(Number));
    runStyle = styleOf(pen);
  }
  run += ansi.slice(at);
  flush();
  return html;
}

/** The pane's lines without the empty rows at its bottom. */
function paneLines(ansi: string): string[] {
  const lines = ansi.split('\n').slice(0, ROWS);
  const plain = (l: string) => l.replaceAll(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g'), '').trim();
  while (lines.length > 0 && plain(lines.at(-1)!) === '') lines.pop();
  return lines;
}

function page(ansi: string, caption: string): string {
  const lines = paneLines(ansi);
  return `<!doctype html><meta charset="utf-8"><style>
body{margin:0;background:${BG};}
.term{margin:0;padding:14px 16px;font:14px/18px "DejaVu Sans Mono",monospace;color:${FG};background:${BG};white-space:pre;}
.cap{font:12px/16px "DejaVu Sans",sans-serif;color:#8a8f8c;padding:0 16px 10px;}
</style><pre class="term">${ansiToHtml(lines.join('\n'))}</pre><div class="cap">${escapeHtml(caption)}</div>`;
}

function render(ansi: string, caption: string, out: string, dir: string): void {
  const html = join(dir, 'top.html');
  writeFileSync(html, page(ansi, caption));
  // 120 columns of DejaVu Sans Mono at 14px are about 1012 px; each row 18 px, plus the padding
  // and two lines of caption.
  const height = 28 + paneLines(ansi).length * 18 + 42;
  const r = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${resolve(out)}`, `--window-size=1050,${height}`, `file://${html}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chromium failed (${r.error?.message ?? r.status}): ${r.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// The run.

function ws2kafka(args: string[], log: string): ChildProcess {
  const child = spawn(process.execPath, [...NODE_FLAGS, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  child.once('exit', () => writeFileSync(log, text));
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'docs/img/top.png' },
      rate: { type: 'string', default: '20000' },
      warmup: { type: 'string', default: '20' },
      brokers: { type: 'string', default: '127.0.0.1:9092' },
      'from-ansi': { type: 'string' },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'top-shot-'));
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  if (values['from-ansi'] !== undefined) {
    render(readFileSync(values['from-ansi'], 'utf8'), `ws2kafka top, rendered ${when}`, values.out, dir);
    process.stdout.write(`${values.out} from ${values['from-ansi']}\n`);
    return;
  }
  const id = randomUUID().slice(0, 8);
  const t = (name: string) => `top-shot-${id}-${name}`;
  const topics = [t('trades'), t('quotes'), t('aggregates'), t('unknown'), t('dead'), t('gaps')];
  const mockPort = await freePort();
  const metricsPort = await freePort();
  const children: ChildProcess[] = [];
  const socket = join(dir, 'tmux.sock');
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  try {
    children.push(ws2kafka(['mock', '--port', String(mockPort), '--rate', values.rate], join(dir, 'mock.log')));
    await sleep(1000);
    children.push(
      ws2kafka(
        ['run', '--url', `ws://127.0.0.1:${mockPort}/mock`, '--brokers', values.brokers, '--subscribe', 'T.*,Q.*,A.*,AM.*',
          '--topics', `T=${t('trades')},Q=${t('quotes')},A=${t('aggregates')},AM=${t('aggregates')}`,
          '--unknown-topic', t('unknown'), '--dead-letter-topic', t('dead'), '--gap-topic', t('gaps'),
          '--metrics-port', String(metricsPort), '--metrics-interval', '0', '--spool-dir', join(dir, 'spool')],
        join(dir, 'run.log'),
      ),
    );
    await sleep(Number(values.warmup) * 1000);
    tmux('new-session', '-d', '-x', String(COLS), '-y', String(ROWS), '-s', 'top', [process.execPath, ...NODE_FLAGS, cli, 'top', '--url', `http://127.0.0.1:${metricsPort}`].map((a) => `'${a}'`).join(' '));
    await sleep(5500);
    const ansi = tmux('capture-pane', '-e', '-p', '-t', 'top');
    writeFileSync(join(dir, 'top.ansi'), ansi);
    tmux('send-keys', '-t', 'top', 'q');
    const cpu = `${/model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU'}, ${availableParallelism()} cores, Linux ${release()}`;
    render(ansi, `ws2kafka top on a real run, ${when}: ws2kafka mock --rate ${values.rate}, ws2kafka run, local Apache Kafka broker; ${cpu}. Made by bench/top-screenshot.ts.`, values.out, dir);
    process.stdout.write(`${values.out}: written; capture, page and logs in ${dir}\n`);
  } finally {
    spawnSync('tmux', ['-S', socket, 'kill-server']);
    for (const c of children.reverse()) {
      c.kill('SIGTERM');
      await new Promise((r) => (c.exitCode !== null ? r(undefined) : c.once('exit', r)));
    }
    const admin = new Admin({ clientId: 'top-screenshot', bootstrapBrokers: values.brokers.split(',') });
    try {
      const existing = new Set(await admin.listTopics());
      const mine = topics.filter((x) => existing.has(x));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    } finally {
      await admin.close();
    }
  }
}

await main();
