/**
 * Tags on stored responses, for purging by tag: the origin names what an
 * answer depends on in a response field (Fastly's `Surrogate-Key`,
 * Varnish's `xkey`, Cloudflare's `Cache-Tag`), and one purge of a tag
 * forgets every stored answer that names it, whatever its URL.
 *
 * @module
 */
import type { StoredResponse } from "./metastore.ts";

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
