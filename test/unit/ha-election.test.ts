// The election (who gets the control partition) and the heartbeat records with the takeover gaps
// computed from them: pure, on plain values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterMetadata, ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import { chooseActive, decodeClaim, encodeClaim, haAssigner, type MemberClaim } from '../../src/ha/election.ts';
import { ackedUpTo, buildHeartbeat, GroupWords, parseHeartbeat, takeoverGaps, type Heartbeat } from '../../src/ha/heartbeat.ts';

const claim = (c: Partial<MemberClaim>): MemberClaim => ({ v: 1, owner: false, ownerGeneration: 0, standbySince: 1000, host: 'h', pid: 1, ...c });

test('claims round-trip; anything else is no claim', () => {
  const c = claim({ owner: true, ownerGeneration: 7 });
  assert.deepEqual(decodeClaim(encodeClaim(c)), c);
  assert.equal(decodeClaim(undefined), undefined);
  assert.equal(decodeClaim(Buffer.alloc(0)), undefined);
  assert.equal(decodeClaim(Buffer.from('not json')), undefined);
  assert.equal(decodeClaim(Buffer.from('{"v":2,"owner":true}')), undefined);
});

test('the owner keeps the active role when a standby joins (sticky); among owners the newest generation wins', () => {
  assert.equal(chooseActive([{ memberId: 'a', claim: claim({ standbySince: 1 }) }, { memberId: 'b', claim: claim({ owner: true, ownerGeneration: 3 }) }]), 'b');
  assert.equal(
    chooseActive([
      { memberId: 'a', claim: claim({ owner: true, ownerGeneration: 3 }) },
      { memberId: 'b', claim: claim({ owner: true, ownerGeneration: 9 }) },
    ]),
    'b',
    'a member fenced and rejoining loses to the one elected after it',
  );
});

test('without an owner, the standby waiting longest; ties and unreadable claims decided the same by every leader', () => {
  assert.equal(chooseActive([{ memberId: 'a', claim: claim({ standbySince: 5000 }) }, { memberId: 'b', claim: claim({ standbySince: 2000 }) }]), 'b');
  assert.equal(chooseActive([{ memberId: 'b', claim: claim({}) }, { memberId: 'a', claim: claim({}) }]), 'a');
  assert.equal(chooseActive([{ memberId: 'a', claim: undefined }, { memberId: 'z', claim: claim({}) }]), 'z');
  assert.equal(chooseActive([]), undefined);
});

test('the assignor gives every partition of the control topic to one member, nothing to the others', () => {
  const members = new Map<string, ExtendedGroupProtocolSubscription>([
    ['m1', { memberId: 'm1', version: 1, metadata: encodeClaim(claim({ standbySince: 10 })) }],
    ['m2', { memberId: 'm2', version: 1, metadata: encodeClaim(claim({ owner: true, ownerGeneration: 2 })) }],
    ['m3', { memberId: 'm3', version: 1 }],
  ]);
  const metadata = { topics: new Map([['ctl', { partitionsCount: 1 }]]) } as unknown as ClusterMetadata;
  const out = haAssigner('ctl')('m1', members, new Set(['ctl']), metadata);
  assert.deepEqual(
    out.map((o) => [o.memberId, [...o.assignments.values()]]),
    [
      ['m1', []],
      ['m2', [{ topic: 'ctl', partitions: [0] }]],
      ['m3', []],
    ],
  );
});

test('acked_up_to: just before the oldest unacknowledged event, or the last frame when nothing waits; null before any frame', () => {
  assert.equal(ackedUpTo(0, undefined), null);
  assert.equal(ackedUpTo(5000, undefined), 5000);
  assert.equal(ackedUpTo(5000, 4200.7), 4199);
  assert.equal(ackedUpTo(5000, 9000), 5000);
});

const feed = (name: string, lastFrameAt: number) => ({ name, url: `ws://x/${name}`, state: 'streaming', subscriptions: 'T.*', connectionId: `conn-${name}`, lastFrameAt });

test('heartbeat records round-trip; the group acked_up_to is the smallest of its feeds', () => {
  const h = buildHeartbeat({ group: 'g', member: 'm1', host: 'h1', pid: 42, generation: 3, feeds: [feed('stocks', 5000), feed('crypto', 0)], oldestUnacked: 4800, final: false, now: 5100 });
  assert.equal(h.acked_up_to, 4799);
  assert.deepEqual(h.feeds.map((f) => f.acked_up_to), [4799, null]);
  assert.deepEqual(parseHeartbeat(Buffer.from(JSON.stringify(h))), h);
  assert.equal(parseHeartbeat(Buffer.from('{"type":"gap"}')), undefined);
  assert.equal(parseHeartbeat(Buffer.from('garbage')), undefined);
});

test('takeover gaps: per feed, from the newest acked_up_to the group wrote; the reason names who and how', () => {
  const words = new GroupWords('g');
  const hb = (member: string, at: number, feeds: Array<ReturnType<typeof feed>>, final = false, oldest?: number): Heartbeat =>
    buildHeartbeat({ group: 'g', member, host: `host-${member}`, pid: 1, generation: 1, feeds, oldestUnacked: oldest, final, now: at });
  words.add(hb('m1', 1000, [feed('stocks', 990), feed('crypto', 980)]));
  words.add(hb('m1', 2000, [feed('stocks', 1990)], false, 1500));
  words.add({ ...hb('m9', 3000, [feed('stocks', 2990)]), group: 'other' });
  const gaps = takeoverGaps(words, ['stocks', 'crypto', 'forex'], 'm2');
  assert.deepEqual(
    gaps.map((g) => [g.feed, g.connectionId, g.from]),
    [
      ['stocks', 'conn-stocks', 1499],
      ['crypto', 'conn-crypto', 980],
    ],
    'forex was never streamed: no gap; another group\'s heartbeat is ignored',
  );
  assert.match(gaps[0]!.reason, /^ha_takeover: member m1 on host-m1 stopped heartbeating/);
  words.add(hb('m1', 4000, [feed('stocks', 3990)], true));
  assert.match(takeoverGaps(words, ['stocks'], 'm2')[0]!.reason, /left the group after delivering what it had read/);
  assert.match(takeoverGaps(words, ['stocks'], 'm1')[0]!.reason, /this member \(resuming after it was fenced\)/);
  // A member made active that left before reading anything says nothing of the feed.
  words.add(hb('m3', 4500, [feed('stocks', 0)], true));
  assert.equal(takeoverGaps(words, ['stocks'], 'm2')[0]!.from, 3990);
  assert.equal(words.last?.member, 'm3');
  // An older heartbeat read later (out of order) does not move the word back.
  words.add(hb('m1', 500, [feed('stocks', 400)]));
  assert.equal(takeoverGaps(words, ['stocks'], 'm2')[0]!.from, 3990);
});
