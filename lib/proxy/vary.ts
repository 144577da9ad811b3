/**
 * `Vary` (RFC 9111 §4.1): which request fields select a stored variant.
 *
 * @module
 */
import { fieldTokens, isToken, trimOws } from "../http/field_tokens.ts";
import { isHopByHop } from "./headers.ts";

/**
 * The lowercased field names a response's `Vary` nominates. `*`, and any
 * member that is not a field name, yield `["*"]`: such a response never
 * matches a later request.
 *
 * @example
 * ```ts
 * import { varyFields } from "./vary.ts";
 * varyFields(new Headers({ vary: "Accept-Encoding, Accept" })); // ["accept-encoding", "accept"]
 * varyFields(new Headers({ vary: "accept encoding" })); // ["*"]
 * ```
 */
export function varyFields(headers: Headers): string[] {
  const fields = fieldTokens(headers.get("vary"));
  return fields.every(isToken) ? fields : ["*"];
}

/**
 * Request field normalizers by lower-cased field name (policy modules
 * register them: `normalize`): the cache compares, and forwards, what they
 * return instead of the value as sent.
 */
export type FieldNormalizers = ReadonlyMap<string, (value: string) => string>;

const NO_NORMALIZERS: FieldNormalizers = new Map();

/** Comma-separated lists whose syntax allows whitespace around the commas (RFC 9110 §12.5). */
const LISTS = new Set([
  "accept",
  "accept-charset",
  "accept-encoding",
  "accept-language",
]);
/** Fields whose values are case-insensitive throughout: language tags, content codings. */
const CASELESS = new Set(["accept-language", "accept-encoding"]);

/**
 * The request's value of `field` as the origin sees it, normalized for
 * comparison where the field's syntax says values mean the same (RFC 9111
 * §4.1): runs of spaces and tabs folded and the ends trimmed (other
 * characters, NBSP among them, tell values apart); for the `Accept`
 * lists, the whitespace around commas removed (unless a quoted string
 * could hold one), and language tags and codings lower-cased. `null` when
 * absent, or when the request made it hop-by-hop (`Connection:
 * accept-language`), as it is then not forwarded. Otherwise a client could
 * have the origin's answer for no value stored as the answer for the value
 * it names.
 */
function forwardedValue(
  requestHeaders: Headers,
  field: string,
  normalizers: FieldNormalizers,
): string | null {
  const value = requestHeaders.get(field);
  if (value === null || isHopByHop(requestHeaders, field)) return null;
  const normalize = normalizers.get(field);
  let folded = trimOws(
    (normalize ? normalize(value) : value).replace(/[ \t]+/g, " "),
  );
  if (LISTS.has(field) && !folded.includes('"')) {
    folded = folded.replace(/ ?, ?/g, ",");
  }
  return CASELESS.has(field) ? folded.toLowerCase() : folded;
}

/**
 * The request's values of the fields `responseHeaders`' `Vary` nominates.
 *
 * @example
 * ```ts
 * import { varyValues } from "./vary.ts";
 * varyValues(new Headers({ vary: "Accept-Encoding" }), new Headers({ "accept-encoding": "gzip" }));
 * // { "accept-encoding": "gzip" }
 * ```
 */
export function varyValues(
  responseHeaders: Headers,
  requestHeaders: Headers,
  normalizers: FieldNormalizers = NO_NORMALIZERS,
): Record<string, string | null> {
  const values: Record<string, string | null> = {};
  for (const field of varyFields(responseHeaders)) {
    if (field !== "*") {
      values[field] = forwardedValue(requestHeaders, field, normalizers);
    }
  }
  return values;
}

/**
 * Whether a stored variant was selected by request fields equal to these;
 * `fields` are the names its `Vary` lists ({@link varyFields}), and `Vary: *`
 * never matches.
 *
 * @example
 * ```ts
 * import { varyMatches } from "./vary.ts";
 * const stored = { vary: { accept: "text/html" } };
 * varyMatches(stored, new Headers({ accept: "text/html" }), ["accept"]); // true
 * ```
 */
export function varyMatches(
  stored: { vary: Record<string, string | null> },
  requestHeaders: Headers,
  fields: string[],
  normalizers: FieldNormalizers = NO_NORMALIZERS,
): boolean {
  for (const field of fields) {
    if (field === "*") return false;
    if (
      (stored.vary[field] ?? null) !==
        forwardedValue(requestHeaders, field, normalizers)
    ) {
      return false;
    }
  }
  return true;
}

/** Whether two variants were selected by the same request field values. */
export function sameVary(
  a: { vary: Record<string, string | null> },
  b: { vary: Record<string, string | null> },
): boolean {
  const names = new Set([...Object.keys(a.vary), ...Object.keys(b.vary)]);
  for (const name of names) {
    if ((a.vary[name] ?? null) !== (b.vary[name] ?? null)) return false;
  }
  return true;
}
