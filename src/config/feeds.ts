// Several feeds in one process: the `feeds` list of a --config file. Each entry names one upstream
// WebSocket (Polygon serves each asset class on its own endpoint) with its own key, subscriptions,
// topic map and control topics; what an entry leaves out it takes from the top-level options
// (file < environment < flags). Without a `feeds` list the top-level options describe one feed
// named "default", exactly as before.
import { readFile } from 'node:fs/promises';
import { Ws2kError } from '../errors.ts';
import { fileValue, readCaBundle, secretFromFile } from './kafka-options.ts';
import { parseMap, parseTopic, parseUrl, redactUrl, usage } from './parse.ts';

/** One feed, resolved: everything its source, routes and control records need. */
export interface FeedConfig {
  /** Names it in gap records, logs, the `feed` label of metrics and /status. */
  name: string;
  url: string;
  apiKey: string | undefined;
  /** The contents of its CA bundle (wss:// with a private CA); undefined: the system store. */
  feedCa: string | undefined;
  subscribe: string;
  /** ev → topic, complete (the defaults and the top-level --topics merged under the feed's own). */
  topics: Record<string, string>;
  unknownTopic: string;
  deadLetterTopic: string;
  gapTopic: string;
}

/** The name of the one feed the flags describe. */
export const DEFAULT_FEED = 'default';

/** Keys a `feeds` entry may hold (named as run's flags, as the rest of the file). */
export const FEED_KEYS = ['name', 'url', 'api-key', 'api-key-file', 'ca', 'subscribe', 'topics', 'unknown-topic', 'dead-letter-topic', 'gap-topic'] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The top-level values a feed falls back to: all of a feed's but its name and URL. */
export type FeedDefaults = Omit<FeedConfig, 'name' | 'url'>;

/** The single feed of the flags (no `feeds` list). */
export function singleFeed(url: string, d: FeedDefaults): FeedConfig {
  return { name: DEFAULT_FEED, url, ...d };
}

/**
 * Parses and checks the `feeds` list of the config file at `path`; reads the key and CA files it
 * names. Every problem names the file, the entry (its index and name) and the key.
 */
export async function parseFeeds(list: unknown, path: string, d: FeedDefaults): Promise<FeedConfig[]> {
  if (!Array.isArray(list) || list.length === 0) throw new Ws2kError('USAGE', `--config '${path}': feeds must be a non-empty list of feeds (each with at least name and url)`);
  const feeds: FeedConfig[] = [];
  const names = new Set<string>();
  for (const [i, entry] of list.entries()) {
    const where = `--config '${path}': feeds[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new Ws2kError('USAGE', `${where} is not valid: expected an object with name, url and optionally ${FEED_KEYS.slice(2).join(', ')}`);
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!(FEED_KEYS as readonly string[]).includes(k)) throw new Ws2kError('USAGE', `${where}: unknown key '${k}'; a feed's keys are: ${FEED_KEYS.join(', ')}`);
    }
    const str = (k: (typeof FEED_KEYS)[number]): string | undefined => (e[k] === undefined || e[k] === null ? undefined : fileValue(e[k]));
    const name = str('name');
    if (name === undefined || !NAME.test(name)) throw usage(`${where}.name`, name ?? '', 'a name of letters, digits, . _ - (at most 64, first a letter or digit), unique among the feeds');
    if (names.has(name)) throw new Ws2kError('USAGE', `${where}.name '${name}' is given to two feeds: each feed needs its own name`);
    names.add(name);
    const at = `--config '${path}': feed '${name}'`;
    const rawUrl = str('url');
    if (rawUrl === undefined) throw new Ws2kError('USAGE', `${at} has no url: each feed needs its ws:// or wss:// URL`);
    const url = parseUrl(`${at} url`, rawUrl);
    const apiKeyText = str('api-key');
    const keyFile = str('api-key-file');
    if (apiKeyText !== undefined && keyFile !== undefined) throw new Ws2kError('USAGE', `${at}: api-key and api-key-file are both given: give one of them`);
    let apiKey = apiKeyText ?? d.apiKey;
    if (keyFile !== undefined) apiKey = await readKeyFile(at, keyFile);
    const ca = str('ca');
    if (ca !== undefined && !url.startsWith('wss:')) throw new Ws2kError('USAGE', `${at}: ca '${ca}' is for a wss:// feed, but its url ${redactUrl(url)} is not wss://`);
    let feedCa = url.startsWith('wss:') ? d.feedCa : undefined;
    if (ca !== undefined) {
      try {
        feedCa = await readCaBundle('ca', ca);
      } catch (err) {
        throw new Ws2kError('USAGE', `${at}: ${(err as Error).message}`);
      }
    }
    const topicsText = str('topics');
    const topic = (k: 'unknown-topic' | 'dead-letter-topic' | 'gap-topic', fallback: string) => {
      const v = str(k);
      return v === undefined ? fallback : parseTopic(`${at} ${k}`, v);
    };
    feeds.push({
      name,
      url,
      apiKey,
      feedCa,
      subscribe: str('subscribe') ?? d.subscribe,
      topics: topicsText === undefined ? { ...d.topics } : { ...d.topics, ...parseMap(`${at} topics`, topicsText) },
      unknownTopic: topic('unknown-topic', d.unknownTopic),
      deadLetterTopic: topic('dead-letter-topic', d.deadLetterTopic),
      gapTopic: topic('gap-topic', d.gapTopic),
    });
  }
  return feeds;
}

async function readKeyFile(at: string, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Ws2kError('USAGE', `${at}: api-key-file '${file}' cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): expected a file holding the feed's API key`);
  }
  const key = secretFromFile(text);
  if (key === '') throw new Ws2kError('USAGE', `${at}: api-key-file '${file}' is empty: expected the feed's API key`);
  return key;
}
