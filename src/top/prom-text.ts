// The Prometheus text exposition format (version 0.0.4, what prom-client serves) read into
// families of samples, and the few questions `top` asks of it. prom-client writes this format but
// has no parser; this one is small and strict about what it understands, lenient about the rest:
// a line it cannot read is skipped (counted in `skipped`), never an exception.
//
//   # HELP name text with \\ and \n escapes
//   # TYPE name counter|gauge|histogram|summary|untyped
//   name{label="value with \" \\ \n escapes",other="x"} 1.5e3 [timestamp]
//
// Samples named name_bucket, name_sum, name_count (histogram, summary) or name_total, name_created
// belong to the family `name` when a TYPE line declared it so.

export interface PromSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

export interface Exposition {
  families: Map<string, PromFamily>;
  /** Lines that were neither a comment nor a readable sample. */
  skipped: number;
}

const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'] as const;
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parsePromText(text: string): Exposition {
  const families = new Map<string, PromFamily>();
  let skipped = 0;
  const family = (name: string): PromFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (m === null) continue; // another comment
      const f = family(m[2]!);
      if (m[1] === 'TYPE') f.type = (m[3] ?? 'untyped').trim();
      else f.help = unescapeHelp(m[3] ?? '');
      continue;
    }
    const sample = parseSample(line);
    if (sample === undefined) {
      skipped++;
      continue;
    }
    family(familyOf(sample.name, families)).samples.push(sample);
  }
  // Families that only had HELP/TYPE lines and no samples stay: a labelled counter with no
  // label values yet (no produce error so far) is a family with zero samples, not a missing one.
  return { families, skipped };
}

function familyOf(name: string, families: Map<string, PromFamily>): string {
  if (families.has(name)) return name;
  for (const s of SUFFIXES) {
    if (!name.endsWith(s)) continue;
    const base = name.slice(0, -s.length);
    const f = families.get(base);
    if (f !== undefined && f.type !== 'untyped') return base;
  }
  return name;
}

/** One sample line, or undefined when it does not follow the format. */
export function parseSample(line: string): PromSample | undefined {
  const name = NAME.exec(line)?.[0];
  if (name === undefined) return undefined;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const label = LABEL_NAME.exec(line.slice(i))?.[0];
      if (label === undefined) return undefined;
      i += label.length;
      while (line[i] === ' ') i++;
      if (line[i] !== '=') return undefined;
      i++;
      while (line[i] === ' ') i++;
      if (line[i] !== '"') return undefined;
      i++;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) return undefined; // unterminated
        if (c === '"') break;
        if (c === '\\') {
          const n = line[i + 1];
          value += n === 'n' ? '\n' : n === '\\' ? '\\' : n === '"' ? '"' : '\\' + (n ?? '');
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
      i++; // the closing quote
      labels[label] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') return undefined;
  const value = parseValue(rest[0]!);
  if (value === undefined) return undefined;
  return { name, labels, value };
}

function parseValue(s: string): number | undefined {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(.)/g, (all, c: string) => (c === 'n' ? '\n' : c === '\\' ? '\\' : all));
}

function matches(s: PromSample, labels: Readonly<Record<string, string>>): boolean {
  for (const k in labels) if (s.labels[k] !== labels[k]) return false;
  return true;
}

/**
 * The value of the sample called `name` with `labels` (the first whose labels include them).
 * Without `labels`: the unlabelled sample, or else the sum of the samples of that name (a counter
 * split by a label). Undefined when there is none.
 */
export function valueOf(e: Exposition, name: string, labels?: Readonly<Record<string, string>>): number | undefined {
  const f = e.families.get(familyOf(name, e.families));
  if (f === undefined) return undefined;
  if (labels !== undefined) {
    for (const s of f.samples) if (s.name === name && matches(s, labels)) return s.value;
    return undefined;
  }
  let sum: number | undefined;
  for (const s of f.samples) {
    if (s.name !== name) continue;
    if (Object.keys(s.labels).length === 0) return s.value;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
}

/** Whether a family (or a sample of that exact name) exists, with or without samples. */
export function hasFamily(e: Exposition, name: string): boolean {
  return e.families.has(familyOf(name, e.families));
}

/** The samples called `name`, summed by the value of `label` (samples without it are left out). */
export function byLabel(e: Exposition, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  const f = e.families.get(familyOf(name, e.families));
  if (f === undefined) return out;
  for (const s of f.samples) {
    const v = s.labels[label];
    if (s.name === name && v !== undefined) out.set(v, (out.get(v) ?? 0) + s.value);
  }
  return out;
}

export interface Bucket {
  /** Upper bound (le); Infinity for the last. */
  le: number;
  /** Cumulative count of observations <= le. */
  count: number;
}

/** A histogram's cumulative buckets (`name`_bucket), sorted by le; empty when there are none. */
export function bucketsOf(e: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): Bucket[] {
  const f = e.families.get(name);
  if (f === undefined) return [];
  const out: Bucket[] = [];
  for (const s of f.samples) {
    if (s.name !== `${name}_bucket` || !matches(s, labels)) continue;
    const le = parseValue(s.labels['le'] ?? '');
    if (le !== undefined && !Number.isNaN(le)) out.push({ le, count: s.value });
  }
  return out.sort((a, b) => a.le - b.le);
}

/**
 * The q-quantile (0..1) of the observations made between two readings of the same cumulative
 * histogram (`before` may be empty: since the start), as Prometheus' histogram_quantile computes
 * it: linear interpolation inside the bucket holding the rank; the highest finite bound when the
 * rank falls in the +Inf bucket. Undefined when nothing was observed in between, or when the
 * counts went down (the process restarted: the difference means nothing).
 */
export function quantileOfBuckets(before: readonly Bucket[], after: readonly Bucket[], q: number): number | undefined {
  const old = new Map(before.map((b) => [b.le, b.count]));
  const delta: Bucket[] = [];
  for (const b of after) {
    const d = b.count - (old.get(b.le) ?? 0);
    if (d < 0) return undefined;
    delta.push({ le: b.le, count: d });
  }
  const total = delta.at(-1)?.count ?? 0;
  if (delta.length === 0 || total <= 0 || delta.at(-1)!.le !== Infinity) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of delta) {
    if (b.count >= rank && b.count > 0) {
      if (b.le === Infinity) return lowerBound; // the highest finite bound
      const inBucket = b.count - lowerCount;
      if (inBucket <= 0) return b.le;
      return lowerBound + (b.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}
