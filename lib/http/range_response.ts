/**
 * `rangeResponse`: serve any sized source (bytes, a `Blob`, or anything that
 * can stream a byte range, like a stream-cache entry or a file) with
 * conditional GET, `Range`, `If-Range`, multipart/byteranges and HEAD
 * handled. `sendFile`, the stream-cache handler and the shared cache all
 * answer through it, so range and validator rules live in one place.
 *
 * @module
 */
import {
  type ByteRange,
  DEFAULT_MAX_RANGES,
  formatContentRange,
  ifRangeMatches,
  parseRange,
} from "./range.ts";
import { evaluatePreconditions } from "./preconditions.ts";
import { randomHex } from "../deferred.ts";
import { FieldList } from "./field_list.ts";
import { markBodyKind } from "./body_kind.ts";

/**
 * A source that knows its size and can stream any byte range of itself:
 * `stream(start, end)` yields bytes `[start, end)` (end exclusive).
 *
 * @example
 * ```ts
 * import { rangeResponse } from "./range_response.ts";
 * const text = "hello";
 * const source = { size: 5, stream: (start: number, end: number) => new Response(text.slice(start, end)).body! };
 * const response = rangeResponse(new Request("http://x/", { headers: { range: "bytes=1-2" } }), source);
 * await response.text(); // "el"
 * ```
 */
export interface RangeSource {
  /**
   * Total size in bytes.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * const source = { size: 5, stream: () => new Response("hello").body! };
   * const response = rangeResponse(new Request("http://x/", { headers: { range: "bytes=10-" } }), source);
   * response.status; // 416: past the 5 bytes
   * ```
   */
  readonly size: number;
  /**
   * Streams bytes `[start, end)`.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * const blob = new Blob(["hello"]);
   * const source = { size: blob.size, stream: (start: number, end: number) => blob.slice(start, end).stream() };
   * rangeResponse(new Request("http://x/", { headers: { range: "bytes=0-1" } }), source).status; // 206
   * ```
   */
  stream(start: number, end: number): ReadableStream<Uint8Array>;
}

/** What {@link rangeResponse} can serve. */
export type ByteSource = Uint8Array | Blob | RangeSource;

/** The full response's status and headers, and range-handling options. */
export interface RangeResponseInit {
  /**
   * Status of the full response. Only a 200 is turned into 206 / 416 / 304;
   * any other status is sent as is, with the whole source. Default `200`.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * // not a 200: sent whole, Range ignored
   * rangeResponse(new Request("http://x/"), new TextEncoder().encode("gone"), { status: 404 }).status; // 404
   * ```
   */
  status?: number;
  /**
   * Status text of the full response. Default: the runtime's.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * rangeResponse(new Request("http://x/"), new Uint8Array(3), { statusText: "Fine" }).statusText; // "Fine"
   * ```
   */
  statusText?: string;
  /**
   * Headers of the full response. Its `ETag` and `Last-Modified` drive
   * conditional GET and `If-Range`; its `Content-Type` is repeated in each
   * part of a multipart answer. Default: none.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * const response = rangeResponse(new Request("http://x/"), new TextEncoder().encode("hello"), {
   *   headers: { "content-type": "text/plain", etag: '"v1"' },
   * });
   * ```
   */
  headers?: HeadersInit;
  /**
   * See {@link ParseRangeOptions.maxRanges}. Default `50`.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * const request = new Request("http://x/", { headers: { range: "bytes=0-0,2-2" } });
   * rangeResponse(request, new Uint8Array(10), { maxRanges: 1 }).status; // 200: too many ranges
   * ```
   */
  maxRanges?: number;
  /**
   * Answer `If-None-Match` / `If-Modified-Since` with 304 and `If-Match` /
   * `If-Unmodified-Since` with 412 before looking at `Range`. Turn it off
   * when the caller has already evaluated preconditions. Default `true`.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * const request = new Request("http://x/", { headers: { "if-none-match": '"a"' } });
   * rangeResponse(request, new Uint8Array(3), { headers: { etag: '"a"' }, conditional: false }).status; // 200
   * ```
   */
  conditional?: boolean;
  /**
   * The response is a cache's stored one: without `Last-Modified`,
   * `If-Modified-Since` is compared with its `Date` (RFC 9111 §4.3.2; see
   * {@link evaluatePreconditions}). Default `false`.
   *
   * @example
   * ```ts
   * import { rangeResponse } from "./range_response.ts";
   * const date = "Mon, 01 Dec 2025 00:00:00 GMT";
   * const request = new Request("http://x/", { headers: { "if-modified-since": date } });
   * rangeResponse(request, new Uint8Array(3), { headers: { date }, fromCache: true }).status; // 304
   * ```
   */
  fromCache?: boolean;
}

/** The header fields a 304 repeats from the 200 (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = [
  "cache-control",
  "content-location",
  "date",
  "etag",
  "expires",
  "last-modified",
  "vary",
];

const encoder = new TextEncoder();

function sizeOf(source: ByteSource): number {
  return source instanceof Uint8Array ? source.byteLength : source.size;
}

/** The body for bytes `[start, end)` of a source, as cheaply as the source allows. */
function slice(
  source: ByteSource,
  start: number,
  end: number,
): Uint8Array | Blob | ReadableStream<Uint8Array> {
  if (source instanceof Uint8Array) return source.subarray(start, end);
  if (source instanceof Blob) {
    return start === 0 && end === source.size
      ? source
      : source.slice(start, end);
  }
  return source.stream(start, end);
}

/**
 * `response`, marked as carrying bytes in memory when its source is bytes:
 * servers then know it cannot pause, and Bun's adapter that it must not let
 * Bun's server label it `application/octet-stream`.
 */
function bytesMarked(response: Response, source: ByteSource): Response {
  return source instanceof Uint8Array
    ? markBodyKind(response, "in-memory")
    : response;
}

/** Streams the parts of a multipart/byteranges body one after another, on demand. */
function multipartBody(
  source: ByteSource,
  ranges: ByteRange[],
  heads: Uint8Array[],
  tail: Uint8Array,
): ReadableStream<Uint8Array> {
  let part = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (reader) {
          const { value, done } = await reader.read();
          if (!done) {
            if (value.byteLength > 0) {
              controller.enqueue(value);
              return;
            }
            continue;
          }
          reader = undefined;
        }
        if (part === ranges.length) {
          controller.enqueue(tail);
          controller.close();
          return;
        }
        const { start, end } = ranges[part];
        controller.enqueue(heads[part++]);
        const body = slice(source, start, end);
        if (body instanceof Uint8Array) controller.enqueue(body);
        else {
          reader = (body instanceof Blob ? body.stream() : body).getReader();
        }
        return;
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Whether {@link rangeResponse} answers `request` with the full response,
 * whatever the source and its headers: a GET with no `Range` and no
 * conditional header. Such answers can be made once and cloned.
 *
 * @example
 * ```ts
 * import { answersInFull } from "./range_response.ts";
 * answersInFull(new Request("http://x/")); // true
 * answersInFull(new Request("http://x/", { headers: { range: "bytes=0-1" } })); // false
 * ```
 */
export function answersInFull(request: Request): boolean {
  if (request.method !== "GET") return false;
  const headers = request.headers;
  return !headers.has("range") && !headers.has("if-none-match") &&
    !headers.has("if-modified-since") && !headers.has("if-match") &&
    !headers.has("if-unmodified-since");
}

/**
 * Answers `request` from `source`, the selected representation:
 *
 * - preconditions first (304 / 412, unless `conditional: false`);
 * - then, for a GET of a 200 whose `If-Range` (if any) matches, the `Range`
 *   header (other methods ignore it, RFC 9110 §14.2: HEAD gets the 200's
 *   headers): one range → `206` with `Content-Range`; several →
 *   `206 multipart/byteranges`; none satisfiable → `416` with
 *   `Content-Range: bytes` asterisk `/size`; ignored → the full `200`;
 * - `Accept-Ranges: bytes` and an exact `Content-Length` on 200 and 206;
 * - HEAD gets the same status and headers and no body.
 *
 * Nothing is read from `source` until the body is consumed, and only the
 * ranges asked for are read. See {@link parseRange} for which headers are
 * ignored, dropped or merged.
 *
 * @example
 * ```ts
 * import { rangeResponse } from "./range_response.ts";
 * const bytes = new TextEncoder().encode("hello, world");
 * const request = new Request("http://x/", { headers: { range: "bytes=0-4" } });
 * const response = rangeResponse(request, bytes, {
 *   headers: { "content-type": "text/plain", etag: '"v1"' },
 * });
 * response.status; // 206
 * await response.text(); // "hello"
 * ```
 */
export function rangeResponse(
  request: Request,
  source: ByteSource,
  init: RangeResponseInit = {},
): Response {
  const status = init.status ?? 200;
  const headers = new FieldList(init.headers);
  const method = request.method.toUpperCase();
  const head = method === "HEAD";
  const size = sizeOf(source);
  // 204, 205 and 304 carry no body, whatever the source holds.
  const nullBody = head || status === 204 || status === 205 || status === 304;
  const full = (): Response => {
    if (status !== 204 && status !== 304) {
      headers.set("content-length", String(size));
    }
    return bytesMarked(
      headers.response(
        nullBody ? null : slice(source, 0, size) as BodyInit,
        { status, statusText: init.statusText },
      ),
      source,
    );
  };
  // Preconditions apply to any 2xx (RFC 9110 §13.2.1); ranges to 200s only.
  if (status < 200 || status > 299) return full();

  if (init.conditional ?? true) {
    const precondition = evaluatePreconditions(request, headers, {
      fromCache: init.fromCache,
    });
    if (precondition === "not-modified") {
      // The pairs are already normalised: copy them, not through HeadersInit.
      const kept = new FieldList();
      for (const pair of headers.pairs) {
        if (NOT_MODIFIED_FIELDS.includes(pair[0])) kept.pairs.push(pair);
      }
      return kept.response(null, { status: 304 });
    }
    if (precondition === "precondition-failed") {
      return new Response(null, { status: 412 });
    }
  }

  if (status !== 200) return full();
  headers.set("accept-ranges", "bytes");
  const rangeHeader = request.headers.get("range");
  if (
    rangeHeader === null || method !== "GET" ||
    !ifRangeMatches(request, headers)
  ) {
    return full();
  }
  const result = parseRange(rangeHeader, size, {
    maxRanges: init.maxRanges ?? DEFAULT_MAX_RANGES,
  });
  if (result.type === "none" || result.type === "ignored") return full();
  if (result.type === "unsatisfiable") {
    return new Response(null, {
      status: 416,
      headers: {
        "accept-ranges": "bytes",
        "content-range": formatContentRange(size),
        "content-length": "0",
      },
    });
  }

  const { ranges } = result;
  if (ranges.length === 1) {
    const [range] = ranges;
    headers.set("content-range", formatContentRange(size, range));
    headers.set("content-length", String(range.end - range.start));
    return bytesMarked(
      headers.response(
        slice(source, range.start, range.end) as BodyInit,
        { status: 206 },
      ),
      source,
    );
  }

  const boundary = randomHex(12);
  const contentType = headers.get("content-type");
  const heads = ranges.map((range, i) =>
    encoder.encode(
      `${i === 0 ? "" : "\r\n"}--${boundary}\r\n` +
        (contentType === null ? "" : `content-type: ${contentType}\r\n`) +
        `content-range: ${formatContentRange(size, range)}\r\n\r\n`,
    )
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  let length = tail.byteLength;
  for (let i = 0; i < ranges.length; i++) {
    length += heads[i].byteLength + ranges[i].end - ranges[i].start;
  }
  headers.set("content-type", `multipart/byteranges; boundary=${boundary}`);
  headers.set("content-length", String(length));
  return headers.response(
    multipartBody(source, ranges, heads, tail),
    { status: 206 },
  );
}
