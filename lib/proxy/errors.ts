/**
 * The shared cache's errors, each carrying the URL it concerns.
 *
 * @module
 */
import { Http1ProtocolError } from "../adapters/http1_client.ts";

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
 * The client left before the origin answered a request made for it alone (a
 * pass, or a fetch no other client shares): the origin request is aborted
 * with this reason.
 *
 * @example
 * ```ts
 * import { ClientGoneError } from "./errors.ts";
 * const error = new ClientGoneError("http://origin/slow");
 * ```
 */
export class ClientGoneError extends Error {
  /** The URL asked for. */
  readonly url: string;
  /** Makes the error. */
  constructor(url: string) {
    super(`the client left before the origin answered: ${url}`);
    this.name = "ClientGoneError";
    this.url = url;
  }
}

/**
 * Storing a body stopped midway (it outgrew the entry limit, or the storage
 * failed) though the origin was still sending it: nothing is kept. Clients
 * reading the entry see this error where storing stopped, and the cache
 * carries them on from the origin (the client that fetched the body from the
 * origin's rest; the others with a `Range` request, where the stored response
 * has a strong validator).
 *
 * @example
 * ```ts
 * import { StoringStoppedError } from "./errors.ts";
 * const error = new StoringStoppedError(
 *   "http://origin/big",
 *   "no space left on device",
 * );
 * ```
 */
export class StoringStoppedError extends Error {
  /** The URL being stored. */
  readonly url: string;
  /** Makes the error; `why` says what stopped it, `options.cause` the storage's own error. */
  constructor(url: string, why: string, options?: ErrorOptions) {
    super(`not stored (${why}): ${url}`, options);
    this.name = "StoringStoppedError";
    this.url = url;
  }
}

/**
 * A body outgrew the entry size limit while being stored: it is not kept,
 * and its clients get the rest straight from the origin.
 *
 * @example
 * ```ts
 * import { EntityTooLargeError } from "./errors.ts";
 * const error = new EntityTooLargeError("http://origin/big", 1 << 20);
 * ```
 */
export class EntityTooLargeError extends StoringStoppedError {
  /** The limit, in bytes. */
  readonly limit: number;
  /** Makes the error. */
  constructor(url: string, limit: number) {
    super(url, `body outgrew ${limit} bytes`);
    this.name = "EntityTooLargeError";
    this.limit = limit;
  }
}

/**
 * This cache cannot purge by tag: its `tagField` is `false`, or its meta
 * store cannot list its records (a custom one without `entries()`, a
 * `file:` folder that processes share). A `TypeError`, as a wrong use is;
 * `purgeRequests` answers it with `501 Not Implemented`, where a store that
 * fails during the walk is a `500`.
 *
 * @example
 * ```ts
 * import { TagPurgeUnsupportedError } from "./errors.ts";
 * const error = new TagPurgeUnsupportedError("purging by tag needs a tagField");
 * ```
 */
export class TagPurgeUnsupportedError extends TypeError {
  /** Makes the error; `why` says what is missing. */
  constructor(why: string) {
    super(why);
    this.name = "TagPurgeUnsupportedError";
  }
}

/** The body of a proxy's `499` for a client that left before the answer (nginx's status). */
export const CLIENT_CLOSED_TEXT = "499 Client Closed Request\n";

/**
 * The body of a proxy's `502` for an origin that failed with `error`: its
 * answer was not HTTP/1.1, or it sent none.
 *
 * @example
 * ```ts
 * import { badGatewayText } from "./errors.ts";
 * badGatewayText(new Error("connection refused")); // "502 Bad Gateway: the origin did not answer\n"
 * ```
 */
export function badGatewayText(error: unknown): string {
  return error instanceof Http1ProtocolError
    ? "502 Bad Gateway: the origin's answer was not valid HTTP/1.1\n"
    : "502 Bad Gateway: the origin did not answer\n";
}
