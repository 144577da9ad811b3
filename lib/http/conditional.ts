/**
 * Conditional GET for handlers that render their own responses (Rails'
 * `fresh_when` / `stale?`): skip rendering when the client already holds the
 * current version, and put validators on what is rendered.
 *
 * @module
 */
import { formatHttpDate, parseHttpDate } from "./http_date.ts";
import { isETag } from "./etag.ts";
import {
  type ConditionalRequest,
  evaluatePreconditions,
} from "./preconditions.ts";

/**
 * Thrown when a validator given to {@link freshWhen} is malformed.
 *
 * @example
 * ```ts
 * import { freshWhen, InvalidValidatorError } from "./conditional.ts";
 * try {
 *   await freshWhen(new Request("http://localhost/"), { etag: "v1" }); // not quoted
 * } catch (error) {
 *   if (error instanceof InvalidValidatorError) console.log(error.validator); // "etag"
 * }
 * ```
 */
export class InvalidValidatorError extends TypeError {
  /** Which validator: `"etag"` or `"lastModified"`. */
  readonly validator: string;
  /** The value given. */
  readonly value: unknown;
  /** Describes which validator was malformed. */
  constructor(validator: string, value: unknown, reason: string) {
    super(`freshWhen ${validator}: ${reason} (got ${String(value)})`);
    this.name = "InvalidValidatorError";
    this.validator = validator;
    this.value = value;
  }
}

/** The validators and caching policy of the current version of a resource. */
export interface FreshWhenOptions {
  /**
   * The current entity-tag, quoted (`'"v1"'` or `'W/"v1"'`), e.g. from
   * {@link etagFor}. Default: none.
   *
   * @example
   * ```ts
   * import { freshWhen } from "./conditional.ts";
   * const request = new Request("http://localhost/", { headers: { "if-none-match": '"v7"' } });
   * const response = await freshWhen(request, { etag: '"v7"' }, () => new Response("page"));
   * response.status; // 304
   * ```
   */
  etag?: string;
  /**
   * When the resource last changed: a `Date`, milliseconds since the epoch or
   * an HTTP date. Sub-second parts are dropped, as HTTP dates have none.
   * Default: none.
   *
   * @example
   * ```ts
   * import { freshWhen } from "./conditional.ts";
   * const handler = (request: Request) =>
   *   freshWhen(request, { lastModified: new Date("2025-06-01T12:00:00Z") }, () => new Response("page"));
   * ```
   */
  lastModified?: Date | number | string;
  /**
   * Let shared caches store the response: Cache-Control `public, no-cache`
   * instead of `private, no-cache`. Ignored when `cacheControl` is given.
   * Default `false`.
   *
   * @example
   * ```ts
   * import { freshWhen } from "./conditional.ts";
   * const response = await freshWhen(new Request("http://localhost/"), { etag: '"v1"', public: true }, () => new Response("page"));
   * response.headers.get("cache-control"); // "public, no-cache"
   * ```
   */
  public?: boolean;
  /**
   * The Cache-Control value to send, e.g. `expiresIn(60)`. Default: keep the
   * rendered response's own Cache-Control if it has one, else
   * `private, no-cache` (or `public, no-cache`), so clients revalidate each
   * time instead of reusing it by heuristic freshness. A 304 is answered
   * without calling `render`, so it carries this value or the default: when
   * `render` sets its own Cache-Control, pass the same value here, or shared
   * caches that update their copy from the 304 (RFC 9111 §4.3.4) take the
   * default instead.
   *
   * @example
   * ```ts
   * import { expiresIn } from "./cache_control.ts";
   * import { freshWhen } from "./conditional.ts";
   * const response = await freshWhen(new Request("http://localhost/"), { etag: '"v1"', cacheControl: expiresIn(60) }, () => new Response("page"));
   * response.headers.get("cache-control"); // "max-age=60, private"
   * ```
   */
  cacheControl?: string;
}

/** Validator headers for the options; throws on malformed ones. */
function validatorHeaders(options: FreshWhenOptions): Headers {
  const headers = new Headers();
  if (options.etag !== undefined) {
    if (!isETag(options.etag)) {
      throw new InvalidValidatorError(
        "etag",
        options.etag,
        'an entity-tag is quoted: "v1" or W/"v1" (etagFor makes one)',
      );
    }
    headers.set("etag", options.etag);
  }
  const lastModified = options.lastModified;
  if (lastModified !== undefined) {
    const ms = typeof lastModified === "string"
      ? parseHttpDate(lastModified)
      : typeof lastModified === "number"
      ? lastModified
      : lastModified.getTime();
    let formatted: string | undefined;
    try {
      if (ms !== undefined) formatted = formatHttpDate(ms);
    } catch { /* not finite, or a year an HTTP date cannot hold */ }
    if (formatted === undefined) {
      throw new InvalidValidatorError(
        "lastModified",
        lastModified,
        "not a valid date (years 0 to 9999)",
      );
    }
    headers.set("last-modified", formatted);
  }
  return headers;
}

function cacheControlFor(options: FreshWhenOptions): string {
  return options.cacheControl ??
    (options.public ? "public, no-cache" : "private, no-cache");
}

/** Sets headers on a response, copying it first if its headers are immutable. */
function withHeaders(
  response: Response,
  headers: Headers,
  cacheControl: string | undefined,
): Response {
  let target = response;
  try {
    headers.forEach((value, name) => target.headers.set(name, value));
  } catch {
    target = new Response(response.body, response);
    headers.forEach((value, name) => target.headers.set(name, value));
  }
  if (cacheControl !== undefined) {
    target.headers.set("cache-control", cacheControl);
  }
  return target;
}

/**
 * Whether the handler must render: `true` unless the request's conditional
 * headers show the client already has this version (a 304) or a precondition
 * failed (a 412). The inverse of {@link freshWhen}'s early return.
 *
 * @throws {InvalidValidatorError} when `etag` or `lastModified` is malformed.
 *
 * @example
 * ```ts
 * import { isStale } from "./conditional.ts";
 * const request = new Request("http://x/", {
 *   headers: { "if-none-match": '"v1"' },
 * });
 * isStale(request, { etag: '"v1"' }); // false: answer 304
 * isStale(request, { etag: '"v2"' }); // true: render
 * ```
 */
export function isStale(
  request: ConditionalRequest,
  validators: FreshWhenOptions,
): boolean {
  return evaluatePreconditions(request, validatorHeaders(validators)) ===
    undefined;
}

/**
 * Answers a conditional request, or renders.
 *
 * When the request's `If-None-Match` / `If-Modified-Since` show the client
 * already has the current version, returns `304 Not Modified` with the
 * validators and Cache-Control and no body (only for GET and HEAD). When
 * `If-Match` / `If-Unmodified-Since` fail, or `If-None-Match` matches an
 * unsafe method, returns `412 Precondition Failed`. Otherwise returns
 * `render()`'s response with the validators and Cache-Control set on it
 * (left as rendered when its status is not 2xx), or `undefined` when there
 * is no `render`. See {@link evaluatePreconditions} for the rules.
 *
 * @throws {InvalidValidatorError} when `etag` or `lastModified` is malformed.
 *
 * @example
 * ```ts
 * import { freshWhen } from "./conditional.ts";
 * import { etagFor } from "./etag.ts";
 * const post = { id: 1, title: "Hello", updatedAt: 1700000000000 };
 * const handler = (request: Request) =>
 *   freshWhen(
 *     request,
 *     { etag: etagFor(post), lastModified: post.updatedAt },
 *     () => Response.json(post),
 *   );
 * ```
 */
export function freshWhen(
  request: ConditionalRequest,
  options: FreshWhenOptions,
  render: () => Response | Promise<Response>,
): Promise<Response>;
/**
 * Without `render`: the 304 or 412 response, or `undefined` when the handler
 * should render (and set the validators itself).
 *
 * @example
 * ```ts
 * import { freshWhen } from "./conditional.ts";
 * const handler = async (request: Request) =>
 *   await freshWhen(request, { etag: '"v1"' }) ??
 *     new Response("body", { headers: { etag: '"v1"' } });
 * ```
 */
export function freshWhen(
  request: ConditionalRequest,
  options: FreshWhenOptions,
): Promise<Response | undefined>;
export async function freshWhen(
  request: ConditionalRequest,
  options: FreshWhenOptions,
  render?: () => Response | Promise<Response>,
): Promise<Response | undefined> {
  const validators = validatorHeaders(options);
  const result = evaluatePreconditions(request, validators);
  if (result === "not-modified") {
    // RFC 9110 §15.4.5: a 304 carries the fields a 200 would have for caches.
    validators.set("cache-control", cacheControlFor(options));
    return new Response(null, { status: 304, headers: validators });
  }
  if (result === "precondition-failed") {
    return new Response(null, { status: 412, headers: validators });
  }
  if (!render) return undefined;
  const response = await render();
  if (response.status < 200 || response.status > 299) return response;
  const cacheControl = options.cacheControl === undefined &&
      response.headers.has("cache-control")
    ? undefined
    : cacheControlFor(options);
  return withHeaders(response, validators, cacheControl);
}
