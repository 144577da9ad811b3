/**
 * Filling a buffer from a position of an open file, for the range readers.
 *
 * @module
 */
import type { open } from "node:fs/promises";

/** A file opened with `node:fs/promises`. */
export type FileHandle = Awaited<ReturnType<typeof open>>;

/**
 * Fills `buffer` from `position` of `file`; a file that ends first is an
 * error naming `path`.
 *
 * @example
 * ```ts
 * import { open } from "node:fs/promises";
 * import { readAt } from "./read_at.ts";
 * const file = await open("deno.json", "r");
 * const first = await readAt("deno.json", file, new Uint8Array(1), 0);
 * await file.close();
 * ```
 */
export async function readAt(
  path: string,
  file: FileHandle,
  buffer: Uint8Array,
  position: number,
): Promise<Uint8Array> {
  let filled = 0;
  while (filled < buffer.byteLength) {
    const { bytesRead } = await file.read(
      buffer,
      filled,
      buffer.byteLength - filled,
      position + filled,
    );
    if (bytesRead === 0) {
      throw new RangeError(
        `${path} ends at ${position + filled}, expected ${
          position + buffer.byteLength
        }`,
      );
    }
    filled += bytesRead;
  }
  return buffer;
}
