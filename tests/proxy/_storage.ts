/**
 * Storage that fails the way a full disk does, for the proxy suites.
 *
 * @module
 */
import { type FileSystem, memoryFs } from "../../mod.ts";

/** Memory storage that fails writes past `writeLimit` bytes of one body, and every commit if `commitFails`. */
function failing(writeLimit: number, commitFails: boolean): FileSystem {
  const inner = memoryFs();
  const full = () =>
    Promise.reject(new Error("ENOSPC: no space left on device"));
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
          file.size + chunk.byteLength > writeLimit
            ? full()
            : file.write(chunk),
        commit: () => commitFails ? full() : file.commit(),
        abandon: () => file.abandon(),
        read: (start, end) => file.read(start, end),
        remove: () => file.remove(),
      };
    },
  };
}

/** Memory storage that fills up after 1 MiB of any one body. */
export function fillsUp(): FileSystem {
  return failing(1 << 20, false);
}

/** Memory storage that takes every byte but fails to commit any body. */
export function failsToCommit(): FileSystem {
  return failing(Infinity, true);
}
