// The proxy's options and their defaults (the flags of `ws2kafka proxy`, see src/cli/proxy.ts).
import type { Logger } from 'pino';
import type { Backoff } from '../source/backoff.ts';

export interface ProxyOptions {
  /** ws:// or wss:// URL of the upstream feed (Polygon, or the mock). */
  upstream: string;
  /** The upstream API key; never logged nor reported. Undefined: an empty key is sent. */
  apiKey: string | undefined;
  /** Local address. Port 0: any free port (the real one is in the returned url). */
  host: string;
  port: number;
  path: string;
  /** Keys local clients may authenticate with; empty: any key. Never logged nor reported. */
  clientKeys: string[];
  authTimeoutMs: number;
  /** Authenticated local connections per client key; 0: unlimited. */
  maxConnections: number;
  /**
   * Open local connections in all (authenticated or not); the next one gets max_connections and a
   * 1013 close (TOO_MANY_CLIENTS). See PROXY_LIMITS.
   */
  maxClients: number;
  /** A local client whose unsent bytes exceed this gets slow_consumer and is disconnected. */
  slowConsumerBytes: number;
  /** Upstream liveness: ping interval and the silence after which the connection is dropped. */
  pingIntervalMs: number;
  silenceTimeoutMs: number;
  /** Upstream reconnect delays (default: 0.5 s doubling to 60 s, with jitter). */
  backoff: Backoff | undefined;
  /** Largest upstream frame accepted, bytes. */
  maxFrameBytes: number;
  log: Logger;
  /** The upstream rejected the API key: the proxy cannot serve anything and should stop. */
  onFatal: ((reason: string) => void) | undefined;
}

export const PROXY_DEFAULTS = {
  host: '127.0.0.1',
  port: 8082,
  path: '/proxy',
  clientKeys: [] as string[],
  authTimeoutMs: 10_000,
  maxConnections: 0,
  maxClients: 100,
  slowConsumerBytes: 16 * 1024 * 1024,
  pingIntervalMs: 20_000,
  silenceTimeoutMs: 30_000,
  backoff: undefined,
  maxFrameBytes: 16 * 1024 * 1024,
  apiKey: undefined,
  onFatal: undefined,
} as const satisfies Partial<ProxyOptions>;

/**
 * The proxy's limit on its local side, documented as the table of run's limits is
 * (src/config/limits.ts): a flag, a default, bounds and the error code of what is refused.
 */
export const PROXY_LIMITS = {
  maxClients: {
    flag: 'max-clients',
    default: PROXY_DEFAULTS.maxClients,
    min: 1,
    max: 1_000_000,
    code: 'TOO_MANY_CLIENTS',
    help: 'open local connections in all; the next one gets a max_connections status and a 1013 (try again later) close, the others are unaffected',
  },
} as const;
