// The role of one HA member as a pure reducer: (state, input) → (state, actions). The group
// client feeds it what the coordinator said (an assignment after a join, an answered heartbeat)
// and the clock (a tick every 100 ms); it answers with the feeds to start or stop. No Kafka, no
// timers: tested with an injected clock.
//
// Fencing: the coordinator expires a member that has not been heard from for session.timeout.ms
// and gives its partition (the active role) to another. A member cannot know when its requests
// stopped arriving, only when answers stopped coming; so the active member stops reading the feed
// once no answer has come for session.timeout.ms - margin. By the time the coordinator can elect
// another member, this one has stopped: two members never stream the same feed at once, as long as
// the margin covers a request's way to the coordinator, the tick, and the time to close a socket.
// It stops producing too (holdDelivery): what it read and has not delivered waits, to be delivered
// if it resumes, or discarded once another member has the role (its takeover gap covers it, and
// delivered late it would land after that member's events).

export const Roles = {
  /** Started, not yet in a generation of the group. */
  JOINING: 'joining',
  /** In the group, not assigned the control partition: connected to Kafka, not to the feed. */
  STANDBY: 'standby',
  /** Assigned the control partition and heard from the coordinator in time: streaming. */
  ACTIVE: 'active',
  /** Assigned it, but the coordinator has not answered for too long: the feed is closed. */
  FENCED: 'fenced',
  /** Leaving the group (SIGTERM): the feed is closed, what was read is being delivered. */
  LEAVING: 'leaving',
} as const;
export type Role = (typeof Roles)[keyof typeof Roles];

export interface RoleState {
  role: Role;
  /** Owner of the control partition in the last generation this member knows. */
  owner: boolean;
  /** The generation in which it became the owner (0: not an owner). */
  ownerGeneration: number;
  generation: number;
  /** When the coordinator last answered (ms). */
  lastContact: number;
  /** When the role last changed (ms). */
  since: number;
  /** Times this member became active (elected, took over, or resumed after fencing). */
  activations: number;
}

export type RoleInput =
  /** A join completed: the generation, and whether this member got the control partition. */
  | { type: 'assigned'; generation: number; owner: boolean; now: number }
  /** A heartbeat was answered: still a member of the current generation, as assigned. */
  | { type: 'contact'; now: number }
  /** The coordinator answered that a rebalance is under way: alive, the assignment is coming. */
  | { type: 'rebalancing'; now: number }
  /** Membership lost (the coordinator no longer knows this member): wait for the next join. */
  | { type: 'lost'; now: number }
  | { type: 'tick'; now: number }
  /** SIGTERM: stop streaming, deliver, then leave. */
  | { type: 'leave'; now: number };

export type RoleAction =
  /** Read the feeds (and deliver again what a fence paused). */
  | { type: 'startFeeds'; resumed: boolean }
  | { type: 'stopFeeds'; reason: string; code?: 'HA_FENCED' }
  /** Fenced: send nothing more to Kafka, keep what is read (this member may resume). */
  | { type: 'holdDelivery' }
  /**
   * Another member has (or may have) the role: forget what was read and not delivered. Its
   * takeover gap covers it; delivered now, it would land after that member's events.
   */
  | { type: 'discardUndelivered'; reason: string };

export interface FenceTiming {
  sessionTimeoutMs: number;
  marginMs: number;
}

/** How long without an answer from the coordinator before the active member stops reading. */
export function fenceAfterMs(t: FenceTiming): number {
  return t.sessionTimeoutMs - t.marginMs;
}

export function initialRole(now: number): RoleState {
  return { role: Roles.JOINING, owner: false, ownerGeneration: 0, generation: 0, lastContact: now, since: now, activations: 0 };
}

/** The next state and what to do. */
export function stepRole(s: RoleState, input: RoleInput, timing: FenceTiming): { state: RoleState; actions: RoleAction[] } {
  const now = input.now;
  const to = (role: Role, patch: Partial<RoleState> = {}): RoleState => ({ ...s, ...patch, role, since: role === s.role ? s.since : now });
  if (s.role === Roles.LEAVING) return { state: s, actions: [] };
  switch (input.type) {
    case 'assigned': {
      const base = { generation: input.generation, lastContact: now };
      if (!input.owner) {
        const state = to(Roles.STANDBY, { ...base, owner: false, ownerGeneration: 0 });
        const reason = 'another member of the group was made active';
        if (s.role === Roles.ACTIVE) return { state, actions: [{ type: 'stopFeeds', reason }, { type: 'discardUndelivered', reason }] };
        return { state, actions: s.role === Roles.FENCED ? [{ type: 'discardUndelivered', reason }] : [] };
      }
      const ownerGeneration = s.owner ? s.ownerGeneration : input.generation;
      if (s.role === Roles.ACTIVE) return { state: { ...s, ...base, owner: true, ownerGeneration }, actions: [] };
      return { state: to(Roles.ACTIVE, { ...base, owner: true, ownerGeneration, activations: s.activations + 1 }), actions: [{ type: 'startFeeds', resumed: s.role === Roles.FENCED }] };
    }
    case 'contact':
      if (s.role === Roles.FENCED && s.owner) {
        return { state: to(Roles.ACTIVE, { lastContact: now, activations: s.activations + 1 }), actions: [{ type: 'startFeeds', resumed: true }] };
      }
      return { state: { ...s, lastContact: now }, actions: [] };
    case 'rebalancing':
      return { state: { ...s, lastContact: now }, actions: [] };
    case 'lost': {
      // The coordinator dropped this member (its session expired): whatever it owned is gone.
      const expired = 'the group coordinator no longer knows this member (its session expired)';
      if (s.role === Roles.ACTIVE) {
        return { state: to(Roles.JOINING, { owner: false, ownerGeneration: 0 }), actions: [{ type: 'stopFeeds', reason: expired, code: 'HA_FENCED' }, { type: 'discardUndelivered', reason: expired }] };
      }
      const actions: RoleAction[] = s.role === Roles.FENCED ? [{ type: 'discardUndelivered', reason: expired }] : [];
      return { state: to(s.role === Roles.FENCED || s.role === Roles.STANDBY ? Roles.JOINING : s.role, { owner: false, ownerGeneration: 0 }), actions };
    }
    case 'tick': {
      const silent = now - s.lastContact;
      if (s.role === Roles.ACTIVE && silent > fenceAfterMs(timing)) {
        return {
          state: to(Roles.FENCED),
          actions: [{ type: 'stopFeeds', reason: `no answer from the group coordinator for ${silent} ms (session timeout ${timing.sessionTimeoutMs} ms, margin ${timing.marginMs} ms)`, code: 'HA_FENCED' }, { type: 'holdDelivery' }],
        };
      }
      return { state: s, actions: [] };
    }
    case 'leave':
      return { state: to(Roles.LEAVING, { owner: false }), actions: s.role === Roles.ACTIVE ? [{ type: 'stopFeeds', reason: 'leaving the group (shutdown): handing over to a standby' }] : [] };
  }
}
