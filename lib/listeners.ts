/**
 * Listeners of one kind of event, each added with a function that removes
 * it: what the stores' `onReap` / `onForget` and a forwarded upload's
 * progress keep.
 *
 * @module
 */

/**
 * A list of listeners told, in the order added, of each value.
 *
 * @example
 * ```ts
 * import { Listeners } from "./listeners.ts";
 * const reaped = new Listeners<string>();
 * const stop = reaped.add((key) => console.log(`${key} went`));
 * reaped.tell("/a"); // logs "/a went"
 * stop();
 * reaped.tell("/b"); // nobody listens
 * ```
 */
export class Listeners<T> {
  readonly #listeners: ((value: T) => void)[] = [];

  /** Adds `listener`; returns what removes it again. */
  add(listener: (value: T) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  /** Tells every listener of `value`; one that throws stops the telling. */
  tell(value: T): void {
    for (const listener of this.#listeners) listener(value);
  }
}
