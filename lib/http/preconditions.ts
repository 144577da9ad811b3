/**
 * Conditional requests (RFC 9110 §13): given a request's conditional headers
 * and the validators of the representation it would get, decide between
 * proceeding, `304 Not Modified` and `412 Precondition Failed`, in the order
 * RFC 9110 §13.2.2 prescribes.
 *
 * The same function serves application handlers ({@link freshWhen}) and the
 * shared cache answering conditional requests from stored responses.
 *
 * @module
 */
import { parseHttpDate } from "./http_date.ts";
import { parseETagList, strongMatch, weakMatch } from "./etag.ts";

/** The parts of a request that preconditions read: a `Request` will do. */
export interface ConditionalRequest {
  /**
   * The request method, e.g. `"GET"`.
   *
   * @example
   * ```ts
   * import { evaluatePreconditions } from "./preconditions.ts";
   * const request = { method: "PUT", headers: new Headers({ "if-match": '"v1"' }) };
   * evaluatePreconditions(request, { etag: '"v2"' }); // "precondition-failed"
   * ```
   */
  readonly method: string;
  /**
   * The request headers (`If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`).
   *
   * @example
   * ```ts
   * import { evaluatePreconditions } from "./preconditions.ts";
   * const request = { method: "GET", headers: new Headers({ "if-none-match": '"v1"' }) };
   * evaluatePreconditions(request, { etag: '"v1"' }); // "not-modified"
   * ```
   */
  readonly headers: Headers;
}

/**
 * The validators of the selected representation, as response headers would
 * carry them. `Headers`, a plain record or any `{ get(name) }` will do.
 */
export type ValidatorHeaders =
  | { get(name: string): string | null }
  | Record<string, string | undefined>;

/** Options of {@link evaluatePreconditions}. */
export interface PreconditionOptions {
  /**
   * The representation is a cache's stored response (RFC 9111 §4.3.2):
   * without `Last-Modified`, `If-Modified-Since` is compared with its
   * `Date` (a cache gives each stored response one: when it was received).
   * Default `false`.
   *
   * @example
   * ```ts
   * import { evaluatePreconditions } from "./preconditions.ts";
   * const date = "Mon, 01 Dec 2025 00:00:00 GMT";
   * const request = new Request("http://x/", { headers: { "if-modified-since": date } });
   * evaluatePreconditions(request, { date }, { fromCache: true }); // "not-modified"
   * ```
   */
  fromCache?: boolean;
}

/** What {@link evaluatePreconditions} decided. */
export type PreconditionResult =
  | "not-modified"
  | "precondition-failed"
  | undefined;

/** Reads one header from `Headers`, a `{ get }` or a record (case-insensitive). */
export function _header(
  headers: ValidatorHeaders,
  name: string,
): string | null {
  if (typeof headers.get === "function") {
    return (headers as { get(name: string): string | null }).get(name);
  }
  const record = headers as Record<string, string | undefined>;
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() === name) return record[key] ?? null;
  }
  return null;
}

/**
 * Evaluates a request's preconditions against the selected representation's
 * validators (`ETag`, `Last-Modified`), in RFC 9110 §13.2.2 order:
 *
 * 1. `If-Match` (strong comparison; `*` matches any current representation),
 *    else `If-Unmodified-Since`: false → `"precondition-failed"`.
 * 2. `If-None-Match` (weak comparison; `*` matches any): false →
 *    `"not-modified"` for GET and HEAD, `"precondition-failed"` otherwise.
 * 3. Else, for GET and HEAD only, `If-Modified-Since`: not modified since →
 *    `"not-modified"`.
 * 4. Otherwise `undefined`: proceed (render the response, or apply `If-Range`).
 *
 * Dates that cannot be parsed are ignored (the header is treated as absent),
 * as are date conditions on a representation without `Last-Modified`
 * (except `If-Modified-Since` on a stored response: `options.fromCache`).
 * `validators` describes an existing representation; when there is none
 * (a 404), do not call this.
 *
 * @example
 * ```ts
 * import { evaluatePreconditions } from "./preconditions.ts";
 * const request = new Request("http://x/", {
 *   headers: { "if-none-match": 'W/"v1"' },
 * });
 * evaluatePreconditions(request, { etag: '"v1"' }); // "not-modified"
 * ```
 */
export function evaluatePreconditions(
  request: ConditionalRequest,
  validators: ValidatorHeaders,
  options: PreconditionOptions = {},
): PreconditionResult {
  const method = request.method.toUpperCase();
  const safe = method === "GET" || method === "HEAD";
  const headers = request.headers;
  const etag = _header(validators, "etag");
  const lastModified = parseHttpDate(_header(validators, "last-modified"));

  const ifMatch = headers.get("if-match");
  if (ifMatch !== null) {
    const tags = parseETagList(ifMatch);
    const matched = tags === "*" ||
      (etag !== null && tags.some((tag) => strongMatch(tag, etag)));
    if (!matched) return "precondition-failed";
  } else {
    const since = parseHttpDate(headers.get("if-unmodified-since"));
    if (
      since !== undefined && lastModified !== undefined && lastModified > since
    ) {
      return "precondition-failed";
    }
  }

  const ifNoneMatch = headers.get("if-none-match");
  if (ifNoneMatch !== null) {
    const tags = parseETagList(ifNoneMatch);
    const matched = tags === "*" ||
      (etag !== null && tags.some((tag) => weakMatch(tag, etag)));
    if (matched) return safe ? "not-modified" : "precondition-failed";
    return undefined;
  }

  if (safe) {
    const since = parseHttpDate(headers.get("if-modified-since"));
    if (since !== undefined) {
      const modified = lastModified ??
        (options.fromCache
          ? parseHttpDate(_header(validators, "date"))
          : undefined);
      if (modified !== undefined && modified <= since) return "not-modified";
    }
  }
  return undefined;
}
