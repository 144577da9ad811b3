/**
 * The short plain-text answers a server adapter gives itself, when a
 * request never reaches the handler or the handler fails: the same on every
 * server.
 *
 * @module
 */

const TEXT = "text/plain; charset=utf-8";

/**
 * A short plain-text answer nobody stores (a request the server refuses).
 *
 * @example
 * ```ts
 * import { refusalAnswer } from "./plain_answers.ts";
 * refusalAnswer(501, "501 Not Implemented\n").status; // 501
 * ```
 */
export function refusalAnswer(status: number, text: string): Response {
  return new Response(text, {
    status,
    headers: { "content-type": TEXT, "cache-control": "no-store" },
  });
}

/**
 * The answer to a handler that threw: a plain 500 that shows nothing of the
 * error (never a development page with source paths).
 *
 * @example
 * ```ts
 * import { internalErrorAnswer } from "./plain_answers.ts";
 * internalErrorAnswer().status; // 500
 * ```
 */
export function internalErrorAnswer(): Response {
  return new Response("Internal Server Error", {
    status: 500,
    headers: { "content-type": TEXT },
  });
}
