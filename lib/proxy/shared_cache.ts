/**
 * `SharedCache`: an RFC 9111 shared HTTP cache in front of any fetch handler
 * (middleware) or origin URL (reverse proxy), in the tradition of Rack::Cache
 * and Varnish, driven by the policy language of `config.ts`.
 *
 * Bodies are stored in a stream cache, so concurrent misses for one key make
 * one origin request and every waiting client streams the body live as it
 * arrives; the body is copied into storage by a pump that no client owns, so a
 * client that leaves never cuts it short, and a body that fails mid-way is
 * never recorded.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import type { CacheControl } from "../http/cache_control.ts";
import { evaluatePreconditions } from "../http/preconditions.ts";
import { rangeResponse } from "../http/range_response.ts";
import { originFetch } from "../adapters/origin_fetch.ts";
import type { EntryReader } from "../stream/entry.ts";
import type { StreamCache } from "../stream/cache.ts";
import type { Handler, Middleware } from "../types.ts";
import {
  type CacheEvent,
  type EventHandler,
  Policy,
  type PolicyModule,
  type PolicyTarget,
  type Transition,
} from "./config.ts";
import { CacheContext } from "./context.ts";
import { defaultPolicy } from "./default_policy.ts";
import { type EntityStore, entityStoreFrom } from "./entitystore.ts";
import { withoutHopByHop } from "./headers.ts";
import {
  type MetaStore,
  metaStoreFrom,
  type StoredResponse,
} from "./metastore.ts";
import {
  currentAge,
  DEFAULT_PRIVATE_HEADERS,
  ERROR_STATUSES,
  freshnessLifetime,
  notStorableReason,
  type PolicyOptions,
  requestCacheControl,
  responseCacheControl,
  staleIfErrorAllows,
  type StoredFreshness,
  usability,
} from "./policy.ts";
import { sameVary, varyMatches, varyValues } from "./vary.ts";

/** Options for {@link SharedCache}, after Rack::Cache's. */
export interface SharedCacheOptions {
  /**
   * What the cache sits in front of: a fetch handler, or the base URL of an
   * origin server (`"http://127.0.0.1:8080"`) to reverse-proxy.
   */
  origin: Handler | string;
  /** Where stored headers live: `"heap:"`, `"file:PATH"` or a MetaStore. Default `"heap:"`. */
  metastore?: string | MetaStore;
  /** Where bodies live: `"heap:"`, `"file:PATH"`, `"noop:"` or an EntityStore. Default `"heap:"`. */
  entitystore?: string | EntityStore;
  /** Freshness in seconds for storable responses that state none. Default `0`. */
  defaultTtl?: number;
  /** Cap on heuristic freshness (10% of the age of Last-Modified), seconds. Default `86400`. */
  heuristicMaxTtl?: number;
  /**
   * Request fields that make a response private unless it says it is
   * shareable (`public`, `s-maxage`, `must-revalidate`). Default
   * `["authorization", "cookie"]`.
   */
  privateHeaders?: string[];
  /** Response fields removed from stored copies. Default `["set-cookie"]`. */
  ignoreHeaders?: string[];
  /**
   * Store responses that carry `Set-Cookie` (with the fields of
   * `ignoreHeaders` removed from the stored copy). Default `false`: they pass.
   */
  storeSetCookie?: boolean;
  /** A client's `no-cache` forces a full reload instead of a revalidation. Default `false`. */
  allowReload?: boolean;
  /** Honour a client's `no-cache` and `max-age` (revalidate for it). Default `true`. */
  allowRevalidate?: boolean;
  /** The cache key of a request. Default: its full URL (scheme, host, path and query). */
  cacheKey?: (request: Request) => string;
  /** Serve stale content whenever the origin fails or answers 5xx. Default `false`. */
  faultTolerant?: boolean;
  /** `true` logs each request's trace to the console; a function receives the lines. Default off. */
  verbose?: boolean | ((message: string) => void);
  /** Response field listing what happened (`miss, store`); `false` turns it off. Default `"x-cache"`. */
  traceHeader?: string | false;
  /** Bodies larger than this many bytes pass through without being stored. Default: no limit. */
  maxEntrySize?: number;
  /**
   * Targeted Cache-Control fields (RFC 9213) that govern this cache ahead of
   * `Cache-Control`, highest priority first. Default `["cdn-cache-control"]`.
   */
  targetedFields?: string[];
  /** Send targeted fields on to clients. Default `true`. */
  forwardTargetedFields?: boolean;
  /** Add `Via: 1.1 <name>` to responses and forwarded requests; `false` for none. Default `false`. */
  via?: string | false;
  /** Time source. Default {@link systemClock}. */
  clock?: Clock;
}

/** A stored response being (or having been) written, that concurrent misses can share. */
interface Shared {
  stored: StoredResponse;
}

/** Per-request state the events do not show. */
interface RequestState {
  /** Holds the stored body open while it is served. */
  reader?: EntryReader;
  freshness?: StoredFreshness;
  requestCc: CacheControl;
  /** The stored response after a 304 merged into it. */
  validated?: StoredResponse;
  /** Request and response times of the fetched response. */
  times?: { requestTime: number; responseTime: number };
  /** Settles the in-flight record this request registered. */
  settle?: (shared: Shared | undefined) => void;
  revalidating: boolean;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
const MAX_VARIANTS = 16;
const NOT_MERGED = new Set([
  "content-length",
  "content-encoding",
  "content-range",
  "transfer-encoding",
]);

function contentLengthOf(headers: Headers): number | undefined {
  const value = headers.get("content-length");
  return value !== null && /^\d+$/.test(value.trim())
    ? Number(value)
    : undefined;
}

/**
 * A handler that forwards requests to the origin at `base` (path and query
 * appended to its path), bodies streamed both ways and never decoded; the
 * reverse proxy's origin. Throws a `TypeError` for a base that is not an
 * http(s) URL.
 *
 * @example
 * ```ts
 * import { proxyTo } from "./shared_cache.ts";
 * const forward = proxyTo("http://127.0.0.1:8081/api");
 * // forward(new Request("http://me/users?id=1")) asks http://127.0.0.1:8081/api/users?id=1
 * ```
 */
export function proxyTo(base: string): Handler {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new TypeError(
      `origin must be an http(s) URL, got ${JSON.stringify(base)}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `origin must be an http(s) URL, got ${JSON.stringify(base)}`,
    );
  }
  const send = originFetch();
  const prefix = url.pathname.replace(/\/$/, "");
  return (request) => {
    const incoming = new URL(request.url);
    const target = new URL(url);
    target.pathname = prefix + incoming.pathname;
    target.search = incoming.search;
    const body = request.body;
    // The origin is addressed by its own name; the client's Host named the proxy.
    const headers = new Headers(request.headers);
    headers.delete("host");
    return send(
      new Request(target, {
        method: request.method,
        headers,
        body,
        redirect: "manual",
        ...(body ? { duplex: "half" } : {}),
      } as RequestInit),
    );
  };
}

/** Copies a response's body into the body of another response, closing `release` when it ends. */
function releasing(response: Response, release: () => void): Response {
  if (!response.body) {
    release();
    return response;
  }
  const reader = response.body.getReader();
  let released = false;
  const done = () => {
    if (!released) {
      released = true;
      release();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: finished } = await reader.read();
        if (finished) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    async cancel(reason) {
      done();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(body, response);
}

/**
 * A shared HTTP cache (RFC 9111) with Rack::Cache's policy language.
 *
 * @example
 * ```ts
 * import { SharedCache } from "./shared_cache.ts";
 * const cache = new SharedCache({
 *   origin: "http://127.0.0.1:8080",
 *   metastore: "file:./.cistern/meta",
 *   entitystore: "file:./.cistern/body",
 * });
 * cache.on("receive", (ctx) => {
 *   if (new URL(ctx.request.url).pathname.startsWith("/admin")) return ctx.pass();
 * });
 * // Deno.serve(cache.fetch) or Bun.serve({ fetch: cache.fetch })
 * ```
 */
export class SharedCache implements PolicyTarget {
  /** The cache as a fetch handler. */
  readonly fetch: Handler;
  readonly #policy = new Policy();
  readonly #origin: Handler;
  readonly #metastore: MetaStore;
  readonly #entitystore: EntityStore;
  readonly #clock: Clock;
  readonly #log: (message: string) => void;
  readonly #keyOf: (request: Request) => string;
  readonly #rules: PolicyOptions;
  readonly #options: SharedCacheOptions;
  readonly #inflight = new Map<string, Promise<Shared | undefined>>();
  readonly #revalidating = new Set<string>();

  /** Makes a cache in front of `options.origin`. */
  constructor(options: SharedCacheOptions) {
    this.#options = options;
    this.#origin = typeof options.origin === "string"
      ? proxyTo(options.origin)
      : options.origin;
    if (typeof this.#origin !== "function") {
      throw new TypeError("origin must be a fetch handler or an http(s) URL");
    }
    this.#metastore = metaStoreFrom(options.metastore ?? "heap:");
    this.#entitystore = entityStoreFrom(options.entitystore ?? "heap:");
    this.#clock = options.clock ?? systemClock;
    const verbose = options.verbose;
    this.#log = typeof verbose === "function"
      ? verbose
      : verbose
      ? (line) => console.log(line)
      : () => {};
    this.#keyOf = options.cacheKey ?? ((request) => request.url);
    this.#rules = {
      privateHeaders: (options.privateHeaders ?? DEFAULT_PRIVATE_HEADERS).map((
        h,
      ) => h.toLowerCase()),
      storeSetCookie: options.storeSetCookie ?? false,
      defaultTtl: options.defaultTtl ?? 0,
      heuristicMaxTtl: options.heuristicMaxTtl ?? 86_400,
      targetedFields: (options.targetedFields ?? ["cdn-cache-control"]).map((
        h,
      ) => h.toLowerCase()),
    };
    defaultPolicy({ allowReload: options.allowReload ?? false })(this);
    this.fetch = (request) => this.#handle(request, false);
  }

  /** Registers a policy handler for `event`; later handlers run first. */
  on(event: CacheEvent, handler: EventHandler): this {
    this.#policy.on(event, handler);
    return this;
  }

  /** Imports a reusable policy (a function that registers handlers). */
  use(module: PolicyModule): this {
    module(this);
    return this;
  }

  /** Stops the entity store's timers. */
  async close(): Promise<void> {
    await this.#entitystore.cache?.close();
  }

  async #handle(request: Request, revalidating: boolean): Promise<Response> {
    const ctx = new CacheContext(
      request,
      { metastore: this.#metastore, entitystore: this.#entitystore },
      this.#keyOf,
      this.#log,
    );
    const state: RequestState = { requestCc: {}, revalidating };
    try {
      let transition = await this.#policy.run("receive", ctx);
      for (;;) {
        switch (transition.name) {
          case "lookup":
            transition = await this.#lookup(ctx, state);
            break;
          case "pass":
            transition = await this.#pass(ctx, state);
            break;
          case "fetch":
            transition = await this.#fetch(ctx, state);
            break;
          case "store":
            transition = await this.#store(ctx, state);
            break;
          case "deliver":
            ctx.response ??= this.#fromStored(ctx, state);
            transition = await this.#policy.run("deliver", ctx);
            break;
          case "error":
            transition = await this.#error(ctx, state, transition);
            break;
          case "finish":
            return this.#finish(ctx, state);
        }
      }
    } catch (error) {
      state.settle?.(undefined);
      state.reader?.close();
      throw error;
    }
  }

  #requestCc(request: Request): CacheControl {
    const cc = requestCacheControl(request.headers);
    if (this.#options.allowRevalidate === false) {
      delete cc.noCache;
      delete cc.maxAge;
    }
    return cc;
  }

  async #openBody(
    cache: StreamCache | undefined,
    entity: string,
  ): Promise<EntryReader | undefined> {
    if (!cache) return undefined;
    // A disk store reloads in the background; until then has() knows nothing.
    await cache.ready;
    if (!cache.has(entity)) return undefined;
    const { reader, writer } = await cache.get(entity);
    if (!writer) return reader;
    // It went between has() and get(): drop the empty entry this made.
    reader.close();
    await writer.abort(new Error("stored body is gone"));
    return undefined;
  }

  async #lookup(ctx: CacheContext, state: RequestState): Promise<Transition> {
    state.requestCc = this.#requestCc(ctx.request);
    if (ctx.reload) {
      ctx.trace("reload");
      return this.#policy.run("miss", ctx);
    }
    const cache = ctx.entitystore.cache;
    const variants = await ctx.metastore.lookup(ctx.key);
    const match = variants.find((variant) =>
      varyMatches(variant, ctx.request.headers)
    );
    if (match) {
      const reader = await this.#openBody(cache, match.entity);
      if (cache && !reader) {
        await ctx.metastore.store(ctx.key, variants.filter((v) => v !== match));
      } else {
        const headers = new Headers(match.headers);
        const cc = responseCacheControl(headers, this.#rules.targetedFields);
        state.freshness = {
          cc,
          age: currentAge(headers, match, this.#clock.now()),
          lifetime: match.ttl ??
            freshnessLifetime(headers, cc, this.#rules, match.status),
        };
        const verdict = state.revalidating
          ? "validate"
          : usability(state.freshness, state.requestCc).use;
        // Without a stored body (noop:), only a 304 can be answered from the cache.
        const answerable = reader !== undefined ||
          evaluatePreconditions(ctx.request, headers) === "not-modified";
        if (answerable && verdict !== "validate") {
          ctx.stored = match;
          state.reader = reader;
          ctx.trace(verdict === "fresh" ? "fresh" : "stale");
          if (verdict === "stale-while-revalidate") {
            this.#revalidateInBackground(ctx);
          }
          return this.#policy.run("hit", ctx);
        }
        if (reader) {
          ctx.stored = match;
          state.reader = reader;
          ctx.trace("stale");
          return this.#policy.run("miss", ctx);
        }
      }
    }
    ctx.trace("miss");
    return this.#policy.run("miss", ctx);
  }

  #revalidateInBackground(ctx: CacheContext): void {
    const key = ctx.key;
    if (this.#revalidating.has(key) || this.#inflight.has(key)) return;
    this.#revalidating.add(key);
    const request = new Request(ctx.request.url, {
      headers: ctx.request.headers,
    });
    this.#handle(request, true)
      .then((response) => response.body?.cancel())
      .catch((error) => this.#log(`revalidation of ${key} failed: ${error}`))
      .finally(() => this.#revalidating.delete(key));
  }

  /** The request sent to the origin: hop-by-hop fields removed, Via added. */
  #forwardRequest(
    request: Request,
    init: { method?: string; headers?: Headers; body?: boolean },
  ): Request {
    const headers = init.headers ?? withoutHopByHop(request.headers);
    if (this.#options.via) headers.append("via", `1.1 ${this.#options.via}`);
    const body = init.body ? request.body : null;
    return new Request(request.url, {
      method: init.method ?? request.method,
      headers,
      body,
      redirect: "manual",
      ...(body ? { duplex: "half" } : {}),
    } as RequestInit);
  }

  async #pass(ctx: CacheContext, state: RequestState): Promise<Transition> {
    state.reader?.close();
    state.reader = undefined;
    ctx.stored = undefined;
    const method = ctx.request.method.toUpperCase();
    let response: Response;
    try {
      response = await this.#origin(
        this.#forwardRequest(ctx.request, { body: true }),
      );
    } catch (error) {
      return this.#originFailed(ctx, error);
    }
    ctx.response = new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: withoutHopByHop(response.headers),
    });
    // RFC 9111 §4.4: a non-error answer to an unsafe method invalidates.
    if (!SAFE_METHODS.has(method) && response.status < 400) {
      ctx.trace("invalidate");
      await this.#invalidate(ctx, response.headers);
    }
    ctx.trace("pass");
    return this.#policy.run("pass", ctx);
  }

  async #invalidate(ctx: CacheContext, headers: Headers): Promise<void> {
    const target = new URL(ctx.request.url);
    const keys = new Set([this.#keyOf(new Request(target))]);
    for (const field of ["location", "content-location"]) {
      const value = headers.get(field);
      if (value === null) continue;
      try {
        const url = new URL(value, target);
        if (url.origin === target.origin) {
          keys.add(this.#keyOf(new Request(url)));
        }
      } catch { /* not a URL: nothing to invalidate */ }
    }
    for (const key of keys) {
      const variants = await ctx.metastore.lookup(key);
      await ctx.metastore.purge(key);
      for (const variant of variants) {
        void ctx.entitystore.cache?.remove(variant.entity);
      }
    }
  }

  #originFailed(ctx: CacheContext, error: unknown): Transition {
    ctx.log(
      `origin failed for ${ctx.request.method} ${ctx.request.url}: ${error}`,
    );
    return ctx.error(
      502,
      { "content-type": "text/plain; charset=utf-8" },
      "502 Bad Gateway: the origin did not answer\n",
    );
  }

  #canServeStaleOnError(ctx: CacheContext, state: RequestState): boolean {
    if (!ctx.stored || !state.reader || !state.freshness) return false;
    return this.#options.faultTolerant === true ||
      staleIfErrorAllows(state.freshness, state.requestCc);
  }

  async #fetch(ctx: CacheContext, state: RequestState): Promise<Transition> {
    const cache = ctx.entitystore.cache;
    const key = ctx.key;
    const method = ctx.request.method.toUpperCase();
    const cacheable = method === "GET" || method === "HEAD";

    // Collapsed forwarding: share a fetch already under way for this key.
    const pending = cacheable && cache ? this.#inflight.get(key) : undefined;
    if (pending && !state.revalidating) {
      const shared = await pending;
      if (shared && varyMatches(shared.stored, ctx.request.headers)) {
        const reader = await this.#openBody(cache, shared.stored.entity);
        if (reader) {
          state.reader?.close();
          state.reader = reader;
          ctx.stored = shared.stored;
          ctx.trace("collapsed");
          return ctx.deliver();
        }
      }
    }
    if (cacheable && cache && !this.#inflight.has(key)) {
      let settle!: (shared: Shared | undefined) => void;
      const record = new Promise<Shared | undefined>((
        resolve,
      ) => (settle = resolve));
      this.#inflight.set(key, record);
      state.settle = (shared) => {
        state.settle = undefined;
        settle(shared);
        if (!shared && this.#inflight.get(key) === record) {
          this.#inflight.delete(key);
        }
      };
    }

    // Ask for the whole representation (ranges are answered from it), and
    // validate a stale stored one with its own validators.
    const headers = withoutHopByHop(ctx.request.headers);
    if (cacheable) {
      headers.delete("range");
      headers.delete("if-range");
    }
    const validating = ctx.stored !== undefined && state.reader !== undefined;
    if (validating) {
      const stored = new Headers(ctx.stored!.headers);
      headers.delete("if-none-match");
      headers.delete("if-modified-since");
      const etag = stored.get("etag");
      const lastModified = stored.get("last-modified");
      if (etag !== null) headers.set("if-none-match", etag);
      if (lastModified !== null) headers.set("if-modified-since", lastModified);
    }
    const requestTime = this.#clock.now();
    let response: Response;
    try {
      response = await this.#origin(this.#forwardRequest(ctx.request, {
        method: cacheable ? "GET" : method,
        headers,
        body: !cacheable,
      }));
    } catch (error) {
      state.settle?.(undefined);
      if (this.#canServeStaleOnError(ctx, state)) {
        ctx.trace("stale-if-error");
        return ctx.deliver();
      }
      return this.#originFailed(ctx, error);
    }
    const responseTime = this.#clock.now();
    state.times = { requestTime, responseTime };

    if (
      ERROR_STATUSES.has(response.status) &&
      this.#canServeStaleOnError(ctx, state)
    ) {
      await response.body?.cancel();
      state.settle?.(undefined);
      ctx.trace("stale-if-error");
      return ctx.deliver();
    }

    if (response.status === 304 && validating) {
      ctx.trace("valid");
      const merged = this.#merge304(ctx.stored!, response.headers, state.times);
      state.validated = merged;
      ctx.stored = merged;
      ctx.response = this.#fromStored(ctx, state);
      const full = new Response(null, {
        status: merged.status,
        headers: merged.headers,
      });
      ctx.storable = notStorableReason(
        new Request(ctx.request.url, { headers: ctx.request.headers }),
        full,
        this.#rules,
      ) ===
        undefined;
    } else {
      if (validating) ctx.trace("invalid");
      state.reader?.close();
      state.reader = undefined;
      // For HEAD the body (fetched with GET) goes to storage; #finish drops
      // it if it is not stored.
      ctx.response = new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: withoutHopByHop(response.headers),
      });
      const asGet = new Request(ctx.request.url, {
        headers: ctx.request.headers,
      });
      const reason = cacheable
        ? notStorableReason(asGet, response, this.#rules)
        : "method";
      if (reason) {
        ctx.log(
          `not stored (${reason}): ${ctx.request.method} ${ctx.request.url}`,
        );
      }
      ctx.storable = reason === undefined;
    }
    const transition = await this.#policy.run("fetch", ctx);
    if (transition.name !== "store") state.settle?.(undefined);
    return transition;
  }

  /** RFC 9111 §3.2: the stored response, updated with a 304's fields. */
  #merge304(
    stored: StoredResponse,
    fields: Headers,
    times: { requestTime: number; responseTime: number },
  ): StoredResponse {
    const headers = new Headers(stored.headers);
    for (const [name, value] of withoutHopByHop(fields)) {
      if (!NOT_MERGED.has(name)) headers.set(name, value);
    }
    return { ...stored, headers: [...headers], ...times };
  }

  async #store(ctx: CacheContext, state: RequestState): Promise<Transition> {
    const transition = await this.#policy.run("store", ctx);
    const response = ctx.response;
    if (transition.name !== "deliver" || !response) {
      state.settle?.(undefined);
      return transition;
    }
    const cache = ctx.entitystore.cache;
    const key = ctx.key;
    if (state.validated) {
      const stored = {
        ...state.validated,
        ttl: ctx.ttl ?? state.validated.ttl,
      };
      await this.#saveVariant(ctx, stored);
      ctx.trace("store");
      state.settle?.({ stored });
      this.#inflight.delete(key);
      return transition;
    }
    const status = response.status;
    if (status === 206 || status === 304 || !state.times) {
      state.settle?.(undefined);
      return transition;
    }
    const length = contentLengthOf(response.headers);
    const maxEntrySize = this.#options.maxEntrySize ?? Infinity;
    if (length !== undefined && length > maxEntrySize) {
      ctx.log(`not stored (larger than maxEntrySize): ${ctx.request.url}`);
      state.settle?.(undefined);
      return transition;
    }
    const stored: StoredResponse = {
      status,
      statusText: response.statusText,
      headers: [
        ...this.#storedHeaders(response.headers, state.times.responseTime),
      ],
      vary: varyValues(response.headers, ctx.request.headers),
      ...state.times,
      entity: crypto.randomUUID(),
      size: -1,
      ...(ctx.ttl !== undefined ? { ttl: ctx.ttl } : {}),
    };
    ctx.trace("store");
    if (!cache) {
      // noop: keep the headers (for validation and 304s); the body goes to
      // this client only.
      stored.size = length ?? -1;
      await this.#saveVariant(ctx, stored);
      state.settle?.(undefined);
      return transition;
    }
    const { writer, reader } = await cache.get(stored.entity);
    state.reader = reader;
    ctx.stored = stored;
    const record = this.#inflight.get(key);
    state.settle?.({ stored });
    void this.#pump(ctx, stored, response.body, writer!, record);
    ctx.response = this.#fromStored(ctx, state, response.headers);
    return transition;
  }

  /** Fields of a response as stored: ignored, private and no-cache-named fields removed; Date added. */
  #storedHeaders(fields: Headers, responseTime: number): Headers {
    const headers = withoutHopByHop(fields);
    const cc = responseCacheControl(fields, this.#rules.targetedFields);
    const drop = [
      ...(this.#options.ignoreHeaders ?? ["set-cookie"]),
      ...(Array.isArray(cc.private) ? cc.private : []),
      ...(Array.isArray(cc.noCache) ? cc.noCache : []),
    ];
    for (const name of drop) headers.delete(name);
    if (!headers.has("date")) {
      headers.set("date", new Date(responseTime).toUTCString());
    }
    return headers;
  }

  /**
   * Copies the origin's body into the entity, owned by no client; records the
   * variant once the body is complete, never before.
   */
  async #pump(
    ctx: CacheContext,
    stored: StoredResponse,
    body: ReadableStream<Uint8Array> | null,
    writer: WritableStream<Uint8Array>,
    record: Promise<Shared | undefined> | undefined,
  ): Promise<void> {
    const key = ctx.key;
    const maxEntrySize = this.#options.maxEntrySize ?? Infinity;
    let size = 0;
    let oversize = false;
    const inflight = this.#inflight;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        size += chunk.byteLength;
        if (size > maxEntrySize && !oversize) {
          // Keep feeding the clients already reading; let no one else join.
          oversize = true;
          if (inflight.get(key) === record) inflight.delete(key);
        }
        controller.enqueue(chunk);
      },
    });
    try {
      await (body ?? new Response(null).body ??
        new ReadableStream({ start: (c) => c.close() }))
        .pipeThrough(counter).pipeTo(writer);
      if (oversize) {
        ctx.log(`not stored (body outgrew maxEntrySize): ${ctx.request.url}`);
        void ctx.entitystore.cache?.remove(stored.entity);
        return;
      }
      stored.size = size;
      await this.#saveVariant(ctx, stored);
    } catch (error) {
      ctx.log(`not stored (origin body failed: ${error}): ${ctx.request.url}`);
    } finally {
      if (inflight.get(key) === record) inflight.delete(key);
    }
  }

  /** Records `stored` as the newest variant of its key, dropping the ones it replaces. */
  async #saveVariant(ctx: CacheContext, stored: StoredResponse): Promise<void> {
    const variants = await ctx.metastore.lookup(ctx.key);
    const kept: StoredResponse[] = [];
    const dropped: StoredResponse[] = [];
    for (const variant of variants) {
      if (variant.entity === stored.entity) continue;
      (sameVary(variant, stored) || kept.length >= MAX_VARIANTS - 1
        ? dropped
        : kept).push(variant);
    }
    await ctx.metastore.store(ctx.key, [stored, ...kept]);
    for (const variant of dropped) {
      void ctx.entitystore.cache?.remove(variant.entity);
    }
  }

  /**
   * The response to send from a stored body: ranges, conditionals and HEAD
   * answered by `rangeResponse`, `Age` computed. `fields` are the headers to
   * send (default: the stored ones).
   */
  #fromStored(
    ctx: CacheContext,
    state: RequestState,
    fields?: Headers,
  ): Response {
    const stored = ctx.stored!;
    const headers = fields
      ? withoutHopByHop(fields)
      : new Headers(stored.headers);
    headers.set(
      "age",
      String(
        currentAge(new Headers(stored.headers), stored, this.#clock.now()),
      ),
    );
    const reader = state.reader;
    const size = stored.size >= 0
      ? stored.size
      : reader?.size().complete
      ? reader.size().size
      : contentLengthOf(headers);
    if (!reader) {
      // No body kept (noop:): the lookup only lets 304s through.
      return rangeResponse(ctx.request, new Uint8Array(0), {
        status: stored.status,
        headers,
      });
    }
    if (size === undefined) {
      // Still arriving with no length: the whole body, as it comes.
      headers.delete("content-length");
      return new Response(
        ctx.request.method === "HEAD" ? null : reader.stream(),
        {
          status: stored.status,
          statusText: stored.statusText,
          headers,
        },
      );
    }
    return rangeResponse(ctx.request, {
      size,
      stream: (start, end) => reader.stream(start, end),
    }, {
      status: stored.status,
      statusText: stored.statusText,
      headers,
    });
  }

  #error(
    ctx: CacheContext,
    state: RequestState,
    transition: Transition,
  ): Promise<Transition> {
    state.settle?.(undefined);
    state.reader?.close();
    state.reader = undefined;
    const status = transition.status ?? 500;
    ctx.response = new Response(transition.body ?? null, {
      status,
      headers: transition.headers,
    });
    ctx.trace("error");
    return this.#policy.run("error", ctx);
  }

  #finish(ctx: CacheContext, state: RequestState): Response {
    let response = ctx.response ?? new Response(null, { status: 500 });
    if (ctx.request.method.toUpperCase() === "HEAD" && response.body) {
      void response.body.cancel().catch(() => {});
      response = new Response(null, response);
    }
    if (this.#options.forwardTargetedFields === false) {
      for (const field of this.#rules.targetedFields) {
        response.headers.delete(field);
      }
    }
    if (this.#options.via) {
      response.headers.append("via", `1.1 ${this.#options.via}`);
    }
    const traceHeader = this.#options.traceHeader ?? "x-cache";
    if (traceHeader) response.headers.set(traceHeader, ctx.traces.join(", "));
    ctx.log(
      `${ctx.request.method} ${ctx.request.url} ${ctx.traces.join(", ")}`,
    );
    const reader = state.reader;
    if (reader) response = releasing(response, () => reader.close());
    return response;
  }
}

/**
 * The shared cache as middleware in front of the next handler.
 *
 * @example
 * ```ts
 * import { sharedCache } from "./shared_cache.ts";
 * const app = (_request: Request) =>
 *   new Response("hello", { headers: { "cache-control": "public, max-age=60" } });
 * const handler = sharedCache({ entitystore: "heap:" })(app);
 * ```
 */
export function sharedCache(
  options: Omit<SharedCacheOptions, "origin"> = {},
): Middleware {
  return (next) => new SharedCache({ ...options, origin: next }).fetch;
}
