/**
 * The shared cache's errors, each carrying the URL it concerns.
 *
 * @module
 */

/**
 * The origin did not answer (its headers), or paused its body, for longer
 * than the cache allows; clients get `504 Gateway Timeout` or a cut body.
 *
 * @example
 * ```ts
 * import { OriginTimeoutError } from "./errors.ts";
 * const error = new OriginTimeoutError("http://origin/x", 30_000, "headers");
 * ```
 */
export class OriginTimeoutError extends Error {
  /** The URL asked for. */
  readonly url: string;
  /** The limit, in ms. */
  readonly timeout: number;
  /** What was late: the response `"headers"`, or the next piece of `"body"`. */
  readonly phase: "headers" | "body";
  /** Makes the error. */
  constructor(url: string, timeout: number, phase: "headers" | "body") {
    super(
      `origin sent no ${
        phase === "headers" ? "response" : "body data"
      } for ${timeout} ms: ${url}`,
    );
    this.name = "OriginTimeoutError";
    this.url = url;
    this.timeout = timeout;
    this.phase = phase;
  }
}

/**
 * A body outgrew the entry size limit while being stored: it is not kept,
 * and the client that fetched it gets the rest straight from the origin.
 *
 * @example
 * ```ts
 * import { EntityTooLargeError } from "./errors.ts";
 * const error = new EntityTooLargeError("http://origin/big", 1 << 20);
 * ```
 */
export class EntityTooLargeError extends Error {
  /** The URL being stored. */
  readonly url: string;
  /** The limit, in bytes. */
  readonly limit: number;
  /** Makes the error. */
  constructor(url: string, limit: number) {
    super(`body of ${url} is larger than ${limit} bytes: not stored`);
    this.name = "EntityTooLargeError";
    this.url = url;
    this.limit = limit;
  }
}
