/**
 * Reusable policies to `cache.use(...)`, as Rack::Cache shipped them.
 *
 * @module
 */
import type { PolicyModule, Transition } from "./config.ts";
import type { CacheContext } from "./context.ts";
import { requestCacheControl } from "./policy.ts";
import { acceptedCoding } from "../http/accept_encoding.ts";
import { isToken } from "../http/field_tokens.ts";
import { DEFAULT_TAG_FIELD, tagsIn } from "./tags.ts";
import { TagPurgeUnsupportedError } from "./errors.ts";

/** Options for {@link cacheBusters}. */
export interface CacheBustersOptions {
  /**
   * Freshness in seconds for versioned URLs. Default one year (`31536000`).
   *
   * @example
   * ```ts
   * import { cacheBusters } from "./modules.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" })
   *   .use(cacheBusters({ ttl: 7 * 86_400 })); // a week
   * ```
   */
  ttl?: number;
  /**
   * Which URLs carry a version. Default: a `v`, `ver` or `version` query
   * parameter, or a bare numeric query such as Rails' `?1700000000` (not
   * jQuery's `_=`, which marks a request never to be answered from a cache).
   * Its `g` and `y` flags are ignored, which would make tests take turns.
   *
   * @example
   * ```ts
   * import { cacheBusters } from "./modules.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" })
   *   .use(cacheBusters({ pattern: /[?&]rev=[0-9a-f]{8}/ })); // /app.js?rev=1a2b3c4d
   * ```
   */
  pattern?: RegExp;
}

/**
 * Stores successful responses to versioned URLs (`/app.js?v=3`) for a long
 * time, whatever their headers say: a new version is a new URL.
 *
 * @example
 * ```ts
 * import { cacheBusters } from "./modules.ts";
 * import { SharedCache } from "./shared_cache.ts";
 * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" }).use(cacheBusters());
 * ```
 */
export function cacheBusters(options: CacheBustersOptions = {}): PolicyModule {
  const ttl = options.ttl ?? 31_536_000;
  const pattern = options.pattern
    ? new RegExp(
      options.pattern.source,
      options.pattern.flags.replace(/[gy]/g, ""),
    )
    : /[?&](v|ver|version)=[^&]+|\?\d{6,}$/;
  return (cache) => {
    cache.on("fetch", (ctx) => {
      const response = ctx.response;
      if (!response || response.status !== 200) return;
      if (ctx.request.method !== "GET" && ctx.request.method !== "HEAD") return;
      if (!pattern.test(new URL(ctx.request.url).search)) return;
      // Only a lack of freshness is overridden: never privacy or no-store.
      if (!ctx.storable && ctx.notStorableReason !== "no-freshness") return;
      ctx.ttl = ttl;
      ctx.trace("busted");
      return ctx.store();
    });
  };
}

/**
 * Treats a client's `Cache-Control: no-cache` (or `Pragma: no-cache`) as a
 * full reload: the stored response is skipped, and the fresh one stored.
 *
 * @example
 * ```ts
 * import { honourClientNoCache } from "./modules.ts";
 * import { SharedCache } from "./shared_cache.ts";
 * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" }).use(honourClientNoCache());
 * ```
 */
export function honourClientNoCache(): PolicyModule {
  return (cache) => {
    cache.on("receive", (ctx) => {
      const method = ctx.request.method.toUpperCase();
      if (method !== "GET" && method !== "HEAD") return;
      // Hands over: earlier handlers and the default policy (which passes
      // WebSocket handshakes) still decide whether to look up at all.
      if (requestCacheControl(ctx.request.headers).noCache) ctx.reload = true;
    });
  };
}

/** Options for {@link purgeRequests}. */
export interface PurgeRequestsOptions {
  /**
   * Whether this request may purge; one that may not gets a 403. Required:
   * a cache that takes anyone's purges is a cache anyone can empty.
   *
   * @example
   * ```ts
   * import { purgeRequests } from "./modules.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" }).use(purgeRequests({
   *   allow: (request) => request.headers.get("x-purge-key") === "s3cret",
   * }));
   * ```
   */
  allow: (request: Request) => boolean | Promise<boolean>;
  /**
   * The request method that purges (methods are case-sensitive). Default `"PURGE"`, as Varnish and Squid take it.
   *
   * @example
   * ```ts
   * import { purgeRequests } from "./modules.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" })
   *   .use(purgeRequests({ method: "BAN", allow: () => true })); // BAN /path forgets it
   * ```
   */
  method?: string;
  /**
   * The request field that turns a purge into a purge by tag: a purge
   * request carrying it forgets every stored response tagged with one of
   * its tags (separated by spaces or commas), whatever the URL, as
   * `SharedCache.purgeTags` does. Name the cache's `tagField` here if you
   * changed it. Default `"surrogate-key"`.
   *
   * @example
   * ```ts
   * import { purgeRequests } from "./modules.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", tagField: "cache-tag" })
   *   .use(purgeRequests({ tagField: "cache-tag", allow: () => true }));
   * // curl -X PURGE -H "cache-tag: product-7" http://127.0.0.1:8080/
   * ```
   */
  tagField?: string;
}

/**
 * Answers purge requests (`PURGE /path`, as Varnish and Squid take them)
 * from the cache itself: every stored response for the URL is forgotten
 * (as `SharedCache.purge` does), with a 200 when there were some, a 404
 * when there were none, and a 403 for a request `allow` refuses. Nothing
 * reaches the origin. A purge request that carries a `Surrogate-Key`
 * field (`tagField`) forgets instead every stored response tagged with one
 * of its tags, whatever the URL.
 *
 * @example
 * ```ts
 * import { purgeRequests } from "./modules.ts";
 * import { SharedCache } from "./shared_cache.ts";
 * const token = "Bearer s3cret";
 * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" }).use(
 *   purgeRequests({ allow: (request) => request.headers.get("authorization") === token }),
 * );
 * // curl -X PURGE -H "authorization: Bearer s3cret" http://127.0.0.1:8080/news
 * ```
 */
export function purgeRequests(options: PurgeRequestsOptions): PolicyModule {
  if (typeof options?.allow !== "function") {
    throw new TypeError("purgeRequests needs an allow(request) function");
  }
  const method = options.method ?? "PURGE";
  const tagField = options.tagField ?? DEFAULT_TAG_FIELD;
  if (!isToken(tagField)) {
    throw new TypeError(
      `purgeRequests' tagField must name a header field, got ${
        JSON.stringify(tagField)
      }`,
    );
  }
  const text = { "content-type": "text/plain; charset=utf-8" };
  const purge = async (ctx: CacheContext): Promise<Transition> => {
    ctx.trace("purge");
    if (!(await options.allow(ctx.request))) {
      return ctx.error(403, text, "403 Forbidden: purging is not allowed\n");
    }
    const tags = ctx.request.headers.get(tagField);
    let forgotten;
    if (tags === null) forgotten = await ctx.purge();
    else {
      try {
        forgotten = await ctx.purgeTags(tagsIn(tags));
      } catch (error) {
        // A cache that cannot purge by tag (tagging off, a meta store that
        // cannot list its records) says so rather than failing with a 500;
        // a purge by URL can always be done. A store failing mid-walk is a
        // 500, as it is for a purge by URL.
        if (!(error instanceof TagPurgeUnsupportedError)) throw error;
        return ctx.error(501, text, `501 Not Implemented: ${error.message}\n`);
      }
    }
    return forgotten > 0
      ? ctx.error(200, text, `purged ${forgotten}\n`)
      : ctx.error(404, text, "404 Not Found: nothing stored to purge\n");
  };
  return (cache) => {
    // Synchronous for other requests: a hit on heap stores stays one.
    cache.on(
      "receive",
      (ctx) => ctx.request.method === method ? purge(ctx) : undefined,
    );
  };
}

/** Options for {@link normalizeAcceptEncoding}. */
export interface NormalizeAcceptEncodingOptions {
  /**
   * The content codings the origin can send, its preference first. Default
   * `["br", "gzip"]`.
   *
   * @example
   * ```ts
   * import { normalizeAcceptEncoding } from "./modules.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * // "gzip, deflate, br, zstd" is sent on as "zstd"; "gzip, deflate" as "gzip"
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" })
   *   .use(normalizeAcceptEncoding({ codings: ["zstd", "br", "gzip"] }));
   * ```
   */
  codings?: string[];
}

/**
 * Normalizes `Accept-Encoding` to the one coding of `codings` a request
 * accepts best, or `identity` (as Varnish does for gzip): an origin that
 * answers with `Vary: Accept-Encoding` then has one variant per coding
 * stored, not one per browser's spelling of its list, and the origin is
 * asked with a value the client accepts. A value that accepts nothing is
 * left as it came; so is a request without the field (it says any coding
 * will do, and what clients that send none want is the origin's business).
 * Handlers still see the request as it came: the cache compares and
 * forwards the normalized value (`SharedCache.normalize`), so a hit
 * builds no new request.
 *
 * @example
 * ```ts
 * import { normalizeAcceptEncoding } from "./modules.ts";
 * import { SharedCache } from "./shared_cache.ts";
 * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" }).use(
 *   normalizeAcceptEncoding({ codings: ["zstd", "br", "gzip"] }),
 * );
 * // "gzip, deflate, br, zstd" reaches the origin as "zstd", "br;q=1.0, gzip;q=0.8" as "br".
 * ```
 */
export function normalizeAcceptEncoding(
  options: NormalizeAcceptEncodingOptions = {},
): PolicyModule {
  const codings = (options.codings ?? ["br", "gzip"]).map((coding) =>
    coding.trim().toLowerCase()
  );
  if (codings.some((coding) => !isToken(coding))) {
    throw new TypeError(
      `normalizeAcceptEncoding: codings must be tokens, got ${
        JSON.stringify(options.codings)
      }`,
    );
  }
  // Browsers send few distinct values, and short ones: each is worked out
  // once. Longer ones (a client's choice) are worked out every time.
  const known = new Map<string, string>();
  const normalized = (value: string) => {
    let coding = known.get(value);
    if (coding === undefined) {
      coding = acceptedCoding(value, codings) ?? value;
      if (value.length > 256) return coding;
      if (known.size >= 1024) known.clear();
      known.set(value, coding);
    }
    return coding;
  };
  return (cache) => {
    cache.normalize("accept-encoding", normalized);
  };
}
