// Membership of an HA group through Kafka's own group protocol (the classic consumer group
// protocol, as Kafka Connect's workers use it): @platformatic/kafka's Consumer joins the group
// `ws2kafka-ha-<group>` subscribed to the control topic, heartbeats every --ha-heartbeat, and its
// coordinator (a Kafka broker) expires a member it has not heard from for --ha-session-timeout.
// Nothing is consumed: the assignment is the election (election.ts). This file only turns the
// client's events into the role reducer's inputs (role.ts); it decides nothing itself.
import { hostname } from 'node:os';
import { Consumer } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { encodeClaim, haAssigner, type MemberClaim } from './election.ts';

/** The JoinGroup protocol name: what `kafka-consumer-groups --describe` shows as the assignor. */
export const HA_PROTOCOL = 'ws2kafka-ha';

export function groupIdOf(group: string): string {
  return `ws2kafka-ha-${group}`;
}

export interface GroupOptions {
  brokers: string[];
  security: KafkaSecurity | undefined;
  group: string;
  topic: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  log: Logger;
  /** What this member claims when it (re)joins: owner of the control partition or not. */
  claim: () => Pick<MemberClaim, 'owner' | 'ownerGeneration' | 'standbySince'>;
  /** A join completed: the generation, and whether this member is the one assigned the control partition. */
  onAssigned: (generation: number, owner: boolean) => void;
  /** The coordinator answered a heartbeat. */
  onContact: () => void;
  /** The coordinator answered that the group is rebalancing (a rejoin follows). */
  onRebalancing: () => void;
  /** Joining failed for good (after the client's retries): this member is out of the group until it joins again. */
  onLost: (err: Error) => void;
}

/** The first wait before joining again after a failed join; doubles up to REJOIN_MAX_MS. */
const REJOIN_MIN_MS = 500;
const REJOIN_MAX_MS = 10_000;

export class HaGroup {
  readonly groupId: string;
  #o: GroupOptions;
  #consumer: Consumer;
  #closed = false;
  #rejoinTimer: NodeJS.Timeout | undefined;
  #rejoinDelay = REJOIN_MIN_MS;
  #joining = false;

  constructor(o: GroupOptions) {
    this.#o = o;
    this.groupId = groupIdOf(o.group);
    const host = hostname();
    this.#consumer = new Consumer({
      groupId: this.groupId,
      clientId: `ws2kafka-ha-${host}-${process.pid}`,
      bootstrapBrokers: o.brokers,
      ...kafkaClientOptions(o.security, o.brokers),
      sessionTimeout: o.sessionTimeoutMs,
      // The client requires rebalanceTimeout >= sessionTimeout; a member that does not rejoin
      // within it is dropped from the new generation.
      rebalanceTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      autocommit: false,
      protocols: [{ name: HA_PROTOCOL, version: 1 }],
      protocolsMetadata: () => encodeClaim({ v: 1, ...o.claim(), host, pid: process.pid }),
      partitionAssigner: haAssigner(o.topic),
    });
    const c = this.#consumer;
    c.topics.track(o.topic);
    c.on('consumer:group:join', (p) => {
      this.#rejoinDelay = REJOIN_MIN_MS;
      const owner = (p.assignments ?? []).some((a) => a.topic === o.topic && a.partitions.includes(0));
      o.onAssigned(p.generationId ?? c.generationId, owner);
    });
    c.on('consumer:heartbeat:end', () => o.onContact());
    c.on('consumer:group:rebalance', () => o.onRebalancing());
    // A rejoin the client gave up on: no more heartbeats are scheduled by it; join again.
    c.on('error', (err: Error) => {
      if (this.#closed) return;
      o.onLost(err);
      this.#scheduleJoin();
    });
  }

  get memberId(): string {
    return this.#consumer.memberId ?? '';
  }

  get generation(): number {
    return this.#consumer.generationId;
  }

  /** Joins (and keeps joining after failures, with backoff, until close). */
  join(): void {
    if (this.#closed || this.#joining) return;
    this.#joining = true;
    this.#consumer.joinGroup({}).then(
      () => {
        this.#joining = false;
      },
      (err: unknown) => {
        this.#joining = false;
        if (this.#closed) return;
        this.#o.onLost(err as Error);
        this.#scheduleJoin();
      },
    );
  }

  #scheduleJoin(): void {
    if (this.#closed || this.#rejoinTimer !== undefined) return;
    const delay = this.#rejoinDelay;
    this.#rejoinDelay = Math.min(REJOIN_MAX_MS, delay * 2);
    this.#rejoinTimer = setTimeout(() => {
      this.#rejoinTimer = undefined;
      this.join();
    }, delay);
  }

  /** Leaves the group (the coordinator rebalances the others at once) and closes the client. */
  async leave(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#rejoinTimer);
    try {
      await this.#consumer.close();
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'ha: leaving the group failed; the coordinator drops this member when its session times out');
      await this.#consumer.close(true).catch(() => undefined);
    }
  }
}
