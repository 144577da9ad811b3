/**
 * What the benches print of their rounds: the median, and the runtime
 * measured.
 *
 * @module
 */
import process from "node:process";

/**
 * The middle value of `values` (of an even count, the upper middle one).
 *
 * @example
 * ```ts
 * import { median } from "./report.ts";
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1];
}

/**
 * The runtime this runs on, with its version: `deno 2.9.6`, `bun 1.4.5`.
 *
 * @example
 * ```ts
 * import { runtimeName } from "./report.ts";
 * console.log(`${runtimeName()}: 3 rounds`);
 * ```
 */
export function runtimeName(): string {
  return process.versions.bun
    ? `bun ${process.versions.bun}`
    : `deno ${process.versions.deno}`;
}
