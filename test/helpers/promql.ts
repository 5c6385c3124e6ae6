// The metric names a PromQL expression reads: enough of PromQL's lexer to tell a metric name from a
// function, an aggregation, a keyword, a label name (in {…}, by (…), on (…)), a string, a duration or
// a Grafana variable ($job, ${job}, $__rate_interval). Used to check that every query of the
// dashboard and of the alert rules names metrics the bridge exports.

/** Aggregation operators and functions are told apart by the `(` that follows, so no list is needed for them. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'atan2', 'inf', 'nan']);
/** Keywords followed by a list of label names in parentheses (optional for group_left/group_right). */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

type Token = { kind: 'ident' | 'string' | 'number' | 'var' | 'punct'; text: string; at: number };

const IDENT_START = /[A-Za-z_:]/;
const IDENT = /[A-Za-z0-9_:]/;

/** Splits a PromQL expression into tokens; throws on a character PromQL does not have, naming where. */
export function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++; // a comment runs to the end of the line
    } else if (c === '"' || c === "'" || c === '`') {
      i++;
      while (i < expr.length && expr[i] !== c) i += c !== '`' && expr[i] === '\\' ? 2 : 1;
      if (i >= expr.length) throw new Error(`unterminated string at ${start} in: ${expr}`);
      i++;
      tokens.push({ kind: 'string', text: expr.slice(start, i), at: start });
    } else if (c === '$') {
      // Grafana: $name, ${name}, ${name:format}, [[name]] is not supported (deprecated).
      i++;
      if (expr[i] === '{') {
        const end = expr.indexOf('}', i);
        if (end < 0) throw new Error(`unterminated \${ at ${start} in: ${expr}`);
        i = end + 1;
      } else {
        while (i < expr.length && IDENT.test(expr[i]!)) i++;
      }
      tokens.push({ kind: 'var', text: expr.slice(start, i), at: start });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(expr[i + 1] ?? ''))) {
      // Numbers, hex, exponents and durations (5m, 1h30m, 1.5e3): digits and letters run together.
      while (i < expr.length && /[0-9A-Za-z_.]/.test(expr[i]!)) {
        if ((expr[i] === 'e' || expr[i] === 'E') && /[+-]/.test(expr[i + 1] ?? '')) i++;
        i++;
      }
      tokens.push({ kind: 'number', text: expr.slice(start, i), at: start });
    } else if (IDENT_START.test(c)) {
      while (i < expr.length && IDENT.test(expr[i]!)) i++;
      tokens.push({ kind: 'ident', text: expr.slice(start, i), at: start });
    } else if ('(){}[],@'.includes(c)) {
      i++;
      tokens.push({ kind: 'punct', text: c, at: start });
    } else if ('+-*/%^=!<>~'.includes(c)) {
      i++;
      while (i < expr.length && '=~'.includes(expr[i]!)) i++;
      tokens.push({ kind: 'punct', text: expr.slice(start, i), at: start });
    } else {
      throw new Error(`unexpected '${c}' at ${i} in: ${expr}`);
    }
  }
  return tokens;
}

/** The index of the token that closes the bracket opened at `open`; throws when it is not closed. */
function closing(tokens: Token[], open: number, expr: string): number {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const stack: string[] = [];
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'punct') continue;
    if (t.text in pairs) stack.push(pairs[t.text]!);
    else if (t.text === ')' || t.text === '}' || t.text === ']') {
      if (stack.pop() !== t.text) throw new Error(`unbalanced '${t.text}' at ${t.at} in: ${expr}`);
      if (stack.length === 0) return i;
    }
  }
  throw new Error(`'${tokens[open]!.text}' at ${tokens[open]!.at} is not closed in: ${expr}`);
}

/** Throws unless every bracket is closed, by its own kind, in order. */
function checkBrackets(tokens: Token[], expr: string): void {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const open: Token[] = [];
  for (const t of tokens) {
    if (t.kind !== 'punct') continue;
    if (t.text in pairs) open.push(t);
    else if (t.text === ')' || t.text === '}' || t.text === ']') {
      const top = open.pop();
      if (top === undefined) throw new Error(`unbalanced '${t.text}' at ${t.at} in: ${expr}`);
      if (pairs[top.text] !== t.text) throw new Error(`'${top.text}' at ${top.at} is not closed before '${t.text}' at ${t.at} in: ${expr}`);
    }
  }
  const top = open.pop();
  if (top !== undefined) throw new Error(`'${top.text}' at ${top.at} is not closed in: ${expr}`);
}

/** The string value of a PromQL string token (quotes removed, escapes resolved). */
function unquote(text: string): string {
  if (text.startsWith('`')) return text.slice(1, -1);
  return text.slice(1, -1).replace(/\\(.)/g, '$1');
}

/**
 * The metric names `expr` reads, in order of first appearance: every identifier that is not a
 * function or aggregation (followed by `(`, or by `by`/`without`), not a keyword, not inside a label matcher `{…}`
 * (except `__name__="…"`), and not in the label list of by/without/on/ignoring/group_left/group_right.
 */
export function metricNames(expr: string): string[] {
  const tokens = tokenize(expr);
  checkBrackets(tokens, expr);
  const names: string[] = [];
  const add = (n: string) => {
    if (!names.includes(n)) names.push(n);
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '{') {
      // A label matcher list: only __name__="x" names a metric. Label names and values are skipped.
      const end = closing(tokens, i, expr);
      for (let j = i + 1; j + 2 < end; j++) {
        const [k, op, v] = [tokens[j]!, tokens[j + 1]!, tokens[j + 2]!];
        if (k.kind === 'ident' && k.text === '__name__' && op.text === '=' && v.kind === 'string') add(unquote(v.text));
      }
      i = end;
    } else if (t.kind === 'punct' && t.text === '[') {
      i = closing(tokens, i, expr); // a range or subquery: durations and variables only
    } else if (t.kind === 'ident') {
      const lower = t.text.toLowerCase();
      if (LABEL_LISTS.has(lower)) {
        if (next?.kind === 'punct' && next.text === '(') i = closing(tokens, i + 1, expr);
      } else if (KEYWORDS.has(lower)) {
        continue;
      } else if (next?.kind === 'punct' && next.text === '(') {
        continue; // a function or an aggregation operator
      } else if (next?.kind === 'ident' && (next.text.toLowerCase() === 'by' || next.text.toLowerCase() === 'without')) {
        continue; // an aggregation operator with its grouping first: sum by (code) (…)
      } else {
        add(t.text);
      }
    }
  }
  return names;
}

/** What a Prometheus text exposition declares: metric families (# TYPE) and the names of samples. */
export function exportedNames(text: string): { types: Map<string, string>; samples: Set<string> } {
  const types = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    else if (line !== '' && !line.startsWith('#')) samples.add(/^[^\s{]+/.exec(line)![0]);
  }
  return { types, samples };
}

/** Series Prometheus makes itself when it scrapes or evaluates rules: not the bridge's to export. */
export const PROMETHEUS_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added', 'ALERTS', 'ALERTS_FOR_STATE']);

/**
 * Whether `name` is exported by the exposition: a family declared by # TYPE (a labelled counter
 * with no sample yet still has its TYPE line), a sample's name, or the _bucket/_sum/_count series
 * of a histogram or summary family.
 */
export function isExported(name: string, exposition: { types: Map<string, string>; samples: Set<string> }): boolean {
  if (exposition.types.has(name) || exposition.samples.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const type = exposition.types.get(m[1]!);
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}
