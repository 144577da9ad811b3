/**
 * Folders that disk stores write into, each made once per process instead
 * of once per write (a `mkdir` per entry was a third of a small entry's file
 * operations).
 *
 * Internal.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";

/**
 * Runs writes into folders it makes when first used, and makes again (once)
 * when a write finds one gone.
 *
 * @example
 * ```ts
 * import { writeFile } from "node:fs/promises";
 * import { Folders } from "./folders.ts";
 * const folders = new Folders(0o700);
 * await folders.write("/tmp/cistern-example/ab", () =>
 *   writeFile("/tmp/cistern-example/ab/file", "x"));
 * ```
 */
export class Folders {
  /** Bounded by the stores' layout: at most 256 subfolders each. */
  readonly #made = new Set<string>();
  readonly #mode: number | undefined;

  /** `mode`: permission bits of the folders made. */
  constructor(mode?: number) {
    this.#mode = mode;
  }

  /** Runs `write`, which creates a file in `folder`. */
  async write<T>(folder: string, write: () => Promise<T>): Promise<T> {
    if (!this.#made.has(folder)) {
      await mkdir(folder, { recursive: true, mode: this.#mode });
      this.#made.add(folder);
    }
    try {
      return await write();
    } catch (error) {
      if ((error as { code?: string })?.code !== "ENOENT") throw error;
      // Removed since it was made (by hand, or by a cleaner): make it again.
      await mkdir(folder, { recursive: true, mode: this.#mode });
      return await write();
    }
  }
}
