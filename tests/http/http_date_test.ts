import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatHttpDate, parseHttpDate } from "../../lib/http/http_date.ts";

const EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);

describe("parseHttpDate", () => {
  it("reads IMF-fixdate, RFC 850 and asctime (RFC 9110 §5.6.7)", () => {
    assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), EXAMPLE);
    assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), EXAMPLE);
    assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), EXAMPLE);
  });

  it("is case-insensitive and tolerates surrounding whitespace", () => {
    assert.equal(parseHttpDate("  sun, 06 NOV 1994 08:49:37 gmt "), EXAMPLE);
  });

  it("returns undefined for absent, malformed and impossible dates", () => {
    for (
      const bad of [
        null,
        undefined,
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 GMT" + " ".repeat(100),
        "x".repeat(100_000),
      ]
    ) {
      assert.equal(parseHttpDate(bad), undefined, String(bad).slice(0, 40));
    }
  });

  it("reads two-digit years as at most 50 years ahead", () => {
    const year = new Date().getUTCFullYear();
    const ahead = (year + 60) % 100;
    const text = `Monday, 01-Jan-${
      String(ahead).padStart(2, "0")
    } 00:00:00 GMT`;
    const parsed = parseHttpDate(text);
    assert.ok(parsed !== undefined);
    assert.ok(new Date(parsed).getUTCFullYear() < year);
  });
});

describe("formatHttpDate", () => {
  it("formats IMF-fixdate and drops milliseconds", () => {
    assert.equal(
      formatHttpDate(EXAMPLE + 999),
      "Sun, 06 Nov 1994 08:49:37 GMT",
    );
    assert.equal(
      formatHttpDate(new Date(EXAMPLE)),
      "Sun, 06 Nov 1994 08:49:37 GMT",
    );
  });

  it("round-trips with parseHttpDate", () => {
    const now = Math.floor(Date.now() / 1000) * 1000;
    assert.equal(parseHttpDate(formatHttpDate(now)), now);
  });

  it("refuses times that are not dates", () => {
    assert.throws(() => formatHttpDate(Number.NaN), RangeError);
    assert.throws(() => formatHttpDate(Infinity), RangeError);
  });
});
