/**
 * `Max-Forwards` (RFC 9110 §7.6.2): an intermediary that receives a TRACE or
 * OPTIONS request with it must answer itself at `0`, and pass it on one
 * lower otherwise.
 *
 * @module
 */

/** Methods whose requests carry a hop count. */
const COUNTED = new Set(["OPTIONS", "TRACE"]);

/** What a proxy may do with a request, by its `Max-Forwards`. */
export type HopCount =
  | { answer: true }
  | { answer: false; next?: string };

/**
 * Whether this proxy must answer `method`'s request itself (its
 * `Max-Forwards` is `0`), and otherwise the value to forward (`next`,
 * undefined when the request has none, or one that is not a number, which is
 * passed on as it came).
 *
 * @example
 * ```ts
 * import { hopCount } from "./max_forwards.ts";
 * hopCount("OPTIONS", "0"); // { answer: true }
 * hopCount("TRACE", "3"); // { answer: false, next: "2" }
 * hopCount("GET", "0"); // { answer: false }
 * ```
 */
export function hopCount(method: string, value: string | null): HopCount {
  if (value === null || !COUNTED.has(method)) return { answer: false };
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed)) return { answer: false };
  const hops = Number(trimmed);
  return hops === 0 ? { answer: true } : {
    answer: false,
    next: String(Math.min(hops, Number.MAX_SAFE_INTEGER) - 1),
  };
}

/**
 * The answer of a proxy that is a request's final recipient: `200` with
 * `Allow` for OPTIONS, and `405` for TRACE, which it does not echo (an echo
 * would hand scripts the cookies and credentials in the request).
 *
 * @example
 * ```ts
 * import { finalRecipientAnswer } from "./max_forwards.ts";
 * finalRecipientAnswer("OPTIONS").status; // 200
 * finalRecipientAnswer("TRACE").status; // 405
 * ```
 */
export function finalRecipientAnswer(method: string): Response {
  const allow = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";
  return method === "OPTIONS"
    ? new Response(null, {
      status: 200,
      headers: { allow, "content-length": "0" },
    })
    : new Response("405 Method Not Allowed: TRACE is not echoed\n", {
      status: 405,
      headers: { allow, "content-type": "text/plain; charset=utf-8" },
    });
}
