/**
 * Cache-Control (RFC 9111 §5.2): a typed parse / format pair that a shared
 * cache can make decisions on, and the `expiresIn` / `expiresNow` / `noStore`
 * helpers that application code puts on its responses.
 *
 * Parsing is total: any string (or `null`) yields a {@link CacheControl} and
 * nothing throws. The choices made where the RFC leaves room:
 *
 * - **Invalid delta-seconds** (`max-age=abc`, `max-age=-1`, `max-age=` with no
 *   value, `s-maxage=1.5`) become `0`, so the response is treated as stale,
 *   as RFC 9111 §4.2.1 encourages. This applies to `max-age`, `s-maxage`,
 *   `stale-while-revalidate`, `stale-if-error` and `min-fresh`; an invalid
 *   `max-stale` value is read as plain `max-stale` would be too permissive, so
 *   it becomes `0` as well.
 * - **Huge delta-seconds** are capped at 2147483648 (2^31, RFC 9111 §1.2.2).
 * - **Quoted values** (`max-age="60"`) are accepted like tokens.
 * - **Duplicates** keep the most restrictive value (RFC 9111 §4.2.1): the
 *   smallest `max-age`, `s-maxage`, `max-stale`, `stale-while-revalidate` and
 *   `stale-if-error`, the largest `min-fresh`; a bare `no-cache` / `private`
 *   beats a field-name list, and field-name lists are merged (past 256
 *   distinct names, read as bare). Duplicate extensions keep their first
 *   value.
 * - **Names** are case-insensitive and stored lowercased; junk between
 *   directives is skipped up to the next comma outside a quoted string.
 *   Whitespace around `=` (`max-age = 60`) makes a member junk, as the
 *   grammar allows none there.
 * - **Malformed members fail closed:** a member with junk in it
 *   (`no-store; no-cache`, `private junk`, or a quote never closed, which
 *   takes the rest of the field with it) is dropped, except that each of
 *   `no-store`, `no-cache`, `private`, `must-revalidate` and
 *   `proxy-revalidate` it names counts, bare. Malformed input can make a
 *   response less cacheable, never more, so a typo cannot leak a private
 *   answer to other users.
 *
 * @module
 */
import { fieldTokens } from "./field_tokens.ts";
import { parseDictionary } from "./structured_fields.ts";

/** The largest delta-seconds a recipient has to represent (RFC 9111 §1.2.2). */
export const MAX_DELTA_SECONDS = 2147483648;

/**
 * Parsed Cache-Control directives, request and response ones alike
 * (RFC 9111 §5.2). Absent directives are `undefined`.
 */
export interface CacheControl {
  /**
   * `max-age`: seconds the response stays fresh / the oldest the client accepts.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 600 }); // "max-age=600"
   * ```
   */
  maxAge?: number;
  /**
   * `s-maxage`: `max-age` for shared caches only (response).
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, sMaxAge: 600 }); // "max-age=60, s-maxage=600"
   * ```
   */
  sMaxAge?: number;
  /**
   * `no-cache`: `true` when bare (revalidate before every reuse), or the
   * lowercased field names that must not be sent without revalidation.
   *
   * @example
   * ```ts
   * import { formatCacheControl, parseCacheControl } from "./cache_control.ts";
   * formatCacheControl({ noCache: ["set-cookie"] }); // 'no-cache="set-cookie"'
   * parseCacheControl("no-cache").noCache; // true
   * ```
   */
  noCache?: true | string[];
  /**
   * `no-store`: do not store any part of the request or response.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ noStore: true }); // "no-store"
   * ```
   */
  noStore?: boolean;
  /**
   * `private`: `true` when bare (a shared cache must not store it), or the
   * lowercased field names a shared cache must not store (response).
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, private: true }); // "max-age=60, private"
   * ```
   */
  private?: true | string[];
  /**
   * `public`: a shared cache may store it even when it normally would not.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 3600, public: true }); // "max-age=3600, public"
   * ```
   */
  public?: boolean;
  /**
   * `must-revalidate`: never serve stale without validating (response).
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, mustRevalidate: true }); // "max-age=60, must-revalidate"
   * ```
   */
  mustRevalidate?: boolean;
  /**
   * `proxy-revalidate`: `must-revalidate` for shared caches (response).
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, proxyRevalidate: true }); // "max-age=60, proxy-revalidate"
   * ```
   */
  proxyRevalidate?: boolean;
  /**
   * `must-understand`: store only if the status code is understood (response).
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ noStore: true, mustUnderstand: true }); // "no-store, must-understand"
   * ```
   */
  mustUnderstand?: boolean;
  /**
   * `no-transform`: intermediaries must not transform the content.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, noTransform: true }); // "max-age=60, no-transform"
   * ```
   */
  noTransform?: boolean;
  /**
   * `immutable` (RFC 8246): the content never changes while fresh (response).
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 31536000, immutable: true }); // "max-age=31536000, immutable"
   * ```
   */
  immutable?: boolean;
  /**
   * `max-stale` (request): `true` when bare (any staleness is acceptable), or
   * the number of seconds of staleness the client accepts.
   *
   * @example
   * ```ts
   * import { parseCacheControl } from "./cache_control.ts";
   * parseCacheControl("max-stale=120").maxStale; // 120
   * parseCacheControl("max-stale").maxStale; // true
   * ```
   */
  maxStale?: true | number;
  /**
   * `min-fresh` (request): seconds the response must stay fresh for.
   *
   * @example
   * ```ts
   * import { parseCacheControl } from "./cache_control.ts";
   * parseCacheControl("min-fresh=30").minFresh; // 30
   * ```
   */
  minFresh?: number;
  /**
   * `only-if-cached` (request): answer from the cache or with 504.
   *
   * @example
   * ```ts
   * import { parseCacheControl } from "./cache_control.ts";
   * parseCacheControl("only-if-cached").onlyIfCached; // true
   * ```
   */
  onlyIfCached?: boolean;
  /**
   * `stale-while-revalidate` (RFC 5861): seconds stale may be served while revalidating.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, staleWhileRevalidate: 30 }); // "max-age=60, stale-while-revalidate=30"
   * ```
   */
  staleWhileRevalidate?: number;
  /**
   * `stale-if-error` (RFC 5861): seconds stale may be served when the origin fails.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, staleIfError: 86400 }); // "max-age=60, stale-if-error=86400"
   * ```
   */
  staleIfError?: number;
  /**
   * Directives this module does not know, by lowercased name: `true` when
   * bare, else the (unquoted) argument. Kept so a cache can pass them on.
   *
   * @example
   * ```ts
   * import { formatCacheControl } from "./cache_control.ts";
   * formatCacheControl({ maxAge: 60, extensions: { community: "UCI" } }); // "max-age=60, community=UCI"
   * ```
   */
  extensions?: Record<string, string | true>;
}

type DeltaField =
  | "maxAge"
  | "sMaxAge"
  | "minFresh"
  | "staleWhileRevalidate"
  | "staleIfError";
type FlagField =
  | "noStore"
  | "public"
  | "mustRevalidate"
  | "proxyRevalidate"
  | "mustUnderstand"
  | "noTransform"
  | "immutable"
  | "onlyIfCached";

const DELTA: Record<string, DeltaField> = {
  "max-age": "maxAge",
  "s-maxage": "sMaxAge",
  "min-fresh": "minFresh",
  "stale-while-revalidate": "staleWhileRevalidate",
  "stale-if-error": "staleIfError",
};
const FLAG: Record<string, FlagField> = {
  "no-store": "noStore",
  "public": "public",
  "must-revalidate": "mustRevalidate",
  "proxy-revalidate": "proxyRevalidate",
  "must-understand": "mustUnderstand",
  "no-transform": "noTransform",
  "immutable": "immutable",
  "only-if-cached": "onlyIfCached",
};

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/i;

function isTchar(code: number): boolean {
  // ALPHA / DIGIT / "!#$%&'*+-.^_`|~" (RFC 9110 §5.6.2)
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) || "!#$%&'*+-.^_`|~".includes(
      String.fromCharCode(code),
    );
}

/** Reads delta-seconds; `0` (stale) when invalid, capped at 2^31. */
function parseDelta(argument: string | undefined): number {
  if (argument === undefined || !/^\d+$/.test(argument)) return 0;
  const digits = argument.replace(/^0+(?=\d)/, "");
  if (digits.length > 10) return MAX_DELTA_SECONDS;
  return Math.min(Number(digits), MAX_DELTA_SECONDS);
}

function parseFieldNames(argument: string): string[] {
  return fieldTokens(argument).filter((name) => TCHAR.test(name));
}

/** Field names a `no-cache` or `private` list may hold; more read as bare. */
const MAX_FIELD_NAMES = 256;

function mergeNames(
  previous: true | string[] | undefined,
  argument: string | undefined,
): true | string[] {
  if (previous === true || argument === undefined) return true;
  const names = parseFieldNames(argument);
  // `no-cache=""` names nothing; read it as bare, the restrictive reading.
  if (names.length === 0) return true;
  // Added in place, each name checked against at most 256: a header naming
  // thousands of fields must cost linear time. Past 256, the list is read
  // as bare: dropping names would store or send fields it forbids.
  const merged = previous ?? [];
  for (const name of names) {
    if (merged.includes(name)) continue;
    if (merged.length >= MAX_FIELD_NAMES) return true;
    merged.push(name);
  }
  return merged;
}

/**
 * Parses a Cache-Control header value. Never throws; see the module
 * documentation for how malformed and duplicate directives are read.
 *
 * @example
 * ```ts
 * import { parseCacheControl } from "./cache_control.ts";
 * const cc = parseCacheControl('max-age=60, no-cache="set-cookie", x-y=1');
 * cc.maxAge; // 60
 * cc.noCache; // ["set-cookie"]
 * cc.extensions; // { "x-y": "1" }
 * ```
 */
export function parseCacheControl(
  value: string | null | undefined,
): CacheControl {
  const cc: CacheControl = {};
  if (!value) return cc;
  const text = String(value);
  const length = text.length;
  let i = 0;
  while (i < length) {
    // Skip separators and whitespace before a directive name.
    let code = text.charCodeAt(i);
    if (code === 0x2c || code === 0x20 || code === 0x09) {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < length && isTchar(text.charCodeAt(i))) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    let argument: string | undefined;
    let valid = name.length > 0;
    // No whitespace around "=" (RFC 9111 §5.2): `max-age = 60` is junk.
    if (valid && text[i] === "=") {
      i++;
      if (text[i] === '"') {
        // quoted-string with backslash escapes
        let out = "";
        i++;
        while (i < length && text[i] !== '"') {
          if (text[i] === "\\" && i + 1 < length) i++;
          out += text[i++];
        }
        if (i >= length) {
          // Unclosed: it swallowed the rest of the field, whose restrictive
          // directives (`private="x, no-store`) still count.
          applyRestrictive(cc, text.slice(nameStart));
          break;
        }
        i++;
        argument = out;
      } else {
        const start = i;
        while (i < length && isTchar(text.charCodeAt(i))) i++;
        argument = text.slice(start, i);
      }
    }
    // Anything else before the next comma is junk: the directive is dropped.
    while (i < length && (text[i] === " " || text[i] === "\t")) i++;
    if (i < length && text[i] !== ",") {
      valid = false;
      let quoted = false;
      while (i < length && (quoted || text[i] !== ",")) {
        code = text.charCodeAt(i);
        if (code === 0x22) quoted = !quoted;
        else if (code === 0x5c && quoted) i++;
        i++;
      }
      applyRestrictive(cc, text.slice(nameStart, i));
    }
    if (valid) applyDirective(cc, name, argument);
  }
  return cc;
}

/**
 * Parses a targeted cache-control field such as `CDN-Cache-Control`
 * (RFC 9213 §2.1): a Dictionary Structured Field whose members are cache
 * directives, typed as RFC 9213 infers (delta-seconds an Integer, flags
 * Boolean true, `no-cache` and `private` Boolean true or a String of field
 * names; parameters ignored). `undefined` when the field is to be ignored
 * as if absent: empty, not a valid Dictionary, or a known directive with a
 * value of another type (`max-age="60"`, `max-age=1.5`), which RFC 9213
 * says not to consume; the cache then falls back to `Cache-Control`.
 * Unknown directives keep their values as extensions.
 *
 * @example
 * ```ts
 * import { parseTargetedCacheControl } from "./cache_control.ts";
 * parseTargetedCacheControl("max-age=60, must-revalidate")?.maxAge; // 60
 * parseTargetedCacheControl('no-cache="set-cookie"')?.noCache; // ["set-cookie"]
 * parseTargetedCacheControl("max-age=60, &&&"); // undefined
 * parseTargetedCacheControl('max-age="60"'); // undefined
 * ```
 */
export function parseTargetedCacheControl(
  value: string | null | undefined,
): CacheControl | undefined {
  const members = value ? parseDictionary(value) : undefined;
  if (!members || members.size === 0) return undefined;
  const cc: CacheControl = {};
  for (const [name, member] of members) {
    const item = "item" in member ? member.item : undefined;
    const isTrue = item?.type === "boolean" && item.value;
    if (Object.hasOwn(DELTA, name)) {
      if (item?.type !== "integer" || item.value < 0) return undefined;
      applyDirective(cc, name, String(item.value));
    } else if (Object.hasOwn(FLAG, name)) {
      if (!isTrue) return undefined;
      applyDirective(cc, name, undefined);
    } else if (name === "no-cache" || name === "private") {
      if (!isTrue && item?.type !== "string") return undefined;
      applyDirective(cc, name, isTrue ? undefined : String(item!.value));
    } else if (item && item.type !== "boolean" && item.type !== "binary") {
      applyDirective(cc, name, String(item.value));
    } else if (isTrue) applyDirective(cc, name, undefined);
  }
  return cc;
}

/**
 * Adds to `cc`, bare, each restrictive directive (`no-store`, `no-cache`,
 * `private`, `must-revalidate`, `proxy-revalidate`) that `text` names: what
 * a field too malformed to read (a targeted field that fails to parse) still
 * says, as malformed input may make a response less cacheable, never more.
 *
 * @example
 * ```ts
 * import { addRestrictiveDirectives, parseCacheControl } from "./cache_control.ts";
 * addRestrictiveDirectives(parseCacheControl("max-age=60"), "no-store=1").noStore; // true
 * ```
 */
export function addRestrictiveDirectives(
  cc: CacheControl,
  text: string,
): CacheControl {
  applyRestrictive(cc, text);
  return cc;
}

/** Directives a malformed member still counts as, bare: each only restricts. */
const RESTRICTIVE = new Set([
  "no-store",
  "no-cache",
  "private",
  "must-revalidate",
  "proxy-revalidate",
]);

/** Applies, bare, each restrictive directive that the malformed `member` names. */
function applyRestrictive(cc: CacheControl, member: string): void {
  for (const word of member.toLowerCase().split(/[^a-z-]+/)) {
    if (RESTRICTIVE.has(word)) applyDirective(cc, word, undefined);
  }
}

function applyDirective(
  cc: CacheControl,
  name: string,
  argument: string | undefined,
): void {
  const delta = DELTA[name];
  if (delta !== undefined && Object.hasOwn(DELTA, name)) {
    const seconds = parseDelta(argument);
    const previous = cc[delta];
    cc[delta] = previous === undefined
      ? seconds
      : delta === "minFresh"
      ? Math.max(previous, seconds)
      : Math.min(previous, seconds);
    return;
  }
  const flag = FLAG[name];
  if (flag !== undefined && Object.hasOwn(FLAG, name)) {
    cc[flag] = true;
    return;
  }
  switch (name) {
    case "no-cache":
      cc.noCache = mergeNames(cc.noCache, argument);
      return;
    case "private":
      cc.private = mergeNames(cc.private, argument);
      return;
    case "max-stale": {
      const seconds = argument === undefined ? true : parseDelta(argument);
      const previous = cc.maxStale;
      cc.maxStale = previous === undefined || previous === true
        ? seconds
        : seconds === true
        ? previous
        : Math.min(previous, seconds);
      return;
    }
  }
  cc.extensions ??= {};
  if (!Object.hasOwn(cc.extensions, name)) {
    // defineProperty, so a directive named `__proto__` stays a plain key.
    Object.defineProperty(cc.extensions, name, {
      value: argument ?? true,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
}

/**
 * Thrown by {@link formatCacheControl} for values that cannot be sent.
 *
 * @example
 * ```ts
 * import { formatCacheControl, InvalidCacheControlError } from "./cache_control.ts";
 * try {
 *   formatCacheControl({ maxAge: -1 });
 * } catch (error) {
 *   if (error instanceof InvalidCacheControlError) console.log(error.directive); // "max-age"
 * }
 * ```
 */
export class InvalidCacheControlError extends TypeError {
  /** The directive that could not be formatted. */
  readonly directive: string;
  /** The offending value. */
  readonly value: unknown;
  /** Describes which directive had which bad value. */
  constructor(directive: string, value: unknown, reason: string) {
    super(`Cache-Control ${directive}: ${reason} (got ${String(value)})`);
    this.name = "InvalidCacheControlError";
    this.directive = directive;
    this.value = value;
  }
}

function formatDelta(directive: string, seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new InvalidCacheControlError(
      directive,
      seconds,
      "delta-seconds must be a non-negative integer",
    );
  }
  return `${directive}=${Math.min(seconds, MAX_DELTA_SECONDS)}`;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, "\\$&")}"`;
}

function formatNames(directive: string, value: true | string[]): string {
  if (value === true) return directive;
  for (const name of value) {
    if (!TCHAR.test(name)) {
      throw new InvalidCacheControlError(directive, name, "not a field name");
    }
  }
  return value.length === 0
    ? directive
    : `${directive}=${quote(value.join(", "))}`;
}

/**
 * Formats directives as a Cache-Control value, in a fixed order (`max-age`
 * first, then `public` / `private`, then the rest, extensions last). For any
 * `cc` it accepts, `parseCacheControl(formatCacheControl(cc))` equals `cc`
 * (with names lowercased and empty lists read back as bare directives).
 *
 * @throws {InvalidCacheControlError} for negative or fractional seconds and
 * names that are not tokens.
 *
 * @example
 * ```ts
 * import { formatCacheControl } from "./cache_control.ts";
 * formatCacheControl({ maxAge: 60, public: true, immutable: true });
 * // "max-age=60, public, immutable"
 * ```
 */
export function formatCacheControl(cc: CacheControl): string {
  const parts: string[] = [];
  if (cc.maxAge !== undefined) parts.push(formatDelta("max-age", cc.maxAge));
  if (cc.sMaxAge !== undefined) parts.push(formatDelta("s-maxage", cc.sMaxAge));
  if (cc.public) parts.push("public");
  if (cc.private) parts.push(formatNames("private", cc.private));
  if (cc.noCache) parts.push(formatNames("no-cache", cc.noCache));
  if (cc.noStore) parts.push("no-store");
  if (cc.mustRevalidate) parts.push("must-revalidate");
  if (cc.proxyRevalidate) parts.push("proxy-revalidate");
  if (cc.mustUnderstand) parts.push("must-understand");
  if (cc.noTransform) parts.push("no-transform");
  if (cc.immutable) parts.push("immutable");
  if (cc.staleWhileRevalidate !== undefined) {
    parts.push(formatDelta("stale-while-revalidate", cc.staleWhileRevalidate));
  }
  if (cc.staleIfError !== undefined) {
    parts.push(formatDelta("stale-if-error", cc.staleIfError));
  }
  if (cc.maxStale === true) parts.push("max-stale");
  else if (cc.maxStale !== undefined) {
    parts.push(formatDelta("max-stale", cc.maxStale));
  }
  if (cc.minFresh !== undefined) {
    parts.push(formatDelta("min-fresh", cc.minFresh));
  }
  if (cc.onlyIfCached) parts.push("only-if-cached");
  for (const [name, value] of Object.entries(cc.extensions ?? {})) {
    if (!TCHAR.test(name)) {
      throw new InvalidCacheControlError(name, value, "not a directive name");
    }
    if (value === true) parts.push(name.toLowerCase());
    else {
      parts.push(
        `${name.toLowerCase()}=${TCHAR.test(value) ? value : quote(value)}`,
      );
    }
  }
  return parts.join(", ");
}

/** Options for {@link expiresIn}: any directive beside `max-age`. */
export interface ExpiresInOptions
  extends Omit<CacheControl, "maxAge" | "public" | "private" | "noStore"> {
  /**
   * `public` instead of `private`, so shared caches may store it. Default `false`.
   *
   * @example
   * ```ts
   * import { expiresIn } from "./cache_control.ts";
   * expiresIn(600, { public: true }); // "max-age=600, public"
   * expiresIn(600); // "max-age=600, private"
   * ```
   */
  public?: boolean;
}

/**
 * A Cache-Control value that lets clients reuse the response for `seconds`:
 * `max-age=N, private` by default, `public` on request, plus any other
 * directive (`mustRevalidate`, `staleWhileRevalidate`, `staleIfError`,
 * `immutable`, `sMaxAge`, `extensions`, …).
 *
 * @throws {InvalidCacheControlError} when `seconds` is negative or fractional.
 *
 * @example
 * ```ts
 * import { expiresIn } from "./cache_control.ts";
 * new Response("hi", { headers: { "cache-control": expiresIn(60) } });
 * expiresIn(3600, { public: true, staleWhileRevalidate: 30 });
 * // "max-age=3600, public, stale-while-revalidate=30"
 * ```
 */
export function expiresIn(
  seconds: number,
  options: ExpiresInOptions = {},
): string {
  const { public: isPublic = false, ...rest } = options;
  return formatCacheControl({
    ...rest,
    maxAge: seconds,
    ...(isPublic ? { public: true } : { private: true }),
  });
}

/**
 * A Cache-Control value that makes clients revalidate before every reuse:
 * `no-cache`, like Rails' `expires_now`. Validators still allow 304s.
 *
 * @example
 * ```ts
 * import { expiresNow } from "./cache_control.ts";
 * new Response("hi", { headers: { "cache-control": expiresNow() } });
 * ```
 */
export function expiresNow(): string {
  return "no-cache";
}

/**
 * A Cache-Control value that forbids storing the response anywhere:
 * `no-store`.
 *
 * @example
 * ```ts
 * import { noStore } from "./cache_control.ts";
 * new Response("secret", { headers: { "cache-control": noStore() } });
 * ```
 */
export function noStore(): string {
  return "no-store";
}
