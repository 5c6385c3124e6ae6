// CPU seconds and peak resident memory of a process and its descendants, from /proc (Linux).
// Works for any pipeline command (--peer), not only for ws2kafka's own /metrics.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const TICKS = 100; // USER_HZ on Linux

/** Parses /proc/<pid>/stat: ppid, utime + stime (+ reaped children's) in seconds, the command name. */
export function parseStat(text: string): { ppid: number; cpuS: number; comm: string } | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
  const n = (i: number) => Number(f[i - 3] ?? NaN);
  return { ppid: n(4), cpuS: (n(14) + n(15) + n(16) + n(17)) / TICKS, comm };
}

/** VmHWM (peak resident set) in kB from /proc/<pid>/status text. */
export function parseHwmKb(text: string): number | undefined {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** pid and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = read(`/proc/${e}/stat`);
    const st = s === undefined ? undefined : parseStat(s);
    if (st === undefined) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(e));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

export interface TreeUsage {
  /** CPU seconds of the tree's live processes (and the children they reaped). */
  cpuS: number;
  /** Sum of the processes' peak resident sets, MB. */
  hwmMb: number;
}

export function treeUsage(root: number): TreeUsage | undefined {
  let cpuS = 0;
  let hwmKb = 0;
  let seen = false;
  for (const pid of processTree(root)) {
    const s = read(`/proc/${pid}/stat`);
    const st = s === undefined ? undefined : parseStat(s);
    if (st === undefined) continue;
    seen = true;
    cpuS += st.cpuS;
    hwmKb += parseHwmKb(read(`/proc/${pid}/status`) ?? '') ?? 0;
  }
  return seen ? { cpuS, hwmMb: hwmKb / 1024 } : undefined;
}

/** Heavy processes other than ours and the broker: test runs and other benches sharing the cores. */
export function otherHeavyProcesses(ours: ReadonlySet<number>): string[] {
  const out: string[] = [];
  // Our ancestors (a wrapper such as /usr/bin/time, the shell, npm) are not contention.
  const mine = new Set(ours);
  for (let pid = process.pid, i = 0; pid > 1 && i < 64; i++) {
    mine.add(pid);
    pid = parseStat(read(`/proc/${pid}/stat`) ?? '')?.ppid ?? 0;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || mine.has(Number(e))) continue;
    const cmd = read(`/proc/${e}/cmdline`)?.split('\0').filter(Boolean) ?? [];
    const text = cmd.join(' ');
    if (text.includes('kafka.Kafka') || text === '') continue;
    if (/node .*--test|test\/.*\.test\.ts|bench\/|ProducerPerformance|ws2kafka\.js (run|mock|bench|proxy)/.test(text)) {
      out.push(`${e} ${text.replace(/\s--[^\s]+(=\S+)?/g, '').slice(0, 100)}`);
    }
  }
  return out;
}

export function machine(): { cpus: number; cpu_model: string; memory_gb: number } {
  const list = cpus();
  const mem = /MemTotal:\s+(\d+) kB/.exec(read('/proc/meminfo') ?? '');
  return { cpus: list.length, cpu_model: list[0]?.model.trim() ?? 'unknown', memory_gb: mem ? Math.round(Number(mem[1]) / 1024 / 1024) : 0 };
}
