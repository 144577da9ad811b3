/**
 * `Accept-Encoding` (RFC 9110 §12.5.3): which of the content codings a
 * server can produce a request accepts best.
 *
 * @module
 */
import { trimOws } from "./field_tokens.ts";

/** RFC 9110 §12.4.2: `0`, `0.5`, `0.125`, `1`, `1.000`. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;
/** The names RFC 9110 §8.4.1 says to take as the codings they alias. */
const ALIASES: Record<string, string> = {
  "x-gzip": "gzip",
  "x-compress": "compress",
};

/**
 * The coding among `codings` (lower-case names, the server's preference
 * first) or `"identity"` that a request whose `Accept-Encoding` is `value`
 * accepts best: the highest weight wins, the server's preference breaks
 * ties, and `identity` (never refused unless `identity;q=0`, or `*;q=0`
 * with no `identity` member) comes last unless the client weighs it higher.
 * `undefined` when nothing is acceptable. Members with a malformed weight
 * are ignored: a coding is chosen only when clearly accepted. A `null`
 * value (no field: any coding acceptable) gives the server's first.
 *
 * @example
 * ```ts
 * import { acceptedCoding } from "./accept_encoding.ts";
 * acceptedCoding("gzip, deflate, br, zstd", ["br", "gzip"]); // "br"
 * acceptedCoding("br;q=0.5, gzip", ["br", "gzip"]); // "gzip"
 * acceptedCoding("deflate", ["br", "gzip"]); // "identity"
 * acceptedCoding("*;q=0", ["br", "gzip"]); // undefined
 * ```
 */
export function acceptedCoding(
  value: string | null,
  codings: readonly string[],
): string | undefined {
  if (value === null) return codings[0] ?? "identity";
  const weights = new Map<string, number>();
  for (const member of value.split(",")) {
    const [name, ...params] = member.split(";");
    const coding = trimOws(name).toLowerCase();
    if (!coding) continue;
    let weight = 1;
    for (const param of params) {
      const [key, raw = ""] = param.split("=");
      if (trimOws(key).toLowerCase() !== "q") continue;
      const q = trimOws(raw);
      weight = QVALUE.test(q) ? Number(q) : NaN;
    }
    if (!Number.isNaN(weight)) weights.set(ALIASES[coding] ?? coding, weight);
  }
  const any = weights.get("*");
  let best: string | undefined;
  let bestWeight = 0;
  for (const coding of codings) {
    const weight = weights.get(coding) ?? any ?? 0;
    if (weight > bestWeight) {
      best = coding;
      bestWeight = weight;
    }
  }
  const identity = weights.get("identity") ??
    (any === 0 ? 0 : Number.MIN_VALUE);
  if (identity > bestWeight) return "identity";
  return best;
}
