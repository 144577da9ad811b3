/**
 * Header handling every intermediary needs: hop-by-hop fields (RFC 9110
 * §7.6.1) are removed before forwarding or storing.
 *
 * @module
 */
import { fieldTokens } from "../http/field_tokens.ts";

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
  const copy = new Headers(headers);
  for (const field of fieldTokens(headers.get("connection"))) {
    copy.delete(field);
  }
  for (const name of HOP_BY_HOP) copy.delete(name);
  return copy;
}
