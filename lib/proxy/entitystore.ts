/**
 * The entity store: response bodies, on a {@link StreamCache}, so a body
 * being stored is read live by every client waiting for it (one origin fetch
 * per miss) and a body that fails mid-way is never kept.
 *
 * @module
 */
import { StreamCache } from "../stream/cache.ts";
import { diskFs } from "../stream/fs_disk.ts";
import { memoryFs } from "../stream/fs_memory.ts";
import {
  combineReapers,
  expiryReaper,
  lruReaper,
  type Reaper,
} from "../stream/reaper.ts";
import {
  numberParam,
  parseStoreUri,
  type StoreUri,
  StoreUriError,
} from "./store_uri.ts";

/** Keeps bodies by id. */
export interface EntityStore {
  /**
   * The stream cache holding the bodies; `undefined` for a store that keeps none.
   *
   * @example
   * ```ts
   * import { entityStoreFrom } from "./entitystore.ts";
   * entityStoreFrom("noop:").cache; // undefined: headers only
   * entityStoreFrom("heap:").cache?.has("some-id"); // false
   * ```
   */
  readonly cache: StreamCache | undefined;
  /**
   * Largest body this store takes, in bytes. Default: no limit.
   *
   * @example
   * ```ts
   * import { entityStoreFrom } from "./entitystore.ts";
   * entityStoreFrom("heap:?maxBytes=67108864&maxEntrySize=1048576").maxEntrySize; // 1048576
   * ```
   */
  readonly maxEntrySize?: number;
}

/** Length of `crypto.randomUUID()`'s ids. */
const UUID_LENGTH = 36;

/**
 * A new id for a body stored for cache key `key`: unique, and naming the key,
 * so that a body the entity store drops on its own (bounds, expiry) leads
 * back to the meta entry that points at it.
 */
export function newEntityId(key: string): string {
  // Disk stores refuse keys with lone surrogates; cache keys made from URLs
  // have none.
  return `${crypto.randomUUID()} ${key.toWellFormed()}`;
}

/** The cache key an id from {@link newEntityId} names; `undefined` for ids made otherwise. */
export function keyOfEntity(entity: string): string | undefined {
  return entity.charAt(UUID_LENGTH) === " "
    ? entity.slice(UUID_LENGTH + 1)
    : undefined;
}

/**
 * An entity store from a URI: `heap:` (memory; `?maxBytes=N`, default
 * 256 MiB), `file:PATH` (disk, survives restarts; `?maxBytes=N`, no bound by
 * default; `?memoryBytes=N` of recently read bodies up to 1 MiB also kept in
 * memory, default 64 MiB) or `noop:` (keeps no bodies: only headers are stored, which still
 * lets the cache answer conditional requests and revalidate). Both take
 * `?maxEntries=N`, `?expiry=MS` and `?maxEntrySize=N` (bodies larger pass
 * through unstored; it defaults to `maxBytes`). An object that already is an entity store
 * is returned as is.
 *
 * @example
 * ```ts
 * import { entityStoreFrom } from "./entitystore.ts";
 * const bodies = entityStoreFrom("heap:?maxBytes=67108864");
 * ```
 */
export function entityStoreFrom(spec: string | EntityStore): EntityStore {
  if (typeof spec !== "string") return spec;
  const uri = parseStoreUri(spec);
  // A body larger than the whole store could never stay, and storing it
  // would empty the store first: it is handed through.
  switch (uri.scheme) {
    case "heap": {
      const maxBytes = numberParam(uri, "maxBytes") ?? 256 << 20;
      return {
        cache: new StreamCache({
          fs: memoryFs(),
          reaper: reaperFor(uri, maxBytes),
        }),
        maxEntrySize: numberParam(uri, "maxEntrySize") ?? maxBytes,
      };
    }
    case "file": {
      if (!uri.path) throw new StoreUriError(spec, "file: needs a path");
      const maxBytes = numberParam(uri, "maxBytes");
      return {
        cache: new StreamCache({
          fs: diskFs(uri.path, {
            memoryBytes: numberParam(uri, "memoryBytes"),
          }),
          reaper: reaperFor(uri, maxBytes),
        }),
        maxEntrySize: numberParam(uri, "maxEntrySize") ?? maxBytes,
      };
    }
    case "noop":
      return { cache: undefined };
    default:
      throw new StoreUriError(
        spec,
        "unknown entity store (heap:, file:PATH, noop:)",
      );
  }
}

/** The reaper of `uri`'s bounds, `maxBytes` already read from it (with its default). */
function reaperFor(
  uri: StoreUri,
  maxBytes: number | undefined,
): Reaper | undefined {
  const reapers: Reaper[] = [];
  const maxEntries = numberParam(uri, "maxEntries");
  const expiry = numberParam(uri, "expiry");
  if (maxBytes !== undefined || maxEntries !== undefined) {
    reapers.push(lruReaper({ maxBytes, maxEntries }));
  }
  if (expiry) reapers.push(expiryReaper(expiry));
  return reapers.length === 0 ? undefined : combineReapers(...reapers);
}
