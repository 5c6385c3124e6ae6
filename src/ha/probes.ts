// The probes of an HA member: a standby reads no feed on purpose, so "the feed is not streaming"
// is not a reason for it to be unready or unhealthy; being out of the group is. Pure.
import { Roles } from './role.ts';

/** /readyz of a member: a standby is ready when all but its feeds is; a member still joining, or fenced, is not. */
export function haReadiness(r: { ok: boolean; reasons: string[] }, role: string): { ok: boolean; reasons: string[] } {
  if (role === Roles.ACTIVE) return r;
  const reasons = r.reasons.filter((x) => !/^the feed .*is not streaming/.test(x));
  if (role === Roles.JOINING) reasons.push('ha: not yet a member of the group');
  if (role === Roles.FENCED) reasons.push('ha: fenced: no answer from the group coordinator, the feeds are closed');
  if (role === Roles.LEAVING) reasons.push('ha: leaving the group');
  return { ok: reasons.length === 0, reasons };
}

/** /health of a member: the active one while its feeds stream, a standby while it is in the group. */
export function haHealthy(role: string, streaming: boolean): boolean {
  return role === Roles.STANDBY || (role === Roles.ACTIVE && streaming);
}

/** Checks the timing options together: the fence must come before the session can expire, after a few heartbeats. */
export function haTimingProblem(t: { sessionTimeoutMs: number; heartbeatMs: number; marginMs: number }): string | undefined {
  if (t.marginMs >= t.sessionTimeoutMs) return `--ha-fence-margin (${t.marginMs} ms) must be shorter than --ha-session-timeout (${t.sessionTimeoutMs} ms)`;
  if (t.heartbeatMs * 2 > t.sessionTimeoutMs - t.marginMs) {
    return `--ha-heartbeat (${t.heartbeatMs} ms) must fit at least twice in --ha-session-timeout minus --ha-fence-margin (${t.sessionTimeoutMs - t.marginMs} ms): one late heartbeat would fence the active member`;
  }
  return undefined;
}
