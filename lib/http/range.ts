/**
 * Range requests (RFC 9110 §14): parse a `Range` header against a
 * representation's size, and decide whether `If-Range` lets it apply.
 * {@link rangeResponse} turns the result into a 200, 206 or 416.
 *
 * The choices made where the RFC leaves room (§14.2):
 *
 * - A header that is malformed anywhere (`bytes=5-1`, `bytes=x`, a missing
 *   `=`) is ignored as a whole, and the full representation is sent.
 * - A unit other than `bytes` is ignored (full representation).
 * - More range-specs than `maxRanges` (default 50) are ignored as a whole
 *   (full representation), which bounds the work a hostile header causes.
 * - Unsatisfiable specs are dropped when at least one is satisfiable; when
 *   none is, the answer is 416. `bytes=-0` is unsatisfiable.
 * - Satisfiable ranges are sorted and overlapping or adjacent ones merged
 *   (RFC 9110 §14.2 allows coalescing regardless of order), so overlapping
 *   specs never send a byte twice.
 *
 * @module
 */
import { parseHttpDate } from "./http_date.ts";
import { isETag, strongMatch } from "./etag.ts";
import {
  _header,
  type ConditionalRequest,
  type ValidatorHeaders,
} from "./preconditions.ts";
import { trimOws } from "./field_tokens.ts";

/** Bytes `[start, end)` of a representation: `end` is exclusive, like `Blob.slice`. */
export interface ByteRange {
  /**
   * Offset of the first byte.
   *
   * @example
   * ```ts
   * import { parseRange } from "./range.ts";
   * parseRange("bytes=100-199", 1000); // { type: "satisfiable", ranges: [{ start: 100, end: 200 }] }
   * ```
   */
  start: number;
  /**
   * Offset just past the last byte (Content-Range shows `end - 1`).
   *
   * @example
   * ```ts
   * import { formatContentRange } from "./range.ts";
   * formatContentRange(1000, { start: 0, end: 100 }); // "bytes 0-99/1000"
   * ```
   */
  end: number;
}

/** The outcome of {@link parseRange}. */
export type RangeResult =
  /** No Range header: send the full representation. */
  | { type: "none" }
  /**
   * A Range header to ignore (send the full representation): `"unit"` for a
   * unit other than bytes, `"syntax"` for a malformed header, `"too-many"`
   * for more than `maxRanges` specs, `"empty"` for a suffix range of an
   * empty representation (nothing a 206 could carry).
   */
  | { type: "ignored"; reason: "unit" | "syntax" | "too-many" | "empty" }
  /** Ranges to send, sorted, non-overlapping, non-adjacent and non-empty. */
  | { type: "satisfiable"; ranges: ByteRange[] }
  /** No spec overlaps the representation: answer 416. */
  | { type: "unsatisfiable" };

/** Options for {@link parseRange}. */
export interface ParseRangeOptions {
  /**
   * The most range-specs a header may hold; a header with more is ignored
   * (full representation). Default `50`.
   *
   * @example
   * ```ts
   * import { parseRange } from "./range.ts";
   * parseRange("bytes=0-1,4-5,8-9", 1000, { maxRanges: 2 }); // { type: "ignored", reason: "too-many" }
   * ```
   */
  maxRanges?: number;
}

/** Default for {@link ParseRangeOptions.maxRanges}. */
export const DEFAULT_MAX_RANGES = 50;

const SPEC = /^(\d*)-(\d*)$/;

/**
 * Parses a `Range` header (RFC 9110 §14.1.2) for a representation of `size`
 * bytes: int-ranges (`bytes=0-99`), open-ended ranges (`bytes=100-`) and
 * suffix ranges (`bytes=-100`), with optional whitespace around commas and
 * a case-insensitive unit. Never throws; see the module documentation for
 * what is ignored, dropped and merged.
 *
 * @example
 * ```ts
 * import { parseRange } from "./range.ts";
 * parseRange("bytes=0-1, -2", 10);
 * // { type: "satisfiable", ranges: [{ start: 0, end: 2 }, { start: 8, end: 10 }] }
 * parseRange("bytes=20-", 10); // { type: "unsatisfiable" }
 * parseRange("items=0-1", 10); // { type: "ignored", reason: "unit" }
 * ```
 */
export function parseRange(
  header: string | null | undefined,
  size: number,
  options: ParseRangeOptions = {},
): RangeResult {
  if (header === null || header === undefined) return { type: "none" };
  const maxRanges = options.maxRanges ?? DEFAULT_MAX_RANGES;
  const equals = header.indexOf("=");
  if (equals < 0) return { type: "ignored", reason: "syntax" };
  const unit = trimOws(header.slice(0, equals)).toLowerCase();
  if (unit !== "bytes") {
    return { type: "ignored", reason: unit ? "unit" : "syntax" };
  }
  const specs = header.slice(equals + 1).split(",");
  // Counted before any spec is parsed, so 100,000 specs cost one split.
  let count = 0;
  for (const spec of specs) if (trimOws(spec) !== "") count++;
  if (count === 0) return { type: "ignored", reason: "syntax" };
  if (count > maxRanges) return { type: "ignored", reason: "too-many" };

  const ranges: ByteRange[] = [];
  let emptySatisfiable = false;
  for (const raw of specs) {
    const spec = trimOws(raw);
    if (spec === "") continue;
    const m = SPEC.exec(spec);
    if (!m || (m[1] === "" && m[2] === "")) {
      return { type: "ignored", reason: "syntax" };
    }
    if (m[1] === "") {
      // suffix-range: the last N bytes
      const length = Number(m[2]);
      if (length === 0) continue;
      if (size === 0) emptySatisfiable = true;
      else ranges.push({ start: Math.max(0, size - length), end: size });
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === "" ? undefined : Number(m[2]);
    if (last !== undefined && last < first) {
      return { type: "ignored", reason: "syntax" };
    }
    if (first >= size) continue;
    ranges.push({
      start: first,
      end: last === undefined ? size : Math.min(last + 1, size),
    });
  }
  if (ranges.length === 0) {
    return emptySatisfiable
      ? { type: "ignored", reason: "empty" }
      : { type: "unsatisfiable" };
  }
  return { type: "satisfiable", ranges: coalesce(ranges) };
}

/** Sorts ranges and merges the overlapping or adjacent ones. */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  ranges.sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [{ ...ranges[0] }];
  for (const range of ranges.slice(1)) {
    const last = merged[merged.length - 1];
    if (range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/**
 * Formats a `Content-Range` value: `bytes 0-99/1000` for a range, or the
 * unsatisfied form (`bytes`, an asterisk, `/1000`) for a 416 without one.
 *
 * @example
 * ```ts
 * import { formatContentRange } from "./range.ts";
 * formatContentRange(1000, { start: 0, end: 100 }); // "bytes 0-99/1000"
 * formatContentRange(1000).endsWith("/1000"); // true
 * ```
 */
export function formatContentRange(size: number, range?: ByteRange): string {
  return range
    ? `bytes ${range.start}-${range.end - 1}/${size}`
    : `bytes */${size}`;
}

/**
 * Whether a request's `If-Range` lets its `Range` apply to the selected
 * representation (RFC 9110 §13.1.5): `true` without `If-Range`; with an
 * entity-tag, only when it strongly matches the `ETag` (a weak tag never
 * does); with a date, only when it equals `Last-Modified` exactly. An
 * unparseable `If-Range` is `false`, so the full representation is sent.
 *
 * @example
 * ```ts
 * import { ifRangeMatches } from "./range.ts";
 * const request = new Request("http://x/", {
 *   headers: { range: "bytes=100-", "if-range": '"v1"' },
 * });
 * ifRangeMatches(request, { etag: '"v1"' }); // true: send the range
 * ifRangeMatches(request, { etag: '"v2"' }); // false: send it all
 * ```
 */
export function ifRangeMatches(
  request: ConditionalRequest,
  validators: ValidatorHeaders,
): boolean {
  const ifRange = request.headers.get("if-range");
  if (ifRange === null) return true;
  const value = trimOws(ifRange);
  if (value.startsWith('"') || value.startsWith("W/")) {
    const etag = _header(validators, "etag");
    return etag !== null && isETag(value) && strongMatch(value, etag);
  }
  const date = parseHttpDate(value);
  const lastModified = parseHttpDate(_header(validators, "last-modified"));
  if (date === undefined || date !== lastModified) return false;
  // A Last-Modified is a strong validator only when it is at least a second
  // older than the response's Date (RFC 9110 §8.8.2.2): a file changed twice
  // within one second would otherwise splice two versions together.
  const sent = parseHttpDate(_header(validators, "date")) ?? Date.now();
  return lastModified + 1000 <= sent;
}
