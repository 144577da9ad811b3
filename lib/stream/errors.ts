/**
 * The stream cache's errors, each carrying the key it concerns.
 *
 * @module
 */

/**
 * Thrown by a closed {@link StreamCache}'s `get`.
 *
 * @example
 * ```ts
 * import { CacheClosedError } from "./errors.ts";
 * const error = new CacheClosedError("a");
 * console.log(error.key); // "a"
 * ```
 */
export class CacheClosedError extends Error {
  /** The key that was asked for. */
  readonly key: string;
  /** Makes the error for `key`. */
  constructor(key: string) {
    super(`cache is closed (get ${JSON.stringify(key.slice(0, 200))})`);
    this.name = "CacheClosedError";
    this.key = key;
  }
}

/**
 * The reason readers see when an entry's writer aborted without one.
 *
 * @example
 * ```ts
 * import { EntryAbortedError } from "./errors.ts";
 * const error = new EntryAbortedError("a");
 * ```
 */
export class EntryAbortedError extends Error {
  /** The entry's key. */
  readonly key: string;
  /** Makes the error for `key`, keeping the writer's reason as `cause`. */
  constructor(key: string, cause?: unknown) {
    super(`writer of ${JSON.stringify(key.slice(0, 200))} aborted`, { cause });
    this.name = "EntryAbortedError";
    this.key = key;
  }
}

/**
 * The error an entry's writer and readers see when its storage failed (a
 * full disk, a lost file) rather than its source: the entry leaves the cache,
 * and the storage's own error is the `cause`. Whoever holds the source may
 * still deliver the rest some other way.
 *
 * @example
 * ```ts
 * import { StorageFailedError } from "./errors.ts";
 * const error = new StorageFailedError("a", new Error("ENOSPC"));
 * console.log(error.message); // "storage failed for "a": Error: ENOSPC"
 * ```
 */
export class StorageFailedError extends Error {
  /** The entry's key. */
  readonly key: string;
  /** Makes the error for `key`, keeping the storage's error as `cause`. */
  constructor(key: string, cause: unknown) {
    super(`storage failed for ${JSON.stringify(key.slice(0, 200))}: ${cause}`, {
      cause,
    });
    this.name = "StorageFailedError";
    this.key = key;
  }
}
