/**
 * The members of a comma-separated list field (RFC 9110 §5.6.1), as the
 * fields that name tokens (`Connection`, `Vary`, `Transfer-Encoding`,
 * `no-cache="…"`) are read.
 *
 * @module
 */

/**
 * The members of the list `value`, trimmed and lower-cased; empty members
 * (which recipients must accept) are dropped. `null` is an empty list.
 *
 * @example
 * ```ts
 * import { fieldTokens } from "./field_tokens.ts";
 * fieldTokens("Keep-Alive, , Upgrade"); // ["keep-alive", "upgrade"]
 * ```
 */
export function fieldTokens(value: string | null): string[] {
  if (value === null) return [];
  const tokens: string[] = [];
  for (const part of value.split(",")) {
    const token = part.trim().toLowerCase();
    if (token) tokens.push(token);
  }
  return tokens;
}

/** A lower-cased token (RFC 9110 §5.6.2), as field names are. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * Whether `name`, lower-cased, is a token: a field name that `Headers`
 * accepts. Members of `Connection` or `Vary` that are not are never used as
 * field names.
 *
 * @example
 * ```ts
 * import { isToken } from "./field_tokens.ts";
 * isToken("keep-alive"); // true
 * isToken("foo bar"); // false
 * ```
 */
export function isToken(name: string): boolean {
  return TOKEN.test(name);
}
