// A failure counter with a rate-limited log (upstream frames dropped, client messages that failed,
// clients refused): counted always, logged at most once per LOG_EVERY_MS.
import type { Logger } from 'pino';

export const LOG_EVERY_MS = 5000;

export interface Failure {
  at: string;
  reason: string;
}

/**
 * A failure counter with a rate-limited log: at most one line per LOG_EVERY_MS, the first at once,
 * the rest summed up in one line when the interval ends (a timer, only while some are unlogged).
 */
export class FailureLog {
  count = 0;
  last: Failure | null = null;
  #log: Logger;
  #name: string;
  #msg: string;
  #unlogged = 0;
  #lastFields: object = {};
  #loggedAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, name: string, msg: string) {
    this.#log = log;
    this.#name = name;
    this.#msg = msg;
  }

  add(reason: string, fields: object): void {
    this.count++;
    const now = Date.now();
    this.last = { at: new Date(now).toISOString(), reason };
    this.#unlogged++;
    this.#lastFields = fields;
    if (now - this.#loggedAt >= LOG_EVERY_MS) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), LOG_EVERY_MS - (now - this.#loggedAt)).unref();
  }

  /** Logs what is still unlogged, at once. */
  close(): void {
    this.#flush();
  }

  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#unlogged === 0) return;
    const since = this.#unlogged;
    this.#unlogged = 0;
    try {
      this.#log.warn({ [this.#name]: this.count, sinceLastLine: since, last: { ...this.#lastFields, reason: this.last?.reason } }, this.#msg);
    } catch {
      // a failing logger must not turn a counted failure into a crash
    }
    this.#loggedAt = Date.now();
  }
}
