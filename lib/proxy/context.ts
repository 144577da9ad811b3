/**
 * The context of one request through the shared cache: what policy handlers
 * read and change (the request, the response, its TTL, the chosen stores),
 * and the transitions they answer with.
 *
 * @module
 */
import type { Transition } from "./config.ts";
import type { EntityStore } from "./entitystore.ts";
import type { MetaStore, StoredResponse } from "./metastore.ts";
import type { NotStorableReason } from "./policy.ts";

/** A trace word a field value carries as it is. */
const TRACEABLE = /^[\x20-\x7e]*$/;
const UNTRACEABLE = /[^\x20-\x7e]/g;
const escapeChar = (char: string) =>
  `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * One request's state as it moves through the events.
 *
 * @example
 * ```ts
 * import { SharedCache } from "./shared_cache.ts";
 * const cache = new SharedCache({ origin: () => new Response("hi") });
 * cache.on("deliver", (ctx) => {
 *   ctx.response?.headers.set("x-served-by", "cistern");
 *   ctx.trace("tagged");
 * });
 * ```
 */
export class CacheContext {
  /**
   * The request; handlers may replace it (in `receive`, before the key is
   * taken). Replace it rather than change its headers in place: a server
   * may hand requests over with immutable headers (Deno's does).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   const headers = new Headers(ctx.request.headers);
   *   headers.delete("cookie"); // Varnish's unset req.http.Cookie
   *   ctx.request = new Request(ctx.request, { headers });
   * });
   * ```
   */
  request: Request;
  /**
   * The request as the server handed it over, whatever handlers made of
   * `request`: the client it came from is the one told to the origin.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   ctx.request = new Request(ctx.request.url.replace("/old/", "/new/"), ctx.request);
   *   ctx.log(`${ctx.received.url} -> ${ctx.request.url}`); // received is unchanged
   * });
   * ```
   */
  readonly received: Request;
  /**
   * The response so far: the origin's in `fetch` and `pass`, the one to send
   * in `store`, `deliver` and `error`. Its headers are mutable. After a 304
   * (`fetch` and `store` of a revalidation) it is the stored response with
   * the 304's fields merged in and no body: the stored body goes with it,
   * or with a copy of it (`new Response(ctx.response.body, ctx.response)`).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("fetch", (ctx) => {
   *   ctx.response?.headers.delete("x-powered-by"); // neither stored nor sent
   * });
   * ```
   */
  response: Response | undefined;
  /**
   * Seconds the response stays fresh from now, overriding its headers' (set
   * it in `fetch` or `store`), as Rack::Cache's `ttl=` and Varnish's
   * `beresp.ttl`: the age it came with (`Age`, time in transit) is added to
   * make its freshness lifetime. `undefined`: from the headers.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("fetch", (ctx) => {
   *   if (ctx.request.url.endsWith(".css")) ctx.ttl = 3600; // an hour from now
   * });
   * ```
   */
  ttl: number | undefined;
  /**
   * The meta store for this request (change it in `receive`).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * import { heapMetaStore } from "./metastore.ts";
   * const previews = heapMetaStore({ maxEntries: 100 });
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   if (ctx.request.url.includes("/preview/")) ctx.metastore = previews;
   * });
   * ```
   */
  metastore: MetaStore;
  /**
   * The entity store for this request (change it in `receive`).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * import { entityStoreFrom } from "./entitystore.ts";
   * const big = entityStoreFrom("heap:?maxBytes=1073741824&maxEntrySize=268435456");
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   if (ctx.request.url.includes("/video/")) ctx.entitystore = big;
   * });
   * ```
   */
  entitystore: EntityStore;
  /**
   * The stored response the lookup found (fresh or stale), if any.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("miss", (ctx) => {
   *   if (ctx.stored) ctx.trace(`stale-since-${ctx.stored.responseTime}`); // a stale copy to revalidate
   * });
   * ```
   */
  stored: StoredResponse | undefined;
  /**
   * Ask for a full reload at lookup: skip stored responses, fetch and store anew.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   if (ctx.request.headers.get("x-refresh") === "1") ctx.reload = true;
   * }); // nothing returned: the default policy looks it up, and fetches anew
   * ```
   */
  reload = false;
  /**
   * Whether RFC 9111 and the cache's options let the fetched response be
   * stored; set before the `fetch` event (the default policy stores when true).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("fetch", (ctx) => {
   *   if (ctx.storable && ctx.response?.status === 404) ctx.ttl = 30; // short-lived 404s
   * });
   * ```
   */
  storable = false;
  /**
   * Why the fetched response may not be stored (set with `storable`).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("fetch", (ctx) => {
   *   if (!ctx.storable) ctx.log(`not stored (${ctx.notStorableReason}): ${ctx.request.url}`);
   * });
   * ```
   */
  notStorableReason: NotStorableReason | undefined;
  /**
   * What happened, in order; sent in the trace header.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("deliver", (ctx) => {
   *   if (ctx.traces.includes("stale")) ctx.response?.headers.set("warning", "110 - stale");
   * });
   * ```
   */
  readonly traces: string[] = [];
  readonly #log: (message: string) => void;
  readonly #keyOf: (request: Request) => string;
  readonly #purge: (ctx: CacheContext) => Promise<number>;
  readonly #purgeTags: (
    ctx: CacheContext,
    tags: Iterable<string>,
  ) => Promise<number>;
  #key: string | undefined;

  /**
   * Makes the context of `request`; `purge` forgets what the stores keep
   * for it, and `purgeTags` what they keep tagged so (a context made
   * without them has nothing to forget).
   *
   * @example
   * ```ts
   * import { CacheContext } from "./context.ts";
   * import { heapMetaStore } from "./metastore.ts";
   * const stores = { metastore: heapMetaStore(), entitystore: { cache: undefined } };
   * const ctx = new CacheContext(new Request("http://localhost/a"), stores, (r) => r.url, console.log);
   * ctx.key; // "http://localhost/a"
   * ```
   */
  constructor(
    request: Request,
    stores: { metastore: MetaStore; entitystore: EntityStore },
    keyOf: (request: Request) => string,
    log: (message: string) => void,
    purge: (ctx: CacheContext) => Promise<number> = () => Promise.resolve(0),
    purgeTags: (
      ctx: CacheContext,
      tags: Iterable<string>,
    ) => Promise<number> = () => Promise.resolve(0),
  ) {
    this.request = request;
    this.received = request;
    this.metastore = stores.metastore;
    this.entitystore = stores.entitystore;
    this.#keyOf = keyOf;
    this.#log = log;
    this.#purge = purge;
    this.#purgeTags = purgeTags;
  }

  /**
   * The cache key of the request, taken when first asked (after `receive`).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("store", (ctx) => {
   *   ctx.log(`storing ${ctx.key}`); // the URL, or what cacheKey made of it
   * });
   * ```
   */
  get key(): string {
    return this.#key ??= this.#keyOf(this.request);
  }

  /**
   * Records what happened, for the trace header and the log. Characters a
   * field value cannot carry (outside visible ASCII and space) are written
   * as `\u` and four hex digits, so that a word never fails the answer.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", (ctx) => { ctx.trace("api"); });
   * const response = await cache.fetch(new Request("http://localhost/"));
   * response.headers.get("x-cache"); // "api, miss"
   * ```
   */
  trace(...words: string[]): void {
    for (let word of words) {
      if (!TRACEABLE.test(word)) word = word.replace(UNTRACEABLE, escapeChar);
      if (this.traces[this.traces.length - 1] !== word) this.traces.push(word);
    }
  }

  /**
   * Writes a line to the cache's log (its `verbose` option).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", verbose: true });
   * cache.on("pass", (ctx) => {
   *   ctx.log(`passed: ${ctx.request.method} ${ctx.request.url}`); // to the console
   * });
   * ```
   */
  log(message: string): void {
    this.#log(message);
  }

  /**
   * Forgets every stored response for the request's URL in this request's
   * stores (as a successful unsafe request does); resolves with how many
   * there were.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", async (ctx) => {
   *   if (ctx.request.method !== "BAN") return;
   *   const forgotten = await ctx.purge();
   *   return ctx.error(200, {}, `${forgotten} forgotten\n`);
   * });
   * ```
   */
  purge(): Promise<number> {
    return this.#purge(this);
  }

  /**
   * Forgets every stored response in this request's stores whose tag field
   * names one of `tags`, whatever its URL (as `SharedCache.purgeTags` does
   * for the cache's own stores); resolves with how many there were.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", async (ctx) => {
   *   const tag = new URL(ctx.request.url).searchParams.get("ban-tag");
   *   if (ctx.request.method !== "BAN" || !tag) return;
   *   return ctx.error(200, {}, `${await ctx.purgeTags([tag])} forgotten\n`);
   * });
   * ```
   */
  purgeTags(tags: Iterable<string>): Promise<number> {
    return this.#purgeTags(this, tags);
  }

  /**
   * Forward to the origin without caching.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   if (ctx.request.headers.has("cookie")) return ctx.pass(); // never from or into storage
   * });
   * ```
   */
  pass(): Transition {
    return { name: "pass" };
  }

  /**
   * Look the request up in the cache.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   if (ctx.request.method === "GET") return ctx.lookup(); // even with a cookie
   * });
   * ```
   */
  lookup(): Transition {
    return { name: "lookup" };
  }

  /**
   * Fetch from the origin (validating a stale stored response if there is one).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("hit", (ctx) => {
   *   if (ctx.request.headers.has("x-debug")) return ctx.fetch();
   * });
   * ```
   */
  fetch(): Transition {
    return { name: "fetch" };
  }

  /**
   * Store the fetched response.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("fetch", (ctx) => {
   *   if (ctx.response?.status === 200 && ctx.storable) return ctx.store();
   * });
   * ```
   */
  store(): Transition {
    return { name: "store" };
  }

  /**
   * Send the response.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("fetch", (ctx) => {
   *   if (ctx.response?.headers.has("x-no-store")) return ctx.deliver(); // sent, not stored
   * });
   * ```
   */
  deliver(): Transition {
    return { name: "deliver" };
  }

  /**
   * Done: the response goes to the client as it is.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("deliver", (ctx) => {
   *   ctx.response?.headers.set("x-served-by", "edge-1");
   *   return ctx.finish();
   * });
   * ```
   */
  finish(): Transition {
    return { name: "finish" };
  }

  /**
   * Answer with an error response instead: any status from 200 to 599,
   * default 500 (a body given with 204, 205 or 304 is dropped); another
   * throws a `RangeError` here.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", (ctx) =>
   *   ctx.request.headers.has("x-banned") ? ctx.error(403, {}, "no") : undefined
   * );
   * ```
   */
  error(
    status = 500,
    headers?: HeadersInit,
    body?: BodyInit | null,
  ): Transition {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(
        `ctx.error takes a status from 200 to 599, got ${status}`,
      );
    }
    return { name: "error", status, headers, body };
  }
}
