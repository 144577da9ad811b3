/**
 * Many deadlines of one length on one timer. Every deadline added is `ms`
 * from its start, so they fall due in the order they were added: one timer,
 * armed for the earliest, serves them all, and cancelling one is a set
 * deletion. (Arming and clearing a timer costs up to 4 µs on one of the
 * runtimes, and a pass-through armed two per request.)
 *
 * Internal.
 *
 * @module
 */
import type { Clock } from "./clock.ts";

/** The longest delay a timer takes (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Deadline {
  at: number;
  /** Dropped when the deadline is cancelled (see `add`). */
  expire: (() => void) | undefined;
}

/**
 * Calls each deadline's `expire` `ms` after it was added, unless cancelled.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * import { Deadlines } from "./deadlines.ts";
 * const clock = new ManualClock();
 * const deadlines = new Deadlines(clock, 1000);
 * const cancel = deadlines.add(() => console.log("too late"));
 * cancel(); // nothing is printed
 * ```
 */
export class Deadlines {
  readonly #clock: Clock;
  /** How long each deadline is, in ms. */
  readonly ms: number;
  /** Pending deadlines, earliest first (insertion order). */
  readonly #pending = new Set<Deadline>();
  #armed = false;

  /** Deadlines `ms` long, timed by `clock`. */
  constructor(clock: Clock, ms: number) {
    // Timers take at most 2^31 - 1 ms (24.8 days); past that they fire at once.
    if (!(ms >= 0 && ms <= MAX_TIMER_MS)) {
      throw new TypeError(
        `a deadline must be a number from 0 to ${MAX_TIMER_MS} ms, got ${ms}`,
      );
    }
    this.#clock = clock;
    this.ms = ms;
  }

  /** Starts a deadline; the function returned cancels it. */
  add(expire: () => void): () => void {
    const deadline: Deadline = { at: this.#clock.now() + this.ms, expire };
    this.#pending.add(deadline);
    if (!this.#armed) this.#arm(this.ms);
    return () => {
      // V8 keeps an entry deleted from a long-lived Set reachable for its
      // young-generation collections (until a full one), so a cancelled
      // deadline lets go of its function, and of all the function holds:
      // else each forwarded request's whole state was copied and promoted,
      // 26 µs of GC pauses per request instead of 4 (bench/forward_gc.ts).
      deadline.expire = undefined;
      this.#pending.delete(deadline);
    };
  }

  #arm(ms: number): void {
    this.#armed = true;
    this.#clock.setTimeout(() => this.#fire(), ms);
  }

  #fire(): void {
    this.#armed = false;
    const now = this.#clock.now();
    const due: Deadline[] = [];
    for (const deadline of this.#pending) {
      if (deadline.at > now) {
        this.#arm(deadline.at - now);
        break;
      }
      this.#pending.delete(deadline);
      due.push(deadline);
    }
    for (const { expire } of due) {
      try {
        expire?.();
      } catch (error) {
        // As from a timer of its own, without keeping the others from firing.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
