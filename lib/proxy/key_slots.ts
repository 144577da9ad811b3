/**
 * Slots by key hash, for what the cache counts per key without a map that
 * grows with the URLs clients make up (invalidation generations, hit-for-pass
 * markers): a collision costs a skipped store or a trip to the origin, never
 * a wrong answer.
 *
 * @module
 */

/** Invalidation counters, by key hash: a collision only skips one store. */
export const GENERATION_SLOTS = 4096;

/**
 * A key's slot among `slots` (FNV-1a).
 *
 * @example
 * ```ts
 * import { slotOf } from "./key_slots.ts";
 * slotOf("http://x/a") === slotOf("http://x/a"); // true
 * slotOf("http://x/a", 16) < 16; // true
 * ```
 */
export function slotOf(key: string, slots = GENERATION_SLOTS): number {
  let hash = 2166136261;
  for (let i = 0; i < key.length; i++) {
    hash = Math.imul(hash ^ key.charCodeAt(i), 16777619);
  }
  return (hash >>> 0) % slots;
}
