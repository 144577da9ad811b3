/**
 * A real origin on loopback that counts requests per path, and the shared
 * cache served in front of it, for the proxy suites.
 *
 * @module
 */
import { serve } from "../../lib/adapters/serve.ts";
import { ManualClock } from "../../lib/clock.ts";
import { tick } from "../_util.ts";
import {
  SharedCache,
  type SharedCacheOptions,
} from "../../lib/proxy/shared_cache.ts";
import { proxyOrigin } from "../../lib/proxy/proxy_to.ts";

/** A route: answers the request; `n` is how many times the path was asked for, this one included. */
export type Route = (
  request: Request,
  n: number,
) => Response | Promise<Response>;

/** What a test drives. */
export interface Harness {
  /** The proxy's base URL. */
  url: string;
  /** The origin's base URL. */
  originUrl: string;
  /** The cache (to add policy handlers). */
  cache: SharedCache;
  /** The cache's clock, starting at the real time. */
  clock: ManualClock;
  /** Requests the origin received, in order (headers copied). */
  seen: { method: string; path: string; headers: Headers; body: string }[];
  /** How many requests the origin received for `path`. */
  count(path: string): number;
  /** GET (or `init`) through the proxy. */
  get(path: string, init?: RequestInit): Promise<Response>;
  /** Stops both servers and the cache. */
  close(): Promise<void>;
}

/** Starts an origin with `routes` and a cache in front of it. */
export function harness(
  routes: Record<string, Route>,
  options: Partial<SharedCacheOptions> = {},
): Harness {
  const clock = new ManualClock(Date.now());
  const counts = new Map<string, number>();
  const seen: Harness["seen"] = [];
  const origin = serve(async (request) => {
    const url = new URL(request.url);
    const path = url.pathname + url.search;
    const n = (counts.get(url.pathname) ?? 0) + 1;
    counts.set(url.pathname, n);
    const route = routes[path] ?? routes[url.pathname];
    const bodyless = ["GET", "HEAD"].includes(request.method);
    const body = bodyless ? "" : await request.text();
    seen.push({
      method: request.method,
      path,
      headers: new Headers(request.headers),
      body,
    });
    const routed = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body: bodyless ? null : body,
    });
    const response = route
      ? await route(routed, n)
      : new Response("no route\n", { status: 404 });
    // Real servers share a clock; this one's is the cache's manual clock. The
    // server stamps its own Date, so the intended one travels in a marker.
    if (!response.headers.has("date")) {
      response.headers.set("x-test-date", new Date(clock.now()).toUTCString());
    }
    return response;
  }, { port: 0 });
  const forward = proxyOrigin(origin.url);
  const stampDate = async (request: Request) => {
    const response = await forward(request);
    const date = response.headers.get("x-test-date");
    if (date === null) return response;
    const headers = new Headers(response.headers);
    headers.set("date", date);
    headers.delete("x-test-date");
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  };
  const cache = new SharedCache({ origin: stampDate, clock, ...options });
  const proxy = serve(cache.fetch, { port: 0 });
  return {
    url: proxy.url,
    originUrl: origin.url,
    cache,
    clock,
    seen,
    count: (path) => counts.get(path) ?? 0,
    get: (path, init) => fetch(proxy.url + path, init),
    async close() {
      await proxy.shutdown();
      await origin.shutdown();
      await cache.close();
    },
  };
}

/** Fetches and returns status, trace and body text. */
export async function visit(
  h: Harness,
  path: string,
  init?: RequestInit,
): Promise<
  { status: number; trace: string | null; body: string; headers: Headers }
> {
  const response = await h.get(path, init);
  return {
    status: response.status,
    trace: response.headers.get("x-cache"),
    body: await response.text(),
    headers: response.headers,
  };
}

/** A route answering `${text}${n}` (n: how many times the path was asked for) with `headers`. */
export function numbered(text: string, headers: HeadersInit): Route {
  return (_request, n) => new Response(`${text}${n}`, { headers });
}

/**
 * A route answering with the request's `field` and `n` (`"br 2"`), stored
 * for a minute, one variant per value of `field` (`Vary`).
 */
export function echoing(field: string): Route {
  return (request, n) =>
    new Response(`${request.headers.get(field)} ${n}`, {
      headers: { "cache-control": "max-age=60", vary: field },
    });
}

/** `count` visits of `path` at once. */
export function crowd(
  h: Harness,
  path: string,
  count = 5,
): ReturnType<typeof visit>[] {
  return Array.from({ length: count }, () => visit(h, path));
}

/**
 * A route whose answer carries `ETag: etag`: a 304 with that (and
 * `notModified`'s fields) to a request that names it in `If-None-Match`,
 * `slowMs` later (a revalidation others can join), else `body` with
 * `headers`.
 */
export function revalidatable(
  etag: string,
  body: string,
  headers: Record<string, string>,
  notModified: Record<string, string> = {},
  slowMs = 0,
): Route {
  return (request) => {
    if (request.headers.get("if-none-match") !== etag) {
      return new Response(body, { headers: { ...headers, etag } });
    }
    const answer = () =>
      new Response(null, { status: 304, headers: { ...notModified, etag } });
    return slowMs > 0 ? tick(slowMs).then(answer) : answer();
  };
}

/** A route that answers after `ms` and records how many requests it held at once. */
export function overlapping(
  answer: () => Response,
  ms = 100,
): { route: Route; most(): number; reset(): void } {
  let inFlight = 0;
  let most = 0;
  return {
    route: async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, ms));
      inFlight--;
      return answer();
    },
    most: () => most,
    reset: () => most = 0,
  };
}
