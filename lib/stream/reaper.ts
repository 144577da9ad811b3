/**
 * Reapers decide which entries a stream cache removes, and how often it asks.
 * A cache asks once after reloading, then every `next()` ms, and (for
 * reapers with bounds) after each entry completes. Entries in use (an open
 * reader or writer) are never offered.
 *
 * @module
 */

/** What a reaper sees at the start of a sweep: the time and totals, in-use entries included. */
export interface ReapStats {
  /**
   * The cache clock's time, in ms since the epoch.
   *
   * @example
   * ```ts
   * import type { Reaper } from "./reaper.ts";
   * let now = 0;
   * const reaper: Reaper = {
   *   next: () => 60_000,
   *   start: (stats) => { now = stats.now; },
   *   reap: (_key, lastRead) => now - lastRead > 3_600_000, // unread for an hour
   * };
   * ```
   */
  now: number;
  /**
   * Number of entries.
   *
   * @example
   * ```ts
   * import type { Reaper } from "./reaper.ts";
   * let excess = 0;
   * const reaper: Reaper = {
   *   next: () => 60_000,
   *   start: (stats) => { excess = stats.entries - 1000; },
   *   reap: () => excess-- > 0, // least recently read first, down to 1000
   * };
   * ```
   */
  entries: number;
  /**
   * Bytes held by all entries.
   *
   * @example
   * ```ts
   * import type { Reaper } from "./reaper.ts";
   * let excess = 0;
   * const reaper: Reaper = {
   *   next: () => 60_000,
   *   start: (stats) => { excess = stats.bytes - 2 ** 30; },
   *   reap: (_key, _read, _write, size) => (excess -= size) + size > 0, // down to 1 GiB
   * };
   * ```
   */
  bytes: number;
}

/** Decides which entries to remove. */
export interface Reaper {
  /**
   * Milliseconds until the next sweep.
   *
   * @example
   * ```ts
   * import { lruReaper } from "./reaper.ts";
   * lruReaper({ maxEntries: 100, interval: 30_000 }).next(); // 30000
   * ```
   */
  next(): number;
  /**
   * Whether to remove this entry. Within a sweep, entries come least recently
   * read first. Times are ms since the epoch, from the cache's clock.
   *
   * @example
   * ```ts
   * import type { Reaper } from "./reaper.ts";
   * const noHuge: Reaper = {
   *   next: () => 60_000,
   *   reap: (_key, _lastRead, _lastWrite, size) => size > 100 << 20, // over 100 MiB
   * };
   * ```
   */
  reap(key: string, lastRead: number, lastWrite: number, size: number): boolean;
  /**
   * Called before each sweep with the time and totals.
   *
   * @example
   * ```ts
   * import type { Reaper } from "./reaper.ts";
   * const logging: Reaper = {
   *   next: () => 60_000,
   *   start: (stats) => console.log(`${stats.entries} entries, ${stats.bytes} bytes`),
   *   reap: () => false,
   * };
   * ```
   */
  start?(stats: ReapStats): void;
  /**
   * Sweep also right after an entry completes, as bounds can be passed then. Default false.
   *
   * @example
   * ```ts
   * import { expiryReaper, lruReaper } from "./reaper.ts";
   * lruReaper({ maxEntries: 100 }).bounded; // true
   * expiryReaper(60_000).bounded; // undefined
   * ```
   */
  readonly bounded?: boolean;
  /**
   * After a sweep: whether the bounds are still passed, by entries in use
   * (which sweeps skip). The cache then sweeps again as soon as one of
   * them is released. Default: never.
   *
   * @example
   * ```ts
   * import { lruReaper } from "./reaper.ts";
   * const reaper = lruReaper({ maxEntries: 1 });
   * reaper.over?.(); // false: nothing swept yet
   * ```
   */
  over?(): boolean;
}

/**
 * Removes entries not read for `ms` milliseconds, sweeping every `ms / 2`
 * (at most every minute).
 *
 * @example
 * ```ts
 * import { expiryReaper, memoryFs, StreamCache } from "../../mod.ts";
 * const cache = new StreamCache({ fs: memoryFs(), reaper: expiryReaper(60_000) });
 * ```
 */
export function expiryReaper(ms: number): Reaper {
  if (!(ms > 0)) throw new RangeError(`expiry must be > 0 ms, got ${ms}`);
  let now = 0;
  return {
    next: () => Math.min(Math.max(ms / 2, 1), 60_000),
    start(stats) {
      now = stats.now;
    },
    reap: (_key, lastRead) => now - lastRead >= ms,
  };
}

/** Bounds for {@link lruReaper}. */
export interface LruBounds {
  /**
   * Most entries to keep. Default: no bound.
   *
   * @example
   * ```ts
   * import { lruReaper } from "./reaper.ts";
   * const reaper = lruReaper({ maxEntries: 10_000 });
   * ```
   */
  maxEntries?: number;
  /**
   * Most bytes to keep. Default: no bound.
   *
   * @example
   * ```ts
   * import { lruReaper } from "./reaper.ts";
   * const reaper = lruReaper({ maxBytes: 256 << 20 }); // 256 MiB
   * ```
   */
  maxBytes?: number;
  /**
   * Milliseconds between timed sweeps. Default `60_000`.
   *
   * @example
   * ```ts
   * import { lruReaper } from "./reaper.ts";
   * const reaper = lruReaper({ maxBytes: 256 << 20, interval: 10_000 }); // sweep every 10 s too
   * ```
   */
  interval?: number;
}

/**
 * Keeps the cache within `maxEntries` and `maxBytes` by removing the least
 * recently read entries first. Entries in use still count toward the bounds
 * but are not removed, so a bound can be exceeded while they are read.
 *
 * @example
 * ```ts
 * import { lruReaper, memoryFs, StreamCache } from "../../mod.ts";
 * const reaper = lruReaper({ maxEntries: 1000, maxBytes: 256 * 2 ** 20 });
 * const cache = new StreamCache({ fs: memoryFs(), reaper });
 * ```
 */
export function lruReaper(bounds: LruBounds): Reaper {
  const maxEntries = bounds.maxEntries ?? Infinity;
  const maxBytes = bounds.maxBytes ?? Infinity;
  if (!(maxEntries >= 0) || !(maxBytes >= 0)) {
    throw new RangeError("maxEntries and maxBytes must be >= 0");
  }
  let entries = 0;
  let bytes = 0;
  return {
    next: () => bounds.interval ?? 60_000,
    bounded: true,
    start(stats) {
      entries = stats.entries;
      bytes = stats.bytes;
    },
    reap(_key, _lastRead, _lastWrite, size) {
      if (entries <= maxEntries && bytes <= maxBytes) return false;
      entries -= 1;
      bytes -= size;
      return true;
    },
    over: () => entries > maxEntries || bytes > maxBytes,
  };
}

/**
 * One reaper from several: it sweeps as often as the most eager, and removes
 * an entry when any of them would. Every reaper sees every entry, so bounded
 * ones keep their counts right.
 *
 * @example
 * ```ts
 * import { combineReapers, expiryReaper, lruReaper } from "../../mod.ts";
 * const reaper = combineReapers(expiryReaper(3_600_000), lruReaper({ maxBytes: 2 ** 30 }));
 * ```
 */
export function combineReapers(...reapers: Reaper[]): Reaper {
  return {
    bounded: reapers.some((reaper) => reaper.bounded),
    next: () => Math.min(...reapers.map((reaper) => reaper.next())),
    reap(key, lastRead, lastWrite, size) {
      let remove = false;
      for (const reaper of reapers) {
        if (reaper.reap(key, lastRead, lastWrite, size)) remove = true;
      }
      return remove;
    },
    start(stats) {
      for (const reaper of reapers) reaper.start?.(stats);
    },
    over: () => reapers.some((reaper) => reaper.over?.() ?? false),
  };
}
