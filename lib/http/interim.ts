/**
 * Interim (1xx) answers, passed on. RFC 9110 §15.2 asks a proxy to forward
 * the 1xx answers an origin sends before its final one (`103 Early Hints`
 * lets a browser fetch a page's styles while the page is still being made).
 * A `Response` cannot be a 1xx, so a server that can send them notes, on
 * each request it hands a handler, where that request's interim answers go;
 * whatever forwards the request (the origin client, through `proxyTo` or
 * the shared cache) hands them there.
 *
 * @module
 */

/**
 * Sends an interim answer to the client of one request, before its final
 * answer; returns whether it went. It does not once the final answer has
 * begun, to an HTTP/1.0 client (RFC 9110 §15.2), or for a status the server
 * cannot send.
 *
 * @example
 * ```ts
 * import type { InterimSink } from "./interim.ts";
 * const log: InterimSink = (status, headers) => {
 *   console.log(status, headers.get("link"));
 *   return false; // nothing was sent
 * };
 * ```
 */
export type InterimSink = (status: number, headers: Headers) => boolean;

// A property, not a WeakMap entry: set on every request a server makes.
const SINK = Symbol("interim sink");
type Noted = Request & { [SINK]?: InterimSink };

/**
 * Notes where `request`'s interim answers go (a server adapter does).
 *
 * @example
 * ```ts
 * import { interimSinkOf, noteInterimSink } from "./interim.ts";
 * const request = new Request("http://localhost/");
 * noteInterimSink(request, () => false);
 * interimSinkOf(request) !== undefined; // true
 * ```
 */
export function noteInterimSink(request: Request, sink: InterimSink): void {
  (request as Noted)[SINK] = sink;
}

/**
 * Where `request`'s interim answers go, if its server can send them.
 *
 * @example
 * ```ts
 * import { interimSinkOf } from "./interim.ts";
 * interimSinkOf(new Request("http://localhost/")); // undefined: no server noted one
 * ```
 */
export function interimSinkOf(request: Request): InterimSink | undefined {
  return (request as Noted)[SINK];
}

/**
 * Whether an origin's interim answer of `status` is passed on to the
 * client: every 1xx but `100 Continue`, which the client's own server
 * already sent (or the client did not ask for) when the request went on,
 * and `101`, which the origin client refuses.
 *
 * @example
 * ```ts
 * import { forwardsInterim } from "./interim.ts";
 * forwardsInterim(103); // true
 * forwardsInterim(100); // false
 * ```
 */
export function forwardsInterim(status: number): boolean {
  return status > 101 && status < 200;
}
