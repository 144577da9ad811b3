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
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { Folders } from "../folders.ts";
import { KeyQueue } from "../key_queue.ts";
import { Listeners } from "../listeners.ts";
import { mapInOrder } from "../map_in_order.ts";
import { RecentMap } from "../recent_map.ts";
import { numberParam, parseStoreUri, StoreUriError } from "./store_uri.ts";

/**
 * One stored response, without its body.
 *
 * @example
 * ```ts
 * import { heapMetaStore } from "./metastore.ts";
 * const meta = heapMetaStore();
 * await meta.store("http://localhost/", [{
 *   status: 200, statusText: "OK", headers: [["cache-control", "max-age=60"]], vary: {},
 *   requestTime: Date.now(), responseTime: Date.now(), entity: "body-1", size: 2,
 * }]);
 * ```
 */
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

/**
 * Whether `value` (read back from a store outside the process, say) has the
 * shape of a {@link StoredResponse}, with fields a `Response` can be made
 * from: a record edited by hand or written by another program must be a
 * miss, not an error on every request for its URL.
 *
 * @example
 * ```ts
 * import { isStoredResponse } from "./metastore.ts";
 * isStoredResponse({ status: "x" }); // false
 * ```
 */
export function isStoredResponse(value: unknown): value is StoredResponse {
  const v = value as StoredResponse | null;
  if (
    typeof v !== "object" || v === null ||
    !Number.isInteger(v.status) || v.status < 200 || v.status > 599 ||
    typeof v.statusText !== "string" || typeof v.entity !== "string" ||
    !Number.isFinite(v.requestTime) || !Number.isFinite(v.responseTime) ||
    !Number.isInteger(v.size) || v.size < -1 ||
    (v.ttl !== undefined && !(v.ttl >= 0)) ||
    typeof v.vary !== "object" || v.vary === null || Array.isArray(v.vary) ||
    !Object.values(v.vary).every((x) => x === null || typeof x === "string") ||
    !Array.isArray(v.headers) ||
    !v.headers.every((pair) =>
      Array.isArray(pair) && pair.length === 2 &&
      typeof pair[0] === "string" && typeof pair[1] === "string"
    )
  ) return false;
  try {
    new Headers(v.headers);
    return true;
  } catch {
    return false;
  }
}

/** Keeps stored responses by cache key. */
export interface MetaStore {
  /**
   * The variants stored for `key`, most recent first (empty when none). A
   * store that has them at hand may answer without a promise, sparing a hit
   * a turn of the event loop.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore();
   * await meta.lookup("http://localhost/"); // []: nothing stored
   * ```
   */
  lookup(key: string): StoredResponse[] | Promise<StoredResponse[]>;
  /**
   * Replaces the variants stored for `key`.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore();
   * const now = Date.now();
   * await meta.store("http://localhost/", [{ status: 200, statusText: "OK", headers: [], vary: {}, requestTime: now, responseTime: now, entity: "e1", size: 0 }]);
   * (await meta.lookup("http://localhost/")).length; // 1
   * ```
   */
  store(key: string, variants: StoredResponse[]): Promise<void>;
  /**
   * Forgets `key`.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore();
   * await meta.purge("http://localhost/news");
   * await meta.lookup("http://localhost/news"); // []
   * ```
   */
  purge(key: string): Promise<void>;
  /**
   * For a store that forgets keys on its own (a bounded store in memory):
   * `listener` is told the variants of each key it drops, so that the cache
   * frees their bodies. May return what stops telling it (a closed cache
   * then lets go of the store).
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore({ maxEntries: 1 });
   * const stop = meta.onForget?.((variants) => console.log(`dropped ${variants.length}`));
   * stop?.(); // no longer told
   * ```
   */
  onForget?(
    listener: (variants: StoredResponse[]) => void,
  ): (() => void) | void;
  /**
   * Every key it keeps with its variants. A purge by tag
   * (`SharedCache.purgeTags`) walks them, and needs them. For a store that
   * outlives the process, the cache also walks them once at start, in the
   * background, to forget records whose bodies went while it was down, and
   * then frees the bodies from before the start that no record names. So it
   * must throw, not skip, when it cannot read a record that may exist.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore();
   * for await (const [key, variants] of meta.entries?.() ?? []) {
   *   console.log(key, variants.length); // nothing stored yet: none
   * }
   * ```
   */
  entries?(): AsyncIterable<[key: string, variants: StoredResponse[]]>;
  /**
   * True when nothing it keeps outlives the process (`heap:`): bodies an
   * entity store kept from before a restart are then unreachable, and the
   * cache frees them.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * heapMetaStore().volatile; // true: gone with the process
   * ```
   */
  readonly volatile?: boolean;
}

/** Options of {@link heapMetaStore}. */
export interface HeapMetaStoreOptions {
  /**
   * Most keys kept. Default 10,000.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore({ maxEntries: 50_000 }); // least recently used keys go first
   * ```
   */
  maxEntries?: number;
  /**
   * Most bytes kept, counting the keys, header fields and the request values
   * `Vary` nominates, which clients choose (a 64 KiB URL, a 48 KiB
   * `Accept-Language` in each of 16 variants). Default 64 MiB.
   *
   * @example
   * ```ts
   * import { heapMetaStore } from "./metastore.ts";
   * const meta = heapMetaStore({ maxBytes: 16 << 20 }); // 16 MiB of keys and fields
   * ```
   */
  maxBytes?: number;
}

/**
 * About how many bytes one key and its variants hold: clients choose the
 * key (a URL of 64 KiB), the body ids (which name the key) and the request
 * values `Vary` nominates, so all of them count.
 */
function bytesOf(key: string, variants: StoredResponse[]): number {
  let bytes = key.length;
  for (const variant of variants) {
    bytes += 256 + (variant.entity?.length ?? 0); // with the fixed fields
    // (Records another store wrote may lack either.)
    for (const [name, value] of variant.headers ?? []) {
      bytes += name.length + value.length;
    }
    for (const [name, value] of Object.entries(variant.vary ?? {})) {
      bytes += name.length + (value?.length ?? 0);
    }
  }
  return bytes;
}

/**
 * The variants of the most recently used keys, within `maxEntries` keys
 * (default 10,000) and `maxBytes` bytes (default 64 MiB); `dropped` is told
 * of each key let go.
 */
function recentVariants(
  bounds: { maxEntries?: number; maxBytes?: number },
  dropped?: (key: string, variants: StoredResponse[]) => void,
): RecentMap<string, StoredResponse[]> {
  const maxBytes = bounds.maxBytes ?? 64 << 20;
  const maxEntries = bounds.maxEntries ?? 10_000;
  // One limit for both bounds: each key weighs at least its share of
  // `maxBytes` by count, so neither bound can be passed.
  const least = maxEntries > 0 ? maxBytes / maxEntries : Infinity;
  return new RecentMap<string, StoredResponse[]>(
    maxBytes,
    (variants, key) => Math.max(bytesOf(key, variants), least),
    dropped,
  );
}

/**
 * A meta store in memory, keeping the most recently used keys within
 * `maxEntries` keys and `maxBytes` bytes.
 *
 * @example
 * ```ts
 * import { heapMetaStore } from "./metastore.ts";
 * const meta = heapMetaStore({ maxEntries: 10_000, maxBytes: 64 << 20 });
 * ```
 */
export function heapMetaStore(options: HeapMetaStoreOptions = {}): MetaStore {
  const forgotten = new Listeners<StoredResponse[]>();
  const recent = recentVariants(
    options,
    (_key, variants) => forgotten.tell(variants),
  );
  return {
    volatile: true,
    onForget: (listener) => forgotten.add(listener),
    lookup: (key) => recent.get(key) ?? [],
    store(key, variants) {
      recent.set(key, variants);
      return Promise.resolve();
    },
    purge(key) {
      recent.delete(key);
      return Promise.resolve();
    },
    async *entries() {
      yield* recent.entries();
    },
  };
}

/** Options of {@link fileMetaStore}. */
export interface FileMetaStoreOptions {
  /**
   * Keys whose variants are also kept in memory, most recently used first,
   * so that a lookup of a recent key reads no file. Default 10,000.
   *
   * @example
   * ```ts
   * import { fileMetaStore } from "./metastore.ts";
   * const meta = fileMetaStore("./.cistern/meta", { maxEntries: 100_000 });
   * ```
   */
  maxEntries?: number;
  /**
   * Most bytes those keys may hold in memory, counted as {@link HeapMetaStoreOptions.maxBytes} counts them. Default 64 MiB.
   *
   * @example
   * ```ts
   * import { fileMetaStore } from "./metastore.ts";
   * const meta = fileMetaStore("./.cistern/meta", { maxBytes: 128 << 20 });
   * ```
   */
  maxBytes?: number;
}

/**
 * A meta store in a folder: one JSON file per key, written to a temporary
 * name and renamed, so a crash never leaves a torn file. The most recently
 * used keys are also kept in memory (written through to the folder), so hits
 * on them read no file; the folder is therefore one process's at a time, as
 * the entity store's is.
 *
 * @example
 * ```ts
 * import { fileMetaStore } from "./metastore.ts";
 * const meta = fileMetaStore("./.cistern/meta", { maxEntries: 50_000 });
 * ```
 */
export function fileMetaStore(
  dir: string,
  options: FileMetaStoreOptions = {},
): MetaStore {
  const pathOf = (key: string) => {
    const hash = createHash("sha256").update(key).digest("hex");
    return join(dir, hash.slice(0, 2), `${hash}.json`);
  };
  const recent = recentVariants(options);
  /** What stores and purges still writing to the folder will leave, by key. */
  const writing = new Map<string, StoredResponse[]>();
  /**
   * Keys purged lately, kept apart from `recent`: purges come by the
   * thousand (reaped bodies' keys) and would push out the keys hits need.
   */
  const shared = options.maxEntries === 0;
  const purged = new RecentMap<string, true>(shared ? 0 : 1024);
  const known = (key: string) =>
    recent.get(key) ?? writing.get(key) ?? (purged.get(key) && []);
  /** Changes to each key's file, run in order. */
  const queued = new KeyQueue();
  /**
   * Runs a change to `key`'s file after the ones before it, so the file
   * ends as the last change left it; lookups see `variants` from the start.
   */
  const change = (
    key: string,
    variants: StoredResponse[],
    write: (path: string) => Promise<void>,
  ): Promise<void> => {
    if (variants.length > 0) {
      purged.delete(key);
      recent.set(key, variants);
    } else {
      recent.delete(key);
      purged.set(key, true);
    }
    writing.set(key, variants);
    return queued.run(key, () => write(pathOf(key))).finally(() => {
      if (writing.get(key) === variants) writing.delete(key);
    });
  };
  const folders = new Folders();
  const readVariants = async (key: string): Promise<StoredResponse[]> => {
    const path = pathOf(key);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      // Absent, or unreadable for now (no descriptors left, an I/O error):
      // a miss, and the file stays for when it can be read.
      return [];
    }
    const record = recordOf(text);
    if (!record) {
      await unlink(path).catch(() => {});
      return [];
    }
    // A hash collision: another key's record.
    return record.key === key ? record.variants : [];
  };
  return {
    lookup(key) {
      const variants = known(key);
      if (variants) return variants;
      return readVariants(key).then((read) => {
        // A store or purge that began meanwhile knows better than the file.
        const changed = known(key);
        if (changed) return changed;
        // Absent keys are not kept: a scan of new URLs would push out hot ones.
        if (read.length > 0) recent.set(key, read);
        return read;
      });
    },
    store: (key, variants) =>
      change(key, variants, async (path) => {
        // Unique across stores and processes (containers share pid 1).
        const temporary = `${path}.${crypto.randomUUID()}.tmp`;
        await folders.write(
          join(path, ".."),
          () => writeFile(temporary, JSON.stringify({ key, variants })),
        );
        await rename(temporary, path);
      }),
    purge: (key) => change(key, [], (path) => rm(path, { force: true })),
    // Only a folder this process owns: another's records point at bodies
    // this one never loaded.
    ...(shared ? {} : { entries: () => recordsOf(writing, dir) }),
  };
}

/** A temporary file older than this was left by a write that never finished. */
const STALE_TEMPORARY_MS = 60_000;

/**
 * The records of a file meta store: those still being written first (a new
 * key's file may not be in the folder yet), then the folder's.
 */
async function* recordsOf(
  writing: Map<string, StoredResponse[]>,
  dir: string,
): AsyncIterable<[string, StoredResponse[]]> {
  yield* [...writing];
  yield* recordsIn(dir);
}

/**
 * Record files read at once by a walk. A purge by tag over 20,000 records,
 * read one at a time, took 2.9–3.4 s and 1.0–1.7 s on the two runtimes; 32
 * at a time, 0.7–1.1 s and 0.21–0.27 s (`bench/tag_purge.ts`).
 */
const READS_AT_ONCE = 32;

/**
 * The records in a file meta store's folder, several files read at once;
 * torn records and temporary files left by a crash mid-write are deleted on
 * the way.
 */
async function* recordsIn(
  dir: string,
): AsyncIterable<[string, StoredResponse[]]> {
  // A walk that cannot see every record fails: the cache frees the bodies
  // no record names, so it must never miss one it could not read.
  const records = mapInOrder(filesIn(dir), READS_AT_ONCE, readRecord);
  for await (const record of records) {
    if (record) yield [record.key, record.variants];
  }
}

/** The paths of the files in a file meta store's folders. */
async function* filesIn(dir: string): AsyncIterable<string> {
  const list = (path: string) =>
    readdir(path).catch((error) => gone(error) ?? ([] as string[]));
  for (const sub of await list(dir)) {
    for (const name of await list(join(dir, sub))) yield join(dir, sub, name);
  }
}

/**
 * The record in a walk's file at `path`; `undefined` for a file that is not
 * one (deleted if torn, or a temporary file a crash left) or that is gone.
 */
async function readRecord(
  path: string,
): Promise<{ key: string; variants: StoredResponse[] } | undefined> {
  if (path.endsWith(".tmp")) {
    // Another process sharing the folder may be writing it now.
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_TEMPORARY_MS) {
      await unlink(path).catch(() => {});
    }
    return undefined;
  }
  if (!path.endsWith(".json")) return undefined;
  const text = await readFile(path, "utf8").catch(gone);
  if (text === undefined) return undefined;
  const record = recordOf(text);
  if (!record) await unlink(path).catch(() => {});
  return record;
}

/** `undefined` for a file or folder that is gone (removed meanwhile); any other error is thrown. */
function gone(error: unknown): undefined {
  if ((error as { code?: string } | undefined)?.code === "ENOENT") {
    return undefined;
  }
  throw error;
}

/**
 * A meta file's record, or `undefined` when the file is torn, foreign or
 * holds a response no answer can be made from (edited by hand): never
 * usable.
 */
function recordOf(
  text: string,
): { key: string; variants: StoredResponse[] } | undefined {
  let record;
  try {
    record = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof record?.key === "string" && Array.isArray(record.variants) &&
      record.variants.every(isStoredResponse)
    ? record
    : undefined;
}

/**
 * A meta store from a URI: `heap:` (`?maxEntries=N`, default 10,000;
 * `?maxBytes=N`, default 64 MiB) or
 * `file:PATH` (`?maxEntries=N` also kept in memory, default 10,000, within
 * `?maxBytes=N`, default 64 MiB; `maxEntries=0` for a folder that several
 * processes share). An object that already is a meta
 * store is returned as is.
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
      return heapMetaStore({
        maxEntries: numberParam(uri, "maxEntries"),
        maxBytes: numberParam(uri, "maxBytes"),
      });
    case "file":
      if (!uri.path) throw new StoreUriError(spec, "file: needs a path");
      return fileMetaStore(uri.path, {
        maxEntries: numberParam(uri, "maxEntries"),
        maxBytes: numberParam(uri, "maxBytes"),
      });
    default:
      throw new StoreUriError(spec, "unknown meta store (heap:, file:PATH)");
  }
}
