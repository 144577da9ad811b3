/**
 * Background work that must not grow without bound: tasks run at most a
 * few at a time, in the order queued, and past a limit new ones are dropped
 * (and counted) rather than held.
 *
 * @module
 */

/**
 * Runs queued tasks at most `concurrency` at a time; holds at most
 * `maxWaiting` not yet started.
 *
 * @example
 * ```ts
 * import { BackgroundQueue } from "./background_queue.ts";
 * const queue = new BackgroundQueue({ concurrency: 4, maxWaiting: 1000 });
 * queue.add(async () => {});
 * await queue.stop(); // waits for the tasks running, drops the rest
 * ```
 */
export class BackgroundQueue {
  readonly #concurrency: number;
  readonly #maxWaiting: number;
  readonly #onError: (error: unknown) => void;
  /** Tasks not started; those before `#head` have been taken. */
  #waiting: (() => Promise<void>)[] = [];
  #head = 0;
  readonly #running = new Set<Promise<void>>();
  #stopped = false;
  #dropped = 0;

  /** `onError` hears of each task that fails (the queue goes on). */
  constructor(options: {
    concurrency: number;
    maxWaiting: number;
    onError?: (error: unknown) => void;
  }) {
    this.#concurrency = options.concurrency;
    this.#maxWaiting = options.maxWaiting;
    this.#onError = options.onError ?? (() => {});
  }

  /** Tasks dropped because the queue was full or stopped. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Tasks queued and not started yet. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /** Queues `task`; `false` when it was dropped (the queue is full or stopped). */
  add(task: () => Promise<void>): boolean {
    if (this.#stopped || this.waiting >= this.#maxWaiting) {
      this.#dropped++;
      return false;
    }
    this.#waiting.push(task);
    this.#start();
    return true;
  }

  #start(): void {
    while (this.#running.size < this.#concurrency && this.waiting > 0) {
      const task = this.#waiting[this.#head++];
      // Taken tasks are let go in batches: shifting one by one is O(n) each.
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      const running: Promise<void> = Promise.resolve().then(task).catch(
        (error) => {
          try {
            this.#onError(error);
          } catch {
            // A listener that fails must not fail the queue.
          }
        },
      ).finally(
        () => {
          this.#running.delete(running);
          this.#start();
        },
      );
      this.#running.add(running);
    }
  }

  /** Drops the tasks not started, takes no more, and waits for those running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#dropped += this.waiting;
    this.#waiting = [];
    this.#head = 0;
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
