// One member of an HA group (`run --ha-group NAME`): joins the group (group.ts), follows the
// control topic (tail.ts), keeps its role with the reducer (role.ts) on a 100 ms tick, starts and
// stops the bridge's feeds as the role says, writes the heartbeat records while active
// (heartbeat.ts), and on SIGTERM hands over: stop reading, deliver, write a final heartbeat,
// leave the group (a standby is made active about a heartbeat interval later).
import { hostname } from 'node:os';
import { Producer } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { kafkaClientOptions, type KafkaSecurity } from '../config/kafka-options.ts';
import { createMissingTopics } from '../sink/topic-admin.ts';
import { HaGroup, groupIdOf } from './group.ts';
import { buildHeartbeat, takeoverGaps, type FeedReading, type Heartbeat } from './heartbeat.ts';
import { fenceAfterMs, initialRole, Roles, stepRole, type RoleAction, type RoleInput, type RoleState } from './role.ts';
import { ControlTail } from './tail.ts';

/** What a member needs of the bridge (src/ha/bridge-feeds.ts builds it from a Bridge). */
export interface HaFeeds {
  readings(): FeedReading[];
  /** Records, on the feed's next subscription, the window from `from` as a gap of `connectionId`. */
  carryGap(feed: string, connectionId: string, from: number, reason: string): void;
  startFeeds(): void;
  stopFeeds(reason: string): void;
  /** Unsubscribes every feed and waits (at most timeoutMs) until nothing more arrives: nothing sent is left unread. */
  quiesce(timeoutMs: number): Promise<void>;
  /** Wall ms of the oldest event read and not yet acknowledged (undefined: none). */
  oldestUnacked(): number | undefined;
  /** Events read and not acknowledged by Kafka (in memory or in the spool). */
  pending(): number;
  /** Sends nothing more to Kafka, keeps what is read (fenced). */
  holdDelivery(): void;
  /** Delivers again what holdDelivery() kept. */
  resumeDelivery(): void;
  /** Forgets what was read and not delivered (another member has the role); returns how many events. */
  discardUndelivered(): number;
}

/** The metrics a member keeps (fields of BridgeMetrics). */
export interface HaMetrics {
  haActive: number;
  haTakeovers: number;
  haDiscarded: number;
  countError(code: string, message: string): void;
}

export interface HaOptions {
  group: string;
  topic: string;
  brokers: string[];
  security: KafkaSecurity | undefined;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  marginMs: number;
  /** Replication of the control topic when it is created (as the bridge's other topics). */
  replication: number | 'auto';
  feeds: HaFeeds;
  metrics: HaMetrics;
  log: Logger;
}

/** What /status shows under `ha`. */
export interface HaStatus {
  group: string;
  groupId: string;
  topic: string;
  member: string;
  host: string;
  role: string;
  since: string;
  generation: number;
  sessionTimeoutMs: number;
  fenceAfterMs: number;
  lastContactAgoMs: number;
  takeovers: number;
  /** This member's last heartbeat record acknowledged by Kafka (while active). */
  lastHeartbeat: { at: string; ackedUpTo: string | null } | null;
  heartbeatError: string | null;
  /** The newest heartbeat of the group read from the control topic: who is (or was) active. */
  active: { member: string; host: string; at: string; final: boolean } | null;
}

const TICK_MS = 100;
/** How long a new active member waits to have read the group's last heartbeats. */
const CATCH_UP_MS = 3000;
/** How long a handover waits for the feeds to go quiet after unsubscribing. */
const QUIESCE_MS = 2000;
const HEARTBEAT_LOG_MS = 10_000;
/** Longest waits at shutdown (Kafka may be unreachable): the final heartbeat, leaving, closing a client. */
const FINAL_HEARTBEAT_WAIT_MS = 2000;
const LEAVE_WAIT_MS = 3000;
const CLOSE_WAIT_MS = 1000;
/** Compacted by group name: the last heartbeat of every group is kept, the rest cleaned. */
const CONTROL_TOPIC_CONFIGS = { 'cleanup.policy': 'compact', 'segment.ms': '600000' } as const;

export class HaMember {
  #o: HaOptions;
  #state: RoleState;
  #group: HaGroup;
  #tail: ControlTail;
  #producer: Producer;
  #tick: NodeJS.Timeout | undefined;
  #beat: NodeJS.Timeout | undefined;
  #sending = false;
  #lastHeartbeat: Heartbeat | undefined;
  #heartbeatError: string | undefined;
  #lastHeartbeatLog = 0;
  /** Bumped at every start or stop of the feeds: a start still catching up is dropped when it moved. */
  #epoch = 0;
  #standbySince = Date.now();
  #host = hostname();
  #closed = false;
  /** Active when stopReading() was called: leave() writes a final heartbeat. */
  #wasActive = false;

  constructor(o: HaOptions) {
    this.#o = o;
    this.#state = initialRole(Date.now());
    const input = (i: RoleInput) => this.#step(i);
    this.#group = new HaGroup({
      brokers: o.brokers,
      security: o.security,
      group: o.group,
      topic: o.topic,
      sessionTimeoutMs: o.sessionTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      log: o.log,
      claim: () => ({ owner: this.#state.owner, ownerGeneration: this.#state.ownerGeneration, standbySince: this.#standbySince }),
      onAssigned: (generation, owner) => input({ type: 'assigned', generation, owner, now: Date.now() }),
      onContact: () => input({ type: 'contact', now: Date.now() }),
      onRebalancing: () => input({ type: 'rebalancing', now: Date.now() }),
      onLost: (err) => {
        o.metrics.countError('HA_GROUP_UNAVAILABLE', err.message);
        o.log.warn({ code: 'HA_GROUP_UNAVAILABLE', err: err.message, group: this.#group.groupId }, '[HA_GROUP_UNAVAILABLE] ha: could not join the group (Kafka unreachable?); joining again');
        input({ type: 'lost', now: Date.now() });
      },
    });
    this.#tail = new ControlTail({ brokers: o.brokers, security: o.security, topic: o.topic, group: o.group, log: o.log });
    this.#producer = new Producer({ clientId: `ws2kafka-ha-${this.#host}-${process.pid}`, bootstrapBrokers: o.brokers, retries: 1, timeout: 5000, ...kafkaClientOptions(o.security, o.brokers) });
  }

  get role(): string {
    return this.#state.role;
  }

  /** Creates the control topic when missing, then follows it and joins the group. */
  async start(): Promise<void> {
    const o = this.#o;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return;
      try {
        await createMissingTopics({ brokers: o.brokers, security: o.security, topics: [o.topic], partitions: 1, replication: o.replication, configs: { [o.topic]: { ...CONTROL_TOPIC_CONFIGS } }, log: o.log });
        break;
      } catch (err) {
        if (attempt === 0) o.log.warn({ err: (err as Error).message, topic: o.topic }, 'ha: cannot reach Kafka to check the control topic; trying again every 2 s (the feed is not read until this member is made active)');
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    if (this.#closed) return;
    this.#tail.start();
    this.#group.join();
    this.#tick = setInterval(() => this.#step({ type: 'tick', now: Date.now() }), TICK_MS);
    o.log.info(
      { group: o.group, groupId: groupIdOf(o.group), topic: o.topic, sessionTimeoutMs: o.sessionTimeoutMs, heartbeatMs: o.heartbeatIntervalMs, fenceAfterMs: fenceAfterMs(o) },
      'ha: joining the group as a standby; the feed is read only once the group makes this member active',
    );
  }

  #step(input: RoleInput): void {
    const before = this.#state;
    const { state, actions } = stepRole(before, input, this.#o);
    this.#state = state;
    if (state.role !== before.role) {
      if (state.role === Roles.STANDBY && before.role !== Roles.STANDBY) this.#standbySince = Date.now();
      this.#o.log.info({ group: this.#o.group, member: this.#group.memberId, generation: state.generation, from: before.role, to: state.role }, `ha: ${before.role} → ${state.role}`);
    }
    for (const a of actions) this.#act(a);
  }

  #act(a: RoleAction): void {
    const o = this.#o;
    const epoch = ++this.#epoch;
    if (a.type === 'stopFeeds') {
      this.#stopBeat();
      o.metrics.haActive = 0;
      if (a.code !== undefined) {
        o.metrics.countError(a.code, a.reason);
        o.log.warn({ code: a.code, group: o.group, reason: a.reason }, `[${a.code}] ha: stopped reading the feeds: ${a.reason}`);
      } else {
        o.log.info({ group: o.group, reason: a.reason }, `ha: stopped reading the feeds: ${a.reason}`);
      }
      if (this.#state.role !== Roles.LEAVING) o.feeds.stopFeeds(`ha: ${a.reason}`);
      return;
    }
    if (a.type === 'holdDelivery') {
      o.feeds.holdDelivery();
      o.log.warn({ group: o.group, held: o.feeds.pending() }, 'ha: fenced: nothing more is sent to Kafka; what was read waits, delivered if this member resumes, discarded if another member takes over (its takeover gap covers it)');
      return;
    }
    if (a.type === 'discardUndelivered') {
      const n = o.feeds.discardUndelivered();
      o.metrics.haDiscarded += n;
      o.log.warn({ group: o.group, discarded: n, reason: a.reason }, `ha: ${a.reason}: ${n} events read by this member and not delivered are discarded (the new active member's takeover gap covers them; delivered now they would land after its events)`);
      return;
    }
    // Resumed after a fence: what was held goes first, ahead of what the feeds read next.
    o.feeds.resumeDelivery();
    void this.#takeOver(epoch, a.resumed);
  }

  /** Made active: read the group's last heartbeats, record the windows nobody read, start the feeds. */
  async #takeOver(epoch: number, resumed: boolean): Promise<void> {
    const o = this.#o;
    const started = Date.now();
    const caughtUp = await this.#tail.caughtUp(CATCH_UP_MS);
    if (epoch !== this.#epoch || this.#state.role !== Roles.ACTIVE) return;
    if (!caughtUp) o.log.warn({ topic: o.topic }, `ha: the control topic could not be read to its end within ${CATCH_UP_MS} ms: the takeover gaps are computed from the heartbeats read so far`);
    const feeds = o.feeds.readings().map((f) => f.name);
    const gaps = takeoverGaps(this.#tail.words, feeds, this.#group.memberId);
    for (const g of gaps) o.feeds.carryGap(g.feed, g.connectionId, g.from, g.reason);
    o.metrics.haActive = 1;
    o.metrics.haTakeovers++;
    const last = this.#tail.words.last;
    o.log.info(
      {
        group: o.group,
        member: this.#group.memberId,
        generation: this.#state.generation,
        resumed,
        previous: last === undefined ? null : { member: last.member, host: last.host, at: last.at_iso, final: last.final },
        gaps: gaps.map((g) => ({ feed: g.feed, from: new Date(g.from).toISOString() })),
        catchUpMs: Date.now() - started,
      },
      'ha: this member is now active: reading the feeds',
    );
    o.feeds.startFeeds();
    this.#startBeat();
  }

  #startBeat(): void {
    this.#stopBeat();
    void this.#writeHeartbeat(false);
    this.#beat = setInterval(() => void this.#writeHeartbeat(false), this.#o.heartbeatIntervalMs);
  }

  #stopBeat(): void {
    if (this.#beat !== undefined) clearInterval(this.#beat);
    this.#beat = undefined;
  }

  /** One heartbeat record; skipped while the previous one is still on its way. */
  async #writeHeartbeat(final: boolean): Promise<boolean> {
    const o = this.#o;
    if (this.#sending && !final) return false;
    this.#sending = true;
    const h = buildHeartbeat({
      group: o.group,
      member: this.#group.memberId,
      host: this.#host,
      pid: process.pid,
      generation: this.#state.generation,
      feeds: o.feeds.readings(),
      oldestUnacked: o.feeds.oldestUnacked(),
      final,
      now: Date.now(),
    });
    try {
      await this.#producer.send({ messages: [{ topic: o.topic, partition: 0, key: Buffer.from(o.group), value: Buffer.from(JSON.stringify(h)) }], acks: -1 });
      this.#lastHeartbeat = h;
      this.#heartbeatError = undefined;
      return true;
    } catch (err) {
      this.#heartbeatError = (err as Error).message;
      o.metrics.countError('HA_HEARTBEAT_FAILED', this.#heartbeatError);
      if (Date.now() - this.#lastHeartbeatLog > HEARTBEAT_LOG_MS) {
        this.#lastHeartbeatLog = Date.now();
        o.log.warn({ code: 'HA_HEARTBEAT_FAILED', topic: o.topic, err: this.#heartbeatError }, '[HA_HEARTBEAT_FAILED] ha: a heartbeat record could not be written (the role is kept by the group coordinator, not by these records)');
      }
      return false;
    } finally {
      this.#sending = false;
    }
  }

  /**
   * SIGTERM, first step: an active member unsubscribes, waits until nothing more arrives (so that
   * nothing the feed sent is left unread), and stops reading. It stays in the group, and the
   * active one, while the bridge delivers what it read (Bridge.stop); then leave().
   */
  async stopReading(): Promise<void> {
    const o = this.#o;
    clearInterval(this.#tick);
    this.#stopBeat();
    const wasActive = this.#state.role === Roles.ACTIVE;
    this.#wasActive = wasActive;
    if (wasActive) await o.feeds.quiesce(QUIESCE_MS);
    this.#step({ type: 'leave', now: Date.now() });
    if (wasActive) o.feeds.stopFeeds('ha: leaving the group (shutdown)');
  }

  /**
   * SIGTERM, last step, once the bridge has delivered what it read: a final heartbeat (what is
   * acknowledged now) and leaving the group, so that a standby is made active about a heartbeat
   * interval later, with a gap only for the reconnection.
   */
  async leave(): Promise<void> {
    const o = this.#o;
    if (this.#wasActive) {
      // Not everything delivered (Kafka unreachable; the spool keeps it for this member's next
      // start): no final heartbeat, so the next active member's gap starts at the last periodic one.
      const pending = o.feeds.pending();
      const ok = pending === 0 && (await within(this.#writeHeartbeat(true), FINAL_HEARTBEAT_WAIT_MS, false));
      o.log.info(
        { group: o.group, finalHeartbeat: ok, pending },
        `ha: handing over: ${pending === 0 ? 'everything read is in Kafka' : `${pending} events read are not in Kafka (see the shutdown lines): no final heartbeat`}; leaving the group`,
      );
    }
    await this.close();
  }

  /** Leaves the group and closes the clients. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    this.#stopBeat();
    this.#o.metrics.haActive = 0;
    // Kafka may be unreachable: the coordinator then drops this member when its session times out.
    await within(this.#group.leave(), LEAVE_WAIT_MS, undefined);
    await within(this.#tail.close(), CLOSE_WAIT_MS, undefined);
    await within(this.#producer.close().catch(() => undefined), CLOSE_WAIT_MS, undefined);
  }

  status(): HaStatus {
    const s = this.#state;
    const o = this.#o;
    const last = this.#tail.words.last;
    const mine = this.#lastHeartbeat;
    return {
      group: o.group,
      groupId: groupIdOf(o.group),
      topic: o.topic,
      member: this.#group.memberId,
      host: this.#host,
      role: s.role,
      since: new Date(s.since).toISOString(),
      generation: s.generation,
      sessionTimeoutMs: o.sessionTimeoutMs,
      fenceAfterMs: fenceAfterMs(o),
      lastContactAgoMs: Date.now() - s.lastContact,
      takeovers: s.activations,
      lastHeartbeat: mine === undefined ? null : { at: mine.at_iso, ackedUpTo: mine.acked_up_to === null ? null : new Date(mine.acked_up_to).toISOString() },
      heartbeatError: this.#heartbeatError ?? null,
      active: last === undefined ? null : { member: last.member, host: last.host, at: last.at_iso, final: last.final },
    };
  }
}

/** `p`, or `fallback` after `ms` (the promise is left to settle on its own). */
async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
