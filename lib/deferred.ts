/**
 * Small shared helpers: a promise with its settle functions exposed, and
 * random hex strings.
 *
 * @module
 */

/** A promise and the functions that settle it. */
export type Deferred<T> = PromiseWithResolvers<T>;

/**
 * A promise settled from outside.
 *
 * @example
 * ```ts
 * import { deferred } from "./deferred.ts";
 * const ready = deferred<void>();
 * setTimeout(() => ready.resolve(), 10);
 * await ready.promise;
 * ```
 */
export function deferred<T>(): Deferred<T> {
  return Promise.withResolvers<T>();
}

/**
 * `bytes` random bytes as lowercase hex (twice as many characters).
 *
 * @example
 * ```ts
 * import { randomHex } from "./deferred.ts";
 * randomHex(6).length; // 12
 * ```
 */
export function randomHex(bytes: number): string {
  const random = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
}
