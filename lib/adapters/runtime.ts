/**
 * Which runtime this code runs on, for the few places that pick a faster
 * runtime-specific API. Only `lib/adapters/` may depend on the answer.
 *
 * @module
 */

/** The JavaScript runtime cistern is running on. */
export type Runtime = "deno" | "bun" | "other";

/**
 * Detects the current runtime.
 *
 * @example
 * ```ts
 * import { currentRuntime } from "./runtime.ts";
 * console.log(currentRuntime()); // "deno" under `deno run`, "bun" under `bun`
 * ```
 */
export function currentRuntime(): Runtime {
  if ("Bun" in globalThis) return "bun";
  if ("Deno" in globalThis) return "deno";
  return "other";
}
