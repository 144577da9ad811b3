/**
 * Time, injected. Everything in cistern that expires takes a {@link Clock},
 * so tests move time forward instead of sleeping.
 *
 * @module
 */
import {
  clearTimeout as clearTimer,
  setTimeout as setTimer,
} from "node:timers";

/** A source of the current time and of timers. */
export interface Clock {
  /**
   * Milliseconds since the epoch.
   *
   * @example
   * ```ts
   * import { systemClock } from "./clock.ts";
   * systemClock.now(); // Date.now()
   * ```
   */
  now(): number;
  /**
   * Calls `callback` once after `ms`; the timer never keeps the process alive.
   *
   * @example
   * ```ts
   * import { systemClock } from "./clock.ts";
   * const timer = systemClock.setTimeout(() => console.log("later"), 1000);
   * systemClock.clearTimeout(timer);
   * ```
   */
  setTimeout(callback: () => unknown, ms: number): unknown;
  /**
   * Cancels a timer made by {@link Clock.setTimeout}.
   *
   * @example
   * ```ts
   * import { systemClock } from "./clock.ts";
   * const timer = systemClock.setTimeout(() => console.log("never"), 60_000);
   * systemClock.clearTimeout(timer);
   * ```
   */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock: `Date.now()` and unref'd timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const started = systemClock.now();
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimer(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimer(handle as ReturnType<typeof setTimer>);
  },
};

/**
 * A clock that moves only when told, for tests.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(0);
 * clock.setTimeout(() => console.log("fired"), 1000);
 * await clock.advance(1000); // prints "fired"
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; callback: () => unknown }>();
  #nextId = 1;

  /**
   * Starts at `start` ms since the epoch (default 0).
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock(Date.parse("2025-01-01T00:00:00Z"));
   * clock.now(); // 1735689600000
   * ```
   */
  constructor(start = 0) {
    this.#now = start;
  }

  /**
   * The current (manual) time.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock(1000);
   * await clock.advance(500);
   * clock.now(); // 1500
   * ```
   */
  now(): number {
    return this.#now;
  }

  /**
   * Registers a timer that fires when {@link ManualClock.advance} passes it.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock(0);
   * let fired = false;
   * clock.setTimeout(() => (fired = true), 100);
   * await clock.advance(100); // fired: true
   * ```
   */
  setTimeout(callback: () => unknown, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  /**
   * Cancels a timer.
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock(0);
   * const timer = clock.setTimeout(() => console.log("never"), 100);
   * clock.clearTimeout(timer);
   * await clock.advance(1000); // prints nothing
   * ```
   */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and awaiting what
   * they return (so a timer that starts async work is finished afterwards).
   *
   * @example
   * ```ts
   * import { ManualClock } from "./clock.ts";
   * const clock = new ManualClock(0);
   * clock.setTimeout(() => console.log("a minute"), 60_000);
   * await clock.advance(60_000); // prints "a minute"
   * ```
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; callback: () => unknown }] | undefined;
      for (const timer of this.#timers) {
        if (timer[1].at <= target && (!next || timer[1].at < next[1].at)) {
          next = timer;
        }
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      await next[1].callback();
    }
    this.#now = target;
  }
}
