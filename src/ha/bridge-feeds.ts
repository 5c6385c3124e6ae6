// What an HA member needs of the bridge (HaFeeds), built on a Bridge: its feeds, startFeeds and
// stopFeeds (the bridge is started with deferFeeds: a standby does not connect), the sink's oldest
// unacknowledged event and what it has not delivered.
import type { Bridge } from '../bridge/bridge.ts';
import { redactUrl } from '../config/parse.ts';
import type { FeedReading } from './heartbeat.ts';
import type { HaFeeds } from './member.ts';

/** How long without a frame, after unsubscribing, counts as quiet. */
const QUIET_MS = 300;

export function bridgeFeeds(bridge: Bridge): HaFeeds {
  /** Subscriptions taken away by quiesce(), given back once the feeds are stopped. */
  const saved = new Map<string, string>();
  return {
    readings: (): FeedReading[] =>
      bridge.feeds.map((f) => ({
        name: f.name,
        url: redactUrl(f.config.url),
        state: f.source.state,
        subscriptions: saved.get(f.name) ?? f.source.subscriptions,
        connectionId: f.source.connectionId,
        lastFrameAt: f.source.lastFrameAt,
      })),
    carryGap(feed, connectionId, from, reason) {
      bridge.feeds.find((f) => f.name === feed)?.source.carryGap(connectionId, from, reason);
    },
    startFeeds: () => bridge.startFeeds(),
    stopFeeds(reason) {
      bridge.stopFeeds(reason);
      for (const f of bridge.feeds) {
        const subs = saved.get(f.name);
        if (subs !== undefined) f.source.setSubscriptions(subs);
      }
      saved.clear();
    },
    async quiesce(timeoutMs) {
      const streaming = bridge.feeds.filter((f) => f.reading && f.source.state === 'streaming');
      for (const f of streaming) {
        saved.set(f.name, f.source.subscriptions);
        f.source.setSubscriptions('');
      }
      if (streaming.length === 0) return;
      // The feed answers the unsubscribe after what it had already sent: once nothing has come
      // for QUIET_MS, everything sent has been read.
      const asked = Date.now();
      const deadline = asked + timeoutMs;
      while (Date.now() < deadline) {
        const now = Date.now();
        if (streaming.every((f) => now - Math.max(asked, f.source.lastFrameAt) >= QUIET_MS)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    oldestUnacked: () => bridge.sink.oldestUnacknowledged(),
    pending: () => bridge.sink.unsafe() + bridge.sink.spooled(),
    holdDelivery: () => bridge.sink.pauseDelivery(),
    resumeDelivery: () => bridge.sink.resumeDelivery(),
    discardUndelivered: () => {
      // Frames a stopped feed's reading thread still hands over (from its disk) go with the rest.
      for (const f of bridge.feeds) f.source.forgetUnread();
      return bridge.sink.discardUndelivered();
    },
  };
}
