import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  currentAge,
  freshnessLifetime,
  headAnswerDescribes,
  notStorableReason,
  type PolicyOptions,
  requestCacheControl,
  responseCacheControl,
  staleIfErrorAllows,
  usability,
} from "../../mod.ts";

const rules: PolicyOptions = {
  privateHeaders: ["authorization", "cookie"],
  storeSetCookie: false,
  defaultTtl: 0,
  heuristicMaxTtl: 86_400,
  targetedFields: ["cdn-cache-control"],
};
const at = (ms: number) => new Date(ms).toUTCString();

describe("RFC 9111 rules", () => {
  it("computes the current age from Age, Date, delay and residence (§4.2.3)", () => {
    const t = Date.UTC(2026, 0, 1);
    const headers = new Headers({ date: at(t - 5000), age: "3" });
    // apparent 5 s vs corrected 3 + 1 s delay: 5 s, then 10 s resident.
    assert.equal(
      currentAge(
        headers,
        { requestTime: t - 1000, responseTime: t },
        t + 10_000,
      ),
      15,
    );
    assert.equal(
      currentAge(new Headers({ age: "junk" }), {
        requestTime: t,
        responseTime: t,
      }, t),
      0,
    );
    const listed = new Headers([["age", "50"], ["age", "7"]]);
    assert.equal(
      currentAge(listed, { requestTime: t, responseTime: t }, t),
      50,
      "of several Age lines, the first counts (§5.1)",
    );
    assert.equal(
      currentAge(new Headers({ age: "x, 50" }), {
        requestTime: t,
        responseTime: t,
      }, t),
      0,
      "a malformed first member is no Age",
    );
    const future = new Headers({ date: at(t + 60_000) });
    assert.equal(
      currentAge(future, { requestTime: t, responseTime: t }, t),
      0,
      "a Date in the future is no age",
    );
  });

  it("ranks freshness sources: s-maxage, max-age, Expires, heuristic, default", () => {
    const t = Date.UTC(2026, 0, 1);
    const life = (h: Record<string, string>, status = 200, options = rules) =>
      freshnessLifetime(new Headers(h), undefined, options, status);
    assert.equal(life({ "cache-control": "max-age=10, s-maxage=20" }), 20);
    assert.equal(
      life({
        "cache-control": "max-age=10",
        expires: at(t + 99_000),
        date: at(t),
      }),
      10,
    );
    assert.equal(life({ expires: at(t + 30_000), date: at(t) }), 30);
    assert.equal(life({ expires: "0", date: at(t) }), 0);
    assert.equal(
      life({ "last-modified": at(t - 1_000_000), date: at(t) }),
      100,
    );
    assert.equal(
      life({ "last-modified": at(t - 100 * 86_400_000), date: at(t) }),
      86_400,
      "capped",
    );
    assert.equal(
      life({ "last-modified": at(t - 1_000_000), date: at(t) }, 201),
      0,
    );
    assert.equal(life({}, 200, { ...rules, defaultTtl: 42 }), 42);
    assert.equal(
      life({ "cache-control": "max-age=1", "cdn-cache-control": "max-age=99" }),
      99,
    );
  });

  it("decides storability as a shared cache", () => {
    const get = (h: Record<string, string> = {}) =>
      new Request("http://x/", { headers: h });
    const res = (h: Record<string, string>, status = 200) =>
      new Response(null, { status, headers: h });
    const ok = { "cache-control": "max-age=60" };
    assert.equal(notStorableReason(get(), res(ok), rules), undefined);
    assert.equal(
      notStorableReason(
        new Request("http://x/", { method: "POST" }),
        res(ok),
        rules,
      ),
      "method",
    );
    assert.equal(notStorableReason(get(), res(ok, 206), rules), "status");
    assert.equal(
      notStorableReason(get(), res({ "cache-control": "no-store" }), rules),
      "no-store",
    );
    assert.equal(
      notStorableReason(get({ "cache-control": "no-store" }), res(ok), rules),
      "request-no-store",
    );
    assert.equal(
      notStorableReason(
        get(),
        res({ "cache-control": "private, max-age=9" }),
        rules,
      ),
      "private",
    );
    assert.equal(
      notStorableReason(get(), res({ ...ok, vary: "Accept, *" }), rules),
      "vary-star",
    );
    assert.equal(
      notStorableReason(get({ authorization: "x" }), res(ok), rules),
      "authorization",
    );
    assert.equal(
      notStorableReason(
        get({ authorization: "x" }),
        res({ "cache-control": "public, max-age=5" }),
        rules,
      ),
      undefined,
    );
    assert.equal(
      notStorableReason(get(), res({ ...ok, "set-cookie": "a=1" }), rules),
      "set-cookie",
    );
    assert.equal(notStorableReason(get(), res({}, 201), rules), "status");
    assert.equal(notStorableReason(get(), res({}), rules), "no-freshness");
    assert.equal(
      notStorableReason(get(), res({ etag: '"a"' }), rules),
      undefined,
      "validators alone are worth keeping",
    );
    assert.equal(
      notStorableReason(
        get(),
        res({ "cache-control": "no-store, must-understand, max-age=5" }),
        rules,
      ),
      undefined,
      "must-understand with an understood status overrides no-store",
    );
  });

  it("judges stored responses against request directives", () => {
    const fresh = { age: 10, lifetime: 60, cc: {} };
    const stale = { age: 70, lifetime: 60, cc: {} };
    assert.equal(usability(fresh, {}).use, "fresh");
    assert.equal(usability(fresh, { noCache: true }).use, "validate");
    assert.equal(usability(fresh, { maxAge: 5 }).use, "validate");
    assert.equal(usability(fresh, { minFresh: 55 }).use, "validate");
    assert.equal(usability(stale, {}).use, "validate");
    assert.equal(usability(stale, { maxStale: 10 }).use, "stale-ok");
    assert.equal(usability(stale, { maxStale: 5 }).use, "validate");
    assert.equal(
      usability({ ...stale, cc: { mustRevalidate: true } }, { maxStale: true })
        .use,
      "validate",
    );
    assert.equal(
      usability({ ...stale, cc: { staleWhileRevalidate: 30 } }, {}).use,
      "stale-while-revalidate",
    );
    assert.equal(
      usability({ ...fresh, cc: { noCache: true } }, {}).use,
      "validate",
    );
    assert.equal(
      staleIfErrorAllows({ ...stale, cc: { staleIfError: 10 } }, {}),
      true,
    );
    assert.equal(
      staleIfErrorAllows({ ...stale, cc: {} }, { staleIfError: 10 }),
      true,
    );
    assert.equal(
      staleIfErrorAllows({ ...stale, cc: { staleIfError: 5 } }, {}),
      false,
    );
  });

  it("reads Pragma: no-cache and targeted fields", () => {
    assert.equal(
      requestCacheControl(new Headers({ pragma: "no-cache" })).noCache,
      true,
    );
    assert.equal(
      requestCacheControl(
        new Headers({ pragma: "no-cache", "cache-control": "max-age=5" }),
      ).noCache,
      undefined,
    );
    const headers = new Headers({
      "cache-control": "max-age=1",
      "x-mine": "max-age=7",
      "cdn-cache-control": "max-age=3",
    });
    assert.equal(
      responseCacheControl(headers, ["x-mine", "cdn-cache-control"]).maxAge,
      7,
    );
    assert.equal(responseCacheControl(headers, []).maxAge, 1);
  });
});

describe("RFC 9111 §4.3.5: a HEAD's 200 and the stored GET response", () => {
  const stored = new Headers({
    etag: '"a"',
    "last-modified": "Tue, 01 Jan 2030 00:00:00 GMT",
    "content-length": "5",
  });
  it("describes it when every validator and length it carries agree", () => {
    const head = (fields: HeadersInit) =>
      headAnswerDescribes(stored, 5, new Headers(fields));
    assert.equal(head({}), true, "nothing to disagree with");
    assert.equal(head({ etag: ' "a" ', "content-length": "5" }), true);
    assert.equal(
      head({ "last-modified": "Tuesday, 01-Jan-30 00:00:00 GMT" }),
      true,
      "the same date in another format",
    );
    assert.equal(head({ etag: 'W/"a"' }), false, "a weak tag is another tag");
    assert.equal(head({ etag: '"b"' }), false);
    assert.equal(head({ "content-length": "6" }), false);
    assert.equal(head({ "last-modified": "soon" }), false, "unreadable date");
  });
  it("checks its length against the stored field while the body is written", () => {
    assert.equal(
      headAnswerDescribes(stored, -1, new Headers({ "content-length": "5" })),
      true,
    );
    assert.equal(
      headAnswerDescribes(
        new Headers(),
        -1,
        new Headers({ "content-length": "5" }),
      ),
      false,
      "no length known to agree with",
    );
    assert.equal(
      headAnswerDescribes(new Headers(), 5, new Headers({ etag: '"a"' })),
      false,
      "a validator the stored response lacks",
    );
  });
});
