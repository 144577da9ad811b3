import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  etagFor,
  isETag,
  parseETagList,
  strongMatch,
  UnhashableValueError,
  weakMatch,
} from "../../lib/http/etag.ts";

describe("etagFor", () => {
  it("is weak by default and strong on request", () => {
    assert.match(etagFor("hello"), /^W\/"[A-Za-z0-9_-]{43}"$/);
    assert.match(etagFor("hello", { weak: false }), /^"[A-Za-z0-9_-]{43}"$/);
    assert.equal(
      etagFor("hello", { weak: false }),
      etagFor("hello").slice(2),
    );
  });

  it("tags strings and bytes by their content", () => {
    const bytes = new TextEncoder().encode("hello");
    assert.equal(etagFor("hello"), etagFor(bytes));
    assert.equal(etagFor("hello"), etagFor(bytes.buffer));
    assert.equal(etagFor("hello"), etagFor(new DataView(bytes.buffer)));
    assert.notEqual(etagFor("hello"), etagFor("hello!"));
  });

  it("is the SHA-256 of the content, base64url", async () => {
    const digest = await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode("hello"),
    );
    const b64url = btoa(String.fromCharCode(...new Uint8Array(digest)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    assert.equal(etagFor("hello", { weak: false }), `"${b64url}"`);
  });

  it("ignores key order in plain objects, not in arrays", () => {
    assert.equal(
      etagFor({ a: 1, b: [1, 2], c: { d: null } }),
      etagFor({ c: { d: null }, b: [1, 2], a: 1 }),
    );
    assert.notEqual(etagFor([1, 2]), etagFor([2, 1]));
  });

  it("keeps structures apart that would concatenate alike", () => {
    const tags = new Set([
      etagFor(["ab"]),
      etagFor(["a", "b"]),
      etagFor({ a: "b" }),
      etagFor(["a:b"]),
      etagFor([1]),
      etagFor(["1"]),
      etagFor([true]),
      etagFor([null]),
      etagFor([[]]),
      etagFor([{}]),
    ]);
    assert.equal(tags.size, 10);
  });

  it("treats undefined object members like JSON does", () => {
    assert.equal(etagFor({ a: 1, b: undefined }), etagFor({ a: 1 }));
  });

  it("uses cacheKey (property or method) and toHash() when present", () => {
    const post = { cacheKey: "posts/1-20240101", title: "ignored" };
    assert.equal(etagFor(post), etagFor("posts/1-20240101"));
    assert.equal(
      etagFor({ cacheKey: () => "k", other: 1 }),
      etagFor({ cacheKey: "k", other: 2 }),
    );
    class Model {
      constructor(readonly id: number, readonly version: number) {}
      toHash() {
        return `model/${this.id}/${this.version}`;
      }
    }
    assert.equal(etagFor(new Model(1, 2)), etagFor("model/1/2"));
    assert.notEqual(etagFor(new Model(1, 2)), etagFor(new Model(1, 3)));
    // nested values with a cache key are tagged by it
    assert.equal(
      etagFor([new Model(1, 2)]),
      etagFor([{ cacheKey: "model/1/2" }]),
    );
  });

  it("refuses values with no content, with where they are", () => {
    assert.throws(() => etagFor(() => 1), UnhashableValueError);
    assert.throws(
      () => etagFor({ list: [1, Symbol("x")] }),
      (error: unknown) =>
        error instanceof UnhashableValueError && error.path === "$.list[1]",
    );
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => etagFor(cycle), /circular/);
    assert.throws(() => etagFor(new Map()), UnhashableValueError);
  });

  it("allows the same object twice when it is not a cycle", () => {
    const shared = { a: 1 };
    assert.equal(etagFor([shared, shared]), etagFor([{ a: 1 }, { a: 1 }]));
  });
});

describe("isETag", () => {
  it("accepts quoted tags and refuses the rest", () => {
    assert.ok(isETag('"abc"'));
    assert.ok(isETag('W/"abc"'));
    assert.ok(isETag('""'));
    assert.ok(!isETag("abc"));
    assert.ok(!isETag('w/"abc"'));
    assert.ok(!isETag('"a"b"'));
    assert.ok(!isETag('"a b"'));
  });
});

describe("parseETagList", () => {
  it("reads lists, wildcards and commas inside tags", () => {
    assert.deepEqual(parseETagList('"a", W/"b" ,"c,d"'), [
      '"a"',
      'W/"b"',
      '"c,d"',
    ]);
    assert.equal(parseETagList(" * "), "*");
    assert.deepEqual(parseETagList(null), []);
    assert.deepEqual(parseETagList(""), []);
  });

  it("skips malformed members so that junk never matches", () => {
    assert.deepEqual(parseETagList('abc, "ok", W/x, "bad"junk, "x'), ['"ok"']);
    assert.deepEqual(parseETagList('*, "a"'), ['"a"']);
  });

  it("handles very long and repeated headers in linear time", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `"t${i}"`).join(", ");
    assert.equal((parseETagList(many) as string[]).length, 10_000);
    assert.deepEqual(parseETagList('"'.repeat(100_000)), []);
    assert.deepEqual(parseETagList(",".repeat(100_000)), []);
  });
});

describe("strongMatch / weakMatch (RFC 9110 §8.8.3.2 table)", () => {
  const table: [string, string, boolean, boolean][] = [
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', '"1"', true, true],
  ];
  for (const [a, b, strong, weak] of table) {
    it(`${a} vs ${b}`, () => {
      assert.equal(strongMatch(a, b), strong);
      assert.equal(strongMatch(b, a), strong);
      assert.equal(weakMatch(a, b), weak);
      assert.equal(weakMatch(b, a), weak);
    });
  }
});
