/**
 * The default policy, written in the policy language itself. It is
 * registered first, so every handler a user adds runs before it.
 *
 * @module
 */
import type { PolicyModule } from "./config.ts";
import { isWebSocketHandshake } from "./headers.ts";
import { requestCacheControl } from "./policy.ts";

/** Options of the default policy. */
export interface DefaultPolicyOptions {
  /**
   * A client's `no-cache` forces a full reload instead of a revalidation.
   *
   * @example
   * ```ts
   * import { defaultPolicy } from "./default_policy.ts";
   * import { Policy } from "./config.ts";
   * // a request with Cache-Control: no-cache skips the stored copy
   * defaultPolicy({ allowReload: true })(new Policy());
   * ```
   */
  allowReload: boolean;
}

/**
 * GET and HEAD are looked up, everything else passes; hits are delivered;
 * misses are fetched (or answered 504 under `only-if-cached`); fetched
 * responses are stored when RFC 9111 allows it.
 *
 * @example
 * ```ts
 * import { defaultPolicy } from "./default_policy.ts";
 * import { Policy } from "./config.ts";
 * defaultPolicy({ allowReload: false })(new Policy());
 * ```
 */
export function defaultPolicy(options: DefaultPolicyOptions): PolicyModule {
  return (cache) => {
    cache.on("receive", (ctx) => {
      const method = ctx.request.method.toUpperCase();
      if (method !== "GET" && method !== "HEAD") return ctx.pass();
      if (isWebSocketHandshake(ctx.request.headers)) return ctx.pass();
      if (
        options.allowReload && requestCacheControl(ctx.request.headers).noCache
      ) {
        ctx.reload = true;
      }
      return ctx.lookup();
    });
    cache.on("hit", (ctx) => ctx.deliver());
    cache.on(
      "miss",
      (ctx) =>
        requestCacheControl(ctx.request.headers).onlyIfCached
          ? ctx.error(
            504,
            { "content-type": "text/plain; charset=utf-8" },
            "504 Gateway Timeout: not in cache (only-if-cached)\n",
          )
          : ctx.fetch(),
    );
    cache.on("fetch", (ctx) => ctx.storable ? ctx.store() : ctx.deliver());
    cache.on("store", (ctx) => ctx.deliver());
    cache.on("deliver", (ctx) => ctx.finish());
    cache.on("pass", (ctx) => ctx.deliver());
    cache.on("error", (ctx) => ctx.finish());
  };
}
