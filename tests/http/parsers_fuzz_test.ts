/**
 * Seeded fuzz and property tests for the HTTP field parsers the shared cache
 * runs on every request and response: Cache-Control (and targeted fields over
 * Structured Field Dictionaries), ETag lists, HTTP dates, `Range` and range
 * answers, preconditions, field tokens, `Accept-Encoding`, and the age and
 * freshness rules of `lib/proxy/policy.ts`.
 *
 * Inputs come from a small seeded PRNG (mulberry32, fixed seeds: every run
 * sees the same inputs) and from grammar-aware generators: valid members
 * mixed with junk. Most properties are checked against small independent
 * reference readings written from the modules' documentation and the RFCs.
 *
 * The tests at the end are the defects this fuzzing found, each reduced to
 * its input.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../_rng.ts";
import {
  acceptedCoding,
  type CacheControl,
  evaluatePreconditions,
  formatCacheControl,
  formatContentRange,
  formatHttpDate,
  ifRangeMatches,
  isETag,
  isStale,
  MAX_DELTA_SECONDS,
  parseCacheControl,
  parseETagList,
  parseHttpDate,
  parseRange,
  parseTargetedCacheControl,
  rangeResponse,
  type RangeResult,
  strongMatch,
  weakMatch,
} from "../../lib/http/mod.ts";
import {
  type BareItem,
  type Member,
  type Parameters,
  parseDictionary,
} from "../../lib/http/structured_fields.ts";
import { fieldTokens, isToken } from "../../lib/http/field_tokens.ts";
import {
  ageFrom,
  ageHeaderValue,
  currentAge,
  freshnessLifetime,
  notModifiedApplies,
  notStorableReason,
  responseCacheControl,
  staleForbidden,
  staleIfErrorAllows,
  usability,
} from "../../lib/proxy/policy.ts";

// ---------------------------------------------------------------------------
// PRNG and helpers

/** How many cases each property runs. */
const N = 1500;

/** Shows an input in a failure message so it can be replayed. */
const show = (value: unknown) => JSON.stringify(value);
/** Optional whitespace off the ends: spaces and tabs only (RFC 9110 §5.6.3), not NBSP or VT as `trim()` takes. */
const ows = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, "");

/** Runs `body` for `count` cases from `seed`; a failure names the case. */
function forAll(
  seed: number,
  count: number,
  body: (rng: Rng, index: number) => void,
): void {
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) body(rng, i);
}

async function forAllAsync(
  seed: number,
  count: number,
  body: (rng: Rng, index: number) => Promise<void>,
): Promise<void> {
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) await body(rng, i);
}

/** Text a `Headers` object accepts as a value (no NUL, CR, LF; latin-1). */
function headerSafe(text: string): string {
  return text.replace(/[\0\r\n]|[^\0-\xff]/g, "");
}

const TCHAR =
  "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const JUNK = ' \t,;="\\()<>@:/[]?{}\x7f\x80\xa0\xff\u0100\ud800\ufeff';
const TWO_31 = 2 ** 31;

// ---------------------------------------------------------------------------
// Cache-Control: generators and an independent reference reading

const DELTA_NAMES = [
  "max-age",
  "s-maxage",
  "min-fresh",
  "stale-while-revalidate",
  "stale-if-error",
];
const FLAG_NAMES = [
  "no-store",
  "public",
  "must-revalidate",
  "proxy-revalidate",
  "must-understand",
  "no-transform",
  "immutable",
  "only-if-cached",
];
const LIST_NAMES = ["no-cache", "private"];
const RESTRICTIVE = [
  "no-store",
  "no-cache",
  "private",
  "must-revalidate",
  "proxy-revalidate",
];
const EXTENSION_NAMES = [
  "x-ext",
  "community",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "no-storex",
  "x-no-store",
];
const CC_NAMES = [
  ...DELTA_NAMES,
  ...FLAG_NAMES,
  ...LIST_NAMES,
  "max-stale",
  ...EXTENSION_NAMES,
];

/** The text after `=` in a Cache-Control member: valid, odd or junk. */
function ccArgument(rng: Rng): string {
  switch (rng.int(16)) {
    case 0:
      return rng.digits(rng.between(1, 4));
    case 1:
      return rng.pick(["0", "000060", "2147483647", "2147483648"]);
    case 2:
      return rng.pick([
        "2147483649",
        "4294967296",
        "99999999999999999999",
        "1" + "0".repeat(rng.between(10, 400)),
      ]);
    case 3:
      return rng.pick(["-1", "-0", "1.5", "1e3", "0x10", "+5", "", "60s"]);
    case 4:
      return `"${rng.digits(rng.between(1, 25))}"`;
    case 5:
      return `"${rng.pick(["set-cookie", "Set-Cookie, X-Foo", "a, b,,c"])}"`;
    case 6: { // a closed quoted string with escapes, commas and spaces
      let out = "";
      for (let k = rng.int(8); k > 0; k--) {
        out += rng.pick([
          "a",
          "B",
          ",",
          " ",
          "\t",
          "=",
          '\\"',
          "\\\\",
          "\\a",
          ";",
        ]);
      }
      return `"${out}"`;
    }
    case 7: // a field-name list naming restrictive directives: not them
      return `"${rng.pick(RESTRICTIVE)}, ${rng.pick(RESTRICTIVE)}"`;
    case 8:
      return rng.chars(TCHAR, rng.between(1, 6));
    case 9:
      return rng.pick(RESTRICTIVE); // a token value, not a directive
    default:
      return rng.digits(rng.between(1, 3));
  }
}

/** One Cache-Control member, well-formed or not. */
function ccMember(rng: Rng, unclosed: boolean): string {
  const r = rng.int(20);
  if (r === 0) return rng.chars(JUNK + "ab", rng.between(1, 6));
  if (r === 1) return rng.latin1(rng.between(1, 5)).replace(/"/g, "");
  let name = rng.anyCase(rng.pick(CC_NAMES));
  if (rng.chance(0.03)) name = rng.chars(TCHAR, rng.between(1, 5));
  let member = name;
  if (rng.chance(0.5)) member += "=" + ccArgument(rng);
  if (rng.chance(0.12)) {
    // junk: whitespace around "=", a second member after ";", a stray word
    member = rng.pick([
      `${member} junk`,
      `${member}; ${rng.pick(CC_NAMES)}`,
      `${name} =${rng.digits(2)}`,
      `${name}= ${rng.digits(2)}`,
      `${member}"x,y"`,
      `${member} "q, ${rng.pick(RESTRICTIVE)}"`,
      `${member}=3`,
      `(${member})`,
      `${member}\\`,
    ]);
  }
  if (unclosed && rng.chance(0.1)) {
    member = rng.pick([
      `${name}="${rng.chars("ab, ", 3)}`,
      `${member}"`,
      `"${member}`,
    ]);
  }
  return member;
}

/** A whole Cache-Control value: members, separators, whitespace. */
function ccValue(rng: Rng, unclosed = true): string {
  if (rng.chance(0.05)) return rng.latin1(rng.between(0, 40));
  const count = rng.between(0, 7);
  let out = rng.pick(["", "", " ", ",", " ,\t"]);
  for (let i = 0; i < count; i++) {
    if (i > 0) out += rng.pick([",", ", ", " ,", ",,", "\t,\t", " , ", ","]);
    out += ccMember(rng, unclosed);
  }
  return out + rng.pick(["", "", " ", ",", ", "]);
}

type RefMember = { raw: string; malformed: boolean };

/**
 * Splits a Cache-Control value into members at commas outside quoted
 * strings (RFC 9110 §5.6.4: a backslash escapes inside quotes only). An
 * unclosed quote makes the rest of the value one malformed member.
 */
function refMembers(text: string): { members: RefMember[]; unclosed: boolean } {
  const members: RefMember[] = [];
  let start = 0;
  let i = 0;
  while (i <= text.length) {
    if (i === text.length || text[i] === ",") {
      members.push({ raw: text.slice(start, i), malformed: false });
      start = ++i;
      continue;
    }
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) {
        members.push({ raw: text.slice(start), malformed: true });
        return { members, unclosed: true };
      }
      i = j + 1;
      continue;
    }
    i++;
  }
  return { members, unclosed: false };
}

const MEMBER =
  /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:=(?:([!#$%&'*+\-.^_`|~0-9A-Za-z]*)|"((?:[^"\\]|\\[\s\S])*)"))?$/;

/** RFC 9111 §1.2.2 delta-seconds; invalid is 0 (the module's choice). */
function refDelta(argument: string | undefined): number {
  if (argument === undefined || !/^[0-9]+$/.test(argument)) return 0;
  const value = BigInt(argument);
  return value > BigInt(TWO_31) ? TWO_31 : Number(value);
}

type RefCC = {
  deltas: Map<string, number>;
  flags: Set<string>;
  lists: Map<string, true | Set<string>>;
  maxStale?: true | number;
  extensions: Map<string, string | true>;
};

/**
 * An independent reading of a Cache-Control value, from the module's
 * documentation: valid members apply, malformed ones count only the
 * restrictive directives they name, bare; duplicates keep the most
 * restrictive value; extensions keep their first value.
 */
function refParse(
  text: string,
): { ref: RefCC; unclosed: boolean; fromMalformed: number } {
  let fromMalformed = 0;
  const ref: RefCC = {
    deltas: new Map(),
    flags: new Set(),
    lists: new Map(),
    extensions: new Map(),
  };
  const applyList = (name: string, argument: string | undefined) => {
    const previous = ref.lists.get(name);
    const names = argument === undefined ? [] : argument.split(",")
      .map((n) => ows(n).toLowerCase())
      .filter((n) => LOWER_TOKEN.test(n));
    if (previous === true || names.length === 0) {
      ref.lists.set(name, true);
      return;
    }
    const set = previous ?? new Set<string>();
    for (const n of names) set.add(n);
    // Past 256 names a list reads as bare (the module's choice).
    ref.lists.set(name, set.size > 256 ? true : set);
  };
  const apply = (name: string, argument: string | undefined) => {
    if (DELTA_NAMES.includes(name)) {
      const seconds = refDelta(argument);
      const previous = ref.deltas.get(name);
      ref.deltas.set(
        name,
        previous === undefined
          ? seconds
          : name === "min-fresh"
          ? Math.max(previous, seconds)
          : Math.min(previous, seconds),
      );
    } else if (FLAG_NAMES.includes(name)) ref.flags.add(name);
    else if (LIST_NAMES.includes(name)) applyList(name, argument);
    else if (name === "max-stale") {
      const seconds = argument === undefined ? true : refDelta(argument);
      const previous = ref.maxStale;
      ref.maxStale = previous === undefined || previous === true
        ? seconds
        : seconds === true
        ? previous
        : Math.min(previous, seconds);
    } else if (!ref.extensions.has(name)) {
      ref.extensions.set(name, argument ?? true);
    }
  };
  const { members, unclosed } = refMembers(text);
  for (const member of members) {
    const raw = ows(member.raw);
    if (raw === "") continue;
    const m = member.malformed ? null : MEMBER.exec(raw);
    if (m) {
      const argument = m[2] ?? m[3]?.replace(/\\([\s\S])/g, "$1");
      apply(m[1].toLowerCase(), argument);
    } else {
      for (const word of raw.toLowerCase().split(/[^a-z-]+/)) {
        if (RESTRICTIVE.includes(word)) {
          fromMalformed++;
          apply(word, undefined);
        }
      }
    }
  }
  return { ref, unclosed, fromMalformed };
}

const FIELD_OF: Record<string, keyof CacheControl> = {
  "max-age": "maxAge",
  "s-maxage": "sMaxAge",
  "min-fresh": "minFresh",
  "stale-while-revalidate": "staleWhileRevalidate",
  "stale-if-error": "staleIfError",
  "no-store": "noStore",
  "public": "public",
  "must-revalidate": "mustRevalidate",
  "proxy-revalidate": "proxyRevalidate",
  "must-understand": "mustUnderstand",
  "no-transform": "noTransform",
  "immutable": "immutable",
  "only-if-cached": "onlyIfCached",
  "no-cache": "noCache",
  "private": "private",
};

/** A `CacheControl` in a comparable shape: lists sorted, extensions as entries. */
function normal(cc: CacheControl): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(cc)) {
    if (value === undefined) continue;
    if (key === "extensions") {
      out.extensions = Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    } else if (Array.isArray(value)) out[key] = [...value].sort();
    else out[key] = value;
  }
  return out;
}

function refToCacheControl(ref: RefCC): Record<string, unknown> {
  const cc: Record<string, unknown> = {};
  for (const [name, seconds] of ref.deltas) cc[FIELD_OF[name]] = seconds;
  for (const name of ref.flags) cc[FIELD_OF[name]] = true;
  for (const [name, list] of ref.lists) {
    cc[FIELD_OF[name]] = list === true ? true : [...list];
  }
  if (ref.maxStale !== undefined) cc.maxStale = ref.maxStale;
  if (ref.extensions.size > 0) {
    cc.extensions = Object.fromEntries(ref.extensions);
  }
  return normal(cc as CacheControl);
}

/** Invariants any parse result keeps, whatever the input. */
function assertWellTyped(cc: CacheControl, input: string): void {
  const where = `input ${show(input)} gave ${show(cc)}`;
  for (
    const key of [
      "maxAge",
      "sMaxAge",
      "minFresh",
      "staleWhileRevalidate",
      "staleIfError",
    ] as const
  ) {
    const value = cc[key];
    if (value === undefined) continue;
    assert.ok(
      Number.isInteger(value) && value >= 0 && value <= MAX_DELTA_SECONDS,
      `${key}: ${where}`,
    );
  }
  if (cc.maxStale !== undefined && cc.maxStale !== true) {
    assert.ok(
      Number.isInteger(cc.maxStale) && cc.maxStale >= 0 &&
        cc.maxStale <= MAX_DELTA_SECONDS,
      `maxStale: ${where}`,
    );
  }
  for (const key of ["noCache", "private"] as const) {
    const value = cc[key];
    if (value === undefined || value === true) continue;
    assert.ok(Array.isArray(value) && value.length > 0, `${key}: ${where}`);
    for (const name of value) {
      assert.ok(LOWER_TOKEN.test(name), `${key} name ${show(name)}: ${where}`);
    }
    assert.equal(new Set(value).size, value.length, `${key} dupes: ${where}`);
  }
  for (
    const key of [
      "noStore",
      "public",
      "mustRevalidate",
      "proxyRevalidate",
      "mustUnderstand",
      "noTransform",
      "immutable",
      "onlyIfCached",
    ] as const
  ) {
    assert.ok(cc[key] === undefined || cc[key] === true, `${key}: ${where}`);
  }
  if (cc.extensions) {
    assert.equal(Object.getPrototypeOf(cc.extensions), Object.prototype);
    for (const [name, value] of Object.entries(cc.extensions)) {
      assert.ok(LOWER_TOKEN.test(name), `extension ${show(name)}: ${where}`);
      assert.ok(value === true || typeof value === "string", where);
    }
  }
}

describe("fuzz: parseCacheControl", () => {
  it("never throws, and every result is well typed (random latin-1 and grammar-aware input)", () => {
    forAll(0xc0ffee, N, (rng) => {
      const input = rng.chance(0.3)
        ? rng.latin1(rng.between(0, 60))
        : ccValue(rng);
      assertWellTyped(parseCacheControl(input), input);
    });
    assert.deepEqual(parseCacheControl(null), {});
    assert.deepEqual(parseCacheControl(undefined), {});
    assert.deepEqual(parseCacheControl(""), {});
  });

  it("reads every value as an independent reading of its documentation does", () => {
    let compared = 0;
    let unclosed = 0;
    forAll(0x5eed01, 4 * N, (rng) => {
      const input = ccValue(rng);
      const { ref, unclosed: quoteLeftOpen } = refParse(input);
      if (quoteLeftOpen) unclosed++;
      compared++;
      assert.deepEqual(
        normal(parseCacheControl(input)),
        refToCacheControl(ref),
        `input ${show(input)}`,
      );
    });
    assert.ok(compared > 3 * N, `only ${compared} compared`);
    assert.ok(unclosed > N / 10, `only ${unclosed} with a quote left open`);
  });

  it("fails closed: each restrictive directive a member names as a directive, or a malformed member names, counts", () => {
    let malformed = 0;
    let unstored = 0;
    forAll(0x5eed02, 4 * N, (rng) => {
      const input = ccValue(rng);
      const { ref, fromMalformed } = refParse(input);
      if (fromMalformed > 0) malformed++;
      const cc = parseCacheControl(input);
      for (const name of RESTRICTIVE) {
        const named = ref.flags.has(name) || ref.lists.has(name);
        if (named) {
          assert.ok(cc[FIELD_OF[name]], `${name} lost: ${show(input)}`);
        }
      }
      // And the shared cache does not store what says no-store or private.
      // (must-understand lets a cache that knows the status ignore no-store,
      // RFC 9111 §5.2.2.3.)
      const expected = cc.noStore && !cc.mustUnderstand
        ? "no-store"
        : cc.private === true
        ? "private"
        : undefined;
      if (expected) {
        const reason = notStorableReason(
          new Request("http://x/"),
          new Response(null, {
            headers: { "cache-control": headerSafe(input) },
          }),
          {
            privateHeaders: [],
            storeSetCookie: true,
            defaultTtl: 60,
            heuristicMaxTtl: 60,
            targetedFields: [],
          },
        );
        // (A value Headers would change is not compared.)
        if (headerSafe(input) === input) {
          unstored++;
          assert.equal(reason, expected, show(input));
        }
      }
    });
    assert.ok(
      malformed > N / 4 && unstored > N / 4,
      `${malformed} ${unstored}`,
    );
  });

  it("caps delta-seconds at 2^31 (RFC 9111 §1.2.2), never 0 or negative for a large value", () => {
    forAll(0x5eed03, N, (rng) => {
      const digits = rng.chance(0.5)
        ? rng.digits(rng.between(1, 30))
        : "0".repeat(rng.int(20)) + rng.between(1, 9) +
          rng.digits(rng.between(8, 400));
      const name = rng.pick([...DELTA_NAMES, "max-stale"]);
      const quoted = rng.chance(0.3);
      const input = `${name}=${quoted ? `"${digits}"` : digits}`;
      const cc = parseCacheControl(input);
      const value = name === "max-stale"
        ? cc.maxStale
        : cc[FIELD_OF[name] as "maxAge"];
      assert.equal(value, refDelta(digits), show(input));
      if (BigInt(digits) >= BigInt(TWO_31)) assert.equal(value, TWO_31);
      // The targeted parser reads Integers (at most 15 digits) the same way.
      const trimmed = digits.replace(/^0+(?=\d)/, "");
      if (trimmed.length <= 15 && name !== "max-stale") {
        const targeted = parseTargetedCacheControl(`${name}=${trimmed}`);
        assert.equal(
          targeted?.[FIELD_OF[name] as "maxAge"],
          refDelta(trimmed),
          `targeted ${name}=${trimmed}`,
        );
      }
    });
  });

  it("round-trips through formatCacheControl (parse ∘ format ∘ parse = parse)", () => {
    forAll(0x5eed04, N, (rng) => {
      const input = rng.chance(0.2)
        ? rng.latin1(rng.between(0, 40))
        : ccValue(rng);
      const cc = parseCacheControl(input);
      const formatted = formatCacheControl(cc);
      assert.deepEqual(
        normal(parseCacheControl(formatted)),
        normal(cc),
        `input ${show(input)} formatted ${show(formatted)}`,
      );
    });
  });
});

// ---------------------------------------------------------------------------
// Structured Field Dictionaries and targeted Cache-Control

const SF_KEY_START = "abcdefghijklmnopqrstuvwxyz*";
const SF_KEY_CHAR = "abcdefghijklmnopqrstuvwxyz0123456789_-.*";
const SF_TOKEN_CHAR = TCHAR + ":/";
const PRINTABLE = Array.from(
  { length: 95 },
  (_, i) => String.fromCharCode(0x20 + i),
).join("");

function sfKey(rng: Rng): string {
  return rng.pick([...SF_KEY_START]) +
    rng.chars(SF_KEY_CHAR, rng.between(0, 6));
}

/** A random bare item and its serialisation (RFC 9651 §4.1). */
function sfBareItem(rng: Rng): { item: BareItem; text: string } {
  switch (rng.int(9)) {
    case 0: {
      const text = (rng.chance(0.3) ? "-" : "") +
        rng.digits(rng.between(1, 15));
      return { item: { type: "integer", value: Number(text) }, text };
    }
    case 1: {
      const text = (rng.chance(0.3) ? "-" : "") +
        rng.digits(rng.between(1, 12)) + "." + rng.digits(rng.between(1, 3));
      return { item: { type: "decimal", value: Number(text) }, text };
    }
    case 2: {
      const value = rng.chars(PRINTABLE, rng.between(0, 12));
      const text = `"${value.replace(/["\\]/g, "\\$&")}"`;
      return { item: { type: "string", value }, text };
    }
    case 3: {
      const value = rng.pick([..."abcXYZ*"]) +
        rng.chars(SF_TOKEN_CHAR, rng.between(0, 8));
      return { item: { type: "token", value }, text: value };
    }
    case 4: {
      const bytes = Array.from({ length: rng.int(10) }, () => rng.int(256));
      let value = btoa(String.fromCharCode(...bytes));
      if (rng.chance(0.3)) value = value.replace(/=+$/, "");
      return { item: { type: "binary", value }, text: `:${value}:` };
    }
    case 5: {
      const value = rng.chance(0.5);
      return { item: { type: "boolean", value }, text: value ? "?1" : "?0" };
    }
    case 6: {
      const text = (rng.chance(0.3) ? "-" : "") +
        rng.digits(rng.between(1, 12));
      return { item: { type: "date", value: Number(text) }, text: `@${text}` };
    }
    case 7: {
      const pool = ["a", "%", '"', " ", "é", "€", "😀", "~", "\\"];
      let value = "";
      for (let i = rng.int(6); i > 0; i--) value += rng.pick(pool);
      let text = '%"';
      for (const byte of new TextEncoder().encode(value)) {
        text += byte === 0x25 || byte === 0x22 || byte < 0x20 || byte > 0x7e
          ? "%" + byte.toString(16).padStart(2, "0")
          : String.fromCharCode(byte);
      }
      return { item: { type: "display", value }, text: text + '"' };
    }
    default: {
      const value = rng.int(1000);
      return { item: { type: "integer", value }, text: String(value) };
    }
  }
}

function sfParameters(rng: Rng): { params: Parameters; text: string } {
  const params: Parameters = new Map();
  let text = "";
  for (let i = rng.chance(0.7) ? 0 : rng.between(1, 3); i > 0; i--) {
    const key = sfKey(rng);
    const bare = rng.chance(0.3);
    const value = bare
      ? { item: { type: "boolean", value: true } as BareItem, text: "" }
      : sfBareItem(rng);
    const shown = !bare && value.item.type === "boolean" &&
        value.item.value === true && rng.chance(0.5)
      ? ""
      : value.text;
    params.set(key, value.item);
    text += `;${rng.chance(0.2) ? " " : ""}${key}${shown ? "=" + shown : ""}`;
  }
  return { params, text };
}

/** A random Dictionary, its members, and its serialisation. */
function sfDictionary(
  rng: Rng,
): { members: Map<string, Member>; text: string } {
  const members = new Map<string, Member>();
  const parts: string[] = [];
  for (let i = rng.between(1, 6); i > 0; i--) {
    const key = sfKey(rng);
    let text: string;
    let member: Member;
    const r = rng.int(5);
    if (r === 0) {
      const { params, text: p } = sfParameters(rng);
      member = { item: { type: "boolean", value: true }, params };
      text = key + p;
    } else if (r === 1) {
      const items: { item: BareItem; params: Parameters }[] = [];
      const shown: string[] = [];
      for (let j = rng.int(4); j > 0; j--) {
        const { item, text: t } = sfBareItem(rng);
        const { params, text: p } = sfParameters(rng);
        items.push({ item, params });
        shown.push(t + p);
      }
      const { params, text: p } = sfParameters(rng);
      member = { items, params };
      const pad = rng.chance(0.2) ? " " : "";
      text = `${key}=(${pad}${shown.join(rng.pick([" ", "  "]))}${pad})${p}`;
    } else {
      const { item, text: t } = sfBareItem(rng);
      const { params, text: p } = sfParameters(rng);
      member = { item, params };
      text = `${key}=${t}${p}`;
    }
    // A repeated key keeps its last value, in its first place (RFC 9651).
    members.set(key, member);
    parts.push(text);
  }
  let text = parts[0];
  for (const part of parts.slice(1)) {
    text += rng.pick([",", ", ", " ,", "\t,\t", " ,  "]) + part;
  }
  return { members, text: (rng.chance(0.2) ? "  " : "") + text };
}

/** Bare items a successful parse can return, whatever the input. */
function assertBareItem(item: BareItem, input: string): void {
  const where = show(input);
  switch (item.type) {
    case "integer":
    case "date":
      assert.ok(Number.isSafeInteger(item.value), where);
      assert.ok(Math.abs(item.value) < 1e15, where);
      break;
    case "decimal":
      assert.ok(Number.isFinite(item.value), where);
      assert.ok(Math.abs(item.value) < 1e12, where);
      break;
    case "string":
      assert.ok(/^[\x20-\x7e]*$/.test(item.value), where);
      break;
    case "token":
      assert.ok(/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(item.value));
      break;
    case "binary":
      assert.ok(/^[A-Za-z0-9+/=]*$/.test(item.value), where);
      break;
    case "boolean":
      assert.equal(typeof item.value, "boolean", where);
      break;
    case "display":
      assert.equal(typeof item.value, "string", where);
      break;
  }
}

function assertDictionary(members: Map<string, Member>, input: string): void {
  for (const [key, member] of members) {
    assert.ok(/^[a-z*][a-z0-9_\-.*]*$/.test(key), show(input));
    const all = "items" in member ? member.items : [member];
    for (const { item, params } of all) {
      assertBareItem(item, input);
      for (const value of params.values()) assertBareItem(value, input);
    }
    for (const value of member.params.values()) assertBareItem(value, input);
  }
}

describe("fuzz: parseDictionary (RFC 9651) and parseTargetedCacheControl (RFC 9213)", () => {
  it("parses back every serialised Dictionary exactly", () => {
    forAll(0x5f0001, N, (rng) => {
      const { members, text } = sfDictionary(rng);
      const parsed = parseDictionary(text);
      assert.ok(parsed, `refused ${show(text)}`);
      assert.deepEqual(parsed, members, show(text));
    });
  });

  it("never throws on mutated or random input; what it accepts is well typed", () => {
    const structural = ' \t,;=()":?@%*-.0123456789aZ\\/\x7f\xe9';
    forAll(0x5f0002, 3 * N, (rng) => {
      let text = rng.chance(0.15)
        ? rng.latin1(rng.between(0, 40))
        : sfDictionary(rng).text;
      for (let k = rng.between(1, 3); k > 0; k--) {
        const at = rng.int(text.length + 1);
        const op = rng.int(3);
        const char = rng.pick([...structural]);
        text = op === 0
          ? text.slice(0, at) + char + text.slice(at)
          : op === 1
          ? text.slice(0, at) + text.slice(at + 1)
          : text.slice(0, at) + char + text.slice(at + 1);
      }
      const parsed = parseDictionary(text);
      if (parsed) assertDictionary(parsed, text);
      const cc = parseTargetedCacheControl(text);
      if (cc) {
        assert.ok(parsed && parsed.size > 0, show(text));
        assertWellTyped(cc, text);
      }
    });
  });

  it("refuses any value with a character outside ASCII (RFC 9651 §4.2 step 1)", () => {
    forAll(0x5f0003, N, (rng) => {
      const { text } = sfDictionary(rng);
      const at = rng.int(text.length + 1);
      const bad = text.slice(0, at) + rng.pick(["\xe9", "\x80", "€", "\0"]) +
        text.slice(at);
      assert.equal(parseDictionary(bad), undefined, show(bad));
    });
  });

  it("reads a targeted field as Cache-Control would, where their grammars agree", () => {
    forAll(0x5f0004, N, (rng) => {
      const used = new Set<string>();
      const parts: string[] = [];
      for (let i = rng.between(1, 6); i > 0; i--) {
        const r = rng.int(5);
        let name: string;
        let part: string;
        if (r === 0) {
          name = rng.pick(DELTA_NAMES);
          part = `${name}=${rng.digits(rng.between(1, 15))}`;
        } else if (r === 1) {
          name = rng.pick(FLAG_NAMES);
          part = name;
        } else if (r === 2) {
          name = rng.pick(LIST_NAMES);
          part = rng.chance(0.4) ? name : `${name}="${
            Array.from(
              { length: rng.between(1, 3) },
              () => rng.pick(["set-cookie", "x-foo", "A", "b"]),
            ).join(", ")
          }"`;
        } else if (r === 3) {
          name = rng.pick(["x-a", "community", "x1"]);
          part = `${name}=${
            rng.pick([
              "tok",
              "Tok.en",
              String(rng.between(1, 999)),
              '"s t,r"',
            ])
          }`;
        } else {
          name = rng.pick(["x-b", "ext"]);
          part = name;
        }
        if (used.has(name)) continue; // duplicates: RFC 9651 keeps the last
        used.add(name);
        parts.push(part);
      }
      const text = parts.join(rng.pick([",", ", ", " ,\t"]));
      const targeted = parseTargetedCacheControl(text);
      assert.ok(targeted, `refused ${show(text)}`);
      assert.deepEqual(
        normal(targeted),
        normal(parseCacheControl(text)),
        show(text),
      );
    });
  });

  it("an unreadable targeted field never overrides Cache-Control, and its restrictive directives count", () => {
    forAll(0x5f0005, N, (rng) => {
      const cacheControl = headerSafe(ccValue(rng, false));
      const targeted = ows(headerSafe(ccValue(rng, false)));
      if (targeted === "") return;
      const headers = new Headers({
        "cache-control": cacheControl,
        "cdn-cache-control": targeted,
      });
      const cc = responseCacheControl(headers, ["cdn-cache-control"]);
      assertWellTyped(cc, targeted);
      const direct = parseTargetedCacheControl(targeted);
      if (direct) {
        assert.deepEqual(normal(cc), normal(direct), show(targeted));
        return;
      }
      const base = parseCacheControl(headers.get("cache-control"));
      for (const [field, value] of Object.entries(base)) {
        if (RESTRICTIVE.some((name) => FIELD_OF[name] === field)) continue;
        assert.deepEqual(cc[field as keyof CacheControl], value, field);
      }
      const words = targeted.toLowerCase().split(/[^a-z-]+/);
      for (const name of RESTRICTIVE) {
        if (words.includes(name) || base[FIELD_OF[name]]) {
          assert.ok(cc[FIELD_OF[name]], `${name}: ${show(targeted)}`);
        }
      }
    });
  });
});

// ---------------------------------------------------------------------------
// ETags

const ETAGC = "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ" +
  "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\x80\xe9\xff";

function etag(rng: Rng): string {
  const opaque = `"${rng.chars(ETAGC, rng.between(0, 8))}"`;
  return rng.chance(0.4) ? `W/${opaque}` : opaque;
}

function etagJunk(rng: Rng): string {
  return rng.pick([
    "junk",
    "W/",
    'w/"a"',
    'W/ "a"',
    '"a"junk',
    '"a" "b"',
    '"a b"',
    '"unclosed',
    "*",
    '"a\\"',
    'W/W/"a"',
    rng.latin1(rng.between(1, 5)),
  ]);
}

describe("fuzz: ETag lists and comparison (RFC 9110 §8.8.3, §13.1.1-2)", () => {
  it("returns only well-formed tags taken from the value; a list of valid tags reads back exactly", () => {
    forAll(0xe7a901, N, (rng) => {
      const tags = Array.from({ length: rng.between(0, 6) }, () => etag(rng));
      const clean = tags.join(rng.pick([",", ", ", " , ", ",\t", ", ,"]));
      assert.deepEqual(
        parseETagList(clean),
        tags.length === 0 ? [] : tags,
        show(clean),
      );
      const mixed = [...tags];
      for (let k = rng.int(4); k > 0; k--) {
        mixed.splice(rng.int(mixed.length + 1), 0, etagJunk(rng));
      }
      const value = mixed.join(rng.pick([",", ", "]));
      const parsed = parseETagList(value);
      if (parsed === "*") {
        assert.equal(ows(value), "*");
        return;
      }
      for (const tag of parsed) {
        assert.ok(isETag(tag), `${show(tag)} from ${show(value)}`);
        assert.ok(value.includes(tag), show(value));
      }
    });
  });

  it("compares symmetrically; strong implies weak; weak tags never match strongly", () => {
    forAll(0xe7a902, 4 * N, (rng) => {
      const a = etag(rng);
      const b = rng.chance(0.5)
        ? a.replace(/^W\//, rng.chance(0.5) ? "" : "W/")
        : etag(rng);
      assert.equal(strongMatch(a, b), strongMatch(b, a));
      assert.equal(weakMatch(a, b), weakMatch(b, a));
      assert.ok(weakMatch(a, a));
      if (strongMatch(a, b)) assert.ok(weakMatch(a, b));
      if (a.startsWith("W/") || b.startsWith("W/")) {
        assert.equal(strongMatch(a, b), false);
      }
      assert.equal(
        weakMatch(a, b),
        a.replace(/^W\//, "") === b.replace(/^W\//, ""),
      );
    });
  });
});

// ---------------------------------------------------------------------------
// HTTP dates

const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
];
/** The first moment of year 0 and of year 10000 (IMF-fixdate has 4 digits). */
const YEAR_0 = new Date(0).setUTCFullYear(0, 0, 1);
const YEAR_10000 = new Date(0).setUTCFullYear(10000, 0, 1);

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** The three forms of RFC 9110 §5.6.7 for `ms` (whole seconds). */
function dateForms(
  ms: number,
): { imf: string; rfc850: string; asctime: string } {
  const d = new Date(ms);
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${
    pad(d.getUTCSeconds())
  }`;
  const month = MONTHS[d.getUTCMonth()];
  const year = d.getUTCFullYear();
  return {
    imf: `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${month} ${
      pad(year, 4)
    } ${time} GMT`,
    rfc850: `${LONG_DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${month}-${
      pad(year % 100)
    } ${time} GMT`,
    asctime: `${DAYS[d.getUTCDay()]} ${month} ${
      String(d.getUTCDate()).padStart(2, " ")
    } ${time} ${pad(year, 4)}`,
  };
}

describe("fuzz: HTTP dates (RFC 9110 §5.6.7)", () => {
  it("parseHttpDate(formatHttpDate(t)) is t to the second, for every representable year", () => {
    forAll(0xda7e01, 3 * N, (rng) => {
      const ms = rng.chance(0.1)
        ? rng.pick([YEAR_0, YEAR_10000 - 1, 0, -1, 999, 1000, -1000])
        : YEAR_0 + Math.floor(rng.next() * (YEAR_10000 - YEAR_0));
      const text = formatHttpDate(ms);
      assert.match(
        text,
        /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/,
      );
      assert.equal(parseHttpDate(text), Math.floor(ms / 1000) * 1000, text);
      assert.equal(formatHttpDate(new Date(ms)), text);
    });
  });

  it("formatHttpDate throws only the documented RangeError", () => {
    const bad = [
      NaN,
      Infinity,
      -Infinity,
      YEAR_0 - 1000,
      YEAR_10000,
      8.64e15,
      -8.64e15,
      1e300,
    ];
    for (const time of bad) {
      assert.throws(() => formatHttpDate(time), RangeError, String(time));
    }
  });

  it("reads all three forms alike; the RFC 850 year lies within 50 years ahead and 49 back", () => {
    const thisYear = new Date().getUTCFullYear();
    forAll(0xda7e02, N, (rng) => {
      const ms = Date.UTC(thisYear - 49, 0, 1) +
        Math.floor(
            rng.next() * (Date.UTC(thisYear + 50, 0, 1) -
              Date.UTC(thisYear - 49, 0, 1)) /
              1000,
          ) * 1000;
      const forms = dateForms(ms);
      assert.equal(parseHttpDate(forms.imf), ms, forms.imf);
      assert.equal(parseHttpDate(forms.asctime), ms, forms.asctime);
      // Every two-digit year: the most recent past year with those digits
      // when it would be more than 50 years ahead (§5.6.7).
      const parsed = parseHttpDate(forms.rfc850);
      assert.ok(parsed !== undefined, forms.rfc850);
      const year = new Date(parsed).getUTCFullYear();
      assert.ok(
        year <= thisYear + 50 && year > thisYear - 50,
        `${forms.rfc850} read as ${year}`,
      );
      assert.equal(year % 100, new Date(ms).getUTCFullYear() % 100);
      // Case and surrounding whitespace do not matter.
      assert.equal(parseHttpDate(`  ${forms.imf.toUpperCase()}\t`), ms);
    });
  });

  it("refuses calendar dates that do not exist, and out-of-range fields", () => {
    forAll(0xda7e03, N, (rng) => {
      const year = rng.between(0, 9999);
      const month = rng.int(12);
      const day = rng.between(0, 32);
      const hour = rng.between(0, 25);
      const minute = rng.between(0, 61);
      const second = rng.between(0, 61);
      const text = `Mon, ${pad(day)} ${MONTHS[month]} ${pad(year, 4)} ${
        pad(hour)
      }:${pad(minute)}:${pad(second)} GMT`;
      const probe = new Date(0);
      probe.setUTCFullYear(year, month, day);
      const exists = day >= 1 && probe.getUTCDate() === day;
      const valid = exists && hour <= 23 && minute <= 59 && second <= 60;
      const parsed = parseHttpDate(text);
      if (!valid) assert.equal(parsed, undefined, text);
      else {
        probe.setUTCHours(hour, minute, Math.min(second, 59), 0);
        assert.equal(parsed, probe.getTime(), text);
      }
    });
  });

  it("near misses give undefined or a whole-second date that formats back to a valid one; nothing throws", () => {
    forAll(0xda7e04, 3 * N, (rng) => {
      const ms = YEAR_0 + Math.floor(rng.next() * (YEAR_10000 - YEAR_0));
      const forms = dateForms(Math.floor(ms / 1000) * 1000);
      let text = rng.pick([forms.imf, forms.rfc850, forms.asctime]);
      for (let k = rng.between(1, 2); k > 0; k--) {
        const at = rng.int(text.length + 1);
        const char = rng.pick([..."0123456789 ,:-GMTgmtxZ+\t\xa0"]);
        const op = rng.int(3);
        text = op === 0
          ? text.slice(0, at) + char + text.slice(at)
          : op === 1
          ? text.slice(0, at) + text.slice(at + 1)
          : text.slice(0, at) + char + text.slice(at + 1);
      }
      if (rng.chance(0.05)) text = rng.latin1(rng.between(0, 70));
      const parsed = parseHttpDate(text);
      if (parsed === undefined) return;
      assert.ok(Number.isInteger(parsed) && parsed % 1000 === 0, show(text));
      assert.equal(parseHttpDate(formatHttpDate(parsed)), parsed, show(text));
    });
    assert.equal(parseHttpDate(null), undefined);
    assert.equal(parseHttpDate(""), undefined);
    assert.equal(parseHttpDate("0"), undefined);
    assert.equal(
      parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT".repeat(3000)),
      undefined,
    );
  });
});

// ---------------------------------------------------------------------------
// Range

/** A `Range` value; `multi` favours several well-formed byte ranges. */
function rangeHeader(rng: Rng, multi = false): string {
  if (!multi && rng.chance(0.04)) return rng.latin1(rng.between(0, 30));
  const unit = multi && rng.chance(0.9) ? "bytes" : rng.pick([
    "bytes",
    "bytes",
    "bytes",
    "bytes",
    "bytes",
    "Bytes",
    " bytes ",
    "BYTES",
    "items",
    "",
    "byte",
  ]);
  const specs: string[] = [];
  const many = rng.chance(0.05);
  let i = many ? rng.between(45, 60) : rng.between(multi ? 2 : 0, 6);
  for (; i > 0; i--) {
    const a = rng.int(rng.chance(0.8) ? 320 : 100_000);
    const b = rng.int(rng.chance(0.8) ? 320 : 100_000);
    const valid = [
      `${Math.min(a, b)}-${Math.max(a, b)}`,
      `${Math.min(a, b)}-${Math.max(a, b)}`,
      `${a}-`,
      `-${b}`,
      "-0",
      `${a}-${a}`,
      "99999999999999999999-",
      "0-99999999999999999999",
      "-99999999999999999999",
      `00${a}-0${a + 5}`,
      "",
    ];
    const invalid = [
      `${Math.max(a, b) + 1}-${Math.min(a, b)}`, // reversed
      "x",
      " 1 - 2 ",
      "-",
      `${a}`,
      `${a}-${b}-`,
      `+${a}-`,
      "0x10-",
    ];
    if (multi && rng.chance(0.7)) specs.push(`${a}-${a + rng.int(20)}`);
    else specs.push(rng.pick(rng.chance(0.04) ? invalid : valid));
  }
  const sep = () => rng.pick([",", ", ", " ,", ",,", "\t,"]);
  let body = specs[0] ?? "";
  for (const spec of specs.slice(1)) body += sep() + spec;
  return rng.chance(0.03) ? unit + body : `${unit}=${body}`;
}

/** The module's documented reading of `Range`, written out independently. */
function refRange(header: string, size: number, maxRanges = 50): RangeResult {
  const equals = header.indexOf("=");
  if (equals < 0) return { type: "ignored", reason: "syntax" };
  const unit = ows(header.slice(0, equals)).toLowerCase();
  if (unit === "") return { type: "ignored", reason: "syntax" };
  if (unit !== "bytes") return { type: "ignored", reason: "unit" };
  const specs = header.slice(equals + 1).split(",").map(ows)
    .filter((s) => s !== "");
  if (specs.length === 0) return { type: "ignored", reason: "syntax" };
  if (specs.length > maxRanges) return { type: "ignored", reason: "too-many" };
  const intervals: [number, number][] = [];
  let suffixOfEmpty = false;
  for (const spec of specs) {
    const suffix = /^-([0-9]+)$/.exec(spec);
    const int = /^([0-9]+)-([0-9]*)$/.exec(spec);
    if (suffix) {
      const n = BigInt(suffix[1]);
      if (n === 0n) continue;
      if (size === 0) suffixOfEmpty = true;
      else {
        intervals.push([
          n >= BigInt(size) ? 0 : size - Number(n),
          size,
        ]);
      }
    } else if (int) {
      const first = BigInt(int[1]);
      if (int[2] !== "" && BigInt(int[2]) < first) {
        return { type: "ignored", reason: "syntax" };
      }
      if (first >= BigInt(size)) continue;
      const last = int[2] === "" ? BigInt(size) : BigInt(int[2]) + 1n;
      intervals.push([
        Number(first),
        last > BigInt(size) ? size : Number(last),
      ]);
    } else return { type: "ignored", reason: "syntax" };
  }
  if (intervals.length === 0) {
    return suffixOfEmpty
      ? { type: "ignored", reason: "empty" }
      : { type: "unsatisfiable" };
  }
  // The maximal runs of requested bytes: overlapping and adjacent merged.
  intervals.sort((x, y) => x[0] - y[0]);
  const ranges: { start: number; end: number }[] = [];
  for (const [start, end] of intervals) {
    const last = ranges[ranges.length - 1];
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else ranges.push({ start, end });
  }
  return { type: "satisfiable", ranges };
}

function sizeFor(rng: Rng): number {
  return rng.pick([0, 1, 2, 10, 100, 300, rng.int(400), rng.int(400)]);
}

/** Splits a multipart/byteranges body into its parts' fields and bytes. */
function multipartParts(
  body: Uint8Array,
  boundary: string,
): { fields: string; bytes: Uint8Array }[] {
  const text = new TextDecoder("latin1").decode(body);
  const parts: { fields: string; bytes: Uint8Array }[] = [];
  const delimiter = `--${boundary}`;
  assert.ok(text.startsWith(delimiter + "\r\n"));
  assert.ok(text.endsWith(`\r\n--${boundary}--\r\n`));
  let at = 0;
  for (;;) {
    assert.equal(text.slice(at, at + delimiter.length), delimiter);
    at += delimiter.length;
    if (text.slice(at, at + 4) === "--\r\n") {
      assert.equal(at + 4, text.length);
      return parts;
    }
    assert.equal(text.slice(at, at + 2), "\r\n");
    at += 2;
    const headEnd = text.indexOf("\r\n\r\n", at);
    const fields = text.slice(at, headEnd);
    const next = text.indexOf(`\r\n${delimiter}`, headEnd + 4);
    parts.push({ fields, bytes: body.subarray(headEnd + 4, next) });
    at = next + 2;
  }
}

describe("fuzz: Range (RFC 9110 §14)", () => {
  it("never throws; reads every header as the module documents; accepted ranges lie in the representation, sorted and disjoint", () => {
    const seen = new Map<string, number>();
    forAll(0x7a9e01, 3 * N, (rng) => {
      const header = rangeHeader(rng);
      const size = sizeFor(rng);
      const result = parseRange(header, size);
      const kind = result.type === "ignored"
        ? result.reason
        : result.type === "satisfiable" && result.ranges.length > 1
        ? "multi"
        : result.type;
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      assert.deepEqual(
        result,
        refRange(header, size),
        `${show(header)} /${size}`,
      );
      if (result.type !== "satisfiable") return;
      let previousEnd = -1;
      for (const { start, end } of result.ranges) {
        assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end));
        assert.ok(0 <= start && start < end && end <= size, show(header));
        assert.ok(start > previousEnd, `overlap or adjacency: ${show(header)}`);
        previousEnd = end;
      }
    });
    for (
      const kind of [
        "syntax",
        "unit",
        "too-many",
        "empty",
        "satisfiable",
        "multi",
        "unsatisfiable",
      ]
    ) {
      assert.ok((seen.get(kind) ?? 0) >= 10, `${kind}: ${show([...seen])}`);
    }
    assert.deepEqual(parseRange(null, 10), { type: "none" });
    assert.deepEqual(parseRange(undefined, 10), { type: "none" });
  });

  it("answers 206 with exactly the bytes asked for, 416 when none are, and the full 200 otherwise", async () => {
    const body = new Uint8Array(400);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
    const statuses = new Map<string, number>();
    const count = (kind: string) =>
      statuses.set(kind, (statuses.get(kind) ?? 0) + 1);
    await forAllAsync(0x7a9e02, 400, async (rng) => {
      const header = headerSafe(rangeHeader(rng, rng.chance(0.6)));
      const size = sizeFor(rng);
      const source = body.subarray(0, size);
      const request = new Request("http://x/", {
        headers: { range: header },
      });
      const response = rangeResponse(request, source, {
        headers: { "content-type": "text/plain", etag: '"v"' },
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      // A HEAD ignores Range (RFC 9110 §14.2): the 200's fields, no body.
      const head = rangeResponse(
        new Request("http://x/", {
          method: "HEAD",
          headers: { range: header },
        }),
        source,
      );
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), String(size));
      assert.equal((await head.arrayBuffer()).byteLength, 0);
      const where = `${show(header)} of ${size}`;
      assert.equal(
        response.headers.get("content-length"),
        String(bytes.byteLength),
        where,
      );
      const expected = refRange(request.headers.get("range")!, size);
      count(
        expected.type === "satisfiable" && expected.ranges.length > 1
          ? "multipart"
          : expected.type,
      );
      if (expected.type === "unsatisfiable") {
        assert.equal(response.status, 416, where);
        assert.equal(response.headers.get("content-range"), `bytes */${size}`);
        return;
      }
      if (expected.type !== "satisfiable") {
        assert.equal(response.status, 200, where);
        assert.deepEqual(bytes, source, where);
        return;
      }
      assert.equal(response.status, 206, where);
      const { ranges } = expected;
      if (ranges.length === 1) {
        const [range] = ranges;
        assert.equal(
          response.headers.get("content-range"),
          formatContentRange(size, range),
          where,
        );
        assert.deepEqual(bytes, source.subarray(range.start, range.end), where);
        return;
      }
      const type = response.headers.get("content-type")!;
      const m = /^multipart\/byteranges; boundary=(\S+)$/.exec(type);
      assert.ok(m, type);
      const parts = multipartParts(bytes, m[1]);
      assert.equal(parts.length, ranges.length, where);
      parts.forEach((part, i) => {
        assert.match(part.fields, /content-type: text\/plain/);
        assert.ok(
          part.fields.includes(
            `content-range: ${formatContentRange(size, ranges[i])}`,
          ),
          where,
        );
        assert.deepEqual(
          part.bytes,
          source.subarray(ranges[i].start, ranges[i].end),
          where,
        );
      });
    });
    for (
      const kind of ["ignored", "unsatisfiable", "satisfiable", "multipart"]
    ) {
      assert.ok((statuses.get(kind) ?? 0) >= 10, show([...statuses]));
    }
  });

  it("If-Range lets a range apply only on a strong ETag match or an exact, strong Last-Modified", () => {
    forAll(0x7a9e03, N, (rng) => {
      const tag = etag(rng);
      const ifRange = rng.pick([
        tag,
        etag(rng),
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:38 GMT",
        "junk",
        rng.latin1(5),
      ]);
      const headers = new Headers();
      const safe = ows(headerSafe(ifRange));
      if (safe === "") return;
      headers.set("if-range", safe);
      const validators = {
        etag: tag,
        "last-modified": "Sun, 06 Nov 1994 08:49:37 GMT",
        date: rng.pick([
          "Sun, 06 Nov 1994 08:49:37 GMT",
          "Sun, 06 Nov 1994 08:49:38 GMT",
        ]),
      };
      const matches = ifRangeMatches({ method: "GET", headers }, validators);
      const value = headers.get("if-range")!;
      if (value.startsWith('"') || value.startsWith("W/")) {
        assert.equal(
          matches,
          isETag(value) && strongMatch(value, tag),
          show(value),
        );
      } else {
        assert.equal(
          matches,
          value === validators["last-modified"] &&
            validators.date === "Sun, 06 Nov 1994 08:49:38 GMT",
          show(value),
        );
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Preconditions

const DATE_A = "Sun, 06 Nov 1994 08:49:37 GMT";
const DATE_B = "Mon, 07 Nov 1994 08:49:37 GMT";

/** RFC 9110 §13.2.2, written out from the RFC. */
function refPreconditions(
  method: string,
  request: Record<string, string>,
  etag: string | undefined,
  lastModified: string | undefined,
): "not-modified" | "precondition-failed" | undefined {
  const safe = method === "GET" || method === "HEAD";
  const modified = parseHttpDate(lastModified);
  if ("if-match" in request) {
    const tags = parseETagList(request["if-match"]);
    if (
      tags !== "*" &&
      !(etag !== undefined && tags.some((t) => strongMatch(t, etag)))
    ) return "precondition-failed";
  } else if ("if-unmodified-since" in request) {
    const since = parseHttpDate(request["if-unmodified-since"]);
    if (since !== undefined && modified !== undefined && modified > since) {
      return "precondition-failed";
    }
  }
  if ("if-none-match" in request) {
    const tags = parseETagList(request["if-none-match"]);
    const matched = tags === "*" ||
      (etag !== undefined && tags.some((t) => weakMatch(t, etag)));
    return matched
      ? (safe ? "not-modified" : "precondition-failed")
      : undefined;
  }
  if (safe && "if-modified-since" in request) {
    const since = parseHttpDate(request["if-modified-since"]);
    if (since !== undefined && modified !== undefined && modified <= since) {
      return "not-modified";
    }
  }
  return undefined;
}

describe("fuzz: preconditions (RFC 9110 §13.2.2)", () => {
  it("decides in RFC order, and never answers 304 to an unsafe method", () => {
    const results = new Map<string, number>();
    forAll(0x9c0d01, 3 * N, (rng) => {
      const method = rng.pick(["GET", "HEAD", "POST", "PUT", "DELETE", "get"]);
      const tag = rng.chance(0.8) ? etag(rng) : undefined;
      const lastModified = rng.pick([DATE_A, DATE_B, "junk", undefined]);
      const list = () => {
        const members = Array.from(
          { length: rng.between(0, 3) },
          () =>
            rng.pick([
              tag ?? '"none"',
              (tag ?? '"none"').replace(/^W\//, ""),
              `W/${(tag ?? '"none"').replace(/^W\//, "")}`,
              etag(rng),
              etagJunk(rng),
            ]),
        );
        return rng.chance(0.1) ? "*" : members.join(", ");
      };
      const request: Record<string, string> = {};
      if (rng.chance(0.4)) request["if-match"] = list();
      if (rng.chance(0.4)) request["if-none-match"] = list();
      for (const name of ["if-modified-since", "if-unmodified-since"]) {
        if (rng.chance(0.4)) {
          request[name] = rng.pick([DATE_A, DATE_B, "junk", ""]);
        }
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(request)) {
        headers.set(name, headerSafe(value));
      }
      const normalized = Object.fromEntries(headers);
      const validators: Record<string, string> = {};
      if (tag !== undefined) validators.ETag = tag;
      if (lastModified !== undefined) {
        validators["Last-Modified"] = lastModified;
      }
      const result = evaluatePreconditions({ method, headers }, validators);
      assert.equal(
        result,
        refPreconditions(method.toUpperCase(), normalized, tag, lastModified),
        show({ method, normalized, tag, lastModified }),
      );
      results.set(String(result), (results.get(String(result)) ?? 0) + 1);
      if (result === "not-modified") {
        assert.ok(["GET", "HEAD"].includes(method.toUpperCase()));
      }
      // isStale is its inverse; a malformed validator is its documented error.
      if (lastModified !== "junk") {
        assert.equal(
          isStale({ method, headers }, { etag: tag, lastModified }),
          result === undefined,
        );
      }
      const junk = etagJunk(rng);
      if (!isETag(junk)) {
        assert.throws(
          () => isStale({ method, headers }, { etag: junk }),
          (error: unknown) =>
            (error as Error)?.name === "InvalidValidatorError",
        );
      }
    });
    for (const kind of ["undefined", "not-modified", "precondition-failed"]) {
      assert.ok((results.get(kind) ?? 0) >= N / 10, show([...results]));
    }
  });
});

// ---------------------------------------------------------------------------
// Field tokens and Accept-Encoding

describe("fuzz: fieldTokens", () => {
  it("gives lower-cased, non-empty members without spaces or tabs at their ends, and splitting distributes over commas", () => {
    forAll(0xf1e101, N, (rng) => {
      const piece = () =>
        rng.chance(0.3)
          ? rng.latin1(rng.between(0, 10))
          : rng.chars(TCHAR + " \t,,", rng.between(0, 12));
      const a = piece();
      const b = piece();
      const tokens = fieldTokens(a);
      for (const token of tokens) {
        assert.notEqual(token, "");
        // Only spaces and tabs are taken off the ends (OWS, RFC 9110
        // §5.6.3): NBSP, VT or FF left there make a member no token.
        assert.ok(!/^[ \t]|[ \t]$/.test(token), show(token));
        assert.equal(token, token.toLowerCase());
        assert.ok(!token.includes(","));
        assert.equal(isToken(token), LOWER_TOKEN.test(token));
      }
      assert.ok(tokens.length <= a.split(",").length);
      assert.deepEqual(fieldTokens(`${a},${b}`), [
        ...tokens,
        ...fieldTokens(b),
      ]);
    });
    assert.deepEqual(fieldTokens(null), []);
  });
});

const CODINGS = ["br", "gzip", "zstd", "deflate"];
const QVALUES = [
  "0",
  "0.",
  "0.5",
  "0.001",
  "0.999",
  "1",
  "1.",
  "1.000",
  "0.10",
];
const BAD_QVALUES = [
  "1.5",
  "2",
  "-1",
  "abc",
  "",
  "0.1234",
  "1.001",
  ".5",
  "1e0",
];

function acceptEncoding(rng: Rng): { value: string; junk: string } {
  const member = (q: string[]) => {
    const name = rng.anyCase(
      rng.pick([...CODINGS, "identity", "*", "x-gzip", "compress", "foo"]),
    );
    return rng.chance(0.5)
      ? name
      : `${name}${rng.pick([";", " ; ", ";\t"])}${rng.pick(["q", "Q"])}=${
        rng.pick(q)
      }`;
  };
  const members = Array.from(
    { length: rng.between(0, 5) },
    () => member(QVALUES),
  );
  const value = members.join(rng.pick([",", ", ", " , "]));
  return { value, junk: member(BAD_QVALUES).replace(/^[^;]*$/, "x;q=2") };
}

describe("fuzz: acceptedCoding (RFC 9110 §12.5.3)", () => {
  it("picks one of the server's codings, identity or nothing, never one weighted 0, unchanged by case or ignored members", () => {
    const outcomes = new Map<string, number>();
    forAll(0xacce01, 3 * N, (rng) => {
      const { value, junk } = acceptEncoding(rng);
      const codings = CODINGS.filter(() => rng.chance(0.6));
      const chosen = acceptedCoding(value, codings);
      const outcome = chosen === undefined || chosen === "identity"
        ? String(chosen)
        : "coding";
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const where = `${show(value)} for ${show(codings)}`;
      assert.ok(
        chosen === undefined || chosen === "identity" ||
          codings.includes(chosen),
        where,
      );
      // Members with a malformed weight are ignored, wherever they are.
      assert.equal(acceptedCoding(`${value}, ${junk}`, codings), chosen, where);
      assert.equal(acceptedCoding(`${junk}, ${value}`, codings), chosen, where);
      assert.equal(acceptedCoding(value.toUpperCase(), codings), chosen, where);
      // The weight a member gives a coding (the last member naming it).
      const weights = new Map<string, number>();
      for (const member of value.split(",")) {
        const [name, ...params] = member.split(";");
        const coding = ows(name).toLowerCase();
        if (!coding) continue;
        const q = params.length ? Number(params.at(-1)!.split("=")[1]) : 1;
        weights.set(
          coding === "x-gzip" ? "gzip" : coding,
          Number.isNaN(q) ? 1 : q,
        );
      }
      const weightOf = (c: string) => weights.get(c) ?? weights.get("*") ?? 0;
      if (chosen !== undefined && chosen !== "identity") {
        assert.ok(weightOf(chosen) > 0, where);
        for (const other of codings) {
          assert.ok(weightOf(other) <= weightOf(chosen), where);
        }
      }
      if (chosen === "identity") {
        assert.notEqual(weights.get("identity"), 0, where);
      }
      if (chosen === undefined) {
        assert.ok(
          weights.get("identity") === 0 ||
            (!weights.has("identity") && weights.get("*") === 0),
          where,
        );
      }
    });
    for (const kind of ["undefined", "identity", "coding"]) {
      assert.ok((outcomes.get(kind) ?? 0) >= N / 20, show([...outcomes]));
    }
    assert.equal(acceptedCoding(null, ["br"]), "br");
    assert.equal(acceptedCoding(null, []), "identity");
  });
});

// ---------------------------------------------------------------------------
// Age and freshness (RFC 9111 §4.2)

function ageValue(rng: Rng): string {
  return rng.pick([
    rng.digits(rng.between(1, 4)),
    rng.digits(rng.between(5, 30)),
    "9".repeat(rng.between(300, 400)),
    "-5",
    "1.5",
    "+3",
    " 7 ",
    "junk",
    "",
    `${rng.int(100)}, ${rng.int(100)}`,
    `junk, ${rng.int(100)}`,
    "0x10",
  ]);
}

function dateValue(rng: Rng, around: number): string {
  const ms = around + rng.between(-5e8, 5e8) * 1000;
  return rng.pick([
    formatHttpDate(ms),
    dateForms(Math.floor(ms / 1000) * 1000).asctime,
    "0",
    "-1",
    "junk",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sat, 01 Jan 0000 00:00:00 GMT",
    `${formatHttpDate(ms)}, ${formatHttpDate(ms)}`,
  ]);
}

describe("fuzz: age and freshness (RFC 9111 §4.2)", () => {
  it("currentAge is a whole number of seconds in [0, 2^31], never decreasing with time", () => {
    forAll(0xa9e001, 2 * N, (rng) => {
      const base = 1.7e12;
      const headers = new Headers();
      if (rng.chance(0.7)) headers.set("age", ageValue(rng));
      if (rng.chance(0.7)) headers.set("date", dateValue(rng, base));
      const requestTime = base + rng.between(-1e6, 1e6);
      const responseTime = requestTime + rng.between(-1000, 1e6);
      const times = { requestTime, responseTime };
      const now = responseTime + rng.between(-1e6, 1e9);
      const age = currentAge(headers, times, now);
      const where = show([...headers]);
      assert.ok(
        Number.isInteger(age) && age >= 0 && age <= MAX_DELTA_SECONDS,
        `${age}: ${where}`,
      );
      const later = currentAge(headers, times, now + rng.between(0, 1e7));
      assert.ok(later >= age, where);
      assert.equal(
        age,
        ageFrom(
          Math.min(ageHeaderValue(headers.get("age")), MAX_DELTA_SECONDS),
          parseHttpDate(headers.get("date")),
          times,
          now,
        ),
        where,
      );
      // The Age field alone is a lower bound (§4.2.3: corrected_age_value).
      const field = ageHeaderValue(headers.get("age"));
      if (now >= responseTime) {
        assert.ok(age >= Math.min(field, MAX_DELTA_SECONDS), where);
      }
    });
  });

  it("ageHeaderValue reads the first member's delta-seconds, 0 when malformed (finite cases)", () => {
    forAll(0xa9e002, N, (rng) => {
      const value = ageValue(rng);
      const seconds = ageHeaderValue(value);
      const first = ows(value.split(",")[0]);
      if (!/^[0-9]+$/.test(first)) assert.equal(seconds, 0, show(value));
      else {
        assert.equal(
          seconds,
          Math.min(Number(first), MAX_DELTA_SECONDS),
          show(value),
        );
      }
    });
  });

  it("freshnessLifetime is a finite, non-negative whole number, taken in RFC 9111 §4.2.1 order", () => {
    forAll(0xa9e003, 2 * N, (rng) => {
      const base = 1.7e12;
      const headers = new Headers();
      if (rng.chance(0.7)) {
        headers.set("cache-control", headerSafe(ccValue(rng)));
      }
      if (rng.chance(0.3)) {
        headers.set("cdn-cache-control", headerSafe(ccValue(rng, false)));
      }
      for (const name of ["expires", "date", "last-modified"]) {
        if (rng.chance(0.5)) headers.set(name, dateValue(rng, base));
      }
      const targetedFields = rng.chance(0.5) ? ["cdn-cache-control"] : [];
      const options = {
        defaultTtl: rng.pick([0, 60, 3600]),
        heuristicMaxTtl: rng.pick([0, 600, 86400]),
        targetedFields,
      };
      const status = rng.pick([200, 203, 302, 404, 500, 206]);
      const lifetime = freshnessLifetime(headers, undefined, options, status);
      const where = show([...headers]) + show(targetedFields);
      assert.ok(
        Number.isInteger(lifetime) && lifetime >= 0,
        `${lifetime}: ${where}`,
      );
      const cc = responseCacheControl(headers, targetedFields);
      assertWellTyped(cc, where);
      if (cc.sMaxAge !== undefined) assert.equal(lifetime, cc.sMaxAge, where);
      else if (cc.maxAge !== undefined) {
        assert.equal(lifetime, cc.maxAge, where);
      } else if (
        headers.has("expires") &&
        !targetedFields.some((f) =>
          headers.has(f) && parseTargetedCacheControl(headers.get(f)!)
        )
      ) {
        const expires = parseHttpDate(headers.get("expires"));
        if (expires === undefined) assert.equal(lifetime, 0, where);
        else if (parseHttpDate(headers.get("date")) !== undefined) {
          assert.equal(
            lifetime,
            Math.max(
              0,
              Math.floor(
                (expires - parseHttpDate(headers.get("date"))!) / 1000,
              ),
            ),
            where,
          );
        }
      } else {
        assert.ok(
          lifetime <= Math.max(options.defaultTtl, options.heuristicMaxTtl),
          where,
        );
      }
    });
  });

  it("usability and stale-if-error respect the directives that forbid stale answers", () => {
    forAll(0xa9e004, 3 * N, (rng) => {
      const cc = parseCacheControl(ccValue(rng));
      const requestCc = parseCacheControl(ccValue(rng));
      const lifetime = rng.between(0, 200);
      const age = rng.between(0, 400);
      const stored = { age, lifetime, cc };
      const { use } = usability(stored, requestCc);
      const where = show({ cc, requestCc, age, lifetime });
      if (cc.noCache === true || requestCc.noCache) {
        assert.equal(use, "validate", where);
      }
      if (use === "fresh") {
        assert.ok(age < lifetime, where);
        // Younger is fresh too.
        const younger = usability(
          { ...stored, age: rng.int(age + 1) },
          requestCc,
        );
        assert.equal(younger.use, "fresh", where);
      }
      if (age >= lifetime && staleForbidden(cc)) {
        assert.equal(use, "validate", where);
        assert.equal(staleIfErrorAllows(stored, requestCc), false, where);
      }
      if (requestCc.maxAge !== undefined && age > requestCc.maxAge) {
        assert.equal(use, "validate", where);
      }
    });
  });

  it("notModifiedApplies is symmetric", () => {
    forAll(0xa9e005, N, (rng) => {
      const one = new Headers();
      const two = new Headers();
      for (const headers of [one, two]) {
        if (rng.chance(0.6)) headers.set("etag", etag(rng));
        if (rng.chance(0.6)) {
          headers.set("last-modified", rng.pick([DATE_A, DATE_B, "junk"]));
        }
      }
      assert.equal(notModifiedApplies(one, two), notModifiedApplies(two, one));
    });
  });
});

// ---------------------------------------------------------------------------
// Defects the fuzzing found, each reduced to its input.

describe("defects found by fuzzing", () => {
  it("a member with an unclosed quoted string still counts the no-store / private it names (fail closed)", () => {
    // RFC 9110 §5.6.4: a quoted-string ends with a closing DQUOTE; without
    // one the member is malformed. README: "a malformed member … still
    // counts as each of no-store, no-cache, private, must-revalidate and
    // proxy-revalidate it names". Here the unclosed quote swallows the rest
    // of the field into the argument of an otherwise valid member; it was
    // read as that member's argument.
    assert.equal(parseCacheControl('x="y, no-store').noStore, true);
    assert.equal(parseCacheControl('max-age="60, no-store').noStore, true);
    assert.equal(parseCacheControl('no-cache="a, private').private, true);
    // So the shared cache stored (and shared) such an answer:
    const reason = notStorableReason(
      new Request("http://x/"),
      new Response("hi", {
        headers: { "cache-control": 'max-age=60, private="x, no-store' },
      }),
      {
        privateHeaders: [],
        storeSetCookie: false,
        defaultTtl: 0,
        heuristicMaxTtl: 0,
        targetedFields: [],
      },
    );
    assert.notEqual(reason, undefined);
  });

  it("reads a field-name list of more than 256 names as bare, duplicates not counted", () => {
    // mergeNames kept a first list whole and ran `previous.includes(name)`
    // over it for each later name: a 100 KB value cost |first| × |later|
    // string comparisons (bench/parsers.ts times such values). Lists now
    // stop at 256 names, and past that read as bare: dropping names would
    // store or send fields the origin forbids.
    const listed = (value: string) => {
      const names = parseCacheControl(value).noCache;
      return names === true ? "bare" : names?.length;
    };
    const names = (count: number, prefix = "f") =>
      Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(",");
    assert.equal(
      listed(`no-cache="${names(256)}"`),
      256,
    );
    assert.equal(listed(`no-cache="${names(257)}"`), "bare");
    assert.equal(parseCacheControl(`private="${names(12_000)}"`).private, true);
    const split = `no-cache="${names(200)}", no-cache="${names(56, "g")}"`;
    assert.equal(listed(split), 256);
    assert.equal(listed(`${split}, no-cache="h"`), "bare");
    const repeated = `no-cache="${names(256)}", no-cache="${
      "f1,".repeat(25_000)
    }"`;
    assert.equal(listed(repeated), 256);
  });

  it("ageHeaderValue treats an overlong Age as 2^31, not Infinity (RFC 9111 §1.2.2)", () => {
    const value = "9".repeat(309);
    const seconds = ageHeaderValue(value);
    assert.ok(Number.isFinite(seconds), `${seconds}`);
    assert.ok(seconds <= MAX_DELTA_SECONDS, `${seconds}`);
  });

  it("isStale throws its documented InvalidValidatorError for a lastModified no HTTP date can hold", () => {
    const request = new Request("http://x/");
    const tooLate = new Date(0).setUTCFullYear(10000, 0, 1);
    assert.throws(
      () => isStale(request, { lastModified: tooLate }),
      (error: unknown) => (error as Error)?.name === "InvalidValidatorError",
    );
  });
});
