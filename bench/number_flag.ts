/**
 * A bench's numeric `--name=value` flag, read the same way on Deno and Bun.
 *
 * @module
 */
import process from "node:process";

/**
 * The number given as `--name=value` on the command line, else `fallback`.
 *
 * @example
 * ```ts
 * import { numberFlag } from "./number_flag.ts";
 * const rounds = numberFlag("rounds", 7); // 7 unless --rounds=N was given
 * ```
 */
export function numberFlag(name: string, fallback: number): number {
  return Number(
    process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split("=")[1] ??
      fallback,
  );
}
