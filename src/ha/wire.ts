// `run --ha-group`: the member of an HA group for a bridge started with deferFeeds (run.ts).
import type { Logger } from 'pino';
import type { Bridge } from '../bridge/bridge.ts';
import type { RunConfig } from '../config/run-config.ts';
import { Ws2kError } from '../errors.ts';
import { bridgeFeeds } from './bridge-feeds.ts';
import { HaMember } from './member.ts';
import { haTimingProblem } from './probes.ts';

export { haHealthy, haReadiness } from './probes.ts';
export type { HaMember } from './member.ts';

/** Throws USAGE when the HA timing options do not fit together (before anything is started). */
export function checkHaConfig(c: RunConfig): void {
  if (c.haGroup === undefined) return;
  const problem = haTimingProblem({ sessionTimeoutMs: c.haSessionTimeoutMs, heartbeatMs: c.haHeartbeatMs, marginMs: c.haFenceMarginMs });
  if (problem !== undefined) throw new Ws2kError('USAGE', problem);
}

/** The member for `bridge`, or undefined without --ha-group. */
export function haMemberFor(c: RunConfig, brokers: string[], bridge: Bridge, log: Logger): HaMember | undefined {
  if (c.haGroup === undefined) return undefined;
  return new HaMember({
    group: c.haGroup,
    topic: c.haTopic,
    brokers,
    security: c.kafka,
    sessionTimeoutMs: c.haSessionTimeoutMs,
    heartbeatIntervalMs: c.haHeartbeatMs,
    marginMs: c.haFenceMarginMs,
    replication: c.replication,
    feeds: bridgeFeeds(bridge),
    metrics: bridge.metrics,
    log,
  });
}
