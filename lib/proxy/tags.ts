/**
 * Tags on stored responses, for purging by tag: the origin names what an
 * answer depends on in a response field (Fastly's `Surrogate-Key`,
 * Varnish's `xkey`, Cloudflare's `Cache-Tag`), and one purge of a tag
 * forgets every stored answer that names it, whatever its URL.
 *
 * @module
 */
import type { StoredResponse } from "./metastore.ts";

/** The field that tags responses unless told otherwise: Fastly's name for it. */
export const DEFAULT_TAG_FIELD = "surrogate-key";

/** What separates tags: spaces (`Surrogate-Key`, `xkey`) or commas (`Cache-Tag`). */
const SEPARATORS = /[\s,]+/;

/**
 * The tags in a field value, separated by spaces or commas; tags are
 * case-sensitive, as Fastly's and Varnish's are.
 *
 * @example
 * ```ts
 * import { tagsIn } from "./tags.ts";
 * tagsIn("product-1 news, front"); // ["product-1", "news", "front"]
 * ```
 */
export function tagsIn(value: string): string[] {
  return value.split(SEPARATORS).filter((tag) => tag !== "");
}

/**
 * Whether `stored` names one of `tags` in its field `field` (a lower-case
 * name, as stored headers have theirs).
 *
 * @example
 * ```ts
 * import { taggedWith } from "./tags.ts";
 * const stored = {
 *   status: 200, statusText: "OK", headers: [["surrogate-key", "a b"]] as [string, string][],
 *   vary: {}, requestTime: 0, responseTime: 0, entity: "e1", size: 0,
 * };
 * taggedWith(stored, "surrogate-key", new Set(["b"])); // true
 * ```
 */
export function taggedWith(
  stored: StoredResponse,
  field: string,
  tags: ReadonlySet<string>,
): boolean {
  for (const [name, value] of stored.headers) {
    if (name === field && tagsIn(value).some((tag) => tags.has(tag))) {
      return true;
    }
  }
  return false;
}

/** Purges by tag a {@link TagPurges} keeps by default. */
const KEPT_PURGES = 1000;

/**
 * The purges by tag run lately, so that a fetch under way when one ran can
 * tell, once it has its answer, whether a purge named one of its tags (and
 * so store nothing): which tags a fetch brings is not known before it
 * answers, and forgetting every fetch under way at each purge would leave a
 * long download uncached on a site that purges often.
 *
 * @example
 * ```ts
 * import { TagPurges } from "./tags.ts";
 * const purges = new TagPurges("surrogate-key");
 * const began = purges.count; // a fetch starts
 * purges.add(new Set(["news"]));
 * const stored = {
 *   status: 200, statusText: "OK", headers: [["surrogate-key", "news"]] as [string, string][],
 *   vary: {}, requestTime: 0, responseTime: 0, entity: "e1", size: 0,
 * };
 * purges.namedSince(began, stored); // true: store nothing
 * ```
 */
export class TagPurges {
  /** The response field that holds the tags. */
  readonly field: string;
  readonly #limit: number;
  /** The last purges' tags, oldest first. */
  readonly #kept: ReadonlySet<string>[] = [];
  #count = 0;

  /** Purges of tags in `field`, the last `limit` kept (default 1,000). */
  constructor(field: string, limit = KEPT_PURGES) {
    this.field = field;
    this.#limit = limit;
  }

  /** How many purges have run: what a fetch notes as it begins. */
  get count(): number {
    return this.#count;
  }

  /** Notes a purge of `tags`. */
  add(tags: ReadonlySet<string>): void {
    this.#kept.push(tags);
    if (this.#kept.length > this.#limit) this.#kept.shift();
    this.#count++;
  }

  /**
   * Whether a purge run after the first `since` named a tag of `stored`;
   * true also when more ran since than are kept (none can be ruled out).
   */
  namedSince(since: number, stored: StoredResponse): boolean {
    if (since === this.#count) return false;
    const first = since - (this.#count - this.#kept.length);
    if (first < 0) return true;
    for (let i = first; i < this.#kept.length; i++) {
      if (taggedWith(stored, this.field, this.#kept[i])) return true;
    }
    return false;
  }
}
