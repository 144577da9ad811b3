/**
 * `SharedCache`: an RFC 9111 shared HTTP cache in front of any fetch handler
 * (middleware) or origin URL (reverse proxy), in the tradition of Rack::Cache
 * and Varnish, driven by the policy language of `config.ts`.
 *
 * Bodies are stored in a stream cache, so concurrent misses for one key make
 * one origin request and every waiting client streams the body live as it
 * arrives; the body is copied into storage by a pump that no client owns, so a
 * client that leaves never cuts it short, and a body that fails mid-way is
 * never recorded.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { deferred } from "../deferred.ts";
import type { CacheControl } from "../http/cache_control.ts";
import { isToken } from "../http/field_tokens.ts";
import { parseHttpDate } from "../http/http_date.ts";
import { isETag } from "../http/etag.ts";
import { evaluatePreconditions } from "../http/preconditions.ts";
import { bytesBodyLimit } from "../adapters/runtime.ts";
import {
  copyHeaders,
  headerPairs,
  requestWithHeaders,
} from "../adapters/header_copies.ts";
import { carryClientAddress } from "../adapters/client_address.ts";
import { INVALID_HOST_TEXT } from "../adapters/host_field.ts";
import { Deadlines } from "../deadlines.ts";
import { BackgroundQueue } from "../background_queue.ts";
import { KeyQueue } from "../key_queue.ts";
import { Listeners } from "../listeners.ts";
import {
  HitTemplates,
  presetTraceOf,
  TEMPLATE_MAX_BYTES,
} from "./hit_templates.ts";
import { IdleWatch } from "./idle_watch.ts";
import { finalRecipientAnswer, hopCount } from "./max_forwards.ts";
import { GENERATION_SLOTS, slotOf } from "./key_slots.ts";
import {
  cacheStatusMember,
  cacheStatusName,
  type ForwardReason,
} from "./cache_status.ts";
import { BodyReader } from "./body_reader.ts";
import { answersInFull, rangeResponse } from "../http/range_response.ts";
import {
  bodyKindOf,
  type LiveBodyStopper,
  markBodyKind,
  markStoppable,
  stopperOf,
} from "../http/body_kind.ts";
import type { EntryReader } from "../stream/entry.ts";
import { markLentBody } from "../stream/lent_views.ts";
import type { StreamCache } from "../stream/cache.ts";
import type { Handler, Middleware } from "../types.ts";
import {
  cancelBody,
  cancelReplaced,
  type Handoff,
  headAnswer,
  knownLength,
  nothingMore,
  NULL_BODY_STATUSES,
  releasing,
  watchedUpload,
  withHandoff,
} from "./bodies.ts";
import {
  type CacheEvent,
  type EventHandler,
  Policy,
  type PolicyModule,
  type PolicyTarget,
  type Transition,
} from "./config.ts";
import { CacheContext } from "./context.ts";
import { defaultPolicy } from "./default_policy.ts";
import {
  type EntityStore,
  entityStoreFrom,
  keyOfEntity,
  newEntityId,
} from "./entitystore.ts";
import {
  badGatewayText,
  CLIENT_CLOSED_TEXT,
  ClientGoneError,
  EntityTooLargeError,
  OriginTimeoutError,
  StoringStoppedError,
  TagPurgeUnsupportedError,
} from "./errors.ts";
import {
  addValidDate,
  isWebSocketHandshake,
  responseWithoutHopByHop,
  withMutableHeaders,
  withoutHopByHop,
} from "./headers.ts";
import {
  type MetaStore,
  metaStoreFrom,
  type StoredResponse,
} from "./metastore.ts";
import {
  ageFrom,
  ageHeaderValue,
  DEFAULT_PRIVATE_HEADERS,
  ERROR_STATUSES,
  freshnessLifetime,
  headAnswerDescribes,
  notModifiedApplies,
  type NotStorableReason,
  notStorableReason,
  type PolicyOptions,
  requestCacheControl,
  responseCacheControl,
  staleForbidden,
  staleIfErrorAllows,
  type StoredFreshness,
  usability,
} from "./policy.ts";
import { type ForwardParts, partsOf, proxySender } from "./proxy_to.ts";
import { resuming, strongValidator } from "./resume.ts";
import { DEFAULT_TAG_FIELD, taggedWith, TagPurges } from "./tags.ts";
import { sameVary, varyFields, varyMatches, varyValues } from "./vary.ts";

/** Options for {@link SharedCache}, after Rack::Cache's. */
export interface SharedCacheOptions {
  /**
   * What the cache sits in front of: a fetch handler, or the base URL of an
   * origin server (`"http://127.0.0.1:8080"`) to reverse-proxy.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const proxy = new SharedCache({ origin: "http://127.0.0.1:8081" }); // reverse-proxies
   * const app = new SharedCache({ origin: () => new Response("hi") }); // wraps a handler
   * ```
   */
  origin: Handler | string;
  /**
   * Where stored headers live: `"heap:"`, `"file:PATH"` or a MetaStore. Default `"heap:"`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * import { heapMetaStore } from "./metastore.ts";
   * const metastore = heapMetaStore({ maxEntries: 50_000 });
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", metastore });
   * ```
   */
  metastore?: string | MetaStore;
  /**
   * Where bodies live: `"heap:"`, `"file:PATH"`, `"noop:"` or an EntityStore. Default `"heap:"`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({
   *   origin: "http://127.0.0.1:8081",
   *   entitystore: "heap:?maxBytes=1073741824", // 1 GiB of bodies in memory
   * });
   * ```
   */
  entitystore?: string | EntityStore;
  /**
   * Freshness in seconds for storable responses that state none. Default `0`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // a 200 with no Cache-Control or Expires is fresh for five minutes
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", defaultTtl: 300 });
   * ```
   */
  defaultTtl?: number;
  /**
   * Cap on heuristic freshness (10% of the age of Last-Modified), seconds. Default `86400`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // Last-Modified a year ago: fresh for an hour, not 36 days
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", heuristicMaxTtl: 3600 });
   * ```
   */
  heuristicMaxTtl?: number;
  /**
   * Request fields that make a response private unless it says it is
   * shareable (`public`, `s-maxage`, `must-revalidate`). Default
   * `["authorization", "cookie"]`; `authorization` counts whatever the list
   * says, as RFC 9111 §3.5 requires of a shared cache.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({
   *   origin: "http://127.0.0.1:8081",
   *   privateHeaders: ["cookie", "x-api-key"], // and authorization
   * });
   * ```
   */
  privateHeaders?: string[];
  /**
   * Response fields removed from stored copies. Default `["set-cookie"]`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({
   *   origin: "http://127.0.0.1:8081",
   *   ignoreHeaders: ["set-cookie", "x-request-id"], // never replayed from storage
   * });
   * ```
   */
  ignoreHeaders?: string[];
  /**
   * Store responses that carry `Set-Cookie` (with the fields of
   * `ignoreHeaders` removed from the stored copy). Default `false`: they pass.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // stored without its Set-Cookie (ignoreHeaders), so no hit hands out a session
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", storeSetCookie: true });
   * ```
   */
  storeSetCookie?: boolean;
  /**
   * A client's `no-cache` forces a full reload instead of a revalidation. Default `false`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // a shift-reload (Cache-Control: no-cache) fetches the whole response again
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", allowReload: true });
   * ```
   */
  allowReload?: boolean;
  /**
   * Honour a client's `no-cache` and `max-age` (revalidate for it). Default `true`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // clients' no-cache and max-age=0 are ignored: fresh copies are served
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", allowRevalidate: false });
   * ```
   */
  allowRevalidate?: boolean;
  /**
   * The cache key of a request. Default: its full URL (scheme, host, path and query).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({
   *   origin: "http://127.0.0.1:8081",
   *   cacheKey: (request) => new URL(request.url).pathname, // query strings ignored
   * });
   * ```
   */
  cacheKey?: (request: Request) => string;
  /**
   * Serve stale content whenever the origin fails or answers 500, 502, 503
   * or 504, except where the response forbids it (`must-revalidate`,
   * `proxy-revalidate`, `s-maxage`, `no-cache`: RFC 9111 §4.2.4). Default
   * `false`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // origin down or answering 503: stale copies are served instead
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", faultTolerant: true });
   * ```
   */
  faultTolerant?: boolean;
  /**
   * `true` logs each request's trace to the console; a function receives the lines. Default off.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const lines: string[] = [];
   * const cache = new SharedCache({ origin: () => new Response("hi"), verbose: (line) => lines.push(line) });
   * await cache.fetch(new Request("http://localhost/"));
   * ```
   */
  verbose?: boolean | ((message: string) => void);
  /**
   * Response field listing what happened (`miss, store`); `false` turns it off. Default `"x-cache"`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi"), traceHeader: "x-trace" });
   * const response = await cache.fetch(new Request("http://localhost/"));
   * console.log(response.headers.get("x-trace")); // "miss"
   * ```
   */
  traceHeader?: string | false;
  /**
   * This cache's name (a token) in a `Cache-Status` field (RFC 9211) it
   * appends to every answer: `cistern; hit; ttl=42`,
   * `cistern; fwd=uri-miss; fwd-status=200; stored; ttl=60`. Default
   * `false`: none.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi"), cacheStatus: "cistern" });
   * const response = await cache.fetch(new Request("http://localhost/"));
   * console.log(response.headers.get("cache-status")); // "cistern; fwd=uri-miss; fwd-status=200"
   * ```
   */
  cacheStatus?: string | false;
  /**
   * Bodies larger than this many bytes pass through without being stored.
   * Default: the entity store's own limit (`heap:` stores: their `maxBytes`),
   * else none.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // bodies over 10 MiB are streamed through, not stored
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", maxEntrySize: 10 << 20 });
   * ```
   */
  maxEntrySize?: number;
  /**
   * Targeted Cache-Control fields (RFC 9213) that govern this cache ahead of
   * `Cache-Control`, highest priority first. Default `["cdn-cache-control"]`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({
   *   origin: "http://127.0.0.1:8081",
   *   targetedFields: ["cistern-cache-control", "cdn-cache-control"],
   * });
   * ```
   */
  targetedFields?: string[];
  /**
   * Send targeted fields on to clients. Default `true`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // CDN-Cache-Control is obeyed here, then removed from answers
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", forwardTargetedFields: false });
   * ```
   */
  forwardTargetedFields?: boolean;
  /**
   * The response field whose tags, separated by spaces or commas, name a
   * stored response for {@link SharedCache.purgeTags} (as Fastly's
   * `Surrogate-Key` and Varnish's `xkey` do); `false` for none. Default
   * `"surrogate-key"`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // an origin answering "Cache-Tag: product-7, prices" can be purged by either
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", tagField: "cache-tag" });
   * ```
   */
  tagField?: string | false;
  /**
   * Send the tag field on to clients. Default `true`; `false` keeps it
   * between the origin and this cache, as a CDN keeps `Surrogate-Key`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", forwardTagField: false });
   * ```
   */
  forwardTagField?: boolean;
  /**
   * Add `Via: 1.1 <name>` to responses and forwarded requests (a token, with an optional `:port` and ` (comment)`); `false` for none. Default `false`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // responses and forwarded requests carry "Via: 1.1 edge-1"
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", via: "edge-1" });
   * ```
   */
  via?: string | false;
  /**
   * Milliseconds to wait for the origin's response headers before answering 504. Default `30000`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // no response head within 5 s: the client gets a 504 (or a stale copy)
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", originTimeout: 5000 });
   * ```
   */
  originTimeout?: number;
  /**
   * Milliseconds the origin may pause a body being stored before the fetch is
   * abandoned (clients get a cut body, nothing is stored). Default `60000`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * // a body being stored that stalls for 10 s is given up
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", originIdleTimeout: 10_000 });
   * ```
   */
  originIdleTimeout?: number;
  /**
   * Bytes that ready answers to hits may hold beside the stored bodies of
   * 16 KiB to 1 MiB they copy. Plain GET hits of a body held in memory in
   * one piece are answered by cloning a ready response, several times faster
   * than building one; smaller bodies always get one, these while the copies
   * fit. Default 64 MiB; `0` keeps only the small ones.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", templateBytes: 16 << 20 });
   * ```
   */
  templateBytes?: number;
  /**
   * Time source (freshness, ages, timeouts). Default {@link systemClock}.
   *
   * @example
   * ```ts
   * import { ManualClock } from "../clock.ts";
   * import { SharedCache } from "./shared_cache.ts";
   * const clock = new ManualClock(Date.parse("2025-01-01T00:00:00Z"));
   * const cache = new SharedCache({ origin: () => new Response("hi"), clock });
   * await clock.advance(60_000); // stored responses are a minute older
   * ```
   */
  clock?: Clock;
}

/** A stored response being (or having been) written, that concurrent misses can share. */
interface Shared {
  stored: StoredResponse;
}

/** What a stored variant's fields say, read once per stored object. */
interface VariantInfo {
  cc: CacheControl;
  lifetime: number;
  varyFields: string[];
  ageValue: number;
  date: number | undefined;
}

/** What a fetch notes as it begins, to tell whether what it got may be stored. */
interface FetchBegan {
  /** The key's invalidation count. */
  generation: number;
  /** How many purges by tag had run. */
  tagPurges: number;
}

/** Per-request state the events do not show. */
interface RequestState extends FetchBegan {
  /** Holds the stored body open while it is served. */
  reader?: EntryReader;
  /**
   * The body last made for the answer from storage, and whether it lends
   * its views (noted then: by the answer, the entry may have lost its file).
   */
  stored?: ReadableStream<Uint8Array>;
  lends?: boolean;
  freshness?: StoredFreshness;
  requestCc: CacheControl;
  /** The stored response after a 304 merged into it. */
  validated?: StoredResponse;
  /**
   * After a 304, the merged response as a bodiless answer for the `fetch`
   * and `store` handlers: the fields they leave are stored, and the client's
   * answer is made from them (with the 304's own `Set-Cookie`, `cookies`).
   */
  refreshed?: Response;
  cookies?: string[];
  /** Request and response times of the fetched response. */
  times?: { requestTime: number; responseTime: number };
  /** The in-flight record this request registered, and how to settle it. */
  record?: Promise<Shared | undefined>;
  settle?: (shared: Shared | undefined, error?: unknown) => void;
  /** Aborts the origin request (timeouts). */
  abort?: AbortController;
  revalidating: boolean;
  /** The body follows the origin as it sends (a pass, a miss): it may pause. */
  live?: boolean;
  /** The origin's answer came whole with its head: nothing of it can pause. */
  originInMemory?: boolean;
  /** How a stopping server ends the origin's live body (an app's event stream). */
  stopper?: LiveBodyStopper;
  /** A protocol upgrade the app answered: its response goes out untouched. */
  upgrade?: boolean;
  /** Why the request went to the origin (`Cache-Status`); unset for hits. */
  fwd?: ForwardReason;
  /** What the origin answered it. */
  fwdStatus?: number;
  /**
   * The origin's 200 to a fetch that held back the client's Range and
   * conditions, to be answered from the stored copy: if it goes out unstored,
   * the request is asked again as sent.
   */
  heldBack?: Response;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
const MAX_VARIANTS = 16;
/** The request fields that would make the origin answer otherwise than with the whole representation. */
const CONDITIONS = [
  "range",
  "if-range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
];
const NOT_MERGED = new Set([
  "content-length",
  "content-encoding",
  "content-range",
  "transfer-encoding",
]);

/** `request` as the GET whose answers are stored (storability is judged for it). */
function asGet(request: Request): Request {
  return request.method === "GET"
    ? request
    : requestWithHeaders(request.url, { headers: request.headers });
}

/**
 * Reasons that make a URL skip coalescing for a while (Varnish's
 * hit-for-pass): the response's, never the request's, so no client can turn
 * coalescing off for everyone.
 */
const HIT_FOR_PASS_REASONS = new Set<NotStorableReason>([
  "private",
  "no-store",
  "set-cookie",
  "vary-star",
  "status",
  "no-freshness",
]);
const HIT_FOR_PASS_MS = 10_000;
/**
 * Hit-for-pass markers, by key hash: a collision only makes another URL go
 * to the origin side by side for a while, and the memory they take does
 * not grow with the URLs clients make up.
 */
const MARKER_SLOTS = 16_384;
/** What `Via` may name this cache: `received-by [ RWS comment ]` (RFC 9110 §7.6.3). */
const VIA_NAME =
  /^(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?(?: \([\x20-\x7e]*\))?$/;

/**
 * `names` in lower case, each checked to be a field name: an option with a
 * bad one would fail every answer later, so it fails at once.
 */
function fieldNames(option: string, names: readonly string[]): string[] {
  return names.map((name) => {
    const lower = name.toLowerCase();
    if (!isToken(lower)) {
      throw new TypeError(
        `${option} must name header fields, got ${JSON.stringify(name)}`,
      );
    }
    return lower;
  });
}

function contentLengthOf(headers: Headers): number | undefined {
  const value = headers.get("content-length");
  // Headers already took the spaces and tabs at its ends; anything else
  // there makes it malformed.
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Carries on a fetching client's whole body from the origin when storing it stops. */
type Onward = (
  stored: ReadableStream<Uint8Array>,
) => ReadableStream<Uint8Array>;

/** Carries on bytes `[start, end)` of a body from the origin when storing it stops. */
type Resume = (
  body: ReadableStream<Uint8Array>,
  start: number,
  end: number | undefined,
) => ReadableStream<Uint8Array>;

/**
 * Bytes `[start, end)` of a stored body, carried on from the origin if
 * storing it stops: the whole body (`whole`) through `onward` when the
 * client fetched it, any other part through `resume` when the entry is still
 * arriving.
 */
function carriedStream(
  reader: EntryReader,
  start: number,
  end: number | undefined,
  whole: boolean,
  onward: Onward | undefined,
  resume: Resume | undefined,
): ReadableStream<Uint8Array> {
  const stream = reader.stream(start, end);
  return onward && whole
    ? onward(stream)
    : resume
    ? resume(stream, start, end)
    : stream;
}

/** Frees a stored body in the background; a failure is logged, never thrown. */
function freeBody(
  cache: StreamCache | undefined,
  entity: string,
  log: (message: string) => void,
): void {
  cache?.remove(entity).catch((error) =>
    log(`could not free stored body ${entity}: ${error}`)
  );
}

/**
 * Aborts `controller`, an origin request made for one client alone, with a
 * {@link ClientGoneError} if that client leaves; returns what stops
 * watching, called once the origin has answered. From then on a client that
 * leaves is seen as its body's cancellation, and the request's signal may
 * abort for other reasons (Deno's server aborts it after every answer
 * unless run with `--unstable-no-legacy-abort`).
 */
function followClient(
  request: Request,
  controller: AbortController,
): () => void {
  const gone = request.signal;
  const leave = () => controller.abort(new ClientGoneError(request.url));
  if (gone.aborted) leave();
  else gone.addEventListener("abort", leave, { once: true });
  return () => gone.removeEventListener("abort", leave);
}

/** A background revalidation under way. */
interface Revalidation {
  /** Aborts its origin request until the answer's head comes. */
  stop: AbortController;
  /** Settles when it is over (set once it has started). */
  over?: Promise<void>;
}

/**
 * A shared HTTP cache (RFC 9111) with Rack::Cache's policy language.
 *
 * @example
 * ```ts
 * import { SharedCache } from "./shared_cache.ts";
 * const cache = new SharedCache({
 *   origin: "http://127.0.0.1:8080",
 *   metastore: "file:./.cistern/meta",
 *   entitystore: "file:./.cistern/body",
 * });
 * cache.on("receive", (ctx) => {
 *   if (new URL(ctx.request.url).pathname.startsWith("/admin")) return ctx.pass();
 * });
 * // serve(cache.fetch), or give cache.fetch to any fetch-style server
 * ```
 */
export class SharedCache implements PolicyTarget {
  /**
   * The cache as a fetch handler.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * const response = await cache.fetch(new Request("http://localhost/"));
   * console.log(await response.text()); // "hi"
   * ```
   */
  readonly fetch: Handler;
  readonly #policy = new Policy();
  readonly #origin: Handler;
  /**
   * Sends a forwarded request as its parts, with no `Request` made for it:
   * the origin is a URL, and this cache's own proxy its handler.
   */
  readonly #sendParts:
    | ((parts: ForwardParts) => Promise<Response> | Response)
    | undefined;
  readonly #clock: Clock;
  /** Origin requests' waits for their answer's head, on one timer. */
  readonly #originDeadlines: Deadlines;
  /** The trace field's name, or `false` for none. */
  readonly #traceHeader: string | false;
  /** This cache's name in `Cache-Status`, if it sends one. */
  readonly #cacheStatus: string | undefined;
  readonly #log: (message: string) => void;
  readonly #keyOf: (request: Request) => string;
  readonly #rules: PolicyOptions;
  readonly #options: SharedCacheOptions;
  readonly #inflight = new Map<string, Promise<Shared | undefined>>();
  /** In-flight records whose origin did not answer in time, and how long it had. */
  readonly #timedOut = new WeakMap<
    Promise<Shared | undefined>,
    OriginTimeoutError
  >();
  /**
   * Background revalidations under way, by key: what stops one still
   * waiting for the origin, and when it is over (at close).
   */
  readonly #revalidating = new Map<string, Revalidation>();
  /** Keys whose last response could not be stored, until when (ms). */
  readonly #uncacheable = new Float64Array(MARKER_SLOTS);
  /** Meta store updates in progress, by key: one at a time per key. */
  readonly #metaUpdates = new KeyQueue();
  /** Bodies being stored, each recorded in the meta store once complete. */
  readonly #pumps = new Set<Promise<void>>();
  /** What stops the stores telling this cache of what they drop (at close). */
  readonly #unlinks: (() => void)[] = [];
  /** The walk of the meta store at start, if one runs. */
  #sweeping: Promise<void> | undefined;
  #closing = false;
  /**
   * The meta store's forgetting of variants whose bodies were reaped: a few
   * at a time beside the traffic, and never an unbounded backlog (a variant
   * left behind is forgotten by the next lookup of its key).
   */
  readonly #forgetting: BackgroundQueue;
  /** Who hears of each piece of a forwarded request's body as it is sent. */
  readonly #uploads = new WeakMap<ForwardParts, Listeners<void>>();
  readonly #generations = new Uint32Array(GENERATION_SLOTS);
  /**
   * The purges by tag run lately, for fetches under way, and the field that
   * tags stored responses (unless `tagField` is `false`).
   */
  readonly #tagPurges: TagPurges | undefined;
  /** Parsed fields of stored variants (a heap: meta store returns the same objects). */
  readonly #infos = new WeakMap<StoredResponse, VariantInfo>();
  /** Ready answers to plain GETs of bodies held in memory. */
  /** The stores every request starts with (a context copies them). */
  readonly #stores: { metastore: MetaStore; entitystore: EntityStore };
  readonly #templates: HitTemplates;
  readonly #verbose: boolean;

  /**
   * Resolves once the entity store has loaded the bodies it kept; rejects
   * if its storage cannot be used (then every answer goes out unstored).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" });
   * await cache.ready;
   * ```
   */
  get ready(): Promise<void> {
    return this.#stores.entitystore.cache?.ready ?? Promise.resolve();
  }

  /**
   * Makes a cache in front of `options.origin`.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081", defaultTtl: 60 });
   * ```
   */
  constructor(options: SharedCacheOptions) {
    this.#options = options;
    // A URL's proxy takes the requests the cache makes as their parts.
    const send = typeof options.origin === "string"
      ? proxySender(options.origin)
      : undefined;
    this.#sendParts = send;
    this.#origin = send
      ? (request) => send(partsOf(request))
      : options.origin as Handler;
    if (typeof this.#origin !== "function") {
      throw new TypeError("origin must be a fetch handler or an http(s) URL");
    }
    this.#clock = options.clock ?? systemClock;
    this.#originDeadlines = new Deadlines(
      this.#clock,
      options.originTimeout ?? 30_000,
    );
    this.#traceHeader = options.traceHeader ?? "x-cache";
    // Checked now: a bad name or value would fail every answer later.
    if (this.#traceHeader !== false) {
      fieldNames("traceHeader", [this.#traceHeader]);
    }
    fieldNames("ignoreHeaders", options.ignoreHeaders ?? []);
    this.#tagPurges = options.tagField === false ? undefined : new TagPurges(
      fieldNames("tagField", [options.tagField ?? DEFAULT_TAG_FIELD])[0],
    );
    this.#cacheStatus = options.cacheStatus
      ? cacheStatusName(options.cacheStatus)
      : undefined;
    // RFC 9110 §7.6.3: received-by is a token with an optional port, then
    // an optional comment.
    if (options.via && !VIA_NAME.test(options.via)) {
      throw new TypeError(
        `via must be a name (a token, with an optional :port and " (comment)"), got ${
          JSON.stringify(options.via)
        }`,
      );
    }
    this.#rules = {
      // RFC 9111 §3.5 holds for Authorization whatever else is listed.
      privateHeaders: [
        ...new Set([
          "authorization",
          ...fieldNames(
            "privateHeaders",
            options.privateHeaders ?? DEFAULT_PRIVATE_HEADERS,
          ),
        ]),
      ],
      storeSetCookie: options.storeSetCookie ?? false,
      defaultTtl: options.defaultTtl ?? 0,
      heuristicMaxTtl: options.heuristicMaxTtl ?? 86_400,
      targetedFields: fieldNames(
        "targetedFields",
        options.targetedFields ?? ["cdn-cache-control"],
      ),
    };
    const verbose = options.verbose;
    this.#log = typeof verbose === "function"
      ? verbose
      : verbose
      ? (line) => console.log(line)
      : () => {};
    this.#forgetting = new BackgroundQueue({
      concurrency: 8,
      maxWaiting: 10_000,
      onError: (error) => this.#log(`could not forget a reaped body: ${error}`),
    });
    // Made once every option is checked: a store keeps timers.
    this.#stores = {
      metastore: metaStoreFrom(options.metastore ?? "heap:"),
      entitystore: entityStoreFrom(options.entitystore ?? "heap:"),
    };
    this.#linkStores(
      typeof options.entitystore !== "object",
      typeof options.metastore !== "object",
    );
    this.#verbose = Boolean(verbose);
    this.#templates = new HitTemplates(options.templateBytes ?? 64 << 20);
    this.#keyOf = options.cacheKey ?? ((request) => request.url);
    defaultPolicy({ allowReload: options.allowReload ?? false })(this);
    this.fetch = (request) => this.#handle(request, false);
  }

  /**
   * Registers a policy handler for `event`; later handlers run first.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" });
   * cache.on("receive", (ctx) => {
   *   if (ctx.request.headers.has("authorization")) return ctx.pass();
   * }); // nothing returned: the default policy decides
   * ```
   */
  on(event: CacheEvent, handler: EventHandler): this {
    this.#policy.on(event, handler);
    return this;
  }

  /**
   * Has the cache compare (for `Vary`) and forward `normalizer(value)` in
   * place of a request's `field` value, as {@link Policy.normalize} says.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" })
   *   .normalize("x-device", (value) => /mobile/i.test(value) ? "mobile" : "desktop");
   * ```
   */
  normalize(field: string, normalizer: (value: string) => string): this {
    this.#policy.normalize(field, normalizer);
    return this;
  }

  /**
   * Imports a reusable policy (a function that registers handlers).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * import { honourClientNoCache } from "./modules.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8081" }).use(honourClientNoCache);
   * ```
   */
  use(module: PolicyModule): this {
    module(this);
    return this;
  }

  /**
   * Forgets every stored response (all variants) for the URL of `target`,
   * frees their bodies, and keeps fetches already under way for it from
   * storing what they get; resolves with how many responses were stored.
   * `target` is a URL or a request (a `cacheKey` function may read its
   * headers). It reaches the cache's own stores, under the URL as given (no
   * `receive` handler runs); for stores or URLs a `receive` handler chooses,
   * use `ctx.purge()` in a handler, or the `purgeRequests` module, which
   * offers this over HTTP.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: "http://127.0.0.1:8080" });
   * await cache.purge("http://127.0.0.1:8080/news"); // 0: nothing stored yet
   * ```
   */
  async purge(target: string | URL | Request): Promise<number> {
    const request = target instanceof Request ? target : new Request(target);
    return await this.#invalidate(this.#contextOf(request));
  }

  /**
   * Forgets every stored response whose tag field (`tagField`) names one of
   * `tags`, whatever its URL, and keeps fetches under way whose answers
   * name one of them from storing those; resolves with how many responses
   * were stored. It walks the meta store's records: every key in
   * memory for `heap:`, every file for `file:`. A meta store that cannot list
   * its records (a custom one without `entries()`, or `file:` shared by
   * processes) rejects with a `TagPurgeUnsupportedError` (a `TypeError`), as
   * does a cache whose `tagField` is `false`; a string in place of the list
   * of tags, with a `TypeError`. An empty
   * list purges nothing.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () =>
   *   new Response("7 €", { headers: { "cache-control": "max-age=600", "surrogate-key": "product-7 prices" } }),
   * });
   * await (await cache.fetch(new Request("http://localhost/products/7"))).text();
   * await cache.purgeTags(["prices"]); // 1: the product page is forgotten
   * ```
   */
  async purgeTags(tags: Iterable<string>): Promise<number> {
    return await this.#purgeTagged(this.#stores.metastore, tags);
  }

  /** What a context's `purge()` runs: made once, as every request gets it. */
  readonly #purgeFor = (ctx: CacheContext) => this.#invalidate(ctx);
  /** What a context's `purgeTags()` runs. */
  readonly #purgeTagsFor = (ctx: CacheContext, tags: Iterable<string>) =>
    this.#purgeTagged(ctx.metastore, tags, ctx.entitystore);

  #contextOf(request: Request, keyOf = this.#keyOf): CacheContext {
    return new CacheContext(
      request,
      this.#stores,
      keyOf,
      this.#log,
      this.#purgeFor,
      this.#purgeTagsFor,
    );
  }

  /**
   * Forgets the variants in `metastore` tagged with one of `tags`, freeing
   * their bodies in `entitystore`; how many there were.
   */
  async #purgeTagged(
    metastore: MetaStore,
    tags: Iterable<string>,
    entitystore = this.#stores.entitystore,
  ): Promise<number> {
    const purges = this.#tagPurges;
    if (!purges) {
      throw new TagPurgeUnsupportedError("purging by tag needs a tagField");
    }
    if (!metastore.entries) {
      throw new TagPurgeUnsupportedError(
        "purging by tag walks the meta store's records, and this one cannot list them (entries())",
      );
    }
    // A string is iterable too: its characters would be purged as tags.
    if (typeof tags === "string") {
      throw new TypeError(
        `purgeTags takes a list of tags, got the string ${
          JSON.stringify(tags)
        }`,
      );
    }
    const wanted = new Set(tags);
    // No tag names anything: no fetch under way need lose its answer.
    if (wanted.size === 0) return 0;
    // A fetch under way that brings one of the tags stores nothing; and
    // since which it brings is not known yet, later requests do not wait
    // on any.
    purges.add(wanted);
    this.#inflight.clear();
    const tagged = (variant: StoredResponse) =>
      taggedWith(variant, purges.field, wanted);
    let forgotten = 0;
    for await (const [key, variants] of metastore.entries()) {
      if (!variants.some(tagged)) continue;
      // In turn with the key's other updates, which may have changed it.
      await this.#updateVariants(metastore, key, (current) => {
        const kept: StoredResponse[] = [];
        for (const variant of current) {
          if (!tagged(variant)) kept.push(variant);
          else {
            freeBody(entitystore.cache, variant.entity, this.#log);
            forgotten++;
          }
        }
        return kept.length < current.length ? kept : undefined;
      });
    }
    return forgotten;
  }

  /**
   * Stops the background revalidations still waiting for the origin (their
   * stale entries stay as they were; later ones do not start), stops the
   * entity store's timers and waits for the bodies being stored and the
   * meta store updates under way, so that every body stored has its record
   * and nothing is written once it resolves; reaped bodies' variants not
   * yet forgotten are left for lookups to forget. Answers still being sent
   * should end first (a server's shutdown).
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * await cache.fetch(new Request("http://localhost/"));
   * await cache.close(); // after the server's shutdown
   * ```
   */
  async close(): Promise<void> {
    this.#closing = true;
    // An origin that is slow to answer a refresh nobody waits for must not
    // hold the shutdown for up to originTimeout.
    const revalidations = [...this.#revalidating.values()];
    for (const { stop } of revalidations) stop.abort();
    await Promise.all(revalidations.map(({ over }) => over));
    // Stores passed in outlive this cache: they must not keep it.
    for (const unlink of this.#unlinks.splice(0)) unlink();
    await this.#sweeping;
    await this.#stores.entitystore.cache?.close();
    await this.#forgetting.stop();
    while (this.#pumps.size > 0) await Promise.all(this.#pumps);
    await this.#metaUpdates.idle();
  }

  /**
   * Runs a request through the events. Steps that answer synchronously (a
   * hit on heap stores: all of them) run at once, so such an answer is a
   * `Response`, not a promise; from the first step that returns a promise
   * on, the rest runs asynchronously. Errors always come as a rejection.
   */
  #handle(
    request: Request,
    revalidating: boolean,
    keyOf = this.#keyOf,
  ): Response | Promise<Response> {
    const ctx = this.#contextOf(request, keyOf);
    const state: RequestState = {
      requestCc: {},
      revalidating,
      generation: 0,
      tagPurges: 0,
    };
    try {
      let next = this.#run("receive", ctx);
      while (!(next instanceof Promise)) {
        if (next.name === "finish") return this.#finish(ctx, state);
        next = this.#step(ctx, state, next);
      }
      return this.#continue(ctx, state, next);
    } catch (error) {
      this.#abandon(ctx, state);
      return Promise.reject(error);
    }
  }

  /** The rest of {@link #handle}, from a step that returned a promise. */
  async #continue(
    ctx: CacheContext,
    state: RequestState,
    pending: Promise<Transition>,
  ): Promise<Response> {
    try {
      let next: Transition | Promise<Transition> = pending;
      for (;;) {
        const transition = next instanceof Promise ? await next : next;
        if (transition.name === "finish") return this.#finish(ctx, state);
        next = this.#step(ctx, state, transition);
      }
    } catch (error) {
      this.#abandon(ctx, state);
      throw error;
    }
  }

  /** Takes one transition (any but `finish`). */
  #step(
    ctx: CacheContext,
    state: RequestState,
    transition: Transition,
  ): Transition | Promise<Transition> {
    switch (transition.name) {
      case "lookup":
        return this.#lookup(ctx, state);
      case "pass":
        return this.#pass(ctx, state);
      case "fetch":
        return this.#fetch(ctx, state);
      case "store":
        return this.#store(ctx, state);
      case "deliver":
        if (state.heldBack && ctx.response === state.heldBack) {
          return this.#askAsSent(ctx, state);
        }
        if (this.#keepsStoredBody(ctx, state)) {
          ctx.response = this.#answerRefreshed(ctx, state);
        }
        ctx.response ??= this.#fromStored(ctx, state);
        return this.#run("deliver", ctx);
      case "error":
        return this.#error(ctx, state, transition);
      default:
        throw new Error(`no step for transition ${transition.name}`);
    }
  }

  /**
   * The origin's whole 200 goes out unstored (not storable, too large, or
   * storage failed), so the client's Range and conditions that were held
   * back from it for the stored copy would go unanswered: a range asked for
   * would come as the whole body, an `If-Match` that fails as a 200. The
   * request goes to the origin again, as the client sent it.
   */
  #askAsSent(ctx: CacheContext, state: RequestState): Promise<Transition> {
    state.heldBack = undefined;
    cancelBody(ctx.response);
    ctx.response = undefined;
    ctx.log(`asking again with the client's conditions: ${ctx.request.url}`);
    return this.#pass(ctx, state);
  }

  /** Lets go of what a request that failed holds. */
  #abandon(ctx: CacheContext, state: RequestState): void {
    state.settle?.(undefined);
    state.reader?.close();
    cancelBody(ctx.response);
  }

  /** Runs an event's handlers; a response they replace is cancelled, never left open. */
  #run(event: CacheEvent, ctx: CacheContext): Transition | Promise<Transition> {
    const before = ctx.response;
    let result;
    try {
      result = this.#policy.run(event, ctx);
    } catch (error) {
      cancelReplaced(before, ctx.response);
      throw error;
    }
    if (result instanceof Promise) {
      return result.then((transition) => {
        cancelReplaced(before, ctx.response);
        return transition;
      }, (error) => {
        cancelReplaced(before, ctx.response);
        throw error;
      });
    }
    cancelReplaced(before, ctx.response);
    return result;
  }

  #infoOf(stored: StoredResponse): VariantInfo {
    let info = this.#infos.get(stored);
    if (!info) {
      const headers = new Headers(stored.headers);
      const cc = responseCacheControl(headers, this.#rules.targetedFields);
      info = {
        cc,
        lifetime: freshnessLifetime(headers, cc, this.#rules, stored.status),
        varyFields: varyFields(headers),
        ageValue: ageHeaderValue(headers.get("age")),
        date: parseHttpDate(headers.get("date")),
      };
      this.#infos.set(stored, info);
    }
    return info;
  }

  /**
   * Keeps `stored` fresh for `ttl` seconds from now (a policy's `ctx.ttl`,
   * when set): its lifetime adds the age it came with.
   */
  #freshFor(stored: StoredResponse, ttl: number | undefined): void {
    if (ttl !== undefined) stored.ttl = ttl + this.#ageOf(stored);
  }

  /** The age of `stored` at the time `at` (ms; default now). */
  #ageOf(stored: StoredResponse, at = this.#clock.now()): number {
    const info = this.#infoOf(stored);
    return ageFrom(info.ageValue, info.date, stored, at);
  }

  #requestCc(request: Request): CacheControl {
    const cc = requestCacheControl(request.headers);
    if (this.#options.allowRevalidate === false) {
      delete cc.noCache;
      delete cc.maxAge;
    }
    return cc;
  }

  #isUncacheable(key: string): boolean {
    return this.#uncacheable[slotOf(key, MARKER_SLOTS)] > this.#clock.now();
  }

  /** Marks `key` uncacheable for a while, or (`false`) no longer. */
  #markUncacheable(key: string, uncacheable = true): void {
    this.#uncacheable[slotOf(key, MARKER_SLOTS)] = uncacheable
      ? this.#clock.now() + HIT_FOR_PASS_MS
      : 0;
  }

  #dropInflight(
    key: string,
    record: Promise<Shared | undefined> | undefined,
  ): void {
    if (record && this.#inflight.get(key) === record) {
      this.#inflight.delete(key);
    }
  }

  /**
   * Keeps the two stores pointing at each other only. Bodies no meta entry
   * can reach are freed: those of keys a bounded meta store in memory
   * drops, and, with such a store, every body a disk entity store kept from
   * before a restart, when that store is this cache's own (made from a URI,
   * so no other cache shares it). And a variant whose body the entity
   * store's reaper removed leaves the meta store, so that bounding the
   * bodies bounds the meta entries too (a `file:` meta store would keep a
   * file per URL until the URL is asked for again). When both stores are
   * this cache's own and outlive it, the records whose bodies went while
   * no cache ran are forgotten at start, in the background, and then the
   * bodies from before the start that no record names are freed.
   */
  #linkStores(ownEntityStore: boolean, ownMetaStore: boolean): void {
    const cache = this.#stores.entitystore.cache;
    if (!cache) return;
    const entries = this.#stores.metastore.entries?.bind(
      this.#stores.metastore,
    );
    if (
      ownEntityStore && ownMetaStore && entries &&
      !this.#stores.metastore.volatile
    ) {
      this.#sweeping = cache.ready
        // The bodies a previous run left: taken before any request's get,
        // which waits for `ready` too, makes one of its own.
        .then(() => this.#sweepRecords(cache, entries(), new Set(cache.keys())))
        .catch((error) =>
          this.#log(`could not sweep the meta store: ${error}`)
        );
    }
    const free = (entity: string) => freeBody(cache, entity, this.#log);
    const forgetting = this.#stores.metastore.onForget?.((variants) => {
      for (const variant of variants) free(variant.entity);
    });
    if (forgetting) this.#unlinks.push(forgetting);
    if (this.#stores.metastore.volatile && ownEntityStore) {
      // Runs before any request's get, which waits for `ready` too.
      cache.ready.then(() => cache.keys().forEach(free), () => {});
    }
    this.#unlinks.push(cache.onReap((entity) => {
      const key = keyOfEntity(entity);
      if (key === undefined) return;
      // A sweep may reap thousands, each a meta file to read and remove.
      this.#forgetting.add(() =>
        this.#forgetVariants(this.#stores.metastore, key, (id) => id === entity)
      );
    }));
  }

  /**
   * Forgets the variants, among `entries`, whose bodies are gone; then frees
   * the bodies among `unnamed` (those a previous run left) that no record
   * names: their records were torn, or lost to a kill between body and
   * record, and no lookup can reach them.
   */
  async #sweepRecords(
    cache: StreamCache,
    entries: AsyncIterable<[string, StoredResponse[]]>,
    unnamed: Set<string>,
  ): Promise<void> {
    for await (const [key, read] of entries) {
      if (this.#closing) return;
      for (const variant of read) unnamed.delete(variant.entity);
      // Most are whole: only the others are looked up (and so kept in
      // memory, where the walk would push out the keys hits need).
      if (read.every((v) => cache.has(v.entity))) continue;
      await this.#forgetVariants(
        this.#stores.metastore,
        key,
        (entity) => !cache.has(entity),
      );
    }
    for (const entity of unnamed) {
      if (this.#closing) return;
      freeBody(cache, entity, this.#log);
    }
  }

  /** Forgets the variants of `key` whose body `gone` names; stores nothing when none does. */
  #forgetVariants(
    metastore: MetaStore,
    key: string,
    gone: (entity: string) => boolean,
  ): Promise<void> {
    return this.#updateVariants(metastore, key, (variants) => {
      const kept = variants.filter((v) => !gone(v.entity));
      return kept.length < variants.length ? kept : undefined;
    });
  }

  /** Frees a stored body of the request's entity store in the background. */
  #discard(ctx: CacheContext, entity: string): void {
    freeBody(ctx.entitystore.cache, entity, (line) => ctx.log(line));
  }

  /** A reader of a stored body, synchronously once the store has loaded. */
  #openBody(
    cache: StreamCache | undefined,
    entity: string,
  ): EntryReader | undefined | Promise<EntryReader | undefined> {
    if (!cache) return undefined;
    // A disk store reloads in the background; until then it knows nothing.
    if (!cache.loaded) return cache.ready.then(() => cache.openReader(entity));
    return cache.openReader(entity);
  }

  /**
   * Finds the stored variant for the request. Runs synchronously while the
   * stores answer synchronously (the heap stores always do), so a hit costs
   * no turn of the event loop.
   */
  #lookup(
    ctx: CacheContext,
    state: RequestState,
  ): Transition | Promise<Transition> {
    state.requestCc = this.#requestCc(ctx.request);
    if (ctx.reload) {
      ctx.trace("reload");
      state.fwd = "request";
      return this.#run("miss", ctx);
    }
    const method = ctx.request.method;
    if (method !== "GET" && method !== "HEAD") {
      // What is stored answers GET (RFC 9111 §4), whatever a policy looks up.
      ctx.trace("miss");
      state.fwd = "method";
      return this.#run("miss", ctx);
    }
    const variants = ctx.metastore.lookup(ctx.key);
    // Any thenable a custom store returns is awaited; only arrays go on at once.
    return Array.isArray(variants)
      ? this.#select(ctx, state, variants)
      : Promise.resolve(variants).then((found) =>
        this.#select(ctx, state, found)
      );
  }

  #select(
    ctx: CacheContext,
    state: RequestState,
    variants: StoredResponse[],
  ): Transition | Promise<Transition> {
    // A loop, not find(): no closure made on every lookup.
    let match: StoredResponse | undefined;
    for (const variant of variants) {
      if (this.#selects(variant, ctx.request)) {
        match = variant;
        break;
      }
    }
    if (!match) {
      ctx.trace("miss");
      state.fwd = variants.length > 0 ? "vary-miss" : "uri-miss";
      return this.#run("miss", ctx);
    }
    const opened = this.#openBody(ctx.entitystore.cache, match.entity);
    return opened instanceof Promise
      ? opened.then((reader) => this.#judge(ctx, state, match, reader))
      : this.#judge(ctx, state, match, opened);
  }

  /** Whether `request` selects `variant` (its `Vary` fields, normalized as the policy says). */
  #selects(variant: StoredResponse, request: Request): boolean {
    return varyMatches(
      variant,
      request.headers,
      this.#infoOf(variant).varyFields,
      this.#policy.normalizers,
    );
  }

  /** A stored response's directives, current age and freshness lifetime. */
  #freshnessOf(stored: StoredResponse): StoredFreshness {
    const info = this.#infoOf(stored);
    return {
      cc: info.cc,
      age: ageFrom(info.ageValue, info.date, stored, this.#clock.now()),
      lifetime: stored.ttl ?? info.lifetime,
    };
  }

  /** Hit, stale or miss, for the matching variant and its body's reader. */
  #judge(
    ctx: CacheContext,
    state: RequestState,
    match: StoredResponse,
    reader: EntryReader | undefined,
  ): Transition | Promise<Transition> {
    if (ctx.entitystore.cache && !reader) {
      // The body is gone (evicted): forget the variant, then fetch.
      return this.#forgetVariants(
        ctx.metastore,
        ctx.key,
        (entity) => entity === match.entity,
      ).then(() => {
        ctx.trace("miss");
        // A record without its body: no usable response, but not none at all.
        state.fwd = "miss";
        return this.#run("miss", ctx);
      });
    }
    state.freshness = this.#freshnessOf(match);
    const verdict = state.revalidating
      ? "validate"
      : usability(state.freshness, state.requestCc).use;
    // Without a stored body (noop:), only a 304 can be answered from the
    // cache, and preconditions apply to 200s only (RFC 9110 §13.2.1).
    const answerable = reader !== undefined ||
      (match.status === 200 &&
        evaluatePreconditions(ctx.request, new Headers(match.headers), {
            fromCache: true,
          }) === "not-modified");
    if (answerable && verdict !== "validate") {
      ctx.stored = match;
      state.reader = reader;
      ctx.trace(verdict === "fresh" ? "fresh" : "stale");
      if (verdict === "stale-while-revalidate") {
        this.#revalidateInBackground(ctx);
      }
      return this.#run("hit", ctx);
    }
    if (reader) {
      ctx.stored = match;
      state.reader = reader;
      ctx.trace("stale");
      // Fresh, but the request asked for validation (RFC 9211 §2.2).
      const { age, lifetime, cc } = state.freshness;
      state.fwd = lifetime > age && cc.noCache !== true ? "request" : "stale";
    } else {
      ctx.trace("miss");
      state.fwd = "miss";
    }
    return this.#run("miss", ctx);
  }

  #revalidateInBackground(ctx: CacheContext): void {
    const key = ctx.key;
    if (
      this.#closing || this.#revalidating.has(key) || this.#inflight.has(key)
    ) return;
    const revalidation: Revalidation = { stop: new AbortController() };
    this.#revalidating.set(key, revalidation);
    // The client's directives (only-if-cached, no-store) and conditions
    // shaped its own answer, not the refresh everyone gets.
    const headers = copyHeaders(ctx.request.headers);
    for (const name of ["cache-control", "pragma", ...CONDITIONS]) {
      headers.delete(name);
    }
    // Its signal is its client's: aborted, the origin request goes (until
    // the origin's answer comes; a body then being stored is kept).
    const request = requestWithHeaders(ctx.request.url, {
      headers,
      signal: revalidation.stop.signal,
    });
    // Under the key the stale entry has: a URL built anew is normalised,
    // and a server may hand over request URLs as sent (Deno: `Host` and the
    // target as they came), so its key could differ.
    revalidation.over = Promise.resolve(this.#handle(request, true, () => key))
      .then((response) => response.body?.cancel())
      .catch((error) => {
        if (!this.#closing) {
          this.#log(`revalidation of ${key} failed: ${error}`);
        }
      })
      .finally(() => this.#revalidating.delete(key));
  }

  /**
   * The request sent to the origin for `ctx.request`: hop-by-hop fields
   * removed, Via added, telling the received request's client address (a
   * request a handler made anew has none of its own).
   */
  #forwardRequest(
    ctx: CacheContext,
    init: {
      method?: string;
      headers?: Headers;
      body?: boolean;
      signal: AbortSignal;
    },
  ): ForwardParts {
    const request = ctx.request;
    // A copy: a request sent again (after a 304 for another version) must
    // not carry Via twice.
    const headers = init.headers
      ? copyHeaders(init.headers)
      : withoutHopByHop(request.headers);
    for (const [field, normalize] of this.#policy.normalizers) {
      const value = headers.get(field);
      if (value !== null) headers.set(field, normalize(value));
    }
    if (this.#options.via) headers.append("via", `1.1 ${this.#options.via}`);
    let body: ReadableStream<Uint8Array> | null = init.body
      ? request.body
      : null;
    const uploading = new Listeners<void>();
    if (body) body = watchedUpload(body, () => uploading.tell());
    // A Request is made of it only for an origin that takes one (#ask).
    const forward: ForwardParts = {
      url: request.url,
      method: init.method ?? request.method,
      headers,
      body,
      signal: init.signal,
      from: ctx.received,
    };
    if (body) this.#uploads.set(forward, uploading);
    return forward;
  }

  /**
   * Hands a forwarded request to the origin: as its parts to the cache's
   * own proxy, else as a `Request` (the client's own for a WebSocket
   * handshake) that tells the client's address.
   */
  #ask(forward: ForwardParts | Request): Promise<Response> | Response {
    if (forward instanceof Request) return this.#origin(forward);
    if (this.#sendParts) return this.#sendParts(forward);
    const body = forward.body;
    const request = requestWithHeaders(forward.url, {
      method: forward.method,
      headers: forward.headers,
      body,
      redirect: "manual",
      signal: forward.signal,
      ...(body ? { duplex: "half" } : {}),
    });
    carryClientAddress(forward.from, request);
    return this.#origin(request);
  }

  /**
   * Asks the origin, giving up (and aborting the request) when it sends no
   * answer for `originTimeout`; the wait starts again with each piece of a
   * streamed upload it reads, as a long upload is not the origin being late.
   * A request made for `client` alone is aborted too if that client leaves
   * before the answer.
   */
  async #callOrigin(
    forward: ForwardParts | Request,
    controller: AbortController,
    client?: Request,
  ): Promise<Response> {
    const unfollow = client && followClient(client, controller);
    /** The wait ended without the answer: one that comes later is read by no one. */
    let abandoned = false;
    let answered = false;
    let stop = () => {};
    const late = new Promise<never>((_, reject) => {
      // Aborted (a client gone): the wait ends now, even for an origin (an
      // app behind the middleware) that does not heed its signal.
      const aborted = () => {
        abandoned = true;
        reject(controller.signal.reason);
      };
      if (controller.signal.aborted) aborted();
      else controller.signal.addEventListener("abort", aborted, { once: true });
      const arm = () => {
        stop();
        if (answered || controller.signal.aborted) return;
        stop = this.#originDeadlines.add(() => {
          const error = new OriginTimeoutError(
            forward.url,
            this.#originDeadlines.ms,
            "headers",
          );
          controller.abort(error);
        });
      };
      arm();
      if (!(forward instanceof Request)) this.#uploads.get(forward)?.add(arm);
    });
    const answer = Promise.resolve().then(() => this.#ask(forward));
    // Registered before the race, so it runs before anyone is handed the
    // answer: a body nobody will read is cancelled, never left producing.
    answer.then((response) => abandoned && cancelBody(response), () => {});
    try {
      return await Promise.race([answer, late]);
    } catch (error) {
      // Aborted by the cache (a timeout, a client gone): say why.
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      answered = true;
      stop();
      unfollow?.();
    }
  }

  /**
   * Notes what the origin's answer is like: whether its body may pause (so
   * servers keep the connection open for it), and how a stopping server
   * ends it if it is an app's live body; new responses made around the
   * body do not carry those marks.
   *
   * A URL origin's body may wait on the network unless it came whole. An
   * app's is what the app marked it (`stream`, `liveStream`…): an unmarked
   * one goes out as the app made it, as it would without the cache. Reading
   * its `body` to mark it would turn an app's bytes into a stream, which
   * Deno's server sends on its slower path.
   */
  #noteOrigin(state: RequestState, response: Response): void {
    const kind = bodyKindOf(response);
    state.originInMemory = kind === "in-memory";
    state.live = this.#sendParts ? !state.originInMemory : kind === "streaming";
    state.stopper = stopperOf(response);
  }

  async #pass(ctx: CacheContext, state: RequestState): Promise<Transition> {
    state.reader?.close();
    state.reader = undefined;
    ctx.stored = undefined;
    const method = ctx.request.method.toUpperCase();
    state.fwd = method === "GET" || method === "HEAD" ? "bypass" : "method";
    if (isWebSocketHandshake(ctx.request.headers)) {
      // The app needs the request as it came (the runtime upgrades that
      // object), and its answer goes out untouched.
      try {
        ctx.response = await this.#callOrigin(
          ctx.request,
          new AbortController(),
        );
      } catch (error) {
        return this.#originFailed(ctx, error);
      }
      state.upgrade = true;
      ctx.trace("pass");
      return this.#run("pass", ctx);
    }
    const hops = hopCount(method, ctx.request.headers.get("max-forwards"));
    if (hops.answer) {
      ctx.response = finalRecipientAnswer(method);
      ctx.trace("pass");
      return this.#run("pass", ctx);
    }
    const controller = new AbortController();
    const requestTime = this.#clock.now();
    let response: Response;
    try {
      const forward = this.#forwardRequest(ctx, {
        body: true,
        signal: controller.signal,
      });
      if (hops.next !== undefined) {
        forward.headers.set("max-forwards", hops.next);
      }
      response = await this.#callOrigin(forward, controller, ctx.received);
    } catch (error) {
      return this.#originFailed(ctx, error);
    }
    if (method === "HEAD" && response.status === 200) {
      await this.#freshenFromHead(ctx, response.headers, {
        requestTime,
        responseTime: this.#clock.now(),
      });
    }
    ctx.response = responseWithoutHopByHop(response);
    state.fwdStatus = response.status;
    if (!response.headers.has("date")) {
      ctx.response = withMutableHeaders(ctx.response);
      addValidDate(ctx.response.headers, this.#clock.now());
    }
    this.#noteOrigin(state, response);
    await this.#invalidateAfter(ctx, method, response);
    ctx.trace("pass");
    return this.#run("pass", ctx);
  }

  /** RFC 9111 §4.4: a non-error answer to an unsafe method invalidates. */
  async #invalidateAfter(
    ctx: CacheContext,
    method: string,
    response: Response,
  ): Promise<void> {
    if (!SAFE_METHODS.has(method) && response.status < 400) {
      ctx.trace("invalidate");
      await this.#invalidate(ctx, response.headers);
    }
  }

  /**
   * RFC 9111 §4.3.5: a 200 to a HEAD passed to the origin updates each stored
   * GET response the request could have been given, as a 304 would, when it
   * describes that response; otherwise (another version, or an answer that
   * may not be stored) the stored response is forgotten.
   */
  #freshenFromHead(
    ctx: CacheContext,
    fields: Headers,
    times: { requestTime: number; responseTime: number },
  ): Promise<void> {
    const storable = !notStorableReason(
      asGet(ctx.request),
      new Response(null, { headers: fields }),
      this.#rules,
    );
    let freshened = false;
    let forgotten = false;
    return this.#updateVariants(ctx.metastore, ctx.key, (variants) => {
      const kept: StoredResponse[] = [];
      for (const variant of variants) {
        if (!this.#selects(variant, ctx.request)) {
          kept.push(variant);
        } else if (
          storable &&
          headAnswerDescribes(
            new Headers(variant.headers),
            variant.size,
            fields,
          )
        ) {
          kept.push(
            this.#merge304(variant, fields, times, ctx.request).stored,
          );
          freshened = true;
        } else {
          this.#discard(ctx, variant.entity);
          forgotten = true;
        }
      }
      return freshened || forgotten ? kept : undefined;
    }).then(() => {
      if (freshened) ctx.trace("freshen");
      if (forgotten) ctx.trace("invalidate");
    });
  }

  /**
   * Forgets every stored response for the request's URL and, from
   * `headers` (an answer to an unsafe method), its same-origin `Location`
   * and `Content-Location`; resolves with how many were stored.
   */
  async #invalidate(ctx: CacheContext, headers?: Headers): Promise<number> {
    const target = new URL(ctx.request.url);
    // The request's own key (its URL as the server handed it over) and the
    // normalised one, which other clients' requests have.
    const keys = new Set([ctx.key, this.#keyOf(new Request(target))]);
    for (const field of ["location", "content-location"]) {
      const value = headers?.get(field) ?? null;
      if (value === null) continue;
      try {
        const url = new URL(value, target);
        if (url.origin === target.origin) {
          keys.add(this.#keyOf(new Request(url)));
        }
      } catch { /* not a URL: nothing to invalidate */ }
    }
    let forgotten = 0;
    for (const key of keys) {
      // Fetches already under way for the key may not store what they got.
      this.#generations[slotOf(key)]++;
      this.#inflight.delete(key);
      // In turn with the key's other updates, so none writes it back.
      await this.#updateVariants(ctx.metastore, key, (variants) => {
        for (const variant of variants) this.#discard(ctx, variant.entity);
        forgotten += variants.length;
        return [];
      });
    }
    return forgotten;
  }

  /**
   * The error answer when the origin could not be asked. `staleHeld`: a
   * stored response that may not be used unvalidated (stale, or the client
   * said `no-cache`) was being revalidated; RFC 9111 §5.2.2.2 asks for a
   * 504 then, not the 502 of a plain miss.
   */
  #originFailed(
    ctx: CacheContext,
    error: unknown,
    staleHeld = false,
  ): Transition {
    const text = { "content-type": "text/plain; charset=utf-8" };
    // Servers build the URL from the client's Host unchecked; one that is no
    // URL cannot be forwarded, and is the client's error (RFC 9112 §3.2).
    if (!URL.canParse(ctx.request.url)) {
      return ctx.error(400, text, INVALID_HOST_TEXT);
    }
    if (error instanceof ClientGoneError) {
      // Nobody reads it; the status is nginx's "client closed request".
      ctx.log(`${ctx.request.method} ${ctx.request.url}: ${error.message}`);
      return ctx.error(499, text, CLIENT_CLOSED_TEXT);
    }
    ctx.log(
      `origin failed for ${ctx.request.method} ${ctx.request.url}: ${error}`,
    );
    if (error instanceof OriginTimeoutError) {
      return ctx.error(
        504,
        text,
        "504 Gateway Timeout: the origin did not answer in time\n",
      );
    }
    return staleHeld
      ? ctx.error(
        504,
        text,
        "504 Gateway Timeout: the origin did not answer, and the stored response may not be used without it\n",
      )
      : ctx.error(502, text, badGatewayText(error));
  }

  /** After the origin failed: the stored answer if it may go out, else the error's. */
  #staleOrFailed(
    ctx: CacheContext,
    state: RequestState,
    error: unknown,
    staleHeld: boolean,
  ): Transition {
    if (!this.#canServeStaleOnError(ctx, state)) {
      return this.#originFailed(ctx, error, staleHeld);
    }
    ctx.trace("stale-if-error");
    return ctx.deliver();
  }

  #canServeStaleOnError(ctx: CacheContext, state: RequestState): boolean {
    if (!ctx.stored || !state.reader || !state.freshness) return false;
    // Judged, and then sent with its Age, as it is now: the origin may have
    // taken up to originTimeout to fail since the lookup.
    state.freshness = this.#freshnessOf(ctx.stored);
    if (this.#options.faultTolerant === true) {
      return !staleForbidden(state.freshness.cc);
    }
    // A client's no-cache asked for the origin's word (RFC 9111 §5.2.1.4):
    // without it, the stored answer goes out only if the client said it
    // would take one on an error.
    if (
      state.requestCc.noCache && state.requestCc.staleIfError === undefined
    ) return false;
    return staleIfErrorAllows(state.freshness, state.requestCc);
  }

  async #fetch(ctx: CacheContext, state: RequestState): Promise<Transition> {
    const cache = ctx.entitystore.cache;
    const key = ctx.key;
    const method = ctx.request.method.toUpperCase();
    const cacheable = method === "GET" || method === "HEAD";
    // A URL whose last answer could not be stored is fetched by each client
    // on its own for a while, instead of queueing behind one another.
    let sharing = cacheable && cache !== undefined &&
      !this.#isUncacheable(key);

    // Collapsed forwarding: share a fetch already under way for this key.
    // One that failed, or brought another variant, is no use; a fetch the
    // first of its waiters then starts is shared by the others in turn, so
    // they never all go to the origin at once. One whose answer may not be
    // reused without validation (no-cache, already stale: RFC 9111 §4) is
    // no use either, nor would the next be: each waiter then asks on its own.
    // A reload, or a client's no-cache, could not use what it waited for.
    const waits = sharing && !state.revalidating && !ctx.reload &&
      !state.requestCc.noCache;
    let pending = waits ? this.#inflight.get(key) : undefined;
    let waited: Promise<Shared | undefined> | undefined;
    // At most a few in turn: behind an origin that keeps failing, a client
    // then asks it on its own rather than wait through every attempt.
    let timeouts = 0;
    for (let turns = 0; pending && turns < 3; turns++) {
      waited = pending;
      const shared = await pending;
      const timedOut = this.#timedOut.get(pending);
      if (timedOut) timeouts++;
      if (timedOut && timeouts === 2) {
        // One more try after a timeout (an origin slow once, starting up),
        // not one per turn: behind a hung origin, the 504 comes after at
        // most twice originTimeout.
        return this.#staleOrFailed(
          ctx,
          state,
          timedOut,
          ctx.stored !== undefined && state.reader !== undefined,
        );
      }
      if (
        shared &&
        usability(this.#freshnessOf(shared.stored), state.requestCc).use ===
          "validate"
      ) break;
      if (
        shared &&
        this.#selects(shared.stored, ctx.request)
      ) {
        const reader = await this.#openBody(cache, shared.stored.entity);
        if (reader) {
          state.reader?.close();
          state.reader = reader;
          ctx.stored = shared.stored;
          state.fwdStatus = shared.stored.status;
          // What the lookup found (stale, and older) is not what goes out.
          state.freshness = undefined;
          ctx.trace("collapsed");
          return ctx.deliver();
        }
      }
      if (!shared && this.#isUncacheable(key)) {
        // What it waited for may not be stored: from now on, side by side.
        sharing = false;
        break;
      }
      const next = this.#inflight.get(key);
      pending = next !== waited ? next : undefined;
    }
    state.generation = this.#generations[slotOf(key)];
    state.tagPurges = this.#tagPurges?.count ?? 0;
    const current = sharing ? this.#inflight.get(key) : undefined;
    // A fetch already waited on, of no use here, gives way to this one.
    if (sharing && (current === undefined || current === waited)) {
      const record = deferred<Shared | undefined>();
      this.#inflight.set(key, record.promise);
      state.record = record.promise;
      state.settle = (shared, error) => {
        state.settle = undefined;
        if (error instanceof OriginTimeoutError) {
          this.#timedOut.set(record.promise, error);
        }
        record.resolve(shared);
        if (!shared) this.#dropInflight(key, record.promise);
      };
    }

    // Ask for the whole representation: ranges and the client's own
    // conditions are answered from it once stored. A stale stored response
    // is validated with its own validators.
    const headers = withoutHopByHop(ctx.request.headers);
    // Only when the answer is meant to be stored: a URL that cannot be
    // stored gets the client's Range and conditions, as it sent them.
    // (The cache answers them from the stored 200; forwarded, they would
    // make the origin's answer to one client, a 412 say, everyone's.)
    let held = false;
    if (sharing) {
      for (const field of CONDITIONS) {
        held ||= headers.has(field);
        headers.delete(field);
      }
    }
    // An answer shaped by the client's own conditions (a 412, a 416) is
    // that client's only.
    const conditional = !sharing &&
      CONDITIONS.some((field) => headers.has(field));
    let validating = ctx.stored !== undefined && state.reader !== undefined;
    // A HEAD whose answer will not be stored (hit-for-pass, no entity store)
    // goes to the origin as a HEAD: a GET would bring a body only to drop it.
    const headOnly = method === "HEAD" && !sharing && !validating;
    const stored = validating ? new Headers(ctx.stored!.headers) : undefined;
    if (stored) {
      headers.delete("if-none-match");
      headers.delete("if-modified-since");
      // Only validators that are what RFC 9110 §8.8 says they are: a junk
      // one would be sent to the origin as a condition it cannot read.
      const etag = stored.get("etag");
      const lastModified = stored.get("last-modified");
      if (etag !== null && isETag(etag)) headers.set("if-none-match", etag);
      if (parseHttpDate(lastModified) !== undefined) {
        headers.set("if-modified-since", lastModified!);
      }
    }
    let requestTime: number;
    let response: Response;
    for (;;) {
      requestTime = this.#clock.now();
      state.abort = new AbortController();
      try {
        response = await this.#callOrigin(
          this.#forwardRequest(ctx, {
            method: cacheable && !headOnly ? "GET" : method,
            headers,
            body: !cacheable,
            signal: state.abort.signal,
          }),
          state.abort,
          // A fetch for this client alone ends when it leaves; a shared one
          // goes on for the others and the store, unless it is a background
          // revalidation, whose request's signal is aborted at close.
          sharing && !state.revalidating ? undefined : ctx.received,
        );
      } catch (error) {
        state.settle?.(undefined, error);
        return this.#staleOrFailed(ctx, state, error, validating);
      }
      if (
        !validating || response.status !== 304 ||
        notModifiedApplies(stored!, response.headers)
      ) break;
      // A 304 for another version (RFC 9111 §4.3.4) cannot freshen the one
      // stored: ask again, for the whole representation.
      await response.body?.cancel();
      ctx.log(`304 names another version, fetching anew: ${ctx.request.url}`);
      headers.delete("if-none-match");
      headers.delete("if-modified-since");
      validating = false;
      ctx.trace("invalid");
    }
    const responseTime = this.#clock.now();
    const times = { requestTime, responseTime };
    // A HEAD's answer has no body to store, whatever a handler decides.
    if (!headOnly) state.times = times;
    state.fwdStatus = response.status;

    if (
      ERROR_STATUSES.has(response.status) &&
      this.#canServeStaleOnError(ctx, state)
    ) {
      await response.body?.cancel();
      state.settle?.(undefined);
      ctx.trace("stale-if-error");
      return ctx.deliver();
    }

    // Storability is judged as for the GET the origin was sent.
    let reason: NotStorableReason | undefined;
    if (response.status === 304 && validating) {
      ctx.trace("valid");
      const { stored, fields, cookies } = this.#merge304(
        ctx.stored!,
        response.headers,
        times,
        ctx.request,
      );
      state.validated = stored;
      state.cookies = cookies;
      ctx.stored = stored;
      ctx.response = state.refreshed = new Response(null, {
        status: stored.status,
        statusText: stored.statusText,
        headers: fields,
      });
      // Judged on the copy stored: a Set-Cookie of the 304 goes to this
      // client only, and must not keep the stored response from freshening.
      reason = notStorableReason(
        asGet(ctx.request),
        new Response(null, { status: stored.status, headers: stored.headers }),
        this.#rules,
      );
    } else {
      if (validating) ctx.trace("invalid");
      state.reader?.close();
      state.reader = undefined;
      if (headOnly && response.status === 200) {
        await this.#freshenFromHead(ctx, response.headers, times);
      }
      // For HEAD the body (fetched with GET) goes to storage; #finish drops
      // it if it is not stored. The answer goes on itself, its fields mended
      // in place: a new response around its body would make bytes (an
      // app's, or what the origin client read with the head) a stream, up
      // to ~25 µs more to make and read.
      ctx.response = withMutableHeaders(responseWithoutHopByHop(response));
      // The time it came, for this client and the stored copy.
      addValidDate(ctx.response.headers, responseTime);
      this.#noteOrigin(state, response);
      if (held && response.status === 200) state.heldBack = ctx.response;
      // (A policy may look up and fetch any method.) After the answer is
      // ctx.response: should the meta store fail, its body is let go.
      if (!cacheable) await this.#invalidateAfter(ctx, method, response);
      reason = !cacheable || headOnly
        ? "method"
        : conditional && response.status !== 200
        ? "status"
        : notStorableReason(asGet(ctx.request), response, this.#rules);
      if (reason && HIT_FOR_PASS_REASONS.has(reason) && !conditional) {
        this.#markUncacheable(key);
      } else if (!reason) this.#markUncacheable(key, false);
    }
    if (reason) {
      ctx.log(
        `not stored (${reason}): ${ctx.request.method} ${ctx.request.url}`,
      );
    }
    ctx.storable = reason === undefined;
    ctx.notStorableReason = reason;
    const transition = await this.#run("fetch", ctx);
    if (transition.name !== "store") state.settle?.(undefined);
    // A policy that declines to store an answer the cache could store makes
    // the URL's next clients ask on their own too, not queue behind each other.
    if (transition.name === "deliver" && ctx.storable) {
      this.#markUncacheable(key);
    } else if (transition.name === "store" && state.times) {
      // The policy stores what RFC 9111 alone would not: not hit-for-pass.
      this.#markUncacheable(key, false);
    }
    return transition;
  }

  /**
   * RFC 9111 §3.2: the stored response updated with a 304's fields, and the
   * fields for the client that asked (the 304's `Set-Cookie` included). The
   * stored copy is filtered as any stored response is, and loses its old Age.
   * A 304 with another `Vary` has it selected by the values `request` (which
   * the 304 answered) has for the fields it nominates (RFC 9111 §4.1).
   */
  #merge304(
    stored: StoredResponse,
    fields: Headers,
    times: { requestTime: number; responseTime: number },
    request: Request,
  ): { stored: StoredResponse; fields: Headers; cookies: string[] } {
    const merged = new Headers(stored.headers);
    merged.delete("age");
    const storedVary = merged.get("vary");
    const incoming = withoutHopByHop(fields);
    incoming.forEach((value, name) => {
      if (!NOT_MERGED.has(name) && name !== "set-cookie") {
        merged.set(name, value);
      }
    });
    if (!incoming.has("date")) {
      merged.set("date", new Date(times.responseTime).toUTCString());
    }
    const kept = this.#storedHeaders(merged, times.responseTime);
    const varies = incoming.has("vary") && incoming.get("vary") !== storedVary;
    const refreshed: StoredResponse = {
      ...stored,
      headers: headerPairs(kept),
      ...times,
      vary: varies
        ? varyValues(merged, request.headers, this.#policy.normalizers)
        : stored.vary,
    };
    if (stored.ttl !== undefined) {
      // The freshness a policy gave it on arrival counts from the 304 on.
      this.#freshFor(
        refreshed,
        stored.ttl - this.#ageOf(stored, stored.responseTime),
      );
    }
    return {
      stored: refreshed,
      fields: merged,
      cookies: incoming.getSetCookie(),
    };
  }

  /**
   * Whether `ctx.response` is the answer a 304 refreshed, as handlers left
   * it: the refreshed response itself, or one made from it, which has no
   * body either (`new Response(ctx.response.body, ctx.response)`). The
   * stored body goes with it.
   */
  #keepsStoredBody(ctx: CacheContext, state: RequestState): boolean {
    const response = ctx.response;
    return state.refreshed !== undefined && response !== undefined &&
      (response === state.refreshed ||
        (response.body === null &&
          response.status === state.refreshed.status));
  }

  /**
   * This client's answer after a 304, from the fields the handlers left on
   * {@link RequestState.refreshed} and the 304's own cookies.
   */
  #answerRefreshed(ctx: CacheContext, state: RequestState): Response {
    // Made once: the answer (bodiless for a HEAD) is no longer the refreshed one.
    state.refreshed = undefined;
    const fields = withoutHopByHop(ctx.response!.headers);
    for (const cookie of state.cookies ?? []) {
      fields.append("set-cookie", cookie);
    }
    return this.#fromStored(ctx, state, fields);
  }

  async #store(ctx: CacheContext, state: RequestState): Promise<Transition> {
    const transition = await this.#run("store", ctx);
    const response = ctx.response;
    if (transition.name !== "deliver" || !response) {
      state.settle?.(undefined);
      return transition;
    }
    const cache = ctx.entitystore.cache;
    const key = ctx.key;
    if (state.validated && this.#keepsStoredBody(ctx, state)) {
      // What the handlers left of the merged fields is stored.
      const validated = state.validated;
      const stored = {
        ...validated,
        headers: headerPairs(
          this.#storedHeaders(
            withoutHopByHop(response.headers),
            validated.responseTime,
          ),
        ),
        ttl: validated.ttl,
      };
      this.#freshFor(stored, ctx.ttl);
      await this.#saveVariant(ctx, stored, state, true);
      ctx.trace("store");
      state.validated = ctx.stored = stored;
      ctx.response = this.#answerRefreshed(ctx, state);
      state.settle?.({ stored });
      this.#dropInflight(key, state.record);
      return transition;
    }
    if (state.validated) {
      // A handler replaced the refreshed answer: it is stored anew, body and all.
      state.validated = state.refreshed = undefined;
      state.reader?.close();
      state.reader = undefined;
    }
    const status = response.status;
    if (status === 206 || status === 304 || !state.times) {
      state.settle?.(undefined);
      return transition;
    }
    // A handler may have replaced the response: its fields are cleaned here,
    // once, for storage and for this client.
    const fields = withoutHopByHop(response.headers);
    const length = contentLengthOf(fields);
    const maxEntrySize = Math.min(
      this.#options.maxEntrySize ?? Infinity,
      ctx.entitystore.maxEntrySize ?? Infinity,
    );
    if (length !== undefined && length > maxEntrySize) {
      ctx.log(
        `not stored (larger than ${maxEntrySize} bytes): ${ctx.request.url}`,
      );
      // Its requests go to the origin side by side, with their own ranges.
      this.#markUncacheable(key);
      state.settle?.(undefined);
      return transition;
    }
    const stored: StoredResponse = {
      status,
      statusText: response.statusText,
      headers: headerPairs(
        this.#storedHeaders(fields, state.times.responseTime),
      ),
      vary: varyValues(
        response.headers,
        ctx.request.headers,
        this.#policy.normalizers,
      ),
      ...state.times,
      entity: newEntityId(ctx.key),
      size: -1,
    };
    this.#freshFor(stored, ctx.ttl);
    if (!cache) {
      // noop: keep the headers (for validation and 304s); the body goes to
      // this client only.
      stored.size = length ?? -1;
      await this.#saveVariant(ctx, stored, state);
      ctx.trace("store");
      state.settle?.(undefined);
      return transition;
    }
    let handle;
    try {
      handle = await cache.get(stored.entity);
    } catch (error) {
      // Storage failed (disk full, no descriptors): answer unstored.
      ctx.log(`not stored (entity store failed: ${error}): ${ctx.request.url}`);
      state.settle?.(undefined);
      return transition;
    }
    ctx.trace("store");
    state.reader = handle.reader;
    ctx.stored = stored;
    const handoff = deferred<Handoff | undefined>();
    state.settle?.({ stored });
    const pumping = this.#pump(ctx, {
      stored,
      body: response.body,
      writer: handle.writer!,
      record: state.record,
      began: { generation: state.generation, tagPurges: state.tagPurges },
      maxEntrySize,
      declared: length,
      abort: state.abort,
      handoff,
    }).finally(() => this.#pumps.delete(pumping));
    this.#pumps.add(pumping);
    let onward = false;
    ctx.response = this.#fromStored(ctx, state, fields, (stored) => {
      onward = true;
      return withHandoff(stored, handoff.promise);
    });
    // An answer that is not the whole body (HEAD, a range, a 304) takes no
    // rest from the origin: if storing stops, it is let go, not left open.
    if (!onward) {
      void handoff.promise.then((handed) =>
        handed?.rest.cancel().catch(() => {})
      );
    }
    return transition;
  }

  /**
   * Fields of a response as stored, from fields already without hop-by-hop
   * ones: ignored, private and no-cache-named fields removed; Date added.
   */
  #storedHeaders(fields: Headers, responseTime: number): Headers {
    const headers = copyHeaders(fields);
    const cc = responseCacheControl(fields, this.#rules.targetedFields);
    const drop = [
      ...(this.#options.ignoreHeaders ?? ["set-cookie"]),
      ...(Array.isArray(cc.private) ? cc.private : []),
      ...(Array.isArray(cc.noCache) ? cc.noCache : []),
    ];
    for (const name of drop) headers.delete(name);
    addValidDate(headers, responseTime);
    return headers;
  }

  /**
   * Copies the origin's body into the entity, owned by no client; records the
   * variant once the body is complete, never before. A body that outgrows
   * `maxEntrySize` is handed to the client that fetched it instead.
   */
  async #pump(ctx: CacheContext, job: {
    stored: StoredResponse;
    body: ReadableStream<Uint8Array> | null;
    writer: WritableStream<Uint8Array>;
    record: Promise<Shared | undefined> | undefined;
    began: FetchBegan;
    maxEntrySize: number;
    /** The response's Content-Length: a body of another size is not the one described. */
    declared?: number;
    abort: AbortController | undefined;
    handoff: { resolve(value: Handoff | undefined): void };
  }): Promise<void> {
    const { stored, record, maxEntrySize, handoff } = job;
    const key = ctx.key;
    const url = ctx.request.url;
    const idle = this.#options.originIdleTimeout ?? 60_000;
    // A body whose reader a handler took cannot be stored (it fails below).
    const source = job.body && !job.body.locked
      ? new BodyReader(job.body)
      : null;
    const sink = job.writer.getWriter();
    // An origin that stops sending is cut off: its pending read then ends.
    let stalled: OriginTimeoutError | undefined;
    const watch = source &&
      new IdleWatch(this.#clock, idle, () => {
        stalled = new OriginTimeoutError(url, idle, "body");
        source.cancel(stalled).catch(() => {});
      });
    /**
     * Stops storing: the client that fetched the body reads the rest from the
     * origin, from `chunk` (not stored) on; the others see `reason` where
     * storing stopped, and ask the origin for the rest themselves.
     */
    const handOver = async (chunk: Uint8Array, reason: StoringStoppedError) => {
      this.#dropInflight(key, record);
      handoff.resolve(source!.handOff(chunk));
      await sink.abort(reason).catch(() => {});
      ctx.log(reason.message);
    };
    let size = 0;
    try {
      if (job.body && !source) {
        throw new TypeError("its body is locked: a handler took its reader");
      }
      while (source) {
        watch!.reading();
        const next = await source.read();
        watch!.answered();
        if (next.done) {
          if (stalled) throw stalled;
          if (job.declared !== undefined && size !== job.declared) {
            // RFC 9112 §6.3: an incomplete message, never stored as whole.
            throw new Error(
              `body of ${size} bytes, Content-Length ${job.declared}`,
            );
          }
          break;
        }
        if (size + next.value.byteLength > maxEntrySize) {
          await handOver(
            next.value,
            new EntityTooLargeError(url, maxEntrySize),
          );
          return;
        }
        try {
          await sink.write(next.value);
        } catch (error) {
          // The storage failed (a full disk): storing ends, delivery need not.
          await handOver(
            next.value,
            new StoringStoppedError(url, String(error), { cause: error }),
          );
          return;
        }
        // The stored copy is made by then, so the buffer is read into again.
        source.reuse(next.value);
        size += next.value.byteLength;
      }
      try {
        await sink.close();
      } catch (error) {
        // The storage failed at the commit: every byte reached the clients.
        this.#dropInflight(key, record);
        handoff.resolve(nothingMore());
        ctx.log(`not stored (${error}): ${url}`);
        return;
      }
      stored.size = size;
      await this.#saveVariant(ctx, stored, job.began);
    } catch (error) {
      job.abort?.abort(error);
      await sink.abort(error).catch(() => {});
      await source?.cancel(error).catch(() => {});
      ctx.log(`not stored (origin body failed: ${error}): ${url}`);
    } finally {
      watch?.stop();
      handoff.resolve(undefined);
      this.#dropInflight(key, record);
    }
  }

  /**
   * Applies `change` to the variants of `key` (default: the request's), one
   * update at a time per key; no variants left purges the key.
   */
  #updateVariants(
    metastore: MetaStore,
    key: string,
    change: (variants: StoredResponse[]) => StoredResponse[] | undefined,
  ): Promise<void> {
    return this.#metaUpdates.run(key, async () => {
      const next = change(await metastore.lookup(key));
      if (next?.length === 0) await metastore.purge(key);
      else if (next) await metastore.store(key, next);
    });
  }

  /**
   * Records `stored` as the newest variant of its key, dropping the ones it
   * replaces, unless the key was invalidated since the fetch began, a purge
   * by tag since then named one of its tags, or (`freshens`: a stored
   * variant refreshed by a 304) the variant is no longer recorded.
   */
  #saveVariant(
    ctx: CacheContext,
    stored: StoredResponse,
    began: FetchBegan,
    freshens = false,
  ): Promise<void> {
    return this.#updateVariants(ctx.metastore, ctx.key, (variants) => {
      const recorded = variants.some((v) => v.entity === stored.entity);
      if (
        this.#generations[slotOf(ctx.key)] !== began.generation ||
        this.#tagPurges?.namedSince(began.tagPurges, stored) ||
        // Forgotten since the lookup (a purge by tag reaching the key after
        // the fetch began, a newer answer): its body was freed with it.
        (freshens && !recorded)
      ) {
        // A body still recorded (a 304 freshened it) stays with its record:
        // the slot may have moved for another key.
        if (!recorded) this.#discard(ctx, stored.entity);
        return undefined;
      }
      const kept: StoredResponse[] = [];
      for (const variant of variants) {
        if (variant.entity === stored.entity) continue;
        if (sameVary(variant, stored) || kept.length >= MAX_VARIANTS - 1) {
          this.#discard(ctx, variant.entity);
        } else kept.push(variant);
      }
      return [stored, ...kept];
    });
  }

  /**
   * The response to send from a stored body: ranges, conditionals and HEAD
   * answered by `rangeResponse`, `Age` computed. `fields` are the headers to
   * send, already without hop-by-hop ones (default: the stored ones);
   * `onward` carries on a whole body from the origin when storing it stops (a
   * body too large, a storage that fails), for the client that fetched it.
   */
  #fromStored(
    ctx: CacheContext,
    state: RequestState,
    fields?: Headers,
    onward?: Onward,
  ): Response {
    const stored = ctx.stored!;
    // A hit's age was just computed by the lookup.
    const age = String(
      !fields && state.freshness ? state.freshness.age : this.#ageOf(stored),
    );
    const headers: HeadersInit = fields ?? stored.headers;
    const reader = state.reader;
    if (!reader) {
      // No body kept (noop:): the lookup only lets 304s through.
      const response = rangeResponse(ctx.request, new Uint8Array(0), {
        status: stored.status,
        headers,
        fromCache: true,
      });
      response.headers.set("age", age);
      return response;
    }
    const { size: written, complete } = reader.size();
    if (!complete && !state.originInMemory) state.live = true;
    const resume = complete ? undefined : this.#resumer(ctx, stored);
    const size = stored.size >= 0
      ? stored.size
      : complete
      ? written
      : contentLengthOf(fields ?? new Headers(stored.headers));
    if (size === undefined) {
      // Still arriving with no length: the whole body, as it comes.
      const noBody = ctx.request.method === "HEAD" ||
        NULL_BODY_STATUSES.has(stored.status);
      const body = noBody ? null : this.#fromStorage(
        state,
        reader,
        carriedStream(reader, 0, undefined, true, onward, resume),
      );
      const response = new Response(body, {
        status: stored.status,
        statusText: stored.statusText,
        headers,
      });
      response.headers.delete("content-length");
      response.headers.set("age", age);
      return response;
    }
    // A complete body held in one piece: a ready answer's clone (which both
    // servers send fastest), else bytes where the runtime sends bytes faster
    // than streams.
    const held = size <= Math.max(bytesBodyLimit(), TEMPLATE_MAX_BYTES)
      ? reader.bytes()
      : undefined;
    if (held && !fields && answersInFull(ctx.request)) {
      // Most hits: a plain GET of a body held in memory, whose answer differs
      // from the last one only in Age.
      const traceHeader = this.#traceHeader;
      const response = this.#templates.answer(
        held,
        stored,
        {
          age,
          trace: traceHeader ? [traceHeader, traceOf(ctx)] : undefined,
        },
        () =>
          rangeResponse(ctx.request, held, {
            status: stored.status,
            statusText: stored.statusText,
            headers,
          }),
      );
      if (response) return response;
    }
    const bytes = size <= bytesBodyLimit() ? held : undefined;
    const response = rangeResponse(
      ctx.request,
      bytes ?? {
        size,
        stream: (start, end) =>
          this.#fromStorage(
            state,
            reader,
            carriedStream(
              reader,
              start,
              end,
              start === 0 && end === size,
              onward,
              resume,
            ),
          ),
      },
      {
        status: stored.status,
        statusText: stored.statusText,
        headers,
        fromCache: true,
      },
    );
    response.headers.set("age", age);
    if (fields && response.status === 304) {
      // A 304 keeps only validators and freshness fields (RFC 9110 §15.4.5),
      // but cookies this answer sets are the client's all the same.
      for (const cookie of fields.getSetCookie()) {
        response.headers.append("set-cookie", cookie);
      }
    }
    return response;
  }

  /** `stream`, noted as the answer's body read from `reader`'s storage. */
  #fromStorage(
    state: RequestState,
    reader: EntryReader,
    stream: ReadableStream<Uint8Array>,
  ): ReadableStream<Uint8Array> {
    state.stored = stream;
    state.lends = reader.lends;
    return stream;
  }

  /**
   * For bodies read from an entry still being stored: carries a body on from
   * the origin with a `Range` request if storing stops midway. Undefined when
   * the stored response has no strong validator to pin the rest to.
   */
  #resumer(ctx: CacheContext, stored: StoredResponse): Resume | undefined {
    const fields = new Headers(stored.headers);
    const ifRange = strongValidator(fields);
    if (ifRange === undefined) return undefined;
    const encoding = fields.get("content-encoding") ?? "";
    const request = ctx.request;
    const ask = async (range: string) => {
      ctx.log(`asking the origin for ${range} of ${request.url}`);
      const headers = withoutHopByHop(request.headers);
      for (const name of CONDITIONS) headers.delete(name);
      headers.set("range", range);
      headers.set("if-range", ifRange);
      const controller = new AbortController();
      return await this.#callOrigin(
        this.#forwardRequest(ctx, {
          method: "GET",
          headers,
          signal: controller.signal,
        }),
        controller,
      );
    };
    return (body, start, end) => resuming(body, start, end, encoding, ask);
  }

  #error(
    ctx: CacheContext,
    state: RequestState,
    transition: Transition,
  ): Transition | Promise<Transition> {
    state.settle?.(undefined);
    state.reader?.close();
    state.reader = undefined;
    cancelBody(ctx.response);
    const status = transition.status ?? 500;
    const body = transition.body ?? null;
    const bodiless = NULL_BODY_STATUSES.has(status);
    if (bodiless && body instanceof ReadableStream) {
      body.cancel().catch(() => {});
    }
    const headers = new Headers(transition.headers);
    // The cache speaks for itself here: the answer gets its own Date, and
    // its length where known, so that its HEAD twin says the same.
    addValidDate(headers, this.#clock.now());
    const length = bodiless ? undefined : knownLength(body);
    const made = new Response(bodiless ? null : body, { status, headers });
    ctx.response = made;
    // An answer a handler made that is no failure (a purge's 200, a
    // redirect) is synthetic, as Varnish calls it, not an error.
    ctx.trace(status >= 400 ? "error" : "synth");
    // Its length only if the error handlers kept its body.
    const withLength = (transition: Transition) => {
      if (
        ctx.response === made && length !== undefined &&
        !made.headers.has("content-length")
      ) made.headers.set("content-length", String(length));
      return transition;
    };
    const result = this.#run("error", ctx);
    return result instanceof Promise
      ? result.then(withLength)
      : withLength(result);
  }

  /** What this cache did with the request, as its `Cache-Status` member. */
  #cacheStatusMember(
    name: string,
    ctx: CacheContext,
    state: RequestState,
  ): string {
    // An answer from a stored response (a hit, one just stored or
    // validated, stale on error) tells its freshness left.
    const stored = (state.reader || !state.fwd) &&
      (state.validated ?? ctx.stored);
    let ttl: number | undefined;
    if (stored) {
      // A hit's was just worked out by the lookup.
      const { age, lifetime } = !state.fwd && state.freshness
        ? state.freshness
        : this.#freshnessOf(stored);
      ttl = lifetime - age;
    }
    return cacheStatusMember(name, {
      fwd: state.fwd,
      fwdStatus: state.fwdStatus,
      stored: ctx.traces.includes("store"),
      collapsed: ctx.traces.includes("collapsed"),
      ttl,
    });
  }

  #finish(ctx: CacheContext, state: RequestState): Response {
    let response = ctx.response ?? new Response(null, { status: 500 });
    if (state.upgrade && response === ctx.response) return response;
    // Answers cistern made in memory (hits) may be changed; one from the
    // origin or a handler (a redirect, a fetch) may not.
    if (bodyKindOf(response) !== "in-memory") {
      response = withMutableHeaders(response);
    }
    if (ctx.request.method.toUpperCase() === "HEAD") {
      response = headAnswer(response);
    }
    if (this.#options.forwardTargetedFields === false) {
      for (const field of this.#rules.targetedFields) {
        response.headers.delete(field);
      }
    }
    if (this.#tagPurges && this.#options.forwardTagField === false) {
      response.headers.delete(this.#tagPurges.field);
    }
    if (this.#options.via) {
      response.headers.append("via", `1.1 ${this.#options.via}`);
    }
    const traceHeader = this.#traceHeader;
    if (traceHeader) {
      const trace = traceOf(ctx);
      if (presetTraceOf(response) !== trace) {
        response.headers.set(traceHeader, trace);
      }
    }
    if (this.#cacheStatus) {
      response.headers.append(
        "cache-status",
        this.#cacheStatusMember(this.#cacheStatus, ctx, state),
      );
    }
    if (this.#verbose) {
      ctx.log(
        `${ctx.request.method} ${ctx.request.url} ${ctx.traces.join(", ")}`,
      );
    }
    const reader = state.reader;
    if (reader) {
      // Streams already opened hold the entry themselves; only multipart
      // bodies open theirs later, so only they need the reader held.
      const lazy = response.status === 206 &&
        response.headers.get("content-type")?.startsWith(
          "multipart/byteranges",
        );
      if (lazy) response = releasing(response, () => reader.close());
      else reader.close();
    }
    // A server that closes idle connections must not cut a body that waits
    // on the origin (Bun's idle timeout); hits keep that protection. And a
    // stopping server ends an app's live body rather than wait on it.
    if (state.live && response.body && !bodyKindOf(response)) {
      markBodyKind(response, "streaming");
    }
    if (state.stopper && response.body) {
      markStoppable(response, state.stopper);
    }
    const stored = state.stored;
    if (stored && state.lends) {
      // Each layer of a stored body passes its views on as they came, so a
      // server that gets this very body may return them (lent_views.ts).
      markLentBody(response, stored);
    } else if (stored && !bodyKindOf(response) && response.body === stored) {
      // A complete body in the storage's blocks, which can be big.
      markBodyKind(response, "stored");
    }
    return response;
  }
}

/** The trace field's value: most hits have one word, which needs no join. */
function traceOf(ctx: CacheContext): string {
  const traces = ctx.traces;
  return traces.length === 1 ? traces[0] : traces.join(", ");
}

/**
 * The shared cache as middleware in front of the next handler.
 *
 * @example
 * ```ts
 * import { sharedCache } from "./shared_cache.ts";
 * const app = (_request: Request) =>
 *   new Response("hello", { headers: { "cache-control": "public, max-age=60" } });
 * const handler = sharedCache({ entitystore: "heap:" })(app);
 * ```
 */
export function sharedCache(
  options: Omit<SharedCacheOptions, "origin"> = {},
): Middleware {
  return (next) => new SharedCache({ ...options, origin: next }).fetch;
}
