/**
 * Header handling every intermediary needs: hop-by-hop fields (RFC 9110
 * §7.6.1) are removed before forwarding or storing.
 *
 * @module
 */
import { copyHeaders } from "../adapters/header_copies.ts";
import { fieldTokens, isToken } from "../http/field_tokens.ts";
import { parseHttpDate } from "../http/http_date.ts";

/** Fields that describe one connection, never forwarded or stored. */
export const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * Sets `Date` to the time `at` (in ms) in `headers` that have none, or one
 * that cannot be parsed: a recipient that forwards or stores a message
 * without one adds it, and may replace an invalid one (RFC 9110 §6.6.1). A
 * stored response's freshness and age, worked out from an invalid one, would
 * depend on when they are worked out.
 *
 * @example
 * ```ts
 * import { addValidDate } from "./headers.ts";
 * const headers = new Headers({ date: "yesterday" });
 * addValidDate(headers, 0);
 * headers.get("date"); // "Thu, 01 Jan 1970 00:00:00 GMT"
 * ```
 */
export function addValidDate(headers: Headers, at: number): void {
  if (parseHttpDate(headers.get("date")) === undefined) {
    headers.set("date", new Date(at).toUTCString());
  }
}

/**
 * Whether the field `name` (lower-cased) of a message with `headers` is
 * hop-by-hop, by nature or because its `Connection` names it: it never
 * reaches the next hop.
 *
 * @example
 * ```ts
 * import { isHopByHop } from "./headers.ts";
 * isHopByHop(new Headers({ connection: "close, accept-language" }), "accept-language"); // true
 * ```
 */
export function isHopByHop(headers: Headers, name: string): boolean {
  return HOP_BY_HOP.includes(name) ||
    fieldTokens(headers.get("connection")).includes(name);
}

/**
 * Whether a request is a WebSocket handshake (`Upgrade: websocket`): the one
 * upgrade passed to the app as it came, since the runtime upgrades that very
 * request object. Other upgrades (`h2c`, `TLS/1.2`) are hop-by-hop offers a
 * proxy drops, and the request is cached as any other.
 *
 * @example
 * ```ts
 * import { isWebSocketHandshake } from "./headers.ts";
 * isWebSocketHandshake(new Headers({ upgrade: "websocket" })); // true
 * isWebSocketHandshake(new Headers({ upgrade: "h2c" })); // false
 * ```
 */
export function isWebSocketHandshake(headers: Headers): boolean {
  // Most requests have none: no token list to make.
  const upgrade = headers.get("upgrade");
  if (upgrade === null) return false;
  return fieldTokens(upgrade).some((protocol) =>
    protocol === "websocket" || protocol.startsWith("websocket/")
  );
}

/**
 * A copy of `headers` without hop-by-hop fields, including those that
 * `Connection` names.
 *
 * @example
 * ```ts
 * import { withoutHopByHop } from "./headers.ts";
 * const headers = new Headers({ connection: "x-trace", "x-trace": "1", etag: '"a"' });
 * [...withoutHopByHop(headers).keys()]; // ["etag"]
 * ```
 */
export function withoutHopByHop(headers: Headers): Headers {
  const copy = copyHeaders(headers);
  removeHopByHop(copy);
  return copy;
}

/**
 * Deletes hop-by-hop fields, and those `Connection` names, from `headers`
 * itself. A member that is not a field name names no field to delete.
 */
function removeHopByHop(headers: Headers): void {
  for (const field of fieldTokens(headers.get("connection"))) {
    if (isToken(field)) headers.delete(field);
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
}

/**
 * `response` without hop-by-hop fields: itself when it has none (most
 * answers) or its headers may be changed in place, else a new response
 * around the same body. Keeping the response keeps its body as it is (bytes
 * stay bytes, which servers send faster than a stream).
 *
 * @example
 * ```ts
 * import { responseWithoutHopByHop } from "./headers.ts";
 * const response = new Response("hi", { headers: { "keep-alive": "timeout=5" } });
 * responseWithoutHopByHop(response).headers.has("keep-alive"); // false
 * ```
 */
export function responseWithoutHopByHop(response: Response): Response {
  const headers = response.headers;
  if (!HOP_BY_HOP.some((name) => headers.has(name))) return response;
  try {
    removeHopByHop(headers);
    return response;
  } catch {
    // Immutable headers (a fetch() response): nothing was changed.
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: withoutHopByHop(headers),
    });
  }
}

/**
 * `response` if its headers may be changed, else the same answer around the
 * same body with headers that may (`Response.redirect()` and `fetch()`
 * answers have immutable ones; the cache adds its trace and `Via`).
 *
 * @example
 * ```ts
 * import { withMutableHeaders } from "./headers.ts";
 * const response = withMutableHeaders(Response.redirect("http://x/y", 303));
 * response.headers.set("x-cache", "pass");
 * ```
 */
export function withMutableHeaders(response: Response): Response {
  try {
    // Throws for immutable headers, on runtimes that enforce it.
    response.headers.delete("x-cistern-probe");
    return response;
  } catch {
    return new Response(response.body, response);
  }
}
