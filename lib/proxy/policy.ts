/**
 * The rules of RFC 9111 for a shared cache, as pure functions: what may be
 * stored, for how long it is fresh, how old it is, and whether a stored
 * response may answer a request. No I/O here; the shared cache decides with
 * these and the stores only keep.
 *
 * @module
 */
import {
  addRestrictiveDirectives,
  type CacheControl,
  MAX_DELTA_SECONDS,
  parseCacheControl,
  parseTargetedCacheControl,
} from "../http/cache_control.ts";
import { weakMatch } from "../http/etag.ts";
import { parseHttpDate } from "../http/http_date.ts";
import { varyFields } from "./vary.ts";

/** Status codes a cache may store with heuristic freshness (RFC 9110 §15.1). */
export const HEURISTICALLY_CACHEABLE = new Set([
  200,
  203,
  204,
  206,
  300,
  301,
  308,
  404,
  405,
  410,
  414,
  501,
]);

/** Status codes whose semantics this cache understands (for `must-understand`). */
const UNDERSTOOD = new Set([
  200,
  203,
  204,
  300,
  301,
  302,
  303,
  307,
  308,
  404,
  405,
  410,
  414,
  501,
]);

/** Request fields whose presence makes a response private unless it says otherwise. */
export const DEFAULT_PRIVATE_HEADERS = ["authorization", "cookie"];

/** The header a 5xx or network failure can be answered with stale content for. */
export const ERROR_STATUSES = new Set([500, 502, 503, 504]);

/** Options the rules depend on. */
export interface PolicyOptions {
  /**
   * Request fields that make a response private unless it is explicitly shareable.
   *
   * @example
   * ```ts
   * import { notStorableReason } from "./policy.ts";
   * const request = new Request("http://x/", { headers: { "x-api-key": "k" } });
   * const options = { privateHeaders: ["authorization", "x-api-key"], storeSetCookie: false, defaultTtl: 60, heuristicMaxTtl: 86400, targetedFields: [] };
   * notStorableReason(request, new Response("hi"), options); // "authorization"
   * ```
   */
  privateHeaders: string[];
  /**
   * Whether responses carrying `Set-Cookie` may be stored.
   *
   * @example
   * ```ts
   * import { notStorableReason } from "./policy.ts";
   * const response = new Response("hi", { headers: { "cache-control": "max-age=60", "set-cookie": "a=1" } });
   * const options = { privateHeaders: [], storeSetCookie: false, defaultTtl: 0, heuristicMaxTtl: 86400, targetedFields: [] };
   * notStorableReason(new Request("http://x/"), response, options); // "set-cookie"
   * ```
   */
  storeSetCookie: boolean;
  /**
   * Freshness in seconds for storable responses with none of their own.
   *
   * @example
   * ```ts
   * import { freshnessLifetime } from "./policy.ts";
   * const options = { defaultTtl: 120, heuristicMaxTtl: 86400, targetedFields: [] };
   * freshnessLifetime(new Headers(), undefined, options, 200); // 120
   * ```
   */
  defaultTtl: number;
  /**
   * Upper bound of heuristic freshness, in seconds.
   *
   * @example
   * ```ts
   * import { freshnessLifetime } from "./policy.ts";
   * const headers = new Headers({ date: "Mon, 01 Dec 2025 00:00:00 GMT", "last-modified": "Mon, 01 Dec 2024 00:00:00 GMT" });
   * freshnessLifetime(headers, undefined, { defaultTtl: 0, heuristicMaxTtl: 3600, targetedFields: [] }, 200); // 3600
   * ```
   */
  heuristicMaxTtl: number;
  /**
   * Targeted Cache-Control fields (RFC 9213) this cache obeys, highest
   * priority first, e.g. `["cdn-cache-control"]`.
   *
   * @example
   * ```ts
   * import { freshnessLifetime } from "./policy.ts";
   * const headers = new Headers({ "cache-control": "max-age=5", "cdn-cache-control": "max-age=600" });
   * freshnessLifetime(headers, undefined, { defaultTtl: 0, heuristicMaxTtl: 86400, targetedFields: ["cdn-cache-control"] }, 200); // 600
   * ```
   */
  targetedFields: string[];
}

/**
 * The Cache-Control that governs this cache for a response: the first
 * targeted field present (RFC 9213), else `Cache-Control`.
 *
 * @example
 * ```ts
 * import { responseCacheControl } from "./policy.ts";
 * const headers = new Headers({ "cache-control": "max-age=5", "cdn-cache-control": "max-age=60" });
 * responseCacheControl(headers, ["cdn-cache-control"]).maxAge; // 60
 * ```
 */
export function responseCacheControl(
  headers: Headers,
  targetedFields: string[],
): CacheControl {
  return governingCacheControl(headers, targetedFields).cc;
}

/**
 * The governing Cache-Control and whether a targeted field supplied it. A
 * targeted field that is empty, fails to parse as a Dictionary or gives a
 * known directive a value of another type is ignored (RFC 9213 §2.1), so a
 * junk `CDN-Cache-Control` never overrides `private` or `no-store`; the
 * restrictive directives it names (`no-store=1`) still count, bare, on top
 * of the field that governs.
 */
function governingCacheControl(
  headers: Headers,
  targetedFields: string[],
): { cc: CacheControl; targeted: boolean } {
  let unreadable: string[] | undefined;
  for (const field of targetedFields) {
    const value = headers.get(field);
    if (value === null) continue;
    const cc = parseTargetedCacheControl(value);
    if (cc) return { cc: restricted(cc, unreadable), targeted: true };
    (unreadable ??= []).push(value);
  }
  const cc = parseCacheControl(headers.get("cache-control"));
  return { cc: restricted(cc, unreadable), targeted: false };
}

/** `cc` with the restrictive directives the `unreadable` fields name. */
function restricted(cc: CacheControl, unreadable: string[] | undefined) {
  for (const value of unreadable ?? []) addRestrictiveDirectives(cc, value);
  return cc;
}

/**
 * The request's Cache-Control, with `Pragma: no-cache` read as `no-cache`
 * when there is no Cache-Control (RFC 9111 §5.4).
 *
 * @example
 * ```ts
 * import { requestCacheControl } from "./policy.ts";
 * requestCacheControl(new Headers({ pragma: "no-cache" })).noCache; // true
 * ```
 */
export function requestCacheControl(headers: Headers): CacheControl {
  const value = headers.get("cache-control");
  if (value === null) {
    const pragma = headers.get("pragma");
    if (pragma !== null && /(^|,)[ \t]*no-cache[ \t]*(,|$)/i.test(pragma)) {
      return { noCache: true };
    }
  }
  return parseCacheControl(value);
}

/** Why a response may not be stored, or `undefined` when it may. */
export type NotStorableReason =
  | "method"
  | "status"
  | "no-store"
  | "request-no-store"
  | "private"
  | "authorization"
  | "set-cookie"
  | "vary-star"
  | "no-freshness";

/**
 * Decides whether a shared cache may store `response` to `request`
 * (RFC 9111 §3, §3.5), given the response's governing Cache-Control.
 *
 * @example
 * ```ts
 * import { notStorableReason } from "./policy.ts";
 * const request = new Request("http://x/");
 * const response = new Response("hi", { headers: { "cache-control": "private" } });
 * notStorableReason(request, response, {
 *   privateHeaders: ["authorization"], storeSetCookie: false,
 *   defaultTtl: 0, heuristicMaxTtl: 86400, targetedFields: [],
 * }); // "private"
 * ```
 */
export function notStorableReason(
  request: Request,
  response: Response,
  options: PolicyOptions,
): NotStorableReason | undefined {
  if (request.method !== "GET") return "method";
  const status = response.status;
  const cc = responseCacheControl(response.headers, options.targetedFields);
  const requestCc = requestCacheControl(request.headers);
  // 206 and 304 are never stored whole: ranges are answered from full 200s.
  if (status === 206 || status === 304 || status < 200) return "status";
  if (cc.mustUnderstand) {
    if (!UNDERSTOOD.has(status)) return "status";
  } else if (cc.noStore) return "no-store";
  if (requestCc.noStore) return "request-no-store";
  if (cc.private === true) return "private";
  if (varyFields(response.headers).includes("*")) return "vary-star";
  const shareable = cc.public || cc.sMaxAge !== undefined || cc.mustRevalidate;
  const hasPrivateHeader = options.privateHeaders.some((name) =>
    request.headers.has(name)
  );
  if (hasPrivateHeader && !shareable) return "authorization";
  if (response.headers.has("set-cookie") && !options.storeSetCookie) {
    return "set-cookie";
  }
  const explicit = cc.maxAge !== undefined || cc.sMaxAge !== undefined ||
    response.headers.has("expires");
  if (!explicit && !cc.public && !HEURISTICALLY_CACHEABLE.has(status)) {
    return "status";
  }
  const lifetime = freshnessLifetime(response.headers, cc, options, status);
  const validators = response.headers.has("etag") ||
    response.headers.has("last-modified");
  if (lifetime <= 0 && !validators) return "no-freshness";
  return undefined;
}

/**
 * The freshness lifetime in seconds (RFC 9111 §4.2.1): `s-maxage`, then
 * `max-age`, then `Expires` minus `Date`, then a heuristic of 10% of the time
 * since `Last-Modified` (at most `heuristicMaxTtl`) for heuristically cacheable
 * statuses and `public` answers, then `defaultTtl`.
 *
 * @example
 * ```ts
 * import { freshnessLifetime } from "./policy.ts";
 * const headers = new Headers({ "cache-control": "max-age=60, s-maxage=600" });
 * freshnessLifetime(headers, undefined, { defaultTtl: 0, heuristicMaxTtl: 86400, targetedFields: [] }, 200); // 600
 * ```
 */
export function freshnessLifetime(
  headers: Headers,
  cc: CacheControl | undefined,
  options: Pick<
    PolicyOptions,
    "defaultTtl" | "heuristicMaxTtl" | "targetedFields"
  >,
  status: number,
): number {
  cc ??= responseCacheControl(headers, options.targetedFields);
  if (cc.sMaxAge !== undefined) return cc.sMaxAge;
  if (cc.maxAge !== undefined) return cc.maxAge;
  // Under a targeted field, Expires does not apply (RFC 9213 §2.2).
  const targeted = options.targetedFields.some((field) => headers.has(field)) &&
    governingCacheControl(headers, options.targetedFields).targeted;
  const expiresHeader = targeted ? null : headers.get("expires");
  if (expiresHeader !== null) {
    const expires = parseHttpDate(expiresHeader);
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 §5.3).
    if (expires === undefined) return 0;
    const date = parseHttpDate(headers.get("date")) ?? Date.now();
    return Math.max(0, Math.floor((expires - date) / 1000));
  }
  const lastModified = parseHttpDate(headers.get("last-modified"));
  // RFC 9111 §4.2.2: for heuristically cacheable statuses, and for answers
  // marked cacheable (public) whatever their status.
  if (
    lastModified !== undefined &&
    (HEURISTICALLY_CACHEABLE.has(status) || cc.public)
  ) {
    const date = parseHttpDate(headers.get("date")) ?? Date.now();
    const heuristic = Math.floor(Math.max(0, date - lastModified) / 10_000);
    if (heuristic > 0) return Math.min(heuristic, options.heuristicMaxTtl);
  }
  return options.defaultTtl;
}

/** The times a cache keeps with a stored response to compute its age. */
export interface AgeClock {
  /**
   * When the request that produced it was sent (ms).
   *
   * @example
   * ```ts
   * import { currentAge } from "./policy.ts";
   * // sent at 0, answered at 2 s, read at 10 s: 2 s in transit, 8 s stored
   * currentAge(new Headers(), { requestTime: 0, responseTime: 2000 }, 10_000); // 10
   * ```
   */
  requestTime: number;
  /**
   * When its response was received (ms).
   *
   * @example
   * ```ts
   * import { currentAge } from "./policy.ts";
   * const responseTime = Date.now() - 30_000; // received half a minute ago
   * currentAge(new Headers({ age: "5" }), { requestTime: responseTime, responseTime }, Date.now()); // 35
   * ```
   */
  responseTime: number;
}

/**
 * The current age in seconds (RFC 9111 §4.2.3).
 *
 * @example
 * ```ts
 * import { currentAge } from "./policy.ts";
 * const headers = new Headers({ age: "10" });
 * currentAge(headers, { requestTime: 0, responseTime: 1000 }, 5000); // 15
 * ```
 */
export function currentAge(
  headers: Headers,
  times: AgeClock,
  now: number,
): number {
  return ageFrom(
    ageHeaderValue(headers.get("age")),
    parseHttpDate(headers.get("date")),
    times,
    now,
  );
}

/**
 * The value of an `Age` field in seconds; 0 when absent or malformed, 2^31
 * at most (RFC 9111 §1.2.2). Of a list (several `Age` lines, combined), the
 * first member counts (RFC 9111 §5.1).
 */
export function ageHeaderValue(value: string | null): number {
  const first = value?.split(",", 1)[0];
  return first !== undefined && /^[ \t]*\d+[ \t]*$/.test(first)
    ? Math.min(Number(first), MAX_DELTA_SECONDS)
    : 0;
}

/**
 * {@link currentAge} from values already read: the `Age` field's seconds
 * and the `Date` field in ms (`undefined` when absent or invalid).
 *
 * @example
 * ```ts
 * import { ageFrom } from "./policy.ts";
 * ageFrom(10, undefined, { requestTime: 0, responseTime: 1000 }, 5000); // 15
 * ```
 */
export function ageFrom(
  ageValue: number,
  date: number | undefined,
  times: AgeClock,
  now: number,
): number {
  const apparentAge =
    Math.max(0, times.responseTime - (date ?? times.responseTime)) / 1000;
  const responseDelay = Math.max(0, times.responseTime - times.requestTime) /
    1000;
  const correctedAgeValue = ageValue + responseDelay;
  const correctedInitialAge = Math.max(apparentAge, correctedAgeValue);
  const residentTime = Math.max(0, now - times.responseTime) / 1000;
  // The largest age a cache needs to represent (RFC 9111 §1.2.2).
  return Math.min(
    Math.floor(correctedInitialAge + residentTime),
    MAX_DELTA_SECONDS,
  );
}

/** How a stored response relates to a request. */
export type Usability =
  | { use: "fresh" }
  | { use: "stale-ok" }
  | { use: "stale-while-revalidate" }
  | { use: "validate" };

/** What {@link usability} needs to know about the stored response. */
export interface StoredFreshness {
  /**
   * Current age in seconds.
   *
   * @example
   * ```ts
   * import { usability } from "./policy.ts";
   * usability({ age: 120, lifetime: 60, cc: {} }, {}).use; // "validate": a minute past
   * ```
   */
  age: number;
  /**
   * Freshness lifetime in seconds.
   *
   * @example
   * ```ts
   * import { usability } from "./policy.ts";
   * usability({ age: 120, lifetime: 300, cc: {} }, {}).use; // "fresh"
   * ```
   */
  lifetime: number;
  /**
   * The stored response's governing Cache-Control.
   *
   * @example
   * ```ts
   * import { usability } from "./policy.ts";
   * const cc = { maxAge: 60, staleWhileRevalidate: 30 };
   * usability({ age: 70, lifetime: 60, cc }, {}).use; // "stale-while-revalidate"
   * ```
   */
  cc: CacheControl;
}

/**
 * Whether a stored response can answer a request as it is, only after
 * validation, or stale while a background revalidation runs
 * (RFC 9111 §4.2, §5.2.1, RFC 5861).
 *
 * @example
 * ```ts
 * import { usability } from "./policy.ts";
 * usability({ age: 5, lifetime: 60, cc: {} }, {}).use; // "fresh"
 * usability({ age: 61, lifetime: 60, cc: {} }, { maxStale: true }).use; // "stale-ok"
 * ```
 */
export function usability(
  stored: StoredFreshness,
  requestCc: CacheControl,
): Usability {
  const { age, lifetime, cc } = stored;
  // Response no-cache (bare) always needs validation; with field names the
  // named fields are dropped from the stored copy instead.
  if (cc.noCache === true) return { use: "validate" };
  if (requestCc.noCache) return { use: "validate" };
  if (requestCc.maxAge !== undefined && age > requestCc.maxAge) {
    return { use: "validate" };
  }
  const remaining = lifetime - age;
  if (requestCc.minFresh !== undefined && remaining < requestCc.minFresh) {
    return { use: "validate" };
  }
  if (remaining > 0) return { use: "fresh" };
  const staleness = -remaining;
  if (staleForbidden(cc)) return { use: "validate" };
  if (
    requestCc.maxStale === true ||
    (typeof requestCc.maxStale === "number" && staleness <= requestCc.maxStale)
  ) {
    return { use: "stale-ok" };
  }
  if (
    cc.staleWhileRevalidate !== undefined &&
    staleness <= cc.staleWhileRevalidate
  ) {
    return { use: "stale-while-revalidate" };
  }
  return { use: "validate" };
}

/**
 * Whether a response's directives forbid a shared cache ever to serve it
 * stale (RFC 9111 §4.2.4): `must-revalidate`, `proxy-revalidate`, `s-maxage`
 * (which implies proxy-revalidate, §5.2.2.10) or a bare `no-cache`. No
 * option overrides them.
 *
 * @example
 * ```ts
 * import { staleForbidden } from "./policy.ts";
 * staleForbidden({ maxAge: 60, mustRevalidate: true }); // true
 * staleForbidden({ maxAge: 60 }); // false
 * ```
 */
export function staleForbidden(cc: CacheControl): boolean {
  return cc.mustRevalidate === true || cc.proxyRevalidate === true ||
    cc.sMaxAge !== undefined || cc.noCache === true;
}

/**
 * Whether a stale response may answer a request when the origin failed
 * (RFC 5861 `stale-if-error`, in the response or the request).
 *
 * @example
 * ```ts
 * import { staleIfErrorAllows } from "./policy.ts";
 * staleIfErrorAllows({ age: 70, lifetime: 60, cc: { staleIfError: 30 } }, {}); // true
 * ```
 */
export function staleIfErrorAllows(
  stored: StoredFreshness,
  requestCc: CacheControl,
): boolean {
  const { cc } = stored;
  if (staleForbidden(cc)) return false;
  const staleness = stored.age - stored.lifetime;
  const allowed = Math.max(cc.staleIfError ?? -1, requestCc.staleIfError ?? -1);
  return staleness <= allowed;
}

/**
 * Whether a `200` answer to a HEAD request, with `fields`, describes the
 * stored GET response with `stored` fields and a body of `size` bytes (-1:
 * not known yet), so that it may freshen it (RFC 9111 §4.3.5): each validator
 * it carries (ETag, Last-Modified) and its Content-Length, if it has one,
 * are the stored response's. Any other answer makes the stored one stale.
 *
 * @example
 * ```ts
 * import { headAnswerDescribes } from "./policy.ts";
 * const stored = new Headers({ etag: '"a"' });
 * headAnswerDescribes(stored, 5, new Headers({ etag: '"a"', "content-length": "5" })); // true
 * headAnswerDescribes(stored, 5, new Headers({ etag: '"b"' })); // false
 * headAnswerDescribes(stored, 5, new Headers({ "content-length": "6" })); // false
 * ```
 */
export function headAnswerDescribes(
  stored: Headers,
  size: number,
  fields: Headers,
): boolean {
  const etag = fields.get("etag");
  if (etag !== null && etag.trim() !== stored.get("etag")?.trim()) {
    return false;
  }
  const modified = fields.get("last-modified");
  if (modified !== null) {
    const time = parseHttpDate(modified);
    if (
      time === undefined || time !== parseHttpDate(stored.get("last-modified"))
    ) return false;
  }
  const length = fields.get("content-length")?.trim();
  if (length === undefined) return true;
  const storedLength = size >= 0
    ? String(size)
    : stored.get("content-length")?.trim();
  return length === storedLength;
}

/**
 * Whether a 304 with `fields` is about the stored response with `stored`
 * fields (RFC 9111 §4.3.4), so that it may freshen it: a validator both
 * carry must agree (the ETags, else the Last-Modified dates). A 304 naming
 * another version says nothing of the one stored, and neither does one
 * whose validators the stored response lacks (an ETag on one, only a
 * Last-Modified on the other): it may freshen a response only with one of
 * that response's own validators. One side without any validator at all
 * is taken as agreeing.
 *
 * @example
 * ```ts
 * import { notModifiedApplies } from "./policy.ts";
 * const stored = new Headers({ etag: '"a"' });
 * notModifiedApplies(stored, new Headers({ etag: '"a"' })); // true
 * notModifiedApplies(stored, new Headers({ etag: '"b"' })); // false
 * notModifiedApplies(stored, new Headers({ "last-modified": "Mon, 06 Jan 2025 12:00:00 GMT" })); // false
 * notModifiedApplies(stored, new Headers()); // true
 * ```
 */
export function notModifiedApplies(stored: Headers, fields: Headers): boolean {
  const etag = fields.get("etag");
  const storedEtag = stored.get("etag");
  if (etag !== null && storedEtag !== null) return weakMatch(etag, storedEtag);
  const modified = fields.get("last-modified");
  const storedModified = stored.get("last-modified");
  if (modified !== null && storedModified !== null) {
    return parseHttpDate(modified) === parseHttpDate(storedModified);
  }
  // No validator in common: only a side without any says nothing against it.
  return (etag === null && modified === null) ||
    (storedEtag === null && storedModified === null);
}
