/**
 * Entity tags (RFC 9110 §8.8.3): make them from values, read lists of them
 * from `If-Match` / `If-None-Match`, and compare them strongly or weakly.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import { trimOws } from "./field_tokens.ts";

/** The hash behind {@link etagFor} and {@link digestStream}'s default. */
export const ETAG_HASH = "sha256";

/**
 * Thrown by {@link etagFor} for values it cannot digest.
 *
 * @example
 * ```ts
 * import { etagFor, UnhashableValueError } from "./etag.ts";
 * try {
 *   etagFor({ items: [1, 2, () => 3] });
 * } catch (error) {
 *   if (error instanceof UnhashableValueError) console.log(error.path); // "$.items[2]"
 * }
 * ```
 */
export class UnhashableValueError extends TypeError {
  /** Where in the value the problem is, e.g. `$.items[2]`. */
  readonly path: string;
  /** Describes where and why the value could not be hashed. */
  constructor(path: string, reason: string) {
    super(`etagFor: cannot hash ${path}: ${reason}`);
    this.name = "UnhashableValueError";
    this.path = path;
  }
}

/** Options for {@link etagFor}. */
export interface ETagOptions {
  /**
   * Make a weak tag (`W/"…"`), which promises semantic, not byte-for-byte,
   * equivalence; fine for conditional GET, not for `If-Range`. Default `true`.
   *
   * @example
   * ```ts
   * import { etagFor } from "./etag.ts";
   * etagFor({ a: 1 }); // 'W/"5JWX3P9BP0NNy8-Qn-CGu_dTuckd7PBK01ANvK7_iPM"'
   * etagFor({ a: 1 }, { weak: false }); // '"5JWX3P9BP0NNy8-Qn-CGu_dTuckd7PBK01ANvK7_iPM"'
   * ```
   */
  weak?: boolean;
}

/** Formats digest bytes as an entity-tag: base64url, so only etagc characters. */
export function _etagFromDigest(digest: Uint8Array, weak: boolean): string {
  const opaque = Buffer.from(digest).toString("base64url");
  return weak ? `W/"${opaque}"` : `"${opaque}"`;
}

const encoder = new TextEncoder();

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Feeds `value` to the hash as tagged, length-prefixed parts, so different
 * structures never produce the same byte sequence (`["ab"]` vs `["a","b"]`).
 */
function feed(hash: Hash, value: unknown, path: string, seen: Set<object>) {
  switch (typeof value) {
    case "string": {
      const bytes = encoder.encode(value);
      hash.update(`s${bytes.byteLength}:`).update(bytes);
      return;
    }
    case "number":
    case "bigint":
      hash.update(`n${String(value)};`);
      return;
    case "boolean":
      hash.update(value ? "t" : "f");
      return;
    case "undefined":
      hash.update("u");
      return;
    case "object":
      break;
    default:
      throw new UnhashableValueError(path, `${typeof value} has no content`);
  }
  if (value === null) {
    hash.update("z");
    return;
  }
  const bytes = _bytesOf(value);
  if (bytes) {
    hash.update(`b${bytes.byteLength}:`).update(bytes);
    return;
  }
  if (value instanceof Date) {
    hash.update(`d${value.getTime()};`);
    return;
  }
  if (seen.has(value)) {
    throw new UnhashableValueError(path, "circular reference");
  }
  seen.add(value);
  const keyed = _keyOf(value);
  if (keyed !== undefined) {
    feed(hash, keyed, path, seen);
  } else if (Array.isArray(value)) {
    hash.update(`a${value.length}:`);
    value.forEach((item, index) => feed(hash, item, `${path}[${index}]`, seen));
  } else if (isPlainObject(value)) {
    // Sorted keys: the same object built in another order gets the same tag.
    // Keys whose value is undefined are left out, as JSON would.
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined)
      .sort();
    hash.update(`o${keys.length}:`);
    for (const key of keys) {
      feed(hash, key, path, seen);
      feed(hash, record[key], `${path}.${key}`, seen);
    }
  } else {
    throw new UnhashableValueError(
      path,
      `${value.constructor?.name ?? "object"} is not a plain object; ` +
        "give it a cacheKey or toHash()",
    );
  }
  seen.delete(value);
}

/** The bytes of a byte-like value, or undefined. */
export function _bytesOf(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  return undefined;
}

/** A value's own cache identity: its `cacheKey` (property or method) or `toHash()`. */
function _keyOf(value: object): unknown {
  const candidate = value as { cacheKey?: unknown; toHash?: unknown };
  if ("cacheKey" in candidate && candidate.cacheKey !== undefined) {
    return typeof candidate.cacheKey === "function"
      ? candidate.cacheKey()
      : candidate.cacheKey;
  }
  if (typeof candidate.toHash === "function") return candidate.toHash();
  return undefined;
}

/**
 * Makes an entity-tag for a value, synchronously.
 *
 * - An object with a `cacheKey` (property or method) or a `toHash()` method is
 *   tagged by what that returns (think `post.cacheKey` = `"posts/1-<updated>"`).
 * - A string or bytes (`Uint8Array`, any view, `ArrayBuffer`) is tagged by
 *   its content: the same tag {@link digestStream} gives that body, so a tag
 *   computed up front matches one computed while streaming.
 * - Plain objects (keys sorted), arrays, numbers, booleans, `null` and dates
 *   are tagged by a stable digest of their structure.
 *
 * The opaque part is the base64url SHA-256 of that input.
 *
 * @throws {UnhashableValueError} for functions, symbols, circular
 * structures and class instances without `cacheKey` / `toHash()`.
 *
 * @example
 * ```ts
 * import { etagFor } from "./etag.ts";
 * etagFor("hello"); // 'W/"LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"'
 * etagFor({ id: 1, updatedAt: 1700000000 }, { weak: false }); // '"…"'
 * etagFor({ cacheKey: "posts/1-20240101" });
 * ```
 */
export function etagFor(value: unknown, options: ETagOptions = {}): string {
  const weak = options.weak ?? true;
  const hash = createHash(ETAG_HASH);
  let content: unknown = value;
  if (typeof value === "object" && value !== null) {
    const keyed = _keyOf(value);
    if (keyed !== undefined) content = keyed;
  }
  if (typeof content === "string") hash.update(encoder.encode(content));
  else {
    const bytes = _bytesOf(content);
    if (bytes) hash.update(bytes);
    else feed(hash, content, "$", new Set());
  }
  return _etagFromDigest(hash.digest(), weak);
}

const ETAG = /^(W\/)?"[\x21\x23-\x7e\x80-\uffff]*"$/;

/**
 * Whether `value` is a well-formed entity-tag (`"xyz"` or `W/"xyz"`).
 *
 * @example
 * ```ts
 * import { isETag } from "./etag.ts";
 * isETag('W/"v1"'); // true
 * isETag("v1"); // false
 * ```
 */
export function isETag(value: string): boolean {
  return ETAG.test(value);
}

/**
 * Reads an `If-Match` / `If-None-Match` value: `"*"`, or the list of
 * entity-tags in it (commas inside quotes allowed). Malformed members are
 * skipped, so junk never matches; `null` or an empty header gives `[]`.
 *
 * @example
 * ```ts
 * import { parseETagList } from "./etag.ts";
 * parseETagList('"a", W/"b,c", junk'); // ['"a"', 'W/"b,c"']
 * parseETagList("*"); // "*"
 * ```
 */
export function parseETagList(
  header: string | null | undefined,
): "*" | string[] {
  if (!header) return [];
  const text = trimOws(header);
  if (text === "*") return "*";
  const tags: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "," || c === " " || c === "\t") {
      i++;
      continue;
    }
    const start = i;
    if (c === "W" && text[i + 1] === "/") i += 2;
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) break;
      const tag = text.slice(start, close + 1);
      i = close + 1;
      // The tag must end its list member; `"a"junk` is junk.
      let j = i;
      while (j < text.length && (text[j] === " " || text[j] === "\t")) j++;
      if ((j === text.length || text[j] === ",") && ETAG.test(tag)) {
        tags.push(tag);
        continue;
      }
    }
    const next = text.indexOf(",", i);
    if (next < 0) break;
    i = next + 1;
  }
  return tags;
}

function opaque(tag: string): string {
  return tag.startsWith("W/") ? tag.slice(2) : tag;
}

/**
 * Strong comparison (RFC 9110 §8.8.3.2): both tags strong and identical.
 * Used for `If-Match` and `If-Range`.
 *
 * @example
 * ```ts
 * import { strongMatch } from "./etag.ts";
 * strongMatch('"1"', '"1"'); // true
 * strongMatch('W/"1"', '"1"'); // false
 * ```
 */
export function strongMatch(a: string, b: string): boolean {
  return a === b && !a.startsWith("W/");
}

/**
 * Weak comparison (RFC 9110 §8.8.3.2): identical opaque tags, weak or not.
 * Used for `If-None-Match`.
 *
 * @example
 * ```ts
 * import { weakMatch } from "./etag.ts";
 * weakMatch('W/"1"', '"1"'); // true
 * weakMatch('"1"', '"2"'); // false
 * ```
 */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b);
}
