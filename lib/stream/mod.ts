/**
 * The concurrent stream cache: one writer per entry, many live readers,
 * memory and disk storage, reapers.
 *
 * @example
 * ```ts
 * import { openCache } from "./mod.ts";
 * const cache = await openCache("./.cache", { expiry: 60_000 });
 * const { reader, writer } = await cache.get("key");
 * ```
 *
 * @module
 */
export {
  type CacheHandle,
  openCache,
  type OpenCacheOptions,
  StreamCache,
  type StreamCacheOptions,
} from "./cache.ts";
export type { EntryReader, EntrySize } from "./entry.ts";
export {
  CacheClosedError,
  EntryAbortedError,
  StorageFailedError,
} from "./errors.ts";
export type { FileSystem, StoredFile } from "./fs.ts";
export { diskFs, type DiskFsOptions } from "./fs_disk.ts";
export { memoryFs } from "./fs_memory.ts";
export {
  combineReapers,
  expiryReaper,
  type LruBounds,
  lruReaper,
  type Reaper,
  type ReapStats,
} from "./reaper.ts";
export {
  fastFixedFileReader,
  fastReadRange,
  type FixedFileReader,
  nodeReadRange,
  type ReadRange,
} from "../adapters/file_io.ts";
