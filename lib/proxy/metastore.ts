/**
 * The meta store: for each cache key, the stored variants (response status
 * and headers, the request header values their `Vary` nominated, times and
 * the id of the body in the entity store). Policy lives in the shared cache;
 * a meta store only keeps. Any key-value store can be one (Redis and
 * Memcached plug in through the same three methods).
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  mkdir,
  readFile,
  rename,
  rm,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { numberParam, parseStoreUri, StoreUriError } from "./store_uri.ts";

/** One stored response, without its body. */
export interface StoredResponse {
  /** Status code. */
  status: number;
  /** Status text. */
  statusText: string;
  /** Response header fields as stored (hop-by-hop and ignored fields removed). */
  headers: [string, string][];
  /** Values of the request fields the response's `Vary` nominates (`null`: absent). */
  vary: Record<string, string | null>;
  /** When the request that produced it was sent (ms since the epoch). */
  requestTime: number;
  /** When the response was received, or last validated (ms since the epoch). */
  responseTime: number;
  /** Id of the body in the entity store. */
  entity: string;
  /** Body size in bytes. */
  size: number;
  /** Freshness lifetime in seconds set by policy, overriding the headers'. */
  ttl?: number;
}

/** Keeps stored responses by cache key. */
export interface MetaStore {
  /**
   * The variants stored for `key`, most recent first (empty when none). A
   * store that has them at hand may answer without a promise, sparing a hit
   * a turn of the event loop.
   */
  lookup(key: string): StoredResponse[] | Promise<StoredResponse[]>;
  /** Replaces the variants stored for `key`. */
  store(key: string, variants: StoredResponse[]): Promise<void>;
  /** Forgets `key`. */
  purge(key: string): Promise<void>;
}

/**
 * A meta store in memory, keeping the `maxEntries` most recently used keys.
 *
 * @example
 * ```ts
 * import { heapMetaStore } from "./metastore.ts";
 * const meta = heapMetaStore({ maxEntries: 10_000 });
 * ```
 */
export function heapMetaStore(
  options: { maxEntries?: number } = {},
): MetaStore {
  const maxEntries = options.maxEntries ?? 10_000;
  const map = new Map<string, StoredResponse[]>();
  /** The key inserted last, which a lookup need not move. */
  let newest: string | undefined;
  return {
    lookup(key) {
      const variants = map.get(key);
      if (!variants) return [];
      if (key !== newest) {
        map.delete(key); // re-insert: most recently used last
        map.set(key, variants);
        newest = key;
      }
      return variants;
    },
    store(key, variants) {
      map.delete(key);
      map.set(key, variants);
      newest = key;
      while (map.size > maxEntries) map.delete(map.keys().next().value!);
      return Promise.resolve();
    },
    purge(key) {
      map.delete(key);
      return Promise.resolve();
    },
  };
}

/**
 * A meta store in a folder: one JSON file per key, written to a temporary
 * name and renamed, so a crash never leaves a torn file.
 *
 * @example
 * ```ts
 * import { fileMetaStore } from "./metastore.ts";
 * const meta = fileMetaStore("./.cistern/meta");
 * ```
 */
export function fileMetaStore(dir: string): MetaStore {
  const pathOf = (key: string) => {
    const hash = createHash("sha256").update(key).digest("hex");
    return join(dir, hash.slice(0, 2), `${hash}.json`);
  };
  let counter = 0;
  return {
    async lookup(key) {
      const path = pathOf(key);
      try {
        const record = JSON.parse(await readFile(path, "utf8"));
        // A hash collision or a foreign file: treat as absent.
        if (record?.key !== key || !Array.isArray(record.variants)) return [];
        return record.variants as StoredResponse[];
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return [];
        await unlink(path).catch(() => {});
        return [];
      }
    },
    async store(key, variants) {
      const path = pathOf(key);
      await mkdir(join(path, ".."), { recursive: true });
      const temporary = `${path}.${process.pid}.${counter++}.tmp`;
      await writeFile(temporary, JSON.stringify({ key, variants }));
      await rename(temporary, path);
    },
    async purge(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}

/**
 * A meta store from a URI: `heap:` (`?maxEntries=N`, default 10,000) or
 * `file:PATH`. An object that already is a meta store is returned as is.
 *
 * @example
 * ```ts
 * import { metaStoreFrom } from "./metastore.ts";
 * const meta = metaStoreFrom("file:./.cistern/meta");
 * ```
 */
export function metaStoreFrom(spec: string | MetaStore): MetaStore {
  if (typeof spec !== "string") return spec;
  const uri = parseStoreUri(spec);
  switch (uri.scheme) {
    case "heap":
      return heapMetaStore({ maxEntries: numberParam(uri, "maxEntries") });
    case "file":
      if (!uri.path) throw new StoreUriError(spec, "file: needs a path");
      return fileMetaStore(uri.path);
    default:
      throw new StoreUriError(spec, "unknown meta store (heap:, file:PATH)");
  }
}
