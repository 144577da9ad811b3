/**
 * A map that keeps its most recently used entries within a limit: what the
 * in-memory stores and memory tiers hold, least recently used dropped first.
 *
 * Internal.
 *
 * @module
 */

/**
 * A map bounded by the total weight of its values (by default each weighs
 * 1, so the limit is a count). `get` makes an entry the most recent; `set`
 * drops the least recent ones until the total fits again.
 *
 * @example
 * ```ts
 * import { RecentMap } from "./recent_map.ts";
 * const recent = new RecentMap<string, number>(2);
 * recent.set("a", 1);
 * recent.set("b", 2);
 * recent.get("a");
 * recent.set("c", 3); // drops "b", the least recently used
 * ```
 */
export class RecentMap<K, V> {
  readonly #map = new Map<K, V>();
  /** The most total weight kept. */
  readonly limit: number;
  readonly #weigh: (value: V, key: K) => number;
  #weight = 0;
  /** The key set or got last, which a `get` need not move (a hint only). */
  #newest: K | undefined;

  readonly #dropped: ((key: K, value: V) => void) | undefined;

  /**
   * `limit`: the most total weight kept; `weigh`: an entry's weight (default
   * 1); `dropped`: told of each entry let go to make room (or too heavy to
   * keep), not of those deleted.
   */
  constructor(
    limit: number,
    weigh: (value: V, key: K) => number = () => 1,
    dropped?: (key: K, value: V) => void,
  ) {
    if (!(limit >= 0)) {
      throw new TypeError(`limit must be a number >= 0, got ${limit}`);
    }
    this.limit = limit;
    this.#weigh = weigh;
    this.#dropped = dropped;
  }

  /** Entries kept. */
  get size(): number {
    return this.#map.size;
  }

  /** Total weight kept. */
  get weight(): number {
    return this.#weight;
  }

  /** The value of `key`, which becomes the most recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined && key !== this.#newest) {
      // Re-inserting moves it last; skipped for the newest, as most hits
      // repeat the key of the hit before.
      this.#map.delete(key);
      this.#map.set(key, value);
      this.#newest = key;
    }
    return value;
  }

  /**
   * Keeps `value` as the most recent, dropping the least recent entries
   * until the total weight fits; a value heavier than the limit is not kept
   * (and `false` is returned).
   */
  set(key: K, value: V): boolean {
    this.delete(key);
    const weight = this.#weigh(value, key);
    if (weight > this.limit) {
      this.#dropped?.(key, value);
      return false;
    }
    this.#map.set(key, value);
    this.#weight += weight;
    this.#newest = key;
    for (const [oldest, old] of this.#map) {
      if (this.#weight <= this.limit) break;
      this.delete(oldest);
      this.#dropped?.(oldest, old);
    }
    return true;
  }

  /**
   * Every entry, least recently used first, as they were when asked for;
   * their order of use is left as it was.
   */
  entries(): [K, V][] {
    // A copy: hits move keys last, so a live walk could meet them again.
    return [...this.#map];
  }

  /** Forgets `key`; whether it was kept. */
  delete(key: K): boolean {
    const value = this.#map.get(key);
    if (value === undefined) return false;
    this.#map.delete(key);
    this.#weight -= this.#weigh(value, key);
    return true;
  }
}
