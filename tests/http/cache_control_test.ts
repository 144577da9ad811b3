import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type CacheControl,
  expiresIn,
  expiresNow,
  formatCacheControl,
  InvalidCacheControlError,
  MAX_DELTA_SECONDS,
  noStore,
  parseCacheControl,
  parseTargetedCacheControl,
} from "../../lib/http/cache_control.ts";

describe("parseCacheControl", () => {
  it("reads every RFC 9111 §5.2 directive into typed fields", () => {
    const cc = parseCacheControl(
      "max-age=60, s-maxage=30, no-cache, no-store, private, public, " +
        "must-revalidate, proxy-revalidate, must-understand, no-transform, " +
        "immutable, max-stale=5, min-fresh=7, only-if-cached, " +
        "stale-while-revalidate=9, stale-if-error=11",
    );
    assert.deepEqual(cc, {
      maxAge: 60,
      sMaxAge: 30,
      noCache: true,
      noStore: true,
      private: true,
      public: true,
      mustRevalidate: true,
      proxyRevalidate: true,
      mustUnderstand: true,
      noTransform: true,
      immutable: true,
      maxStale: 5,
      minFresh: 7,
      onlyIfCached: true,
      staleWhileRevalidate: 9,
      staleIfError: 11,
    });
  });

  it("returns an empty object for null and empty values", () => {
    assert.deepEqual(parseCacheControl(null), {});
    assert.deepEqual(parseCacheControl(""), {});
    assert.deepEqual(parseCacheControl(" , ,, "), {});
  });

  it("reads field-name lists of no-cache and private, lowercased", () => {
    const cc = parseCacheControl(
      'no-cache="Set-Cookie, X-Foo", private="authorization"',
    );
    assert.deepEqual(cc.noCache, ["set-cookie", "x-foo"]);
    assert.deepEqual(cc.private, ["authorization"]);
  });

  it("reads bare max-stale as any staleness", () => {
    assert.equal(parseCacheControl("max-stale").maxStale, true);
  });

  it("is case-insensitive in names and accepts quoted delta-seconds", () => {
    const cc = parseCacheControl('MAX-AGE="120", No-Store');
    assert.equal(cc.maxAge, 120);
    assert.equal(cc.noStore, true);
  });

  it("keeps unknown extensions, with quoted values unescaped", () => {
    const cc = parseCacheControl(
      'community="UCI, \\"x\\"", foo, bar=baz, max-age=1',
    );
    assert.deepEqual(cc.extensions, {
      community: 'UCI, "x"',
      foo: true,
      bar: "baz",
    });
    assert.equal(cc.maxAge, 1);
  });

  it("treats invalid delta-seconds as 0, so the response is stale", () => {
    for (
      const value of [
        "max-age=abc",
        "max-age=-1",
        "max-age=",
        "max-age",
        "max-age=1.5",
        "max-age=0x10",
      ]
    ) {
      assert.equal(parseCacheControl(value).maxAge, 0, value);
    }
    assert.equal(parseCacheControl("s-maxage=-5").sMaxAge, 0);
    assert.equal(parseCacheControl("stale-if-error=x").staleIfError, 0);
  });

  it("caps huge delta-seconds at 2^31 (RFC 9111 §1.2.2)", () => {
    assert.equal(
      parseCacheControl("max-age=99999999999999999999999").maxAge,
      MAX_DELTA_SECONDS,
    );
    assert.equal(
      parseCacheControl("max-age=2147483649").maxAge,
      MAX_DELTA_SECONDS,
    );
    assert.equal(parseCacheControl("max-age=000000000000060").maxAge, 60);
  });

  it("keeps the most restrictive of duplicated directives", () => {
    assert.equal(parseCacheControl("max-age=60, max-age=10").maxAge, 10);
    assert.equal(parseCacheControl("max-age=10, max-age=60").maxAge, 10);
    assert.equal(parseCacheControl("max-age=10, max-age=junk").maxAge, 0);
    assert.equal(parseCacheControl("min-fresh=1, min-fresh=9").minFresh, 9);
    assert.equal(parseCacheControl("max-stale, max-stale=3").maxStale, 3);
    assert.equal(parseCacheControl("max-stale=3, max-stale").maxStale, 3);
    assert.equal(parseCacheControl('no-cache="a", no-cache').noCache, true);
    assert.deepEqual(
      parseCacheControl('private="a", private="b, a"').private,
      ["a", "b"],
    );
    assert.deepEqual(parseCacheControl("x=1, x=2").extensions, { x: "1" });
  });

  it("reads repeated header lines joined by fetch", () => {
    const headers = new Headers();
    headers.append("cache-control", "max-age=600, public");
    headers.append("cache-control", "max-age=60");
    headers.append("cache-control", "no-cache");
    const cc = parseCacheControl(headers.get("cache-control"));
    assert.equal(cc.maxAge, 60);
    assert.equal(cc.public, true);
    assert.equal(cc.noCache, true);
  });

  it("keeps commas inside quoted strings", () => {
    const cc = parseCacheControl('no-cache="a, b", max-age=5');
    assert.deepEqual(cc.noCache, ["a", "b"]);
    assert.equal(cc.maxAge, 5);
  });

  it("skips junk up to the next comma and keeps going", () => {
    const cc = parseCacheControl(
      'max-age=5 junk "x,y", ;;;, =3, no-store, public garbage, immutable',
    );
    assert.deepEqual(cc, { noStore: true, immutable: true });
  });

  it("counts the restrictive directives a malformed member names, and no others", () => {
    const cases: [string, CacheControl][] = [
      ["no-store; no-cache", { noStore: true, noCache: true }],
      ["private; max-age=100", { private: true }],
      ["no-store junk", { noStore: true }],
      ["max-age=60; must-revalidate", { mustRevalidate: true }],
      ['no-cache="a, b" proxy-revalidate', {
        noCache: true,
        proxyRevalidate: true,
      }],
      ["public junk, max-age=60", { maxAge: 60 }],
      ["s-maxage=60 x, public", { public: true }],
      // The grammar allows no whitespace around "=".
      ["max-age =60, public", { public: true }],
      ["max-age= 60, public", { public: true }],
      ["no-cache = x", { noCache: true }],
    ];
    for (const [value, expected] of cases) {
      assert.deepEqual(parseCacheControl(value), expected, value);
    }
  });

  it("never throws on hostile input", () => {
    const hostile = [
      '"'.repeat(10_001),
      "\\".repeat(1000),
      "max-age=" + "9".repeat(100_000),
      "no-cache=" + '"' + "a,".repeat(50_000),
      ",".repeat(100_000),
      "a=".repeat(50_000),
      "\u0000\uffff\ud800 max-age=1",
      "__proto__=1, constructor, toString=2, hasOwnProperty",
      "max-age=1, ".repeat(20_000),
    ];
    for (const value of hostile) {
      const cc = parseCacheControl(value);
      assert.equal(typeof cc, "object");
    }
    const proto = parseCacheControl("__proto__=1, constructor");
    assert.deepEqual(Object.keys(proto.extensions ?? {}), [
      "__proto__",
      "constructor",
    ]);
    assert.equal(Object.getPrototypeOf(proto.extensions), Object.prototype);
    assert.equal(parseCacheControl("max-age=1, ".repeat(20_000)).maxAge, 1);
  });
});

describe("formatCacheControl", () => {
  it("formats in a fixed order, max-age first", () => {
    assert.equal(
      formatCacheControl({ public: true, maxAge: 60, immutable: true }),
      "max-age=60, public, immutable",
    );
  });

  it("round-trips with parseCacheControl", () => {
    const samples: CacheControl[] = [
      {},
      { maxAge: 0 },
      {
        maxAge: 60,
        sMaxAge: 10,
        noCache: ["set-cookie", "x-a"],
        private: ["authorization"],
        mustRevalidate: true,
        proxyRevalidate: true,
        mustUnderstand: true,
        noTransform: true,
        immutable: true,
        staleWhileRevalidate: 5,
        staleIfError: 6,
        extensions: { foo: true, bar: 'a b, "c" \\', baz: "token" },
      },
      { noStore: true, public: true, noCache: true, private: true },
      { maxStale: true, minFresh: 3, onlyIfCached: true },
      { maxStale: 30 },
    ];
    for (const cc of samples) {
      assert.deepEqual(parseCacheControl(formatCacheControl(cc)), cc);
    }
    const header = 'max-age=60, private="a, b", x="y z"';
    assert.equal(
      formatCacheControl(parseCacheControl(header)),
      header,
    );
  });

  it("refuses values it cannot send", () => {
    assert.throws(
      () => formatCacheControl({ maxAge: -1 }),
      InvalidCacheControlError,
    );
    assert.throws(
      () => formatCacheControl({ sMaxAge: 1.5 }),
      (error: unknown) =>
        error instanceof InvalidCacheControlError &&
        error.directive === "s-maxage" && error.value === 1.5,
    );
    assert.throws(
      () => formatCacheControl({ noCache: ["bad name"] }),
      InvalidCacheControlError,
    );
    assert.throws(
      () => formatCacheControl({ extensions: { "a b": true } }),
      InvalidCacheControlError,
    );
  });
});

describe("expiresIn / expiresNow / noStore", () => {
  it("is private by default", () => {
    assert.equal(expiresIn(60), "max-age=60, private");
  });

  it("adds public and other directives", () => {
    assert.equal(
      expiresIn(3600, {
        public: true,
        mustRevalidate: true,
        staleWhileRevalidate: 30,
        staleIfError: 600,
        immutable: true,
      }),
      "max-age=3600, public, must-revalidate, immutable, " +
        "stale-while-revalidate=30, stale-if-error=600",
    );
    assert.equal(
      expiresIn(60, { sMaxAge: 600, extensions: { "x-ttl": "5" } }),
      "max-age=60, s-maxage=600, private, x-ttl=5",
    );
  });

  it("refuses negative seconds", () => {
    assert.throws(() => expiresIn(-5), InvalidCacheControlError);
  });

  it("gives uncacheable values", () => {
    assert.equal(expiresNow(), "no-cache");
    assert.equal(noStore(), "no-store");
    assert.equal(parseCacheControl(expiresNow()).noCache, true);
  });

  it("works as a response header", () => {
    const response = new Response("hi", {
      headers: { "cache-control": expiresIn(60) },
    });
    assert.equal(response.headers.get("cache-control"), "max-age=60, private");
  });
});

describe("parseTargetedCacheControl (RFC 9213)", () => {
  it("reads directives typed as RFC 9213 infers them, parameters ignored", () => {
    assert.deepEqual(
      parseTargetedCacheControl(
        'max-age=60;x=1, s-maxage=30, must-revalidate, no-cache="set-cookie, x-a", private, x-ext=tok, x-n=2',
      ),
      {
        maxAge: 60,
        sMaxAge: 30,
        mustRevalidate: true,
        noCache: ["set-cookie", "x-a"],
        private: true,
        extensions: { "x-ext": "tok", "x-n": "2" },
      },
    );
    assert.deepEqual(parseTargetedCacheControl("none"), {
      extensions: { none: true },
    });
    assert.equal(
      parseTargetedCacheControl("max-age=99999999999")?.maxAge,
      MAX_DELTA_SECONDS,
    );
  });

  it("ignores a field that is empty, not a Dictionary, or types a known directive otherwise", () => {
    for (
      const ignored of [
        null,
        "",
        "max-age=10000, &&&&&",
        "max-age =60",
        'max-age="10000"',
        "max-age=1.5",
        "max-age=-1",
        "no-store=?0",
        "no-store=1",
        "private=1",
        "s-maxage=(1 2)",
      ]
    ) assert.equal(parseTargetedCacheControl(ignored), undefined, `${ignored}`);
  });
});
