/**
 * Store URIs, as Rack::Cache chose stores: `heap:`, `file:./path`, `noop:`,
 * with options in the query (`heap:?maxBytes=67108864`).
 *
 * @module
 */

/** A parsed store URI. */
export interface StoreUri {
  /**
   * `heap`, `file`, `noop`, …
   *
   * @example
   * ```ts
   * import { parseStoreUri } from "./store_uri.ts";
   * parseStoreUri("heap:?maxBytes=1024").scheme; // "heap"
   * ```
   */
  scheme: string;
  /**
   * The path of `file:` URIs, as written (relative paths stay relative).
   *
   * @example
   * ```ts
   * import { parseStoreUri } from "./store_uri.ts";
   * parseStoreUri("file:./.cistern/body").path; // "./.cistern/body"
   * ```
   */
  path: string;
  /**
   * Query parameters.
   *
   * @example
   * ```ts
   * import { parseStoreUri } from "./store_uri.ts";
   * parseStoreUri("heap:?maxBytes=1024").params.get("maxBytes"); // "1024"
   * ```
   */
  params: URLSearchParams;
}

/**
 * Thrown for a store URI that names no known store or is malformed.
 *
 * @example
 * ```ts
 * import { StoreUriError, parseStoreUri } from "./store_uri.ts";
 * try {
 *   parseStoreUri("redis");
 * } catch (error) {
 *   if (error instanceof StoreUriError) console.log(error.uri); // "redis"
 * }
 * ```
 */
export class StoreUriError extends Error {
  /** The URI given. */
  readonly uri: string;
  /** Makes the error. */
  constructor(uri: string, message: string) {
    super(`${message}: ${JSON.stringify(uri)}`);
    this.name = "StoreUriError";
    this.uri = uri;
  }
}

/**
 * Splits a store URI. `file:` paths are taken literally (no URL decoding), so
 * `file:./cache` means `./cache` relative to the working folder.
 *
 * @example
 * ```ts
 * import { parseStoreUri } from "./store_uri.ts";
 * parseStoreUri("file:./cache?maxBytes=10").path; // "./cache"
 * ```
 */
export function parseStoreUri(uri: string): StoreUri {
  const match = /^([a-z][a-z0-9+.-]*):(?:\/\/(?=\/))?([^?]*)(?:\?(.*))?$/i.exec(
    uri,
  );
  if (!match) {
    throw new StoreUriError(uri, "not a store URI (heap:, file:PATH, noop:)");
  }
  return {
    scheme: match[1].toLowerCase(),
    path: match[2],
    params: new URLSearchParams(match[3] ?? ""),
  };
}

/** Reads a non-negative integer query parameter. */
export function numberParam(uri: StoreUri, name: string): number | undefined {
  const value = uri.params.get(name);
  if (value === null) return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0) {
    throw new StoreUriError(
      `${uri.scheme}:${uri.path}`,
      `${name} must be an integer >= 0, got ${JSON.stringify(value)}`,
    );
  }
  return number;
}
