/**
 * The two shapes everything in cistern composes from.
 *
 * @module
 */

/**
 * A fetch handler, as the servers of Deno and Bun, Hono and others take.
 *
 * @example
 * ```ts
 * import type { Handler } from "./types.ts";
 * const hello: Handler = () => new Response("hello");
 * ```
 */
export type Handler = (request: Request) => Response | Promise<Response>;

/**
 * Wraps a handler into another handler.
 *
 * @example
 * ```ts
 * import type { Middleware } from "./types.ts";
 * const poweredBy: Middleware = (next) => async (request) => {
 *   const response = await next(request);
 *   response.headers.set("x-powered-by", "cistern");
 *   return response;
 * };
 * ```
 */
export type Middleware = (next: Handler) => Handler;
