// A feed the test scripts frame by frame: the project's Polygon-protocol server (src/feed/server.ts:
// connect, auth, subscribe as Polygon does), with frames sent only when the test says, text or binary.
import { FeedServer, silentLogger, type FeedClient } from '../../src/feed/server.ts';

export interface ScriptedFeed {
  url: string;
  /** Connections accepted so far (a reconnect makes it grow). */
  connections: () => number;
  /** Resolves when some client has subscribed. */
  subscribed: () => Promise<FeedClient>;
  /** Sends a frame to every subscribed client; resolves when written. */
  send: (frame: string | Buffer, binary?: boolean) => Promise<void>;
  close: () => Promise<void>;
}

export async function startScriptedFeed(): Promise<ScriptedFeed> {
  let connections = 0;
  const subscribed = Promise.withResolvers<FeedClient>();
  const server = new FeedServer({
    host: '127.0.0.1',
    port: 0,
    path: '/feed',
    apiKeys: [],
    authTimeoutMs: 10_000,
    maxConnectionsPerKey: 0,
    slowConsumerBytes: 1 << 30,
    logger: silentLogger,
    onConnect: () => connections++,
    onSubscriptions: (client) => {
      if (client.subscriptions.list().length > 0) subscribed.resolve(client);
    },
  });
  const url = await server.start();
  return {
    url,
    connections: () => connections,
    subscribed: () => subscribed.promise,
    send: async (frame, binary = false) => {
      const writes: Array<Promise<void>> = [];
      for (const c of server.clients()) {
        if (c.subscriptions.list().length === 0) continue;
        writes.push(new Promise((resolve, reject) => c.send(frame, (err) => (err ? reject(err) : resolve()), binary) || resolve()));
      }
      await Promise.all(writes);
    },
    close: () => server.close(),
  };
}
