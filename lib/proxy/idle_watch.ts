/**
 * Notices a body source that sends nothing for too long, at the cost of a
 * clock read per chunk: one timer, re-armed only when it fires, rather than a
 * timer and a promise race for every read.
 *
 * @module
 */
import type { Clock } from "../clock.ts";

/**
 * Calls `onIdle` once a read has waited `ms` without an answer. Time spent
 * between reads (writing what was read) does not count.
 */
export class IdleWatch {
  readonly #clock: Clock;
  readonly #ms: number;
  readonly #onIdle: () => void;
  /** When the pending read began; `undefined` between reads. */
  #readingSince: number | undefined;
  #timer: unknown;

  /** Starts watching; call {@link stop} when done. */
  constructor(clock: Clock, ms: number, onIdle: () => void) {
    this.#clock = clock;
    this.#ms = ms;
    this.#onIdle = onIdle;
    this.#arm(ms);
  }

  /** A read begins. */
  reading(): void {
    this.#readingSince = this.#clock.now();
  }

  /** The read has answered. */
  answered(): void {
    this.#readingSince = undefined;
  }

  /** Stops watching. */
  stop(): void {
    this.#clock.clearTimeout(this.#timer);
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      const since = this.#readingSince;
      const waited = since === undefined ? 0 : this.#clock.now() - since;
      if (waited >= this.#ms) this.#onIdle();
      else this.#arm(this.#ms - waited);
    }, ms);
  }
}
