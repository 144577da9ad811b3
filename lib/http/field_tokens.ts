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
    const token = trimOws(part).toLowerCase();
    if (token) tokens.push(token);
  }
  return tokens;
}

/**
 * `text` without the spaces and tabs at its ends: the optional whitespace
 * around field values and list members (RFC 9110 §5.6.3). Not `trim()`,
 * which also takes NBSP, VT and FF, none of them whitespace to HTTP: a
 * `Content-Length: 3\xa0` is malformed, not 3.
 *
 * @example
 * ```ts
 * import { trimOws } from "./field_tokens.ts";
 * trimOws(" \tgzip "); // "gzip"
 * trimOws("3\xa0"); // "3\xa0"
 * ```
 */
export function trimOws(text: string): string {
  return trimEnds(text, isOws);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * `text` without the characters `isSpace` takes at its ends (char codes);
 * `text` itself when there are none, as is usual.
 *
 * @example
 * ```ts
 * import { trimEnds } from "./field_tokens.ts";
 * trimEnds("\r\n v ", (code) => code <= 0x20); // "v"
 * ```
 */
export function trimEnds(
  text: string,
  isSpace: (code: number) => boolean,
): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
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
