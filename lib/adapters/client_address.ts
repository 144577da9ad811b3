/**
 * The address of the client a request came from, as the server that took
 * the connection knows it: `serve()` notes where to find it on each request
 * (Deno's connection info, Bun's server), and it is read only when asked (a
 * request forwarded to an origin), so a hit pays one property set.
 *
 * @module
 */

/** Where a request's client address can be found. */
type AddressSource =
  /** Deno's connection info. */
  | { remoteAddr: { hostname?: string } }
  /** Bun's server. */
  | { requestIP(request: Request): { address: string } | null }
  /** The address itself, carried to a request made from the client's. */
  | string;

// A property, not a WeakMap entry: set on every request.
const SOURCE = Symbol("client address source");
type Noted = Request & { [SOURCE]?: AddressSource };

/**
 * Notes where `request`'s client address can be found: the connection info
 * a server handed over with it, or the server that can tell.
 */
export function noteClientSource(
  request: Request,
  source: Exclude<AddressSource, string>,
): void {
  (request as Noted)[SOURCE] = source;
}

/**
 * The IP address of the client `request` came from, when the server that
 * took it is cistern's `serve()` (or the request was made from such a one
 * with {@link carryClientAddress}); `undefined` otherwise.
 *
 * @example
 * ```ts
 * import { clientAddressOf } from "./client_address.ts";
 * clientAddressOf(new Request("http://a.test/")); // undefined: no server took it
 * ```
 */
export function clientAddressOf(request: Request): string | undefined {
  const source = (request as Noted)[SOURCE];
  if (source === undefined || typeof source === "string") return source;
  try {
    return "remoteAddr" in source
      ? source.remoteAddr.hostname
      : source.requestIP(request)?.address;
  } catch {
    // A server that no longer knows (the connection has gone).
    return undefined;
  }
}

/** Makes `to` (a request made from `from`) tell `from`'s client address. */
export function carryClientAddress(from: Request, to: Request): void {
  const address = clientAddressOf(from);
  if (address !== undefined) (to as Noted)[SOURCE] = address;
}
