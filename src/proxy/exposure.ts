// Who may reach the proxy: the refusal to listen beyond loopback without client keys
// (PROXY_OPEN_WITHOUT_KEYS), and the client-key check of GET /stats (PROXY_STATS_UNAUTHORIZED).
// Keys are compared as SHA-256 digests in constant time and never logged, echoed nor reported.
import { createHash, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { Ws2kError } from '../errors.ts';

/**
 * Whether `host` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z, `localhost`): true or
 * false for an address literal, '' (every interface) or `localhost`; undefined for another name,
 * which has to be resolved (isLoopbackHost).
 */
export function loopbackLiteral(host: string): boolean | undefined {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === '') return false;
  if (h === 'localhost' || h === 'localhost.') return true;
  const family = isIP(h);
  if (family === 4) return h.startsWith('127.');
  if (family === 6) {
    let normal: string;
    try {
      normal = new URL(`http://[${h}]/`).hostname;
    } catch {
      return false; // e.g. a zone index (fe80::1%eth0): a link-local address, not loopback
    }
    return normal === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(normal);
  }
  return undefined;
}

/** Whether listening on `host` stays on this machine: a loopback literal, or a name all of whose addresses are. */
export async function isLoopbackHost(host: string): Promise<boolean> {
  const literal = loopbackLiteral(host);
  if (literal !== undefined) return literal;
  try {
    const addresses = await lookup(host, { all: true });
    return addresses.length > 0 && addresses.every((a) => loopbackLiteral(a.address) === true);
  } catch {
    return false; // unresolvable: not known to be loopback
  }
}

/**
 * Throws PROXY_OPEN_WITHOUT_KEYS when the proxy would listen beyond loopback with no client keys:
 * anyone who reaches the port could then read the feed (paid for with the upstream key) and /stats.
 * Called before anything listens or connects. There is no override: giving keys is the way.
 */
export async function refuseOpenWithoutKeys(host: string, clientKeys: readonly string[]): Promise<void> {
  if (clientKeys.length > 0 || (await isLoopbackHost(host))) return;
  const shown = host.trim() === '' ? "'' (every interface)" : `'${host}'`;
  throw new Ws2kError(
    'PROXY_OPEN_WITHOUT_KEYS',
    `proxy: refusing to listen on --host ${shown}, which is not a loopback address, without --client-keys: anyone who can reach the port could read the feed and /stats. ` +
      'Give --client-keys K1,K2 (or PROXY_CLIENT_KEYS); clients authenticate with one of them and GET /stats needs one. Or keep --host 127.0.0.1 (the default)',
  );
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** The client keys, as digests: does a key match one of them (constant time per key)? */
export class ClientKeys {
  readonly #digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.#digests = keys.map(digest);
  }

  /** Keys were configured (otherwise any key is accepted and /stats is open). */
  get required(): boolean {
    return this.#digests.length > 0;
  }

  accepts(key: string | undefined): boolean {
    if (key === undefined) return false;
    const d = digest(key);
    let ok = false;
    for (const k of this.#digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  }
}

/**
 * The key an HTTP request carries: `Authorization: Bearer KEY` (preferred: query strings end up in
 * access logs and browser history), else the `apiKey` query parameter (as Polygon's REST API takes it).
 */
export function requestKey(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  return url.searchParams.get('apiKey') ?? undefined;
}

/** The JSON body of a 401 from /stats: what to send, never the key that was sent. */
export function unauthorizedBody(given: boolean): string {
  return JSON.stringify({
    error: 'unauthorized',
    code: 'PROXY_STATS_UNAUTHORIZED',
    message: given
      ? "the key given is not one of the proxy's client keys (--client-keys)"
      : "GET /stats needs one of the proxy's client keys: send Authorization: Bearer KEY (or ?apiKey=KEY)",
  });
}
