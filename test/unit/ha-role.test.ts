// The HA member's role as a pure reducer, driven by an injected clock: election, fencing before the
// session can expire, resuming, demotion, leaving.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fenceAfterMs, initialRole, Roles, stepRole, type RoleAction, type RoleInput, type RoleState } from '../../src/ha/role.ts';
import { haHealthy, haReadiness, haTimingProblem } from '../../src/ha/probes.ts';

const timing = { sessionTimeoutMs: 10_000, marginMs: 3000 };

/** Runs inputs from the initial state; returns the final state and every action, in order. */
function run(inputs: RoleInput[], from: RoleState = initialRole(0)): { state: RoleState; actions: RoleAction[] } {
  let state = from;
  const actions: RoleAction[] = [];
  for (const i of inputs) {
    const r = stepRole(state, i, timing);
    state = r.state;
    actions.push(...r.actions);
  }
  return { state, actions };
}

/** Ticks every 100 ms from `from` to `to` (inclusive). */
function ticks(from: number, to: number): RoleInput[] {
  const out: RoleInput[] = [];
  for (let now = from; now <= to; now += 100) out.push({ type: 'tick', now });
  return out;
}

test('the fence comes session timeout minus margin after the last answer', () => {
  assert.equal(fenceAfterMs(timing), 7000);
});

test('assigned the control partition: active, the feeds start once; not assigned: standby, nothing starts', () => {
  const active = run([{ type: 'assigned', generation: 1, owner: true, now: 10 }, { type: 'assigned', generation: 2, owner: true, now: 20 }]);
  assert.equal(active.state.role, Roles.ACTIVE);
  assert.deepEqual(active.actions, [{ type: 'startFeeds', resumed: false }]);
  assert.equal(active.state.ownerGeneration, 1, 'a rebalance that keeps it owner keeps the generation it became owner in');
  assert.equal(active.state.activations, 1);
  const standby = run([{ type: 'assigned', generation: 1, owner: false, now: 10 }]);
  assert.equal(standby.state.role, Roles.STANDBY);
  assert.deepEqual(standby.actions, []);
});

test('an active member that hears nothing from the coordinator stops reading after 7 s, before its 10 s session can expire', () => {
  const start: RoleInput[] = [{ type: 'assigned', generation: 1, owner: true, now: 0 }];
  // Heartbeats answered every second until 5 s, then silence.
  const beats: RoleInput[] = [1000, 2000, 3000, 4000, 5000].map((now) => ({ type: 'contact', now }));
  const inputs = [...start, ...beats].sort((a, b) => a.now - b.now);
  const upTo = (t: number) => run([...inputs, ...ticks(5100, t)]);
  assert.equal(upTo(12_000).state.role, Roles.ACTIVE, 'exactly 7 s after the last answer: still active');
  const fenced = upTo(12_100);
  assert.equal(fenced.state.role, Roles.FENCED);
  const stop = fenced.actions.at(-2);
  assert.equal(stop?.type, 'stopFeeds');
  assert.deepEqual(fenced.actions.at(-1), { type: 'holdDelivery' }, 'it stops producing too: what it read waits (it may resume)');
  assert.equal(stop?.type === 'stopFeeds' ? stop.code : undefined, 'HA_FENCED');
  assert.ok(fenced.state.since < 5000 + timing.sessionTimeoutMs, 'stopped before the coordinator could expire the session');
  // Ticks go on: it does not stop twice.
  assert.equal(upTo(20_000).actions.filter((a) => a.type === 'stopFeeds').length, 1);
});

test('a rebalance under way counts as an answer: no fencing while the group reassigns', () => {
  const r = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, { type: 'rebalancing', now: 6000 }, ...ticks(6100, 12_000)]);
  assert.equal(r.state.role, Roles.ACTIVE);
});

test('fenced, then the coordinator answers again with the same assignment: it resumes (a takeover of itself, with a gap)', () => {
  const r = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, ...ticks(100, 8000), { type: 'contact', now: 8500 }]);
  assert.equal(r.state.role, Roles.ACTIVE);
  assert.deepEqual(
    r.actions.map((a) => a.type),
    ['startFeeds', 'stopFeeds', 'holdDelivery', 'startFeeds'],
    'nothing is discarded: nobody else took the role, what it held is delivered when it resumes',
  );
  assert.deepEqual(r.actions[3], { type: 'startFeeds', resumed: true });
  assert.equal(r.state.activations, 2);
});

test('fenced, then rejoined while another member was made active: standby, nothing starts; it no longer claims the partition', () => {
  const r = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, ...ticks(100, 8000), { type: 'assigned', generation: 3, owner: false, now: 15_000 }]);
  assert.equal(r.state.role, Roles.STANDBY);
  assert.equal(r.state.owner, false);
  assert.deepEqual(r.actions.map((a) => a.type), ['startFeeds', 'stopFeeds', 'holdDelivery', 'discardUndelivered'], 'what it held is covered by the new active member\'s gap: discarded, never delivered after that member\'s events');
});

test('a fenced member keeps claiming the partition until told otherwise (a whole-cluster outage gives it back)', () => {
  const r = run([{ type: 'assigned', generation: 4, owner: true, now: 0 }, ...ticks(100, 8000)]);
  assert.equal(r.state.role, Roles.FENCED);
  assert.equal(r.state.owner, true);
  assert.equal(r.state.ownerGeneration, 4);
  assert.ok(!r.actions.some((a) => a.type === 'discardUndelivered'));
  const back = stepRole(r.state, { type: 'assigned', generation: 5, owner: true, now: 30_000 }, timing);
  assert.equal(back.state.role, Roles.ACTIVE);
  assert.deepEqual(back.actions, [{ type: 'startFeeds', resumed: true }]);
  assert.equal(back.state.ownerGeneration, 4);
});

test('an active member demoted by a join (another was chosen) stops at once', () => {
  const r = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, { type: 'assigned', generation: 2, owner: false, now: 500 }]);
  assert.equal(r.state.role, Roles.STANDBY);
  assert.deepEqual(r.actions.map((a) => a.type), ['startFeeds', 'stopFeeds', 'discardUndelivered']);
});

test('membership lost (the client gave up a rejoin) while active: stop at once; a standby simply joins again', () => {
  const active = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, { type: 'lost', now: 100 }]);
  assert.equal(active.state.role, Roles.JOINING);
  assert.deepEqual(active.actions.slice(-2).map((a) => a.type), ['stopFeeds', 'discardUndelivered']);
  const fenced = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, ...ticks(100, 8000), { type: 'lost', now: 10_500 }]);
  assert.equal(fenced.state.role, Roles.JOINING);
  assert.deepEqual(fenced.actions.map((a) => a.type), ['startFeeds', 'stopFeeds', 'holdDelivery', 'discardUndelivered'], 'fenced, then its session expired: the role may be another member\'s now');
  const standby = run([{ type: 'assigned', generation: 1, owner: false, now: 0 }, { type: 'lost', now: 100 }]);
  assert.equal(standby.state.role, Roles.JOINING);
  assert.deepEqual(standby.actions, []);
});

test('a standby never fences nor starts on ticks; leaving: an active member stops, then nothing moves it', () => {
  const standby = run([{ type: 'assigned', generation: 1, owner: false, now: 0 }, ...ticks(100, 30_000)]);
  assert.equal(standby.state.role, Roles.STANDBY);
  assert.deepEqual(standby.actions, []);
  const leaving = run([{ type: 'assigned', generation: 1, owner: true, now: 0 }, { type: 'leave', now: 100 }, { type: 'assigned', generation: 2, owner: true, now: 200 }, ...ticks(300, 20_000)]);
  assert.equal(leaving.state.role, Roles.LEAVING);
  assert.deepEqual(leaving.actions.map((a) => a.type), ['startFeeds', 'stopFeeds']);
});

test('probes: a standby is ready and healthy without streaming; joining and fenced members are not ready', () => {
  const notStreaming = { ok: false, reasons: ['the feed is not streaming (waiting)'] };
  assert.deepEqual(haReadiness(notStreaming, Roles.STANDBY), { ok: true, reasons: [] });
  assert.deepEqual(haReadiness(notStreaming, Roles.ACTIVE), notStreaming);
  assert.equal(haReadiness({ ok: true, reasons: [] }, Roles.JOINING).ok, false);
  assert.match(haReadiness({ ok: true, reasons: [] }, Roles.FENCED).reasons[0] ?? '', /fenced/);
  assert.equal(haReadiness({ ok: false, reasons: ['the spool is full'] }, Roles.STANDBY).ok, false, 'other reasons stay');
  assert.equal(haHealthy(Roles.STANDBY, false), true);
  assert.equal(haHealthy(Roles.ACTIVE, false), false);
  assert.equal(haHealthy(Roles.ACTIVE, true), true);
  assert.equal(haHealthy(Roles.FENCED, false), false);
});

test('timing options: the margin below the session timeout, two heartbeats before the fence', () => {
  assert.equal(haTimingProblem({ sessionTimeoutMs: 10_000, heartbeatMs: 1000, marginMs: 3000 }), undefined);
  assert.match(haTimingProblem({ sessionTimeoutMs: 10_000, heartbeatMs: 1000, marginMs: 10_000 }) ?? '', /--ha-fence-margin/);
  assert.match(haTimingProblem({ sessionTimeoutMs: 6000, heartbeatMs: 3000, marginMs: 3000 }) ?? '', /--ha-heartbeat/);
});
