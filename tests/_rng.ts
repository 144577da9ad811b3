/**
 * The seeded generator of the fuzz tests: mulberry32, small, fast, and the
 * same sequence on every runtime, so a failing case comes back from its seed.
 *
 * @module
 */

/** mulberry32: a tiny, fast, seeded 32-bit PRNG, with the draws the fuzz tests use. */
export class Rng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: ArrayLike<T>): T {
    return items[this.int(items.length)];
  }
  /** `length` characters drawn from `alphabet`. */
  chars(alphabet: string, length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
  digits(length: number): string {
    return this.chars("0123456789", length);
  }
  /** Random latin-1 text, control characters included. */
  latin1(length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += String.fromCharCode(this.int(256));
    return out;
  }
  /** Each letter of `text` upper-cased with chance `share` (names are case-insensitive). */
  anyCase(text: string, share = 0.3): string {
    let out = "";
    for (const char of text) {
      out += this.chance(share) ? char.toUpperCase() : char;
    }
    return out;
  }
}
