/**
 * Storage that misbehaves the way a full or busy disk does, for the proxy
 * suites.
 *
 * @module
 */
import { type FileSystem, memoryFs, type StoredFile } from "../../mod.ts";
import { tick } from "../_util.ts";

/** What a wrapped file does instead of its own `write`, `commit` or `remove`. */
interface Misbehaviour {
  write?(file: StoredFile, chunk: Uint8Array): Promise<void>;
  commit?(file: StoredFile): Promise<void>;
  remove?(file: StoredFile): Promise<void>;
}

/** Memory storage whose files behave as `instead` says, and as memory's otherwise. */
function misbehaving(instead: Misbehaviour): FileSystem {
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
          instead.write ? instead.write(file, chunk) : file.write(chunk),
        commit: () => instead.commit ? instead.commit(file) : file.commit(),
        abandon: () => file.abandon(),
        read: (start, end) => file.read(start, end),
        remove: () => instead.remove ? instead.remove(file) : file.remove(),
      };
    },
  };
}

const full = () => Promise.reject(new Error("ENOSPC: no space left on device"));

/** Memory storage that fills up after 1 MiB of any one body. */
export function fillsUp(): FileSystem {
  return misbehaving({
    write: (file, chunk) =>
      file.size + chunk.byteLength > 1 << 20 ? full() : file.write(chunk),
  });
}

/** Memory storage that takes every byte but fails to commit any body. */
export function failsToCommit(): FileSystem {
  return misbehaving({ commit: full });
}

/** Memory storage whose every removal takes `ms`, as unlinking on a busy disk does. */
export function slowRemovals(ms: number): FileSystem {
  return misbehaving({ remove: (file) => tick(ms).then(() => file.remove()) });
}
