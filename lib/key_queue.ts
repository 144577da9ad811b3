/**
 * Tasks run one at a time per key, in the order they were queued: changes
 * to one stored key land as they were made, whatever each one awaits.
 *
 * @module
 */

/**
 * One queue of tasks per key; a key's queue is forgotten once it is empty.
 *
 * @example
 * ```ts
 * import { KeyQueue } from "./key_queue.ts";
 * const queue = new KeyQueue();
 * void queue.run("k", async () => "first");
 * await queue.run("k", async () => "after the first");
 * ```
 */
export class KeyQueue {
  /** The last task queued for each key, settled either way. */
  readonly #last = new Map<string, Promise<void>>();

  /** Runs `task` after the tasks queued before it for `key`; its outcome is the task's. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const done = (this.#last.get(key) ?? Promise.resolve()).then(task);
    const settled = done.then(() => {}, () => {});
    this.#last.set(key, settled);
    settled.then(() =>
      this.#last.get(key) === settled && this.#last.delete(key)
    );
    return done;
  }

  /** Resolves once every task queued, including those queued meanwhile, has settled. */
  async idle(): Promise<void> {
    while (this.#last.size > 0) await Promise.all(this.#last.values());
  }
}
