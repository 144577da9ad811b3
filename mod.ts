/**
 * cistern: an HTTP caching toolkit for Deno and Bun, on web standards.
 *
 * - a concurrent stream cache ({@link StreamCache}): the first `get` of a key
 *   writes, every other caller reads live while it is written;
 * - HTTP caching helpers: conditional GET ({@link freshWhen}, {@link etagFor}),
 *   Cache-Control ({@link expiresIn}), files and ranges ({@link sendFile},
 *   {@link rangeResponse}), streaming ({@link stream}, {@link liveStream},
 *   {@link serverSentEvents});
 * - an RFC 9111 shared cache ({@link SharedCache}, {@link sharedCache}) with a
 *   policy language of events and transitions;
 * - runtime adapters ({@link serve}; {@link nodeServe} also forwards 1xx answers);
 *
 * @example
 * ```ts
 * import { memoryFs, StreamCache } from "./mod.ts";
 * const cache = new StreamCache({ fs: memoryFs() });
 * const { reader, writer } = await cache.get("k");
 * ```
 *
 * @module
 */
export * from "./lib/stream/mod.ts";
export * from "./lib/http/mod.ts";
export * from "./lib/proxy/mod.ts";
export { type Clock, ManualClock, systemClock } from "./lib/clock.ts";
export type { Handler, Middleware } from "./lib/types.ts";
export { serve, type ServeOptions, type Server } from "./lib/adapters/serve.ts";
export { nodeServe } from "./lib/adapters/node_serve.ts";
