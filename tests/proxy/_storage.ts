/**
 * Storage that fails the way a full disk does, for the proxy suites.
 *
 * @module
 */
import { type FileSystem, memoryFs } from "../../mod.ts";

/** Memory storage that fills up after 1 MiB of any one body. */
export function fillsUp(): FileSystem {
  const inner = memoryFs();
  return {
    reload: () => inner.reload(),
    async create(key) {
      const file = await inner.create(key);
      return {
        key,
        get size() {
          return file.size;
        },
        modified: file.modified,
        write: (chunk) =>
          file.size + chunk.byteLength > 1 << 20
            ? Promise.reject(new Error("ENOSPC: no space left on device"))
            : file.write(chunk),
        commit: () => file.commit(),
        abandon: () => file.abandon(),
        read: (start, end) => file.read(start, end),
        remove: () => file.remove(),
      };
    },
  };
}
