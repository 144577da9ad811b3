import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatContentRange,
  ifRangeMatches,
  parseRange,
} from "../../lib/http/range.ts";

const ranges = (...pairs: [number, number][]) => ({
  type: "satisfiable",
  ranges: pairs.map(([start, end]) => ({ start, end })),
});

describe("parseRange (RFC 9110 §14.1.2)", () => {
  it("reads int, open-ended and suffix ranges", () => {
    assert.deepEqual(parseRange("bytes=0-499", 1000), ranges([0, 500]));
    assert.deepEqual(parseRange("bytes=500-", 1000), ranges([500, 1000]));
    assert.deepEqual(parseRange("bytes=-200", 1000), ranges([800, 1000]));
    assert.deepEqual(parseRange("bytes=0-0", 1000), ranges([0, 1]));
  });

  it("clamps ranges that run past the end", () => {
    assert.deepEqual(parseRange("bytes=900-5000", 1000), ranges([900, 1000]));
    assert.deepEqual(parseRange("bytes=-5000", 1000), ranges([0, 1000]));
    assert.deepEqual(
      parseRange("bytes=0-99999999999999999999999", 10),
      ranges([0, 10]),
    );
  });

  it("accepts whitespace around list items and any unit case", () => {
    assert.deepEqual(
      parseRange("Bytes= 0-1 ,\t4-5 ,, ", 10),
      ranges([0, 2], [4, 6]),
    );
    assert.deepEqual(parseRange("BYTES=0-1", 10), ranges([0, 2]));
  });

  it("reports no header as none", () => {
    assert.deepEqual(parseRange(null, 10), { type: "none" });
    assert.deepEqual(parseRange(undefined, 10), { type: "none" });
  });

  it("ignores other units", () => {
    assert.deepEqual(parseRange("items=0-5", 10), {
      type: "ignored",
      reason: "unit",
    });
  });

  it("ignores malformed headers as a whole", () => {
    for (
      const header of [
        "bytes=5-1",
        "bytes=0-1, 5-1",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=0-1-2",
        "bytes=1 - 2",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes",
        "=0-1",
        "0-1",
        "",
      ]
    ) {
      const result = parseRange(header, 10);
      assert.equal(result.type, "ignored", header);
      assert.equal(
        (result as { reason: string }).reason,
        "syntax",
        header,
      );
    }
  });

  it("answers unsatisfiable ranges, bytes=-0 included", () => {
    assert.deepEqual(parseRange("bytes=10-", 10), { type: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=-0", 10), { type: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=20-30, 15-", 10), {
      type: "unsatisfiable",
    });
    assert.deepEqual(parseRange("bytes=0-5", 0), { type: "unsatisfiable" });
  });

  it("drops unsatisfiable specs beside satisfiable ones", () => {
    assert.deepEqual(parseRange("bytes=20-30, 0-1, -0", 10), ranges([0, 2]));
  });

  it("ignores a suffix range of an empty representation", () => {
    assert.deepEqual(parseRange("bytes=-5", 0), {
      type: "ignored",
      reason: "empty",
    });
  });

  it("sorts and coalesces overlapping and adjacent ranges", () => {
    assert.deepEqual(
      parseRange("bytes=50-59, 0-9, 5-14, 15-19, -10", 100),
      ranges([0, 20], [50, 60], [90, 100]),
    );
    assert.deepEqual(
      parseRange("bytes=0-, 0-, 0-, 0-", 100),
      ranges([0, 100]),
    );
  });

  it("ignores more than maxRanges specs (default 50)", () => {
    const specs = (n: number) =>
      "bytes=" + Array.from({ length: n }, (_, i) => `${i * 2}-${i * 2}`)
        .join(",");
    assert.equal(parseRange(specs(50), 1000).type, "satisfiable");
    assert.deepEqual(parseRange(specs(51), 1000), {
      type: "ignored",
      reason: "too-many",
    });
    assert.deepEqual(parseRange(specs(1000), 10_000), {
      type: "ignored",
      reason: "too-many",
    });
    assert.deepEqual(parseRange(specs(3), 1000, { maxRanges: 2 }), {
      type: "ignored",
      reason: "too-many",
    });
    const result = parseRange(specs(50), 1000);
    assert.equal(result.type === "satisfiable" && result.ranges.length, 50);
  });

  it("survives very long headers", () => {
    assert.equal(
      parseRange("bytes=" + "0".repeat(100_000) + "-1", 10).type,
      "satisfiable",
    );
    assert.equal(
      parseRange("bytes=" + ",".repeat(100_000), 10).type,
      "ignored",
    );
    assert.equal(parseRange("x".repeat(100_000), 10).type, "ignored");
  });
});

describe("formatContentRange", () => {
  it("shows inclusive last positions", () => {
    assert.equal(
      formatContentRange(1000, { start: 0, end: 500 }),
      "bytes 0-499/1000",
    );
    assert.equal(formatContentRange(1000), "bytes */1000");
  });
});

describe("ifRangeMatches (RFC 9110 §13.1.5)", () => {
  const LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT";
  const validators = { etag: '"v1"', "last-modified": LAST_MODIFIED };
  const check = (
    ifRange: string | undefined,
    v: Record<string, string> = validators,
  ) =>
    ifRangeMatches(
      new Request("http://localhost/", {
        headers: ifRange === undefined
          ? { range: "bytes=0-1" }
          : { range: "bytes=0-1", "if-range": ifRange },
      }),
      v,
    );

  it("matches without If-Range", () => assert.equal(check(undefined), true));
  it("matches a strongly equal tag", () => assert.equal(check('"v1"'), true));
  it("never matches a weak or different tag", () => {
    assert.equal(check('W/"v1"'), false);
    assert.equal(check('"v2"'), false);
    assert.equal(check('"v1"', { etag: 'W/"v1"' }), false);
    assert.equal(check('"v1"', {}), false);
  });
  it("matches an exactly equal date only", () => {
    assert.equal(check(LAST_MODIFIED), true);
    assert.equal(check("Mon, 07 Nov 1994 08:49:37 GMT"), false);
    assert.equal(check(LAST_MODIFIED, { etag: '"v1"' }), false);
  });
  it("treats junk as no match (send everything)", () => {
    assert.equal(check("junk"), false);
    assert.equal(check(""), false);
  });
});
