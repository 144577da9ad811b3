/**
 * `Vary` (RFC 9111 §4.1): which request fields select a stored variant.
 *
 * @module
 */
import { fieldTokens, isToken } from "../http/field_tokens.ts";
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

/** Fields whose values are case-insensitive throughout: language tags, content codings. */
const CASELESS = new Set(["accept-language", "accept-encoding"]);

/**
 * The request's value of `field` as the origin sees it, normalized for
 * comparison as RFC 9111 §4.1 allows (whitespace runs folded, ends and the
 * whitespace around commas removed, language tags and codings lower-cased):
 * `null` when absent, or when the request made it hop-by-hop
 * (`Connection: accept-language`), as it is then not forwarded. Otherwise a
 * client could have the origin's answer for no value stored as the answer
 * for the value it names.
 */
function forwardedValue(requestHeaders: Headers, field: string): string | null {
  const value = requestHeaders.get(field);
  if (value === null || isHopByHop(requestHeaders, field)) return null;
  const folded = value.replace(/\s+/g, " ").replace(/ ?, ?/g, ",").trim();
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
): Record<string, string | null> {
  const values: Record<string, string | null> = {};
  for (const field of varyFields(responseHeaders)) {
    if (field !== "*") values[field] = forwardedValue(requestHeaders, field);
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
): boolean {
  for (const field of fields) {
    if (field === "*") return false;
    if (
      (stored.vary[field] ?? null) !== forwardedValue(requestHeaders, field)
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
