/**
 * The `Host` a request came with, judged: servers build a request's URL from
 * it unchecked (Deno's), or leave a URL without one (Bun's), and RFC 9112
 * §3.2 asks a server to answer a `Host` that is not one with a 400.
 *
 * @module
 */
import { refusalAnswer } from "./plain_answers.ts";

/**
 * A host and optional port (RFC 9110 §7.2, RFC 3986 §3.2.2): a registered
 * name or IPv4 address, or an IP literal in brackets.
 */
const HOST =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::([0-9]{0,5}))?$/;

/**
 * Whether `host` (with its port, as a `Host` field carries it) is a valid one.
 *
 * @example
 * ```ts
 * import { isValidHost } from "./host_field.ts";
 * isValidHost("example.com:8080"); // true
 * isValidHost("a b"); // false
 * ```
 */
export function isValidHost(host: string): boolean {
  const match = HOST.exec(host);
  return match !== null && !(Number(match[1]) > 65535);
}

/** The body of the answer to a request whose `Host` is not valid. */
export const INVALID_HOST_TEXT = "400 Bad Request: invalid Host\n";

/**
 * The answer to a request whose `Host` is not valid: a 400 nobody stores.
 *
 * @example
 * ```ts
 * import { invalidHostAnswer } from "./host_field.ts";
 * invalidHostAnswer().status; // 400
 * ```
 */
export function invalidHostAnswer(): Response {
  return refusalAnswer(400, INVALID_HOST_TEXT);
}
