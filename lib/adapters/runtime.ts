/**
 * Which runtime this code runs on, for the few places that pick a faster
 * runtime-specific API. Only `lib/adapters/` may depend on the answer.
 *
 * @module
 */

/** The JavaScript runtime cistern is running on. */
export type Runtime = "deno" | "bun" | "other";

/** Detected once: hot paths ask on every request. */
const RUNTIME: Runtime = "Bun" in globalThis
  ? "bun"
  : "Deno" in globalThis
  ? "deno"
  : "other";

/** See {@link bytesBodyLimit}; fixed with the runtime. */
const BYTES_BODY_LIMIT = RUNTIME === "bun" ? 1 << 20 : 16 * 1024;

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
  return RUNTIME;
}

/**
 * The largest body this runtime's server sends faster as bytes than as a
 * stream. On Bun, 1 MiB: bytes keep `Content-Length` and go out faster, but a
 * `Response` copies them, so past 1 MiB every answer still being sent would
 * hold a copy. On Deno, 16 KiB: its server sends large byte bodies more
 * slowly than streams (`bench/proxy.ts`: 13 B 16k vs 11k req/s, 64 KiB 8k vs
 * 11k).
 *
 * @example
 * ```ts
 * import { bytesBodyLimit } from "./runtime.ts";
 * const asBytes = 13 <= bytesBodyLimit();
 * ```
 */
export function bytesBodyLimit(): number {
  return BYTES_BODY_LIMIT;
}
