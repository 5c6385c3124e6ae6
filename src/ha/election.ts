// Who is active in an HA group: Kafka's group coordinator runs the membership (joins, session
// timeouts, generations); the member it makes the group's leader runs this assignor, which gives
// partition 0 of the control topic to exactly one member. That member is the active one.
// Pure: no Kafka, no timers; tested on plain values.
//
// Stickiness: every member tells the group (in its JoinGroup user data, a small JSON claim)
// whether it owned partition 0 and since which generation. The claim with the newest generation
// keeps it, so a standby joining (or rejoining) never moves the active role; without a claim,
// the member that has waited longest as a ready standby gets it.
import type { ClusterMetadata, GroupPartitionsAssigner, GroupPartitionsAssignments } from '@platformatic/kafka';

/** What a member says of itself when it (re)joins. */
export interface MemberClaim {
  v: 1;
  /** It owned partition 0 in the last generation it knew (active, or fenced and waiting to resume). */
  owner: boolean;
  /** The generation in which it became the owner (0 when not an owner). */
  ownerGeneration: number;
  /** When it joined as a standby (ms since the epoch); the longest waiting is chosen first. */
  standbySince: number;
  host: string;
  pid: number;
}

export function encodeClaim(c: MemberClaim): Buffer {
  return Buffer.from(JSON.stringify(c));
}

/** The claim in a member's user data; undefined when it is absent or not one of ours. */
export function decodeClaim(data: Buffer | string | null | undefined): MemberClaim | undefined {
  if (data === null || data === undefined || data.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const c = parsed as Record<string, unknown>;
  if (c['v'] !== 1 || typeof c['owner'] !== 'boolean' || typeof c['ownerGeneration'] !== 'number' || typeof c['standbySince'] !== 'number') return undefined;
  return { v: 1, owner: c['owner'], ownerGeneration: c['ownerGeneration'], standbySince: c['standbySince'], host: typeof c['host'] === 'string' ? c['host'] : '?', pid: typeof c['pid'] === 'number' ? c['pid'] : 0 };
}

/**
 * The member to make active: the owner claim with the newest generation (a member that was fenced
 * and rejoined loses to one elected after it), else the standby waiting longest; ties by member
 * id, so every leader decides the same. Members without a readable claim come last.
 */
export function chooseActive(members: ReadonlyArray<{ memberId: string; claim: MemberClaim | undefined }>): string | undefined {
  let best: { memberId: string; claim: MemberClaim | undefined } | undefined;
  const better = (a: (typeof members)[number], b: (typeof members)[number]): boolean => {
    const ca = a.claim;
    const cb = b.claim;
    if ((ca !== undefined) !== (cb !== undefined)) return ca !== undefined;
    if (ca !== undefined && cb !== undefined) {
      if (ca.owner !== cb.owner) return ca.owner;
      if (ca.owner && ca.ownerGeneration !== cb.ownerGeneration) return ca.ownerGeneration > cb.ownerGeneration;
      if (!ca.owner && ca.standbySince !== cb.standbySince) return ca.standbySince < cb.standbySince;
    }
    return a.memberId < b.memberId;
  };
  for (const m of members) if (best === undefined || better(m, best)) best = m;
  return best?.memberId;
}

/**
 * The group's assignor (run by the leader when the group has two members or more; a lone member
 * gets every partition from the client itself): every partition of the control topic to the
 * chosen member, nothing to the others.
 */
export function haAssigner(controlTopic: string): GroupPartitionsAssigner {
  return (_current: string, members, _topics, metadata: ClusterMetadata): GroupPartitionsAssignments[] => {
    const list = [...members.entries()].map(([memberId, m]) => ({ memberId, claim: decodeClaim(m.metadata) }));
    const active = chooseActive(list);
    const count = metadata.topics.get(controlTopic)?.partitionsCount ?? 1;
    return list.map(({ memberId }) => {
      const assignments = new Map<string, { topic: string; partitions: number[] }>();
      if (memberId === active) assignments.set(controlTopic, { topic: controlTopic, partitions: Array.from({ length: count }, (_, i) => i) });
      return { memberId, assignments };
    });
  };
}
