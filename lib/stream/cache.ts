/**
 * `StreamCache`: a concurrent map of byte streams. The first `get` of a key
 * receives the writer; every caller, before, during or after the write,
 * receives a reader that follows it live.
 *
 * @module
 */
import { Listeners } from "../listeners.ts";
import { type Clock, systemClock } from "../clock.ts";
import { Entry, type EntryReader, entryReader, entryWriter } from "./entry.ts";
import { CacheClosedError } from "./errors.ts";
import type { FileSystem } from "./fs.ts";
import { diskFs, type DiskFsOptions } from "./fs_disk.ts";
import {
  combineReapers,
  expiryReaper,
  lruReaper,
  type Reaper,
} from "./reaper.ts";

/** Options for {@link StreamCache}. */
export interface StreamCacheOptions {
  /**
   * Where bytes live: `memoryFs()` or `diskFs(dir)`.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() }); // or diskFs("./.cache")
   * ```
   */
  fs: FileSystem;
  /**
   * Which entries to remove, and when. Default: none are removed.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { lruReaper } from "./reaper.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs(), reaper: lruReaper({ maxBytes: 64 << 20 }) });
   * ```
   */
  reaper?: Reaper;
  /**
   * Time source for last-read times and sweeps. Default {@link systemClock}.
   *
   * @example
   * ```ts
   * import { ManualClock } from "../clock.ts";
   * import { memoryFs } from "./fs_memory.ts";
   * import { expiryReaper } from "./reaper.ts";
   * import { StreamCache } from "./cache.ts";
   * const clock = new ManualClock(0);
   * const cache = new StreamCache({ fs: memoryFs(), reaper: expiryReaper(60_000), clock });
   * ```
   */
  clock?: Clock;
}

/** What `get` returns: a reader always, the writer only to the first caller. */
export interface CacheHandle {
  /**
   * Reads the entry; close it when done.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader } = await cache.get("k");
   * reader.size(); // { size: 0, complete: false }
   * reader.close();
   * ```
   */
  reader: EntryReader;
  /**
   * Fills the entry, for exactly one caller per entry: close it to complete
   * the entry, abort it to discard it. `undefined` for everyone else.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const first = await cache.get("k"); // first.writer: a WritableStream
   * const second = await cache.get("k"); // second.writer: undefined
   * await first.writer?.close();
   * ```
   */
  writer: WritableStream<Uint8Array> | undefined;
}

/**
 * A concurrent cache of byte streams.
 *
 * @example
 * ```ts
 * import { memoryFs, StreamCache } from "../../mod.ts";
 * const cache = new StreamCache({ fs: memoryFs() });
 * const { reader, writer } = await cache.get("greeting");
 * if (writer) {
 *   const w = writer.getWriter();
 *   await w.write(new TextEncoder().encode("hello"));
 *   await w.close();
 * }
 * console.log(await new Response(reader.stream()).text()); // "hello"
 * reader.close();
 * ```
 */
export class StreamCache {
  /**
   * Resolves once entries kept by the storage have been reloaded.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * await cache.ready;
   * cache.keys(); // []: a memoryFs keeps nothing across caches
   * ```
   */
  readonly ready: Promise<void>;
  readonly #fs: FileSystem;
  readonly #reaper: Reaper | undefined;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  #timer: unknown;
  #closed = false;
  #sweepQueued = false;
  /** A sweep was asked for while one ran. */
  #sweepAgain: Promise<void> | undefined;
  #loaded = false;
  #sweeping: Promise<void> | undefined;
  /** The last sweep left the bounds passed by entries in use. */
  #overBound = false;
  readonly #reaped = new Listeners<string>();
  readonly #events = {
    completed: () => {
      if (this.#reaper?.bounded) this.#queueSweep();
    },
    released: () => {
      if (this.#overBound) this.#queueSweep();
    },
    failed: (entry: Entry) => {
      if (this.#entries.get(entry.key) === entry) {
        this.#entries.delete(entry.key);
      }
      void entry.free().catch(() => {});
    },
  };

  /**
   * Makes a cache; it reloads what `fs` kept in the background (see {@link StreamCache.ready}).
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * ```
   */
  constructor(options: StreamCacheOptions) {
    this.#fs = options.fs;
    this.#reaper = options.reaper;
    this.#clock = options.clock ?? systemClock;
    this.ready = this.#reload();
    // Nobody may await `ready`: its failure reaches `get` and `openReader`,
    // never the process as an unhandled rejection.
    this.ready.catch(() => {});
  }

  async #reload(): Promise<void> {
    for (const file of await this.#fs.reload()) {
      if (this.#entries.has(file.key)) continue;
      this.#entries.set(
        file.key,
        new Entry(file.key, this.#clock, this.#events, file),
      );
    }
    this.#loaded = true;
    if (this.#reaper) {
      await this.#reapQuietly();
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#closed || !this.#reaper) return;
    this.#timer = this.#clock.setTimeout(async () => {
      await this.#reapQuietly();
      this.#schedule();
    }, this.#reaper.next());
  }

  /** Reaps on the cache's own initiative: a sweep that failed to free some storage must not stop the next, and no one awaits it. */
  #reapQuietly(): Promise<void> {
    return this.reap().catch(() => {});
  }

  #queueSweep(): void {
    if (this.#sweepQueued) return;
    this.#sweepQueued = true;
    queueMicrotask(() => {
      this.#sweepQueued = false;
      void this.#reapQuietly();
    });
  }

  /**
   * Opens the entry for `key`, creating it if it does not exist: then (and
   * only then) the handle carries the writer.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("page");
   * new Response("hello").body!.pipeTo(writer!); // fill it: other callers read it live
   * await new Response(reader.stream()).text(); // "hello"
   * ```
   */
  async get(key: string): Promise<CacheHandle> {
    if (typeof key !== "string") {
      throw new TypeError(`key must be a string, got ${typeof key}`);
    }
    if (this.#closed) throw new CacheClosedError(key);
    await this.ready;
    const existing = this.openReader(key);
    if (existing) return { reader: existing, writer: undefined };

    const entry = new Entry(key, this.#clock, this.#events);
    this.#entries.set(key, entry);
    const writer = entryWriter(entry);
    const reader = entryReader(entry);
    try {
      entry.file = await this.#fs.create(key);
    } catch (error) {
      reader.close();
      await writer.abort(error);
      throw error;
    }
    return { reader, writer };
  }

  /**
   * A reader of the entry for `key` if there is one now (complete or being
   * written), without creating one and without waiting: for hot paths that
   * only read. Until {@link StreamCache.ready} resolves, entries kept from
   * before a restart are not known yet; `loaded` tells when they are.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * await cache.ready;
   * cache.openReader("missing"); // undefined
   * ```
   */
  openReader(key: string): EntryReader | undefined {
    if (this.#closed) throw new CacheClosedError(key);
    const existing = this.#entries.get(key);
    return existing ? entryReader(existing) : undefined;
  }

  /**
   * Tells `listener` the key of each entry the reaper removes (bounds,
   * expiry), once its sweep has freed it: for whoever keeps something that
   * points at entries, so it can forget that too. Returns what stops
   * telling it.
   *
   * @example
   * ```ts
   * import { lruReaper, memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({
   *   fs: memoryFs(),
   *   reaper: lruReaper({ maxEntries: 100 }),
   * });
   * const stop = cache.onReap((key) => console.log(`${key} left the cache`));
   * stop(); // no longer told
   * ```
   */
  onReap(listener: (key: string) => void): () => void {
    return this.#reaped.add(listener);
  }

  /**
   * Whether the entries kept by earlier caches on the storage are loaded (`ready` has resolved).
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * await cache.ready;
   * cache.loaded; // true
   * ```
   */
  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Whether an entry (complete or being written) exists for `key`.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * await cache.get("a");
   * cache.has("a"); // true, though still being written
   * ```
   */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * The keys of all entries, complete or being written.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * await cache.get("a");
   * await cache.get("b");
   * cache.keys(); // ["a", "b"]
   * ```
   */
  keys(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Removes `key` at once: the next `get` starts a fresh entry. Readers of the
   * old entry keep reading it; its storage is freed when they and its writer
   * are done, which is when the returned promise resolves.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("a");
   * await writer?.close();
   * reader.close();
   * await cache.remove("a"); // cache.has("a"): false
   * ```
   */
  async remove(key: string): Promise<void> {
    // Once loaded, the key leaves the map before this returns its promise.
    if (!this.#loaded) await this.ready;
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    await entry.free();
  }

  /**
   * Removes every entry; resolves when all their storage is freed.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * await cache.clean();
   * cache.keys(); // []
   * ```
   */
  async clean(): Promise<void> {
    await this.ready;
    await Promise.all(this.keys().map((key) => this.remove(key)));
  }

  /**
   * Runs one sweep of the reaper now; entries in use are skipped. Timed and
   * bound-triggered sweeps call this too.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { lruReaper } from "./reaper.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs(), reaper: lruReaper({ maxEntries: 100 }) });
   * await cache.reap(); // removes the least recently read entries past 100
   * ```
   */
  reap(): Promise<void> {
    // One sweep at a time; a request during a sweep waits for it, and one
    // more sweep follows it: entries that completed meanwhile were not in it.
    if (this.#sweeping) {
      // One follow-up for every request made meanwhile, resolving after it.
      return this.#sweepAgain ??= this.#sweeping.catch(() => {}).then(() => {
        this.#sweepAgain = undefined;
        return this.#closed ? undefined : this.reap();
      });
    }
    this.#sweeping = this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const reaper = this.#reaper;
    if (!reaper) return;
    const all = [...this.#entries.values()];
    reaper.start?.({
      now: this.#clock.now(),
      entries: all.length,
      bytes: all.reduce((sum, entry) => sum + entry.size, 0),
    });
    const idle = all
      .filter((entry) => entry.users === 0 && entry.isComplete)
      .sort((a, b) => a.lastRead - b.lastRead || a.readOrder - b.readOrder);
    const removals: Promise<void>[] = [];
    const reaped: string[] = [];
    for (const entry of idle) {
      if (reaper.reap(entry.key, entry.lastRead, entry.lastWrite, entry.size)) {
        if (this.#entries.get(entry.key) === entry) {
          this.#entries.delete(entry.key);
          reaped.push(entry.key);
        }
        removals.push(entry.free());
      }
    }
    this.#overBound = reaper.over?.() ?? false;
    // Every removal runs to the end; the first failure is reported after.
    const results = await Promise.allSettled(removals);
    // Only now: a listener that throws fails this sweep, and frees no less.
    for (const key of reaped) this.#reaped.tell(key);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * Stops the reaper's timer and refuses new `get`s; open streams go on.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { expiryReaper } from "./reaper.ts";
   * import { StreamCache } from "./cache.ts";
   * const cache = new StreamCache({ fs: memoryFs(), reaper: expiryReaper(60_000) });
   * await cache.close(); // cache.get() now throws CacheClosedError
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    await this.ready.catch(() => {});
    await this.#sweeping;
  }

  /**
   * Same as {@link StreamCache.close}, for `await using`.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * import { StreamCache } from "./cache.ts";
   * {
   *   await using cache = new StreamCache({ fs: memoryFs() });
   *   await cache.get("a");
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Options for {@link openCache}. */
export interface OpenCacheOptions extends DiskFsOptions {
  /**
   * Remove entries not read for this many ms. Default: never.
   *
   * @example
   * ```ts
   * import { openCache } from "./cache.ts";
   * // entries not read for an hour are removed
   * const open = (dir: string) => openCache(dir, { expiry: 3_600_000 });
   * ```
   */
  expiry?: number;
  /**
   * Keep at most this many entries (least recently read go first).
   *
   * @example
   * ```ts
   * import { openCache } from "./cache.ts";
   * const open = (dir: string) => openCache(dir, { maxEntries: 10_000 });
   * ```
   */
  maxEntries?: number;
  /**
   * Keep at most this many bytes (least recently read go first).
   *
   * @example
   * ```ts
   * import { openCache } from "./cache.ts";
   * const open = (dir: string) => openCache(dir, { maxBytes: 1 << 30 }); // 1 GiB on disk
   * ```
   */
  maxBytes?: number;
  /**
   * Time source. Default {@link systemClock}.
   *
   * @example
   * ```ts
   * import { ManualClock } from "../clock.ts";
   * import { openCache } from "./cache.ts";
   * const open = (dir: string) => openCache(dir, { expiry: 60_000, clock: new ManualClock(0) });
   * ```
   */
  clock?: Clock;
}

/**
 * A disk cache in `dir` with an optional expiry and bounds, reloaded and
 * ready: the one-line way to get a stream cache.
 *
 * @example
 * ```ts
 * import { openCache } from "../../mod.ts";
 * const cache = await openCache("./.cache", { expiry: 3_600_000 });
 * ```
 */
export async function openCache(
  dir: string,
  options: OpenCacheOptions = {},
): Promise<StreamCache> {
  const reapers: Reaper[] = [];
  if (options.expiry !== undefined) reapers.push(expiryReaper(options.expiry));
  if (options.maxEntries !== undefined || options.maxBytes !== undefined) {
    reapers.push(
      lruReaper({ maxEntries: options.maxEntries, maxBytes: options.maxBytes }),
    );
  }
  const cache = new StreamCache({
    fs: diskFs(dir, options),
    reaper: reapers.length === 0
      ? undefined
      : reapers.length === 1
      ? reapers[0]
      : combineReapers(...reapers),
    clock: options.clock,
  });
  await cache.ready;
  return cache;
}
