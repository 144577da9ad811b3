/**
 * The `Cache-Status` response field (RFC 9211): one list member per cache,
 * appended by each, saying whether it answered (`hit`) or went forward
 * (`fwd`, and why), what the next hop answered, whether it stored the
 * response and how much freshness is left.
 *
 * @module
 */

/** Why a request went forward to the origin (RFC 9211 §2.2). */
export type ForwardReason =
  | "bypass"
  | "method"
  | "uri-miss"
  | "vary-miss"
  | "miss"
  | "request"
  | "stale";

/** What one cache did with one request. */
export interface CacheStatusFacts {
  /** Why it went forward; `undefined`: it did not (a hit, or an answer of the cache's own). */
  fwd?: ForwardReason;
  /** What the origin answered, when it was asked. */
  fwdStatus?: number;
  /** The response was stored (or the stored one updated). */
  stored: boolean;
  /** The request shared a fetch another request made. */
  collapsed: boolean;
  /** Seconds of freshness left in the stored response sent (negative: stale); `undefined` when none was sent. */
  ttl?: number;
}

/** An RFC 8941 token: what a cache's name must be, sent as is. */
const SF_TOKEN = /^[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]*$/;

/**
 * `name`, checked: a cache names itself with a token (`cistern`,
 * `edge-1.example`).
 *
 * @example
 * ```ts
 * import { cacheStatusName } from "./cache_status.ts";
 * cacheStatusName("cistern"); // "cistern"
 * ```
 */
export function cacheStatusName(name: string): string {
  if (typeof name !== "string" || !SF_TOKEN.test(name)) {
    throw new TypeError(
      `cacheStatus must be a token such as "cistern", got ${
        JSON.stringify(name)
      }`,
    );
  }
  return name;
}

/**
 * The list member a cache named `name` appends for `facts`.
 *
 * @example
 * ```ts
 * import { cacheStatusMember } from "./cache_status.ts";
 * cacheStatusMember("cistern", { stored: false, collapsed: false, ttl: 42 });
 * // "cistern; hit; ttl=42"
 * cacheStatusMember("cistern", { fwd: "uri-miss", fwdStatus: 200, stored: true, collapsed: false, ttl: 60 });
 * // "cistern; fwd=uri-miss; fwd-status=200; stored; ttl=60"
 * ```
 */
export function cacheStatusMember(
  name: string,
  facts: CacheStatusFacts,
): string {
  let member = name;
  if (facts.fwd === undefined) {
    if (facts.ttl !== undefined) member += "; hit";
  } else {
    member += `; fwd=${facts.fwd}`;
    if (facts.fwdStatus !== undefined) {
      member += `; fwd-status=${facts.fwdStatus}`;
    }
  }
  if (facts.stored) member += "; stored";
  if (facts.collapsed) member += "; collapsed";
  if (facts.ttl !== undefined) member += `; ttl=${Math.trunc(facts.ttl)}`;
  return member;
}
