/**
 * Response header fields built up as plain `[name, value]` pairs and handed
 * to a `Response` in one pass, for hot paths that answer many small requests.
 *
 * Why: a runtime may convert a `HeadersInit` given to `new Response()`
 * through its WebIDL layer, at about 1 µs per field, and iterating a
 * `Headers` object sorts it; creating the `Response` bare and appending each
 * field measured three times faster on one supported runtime and no slower
 * on the other (`docs/bench_proxy.md`).
 *
 * @module
 */
import { headerPairs } from "../adapters/header_copies.ts";
import { trimEnds } from "./field_tokens.ts";

/**
 * Header fields as `[name, value]` pairs with lowercase names, in order.
 * Reads and writes follow `Headers` (`get` joins repeated fields with ", ").
 * Internal to cistern.
 *
 * @example
 * ```ts
 * import { FieldList } from "./field_list.ts";
 * const fields = new FieldList({ "Content-Type": "text/plain" });
 * fields.set("age", "3");
 * const response = fields.response("hi", { status: 200 });
 * response.headers.get("age"); // "3"
 * ```
 */
export class FieldList {
  /** The fields, names lowercase. */
  readonly pairs: [string, string][] = [];

  /**
   * A list holding the fields of `init`, read as `Headers` reads them: names
   * lowercased, values without surrounding whitespace. Pairs are taken as
   * they are (the fast path); any other form goes through `Headers`.
   */
  constructor(init?: HeadersInit) {
    if (!init) return;
    if (Array.isArray(init)) {
      for (const [name, value] of init) {
        this.pairs.push([name.toLowerCase(), trimField(value)]);
      }
      return;
    }
    this.pairs = headerPairs(
      init instanceof Headers ? init : new Headers(init),
    );
  }

  /** The value of `name` (repeated fields joined with ", "), or `null`. */
  get(name: string): string | null {
    let value: string | null = null;
    for (const [field, fieldValue] of this.pairs) {
      if (field === name) {
        value = value === null ? fieldValue : `${value}, ${fieldValue}`;
      }
    }
    return value;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    return this.pairs.some(([field]) => field === name);
  }

  /** Replaces every `name` field with one holding `value`. */
  set(name: string, value: string): void {
    this.delete(name);
    this.pairs.push([name, value]);
  }

  /** Removes every `name` field. */
  delete(name: string): void {
    for (let i = this.pairs.length - 1; i >= 0; i--) {
      if (this.pairs[i][0] === name) this.pairs.splice(i, 1);
    }
  }

  /** A `Response` with `body`, `init`'s status, and these fields. */
  response(
    body: BodyInit | null,
    init: { status?: number; statusText?: string } = {},
  ): Response {
    const response = new Response(body, init);
    const headers = response.headers;
    // A Blob or string body brings a Content-Type of its own; ours replaces it.
    let typed = false;
    for (const [name, value] of this.pairs) {
      if (name === "content-type" && !typed) {
        typed = true;
        headers.set(name, value);
      } else headers.append(name, value);
    }
    return response;
  }
}

/** HTTP whitespace (RFC 9110 §5.5): what `Headers` strips from values. */
const isHttpSpace = (code: number) =>
  code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

/** `value` without surrounding HTTP whitespace (usually already so). */
const trimField = (value: string) => trimEnds(value, isHttpSpace);
