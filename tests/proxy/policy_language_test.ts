import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cacheBusters,
  entityStoreFrom,
  honourClientNoCache,
  IllegalTransitionError,
  LEGAL_TRANSITIONS,
  ManualClock,
  normalizeAcceptEncoding,
  type PolicyModule,
  purgeRequests,
  type PurgeRequestsOptions,
  SharedCache,
  type Transition,
} from "../../mod.ts";
import { tick } from "../_util.ts";
import {
  echoing,
  harness,
  numbered,
  revalidatable,
  visit,
} from "./_harness.ts";

const cacheable = (body = "ok") => () =>
  new Response(body, { headers: { "cache-control": "max-age=60" } });

describe("policy language", () => {
  it("runs handlers newest first until one answers; nothing hands over", async () => {
    const order: string[] = [];
    const h = harness({ "/x": cacheable(), "/admin/x": cacheable() });
    h.cache
      .on("receive", (ctx) => {
        order.push("first");
        if (new URL(ctx.request.url).pathname.startsWith("/admin")) {
          return ctx.pass();
        }
      })
      .on("receive", () => {
        order.push("second");
      });
    try {
      assert.equal((await visit(h, "/admin/x")).trace, "pass");
      assert.deepEqual(order, ["second", "first"]);
      await visit(h, "/admin/x");
      assert.equal(h.count("/admin/x"), 2, "passed requests are never stored");
      assert.equal(
        (await visit(h, "/x")).trace,
        "miss, store",
        "the default policy answered",
      );
    } finally {
      await h.close();
    }
  });

  it("answers with an error response from any event", async () => {
    const h = harness({ "/x": cacheable() });
    h.cache.on(
      "receive",
      (ctx) =>
        ctx.request.headers.has("x-banned")
          ? ctx.error(403, { "content-type": "text/plain" }, "go away")
          : undefined,
    );
    h.cache.on("error", (ctx) => {
      ctx.response!.headers.set("x-error-seen", "1");
    });
    try {
      const banned = await visit(h, "/x", { headers: { "x-banned": "1" } });
      assert.equal(banned.status, 403);
      assert.equal(banned.body, "go away");
      assert.equal(banned.headers.get("x-error-seen"), "1");
      assert.equal(banned.trace, "error");
      assert.equal(h.count("/x"), 0);
    } finally {
      await h.close();
    }
  });

  it("sends the whole page an error handler puts in place of ctx.error's body", async () => {
    const h = harness({ "/x": cacheable() });
    h.cache.on("receive", (ctx) => ctx.error(403, {}, "no"));
    h.cache.on("error", (ctx) => {
      // Varnish's vcl_synth: the page made around the status, fields kept.
      ctx.response = new Response(
        `<h1>${ctx.response!.status} Forbidden</h1>`,
        ctx.response,
      );
    });
    try {
      const direct = await h.cache.fetch(new Request("http://a.test/x"));
      assert.notEqual(direct.headers.get("content-length"), "2");
      await direct.body?.cancel();
      const served = await visit(h, "/x");
      assert.equal(served.body, "<h1>403 Forbidden</h1>");
    } finally {
      await h.close();
    }
  });

  it("drops the body of an error with a null-body status, and refuses a status no response has", async () => {
    const cache = new SharedCache({ origin: cacheable() });
    let cancelled = false;
    cache.on("receive", (ctx) => {
      const status = new URL(ctx.request.url).searchParams.get("s");
      if (status === null) return ctx.error();
      return ctx.error(
        Number(status),
        {},
        new ReadableStream({
          cancel: () => {
            cancelled = true;
          },
        }),
      );
    });
    try {
      const notModified = await cache.fetch(
        new Request("http://a.test/?s=304"),
      );
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body, null);
      assert.ok(cancelled, "the body dropped is cancelled");
      const unnamed = await cache.fetch(new Request("http://a.test/"));
      assert.equal(unnamed.status, 500, "ctx.error() is a 500");
      await unnamed.body?.cancel();
      for (const status of [99, 600, 1.5]) {
        await assert.rejects(
          Promise.resolve(
            cache.fetch(new Request(`http://a.test/?s=${status}`)),
          ),
          (error) =>
            error instanceof RangeError && error.message.includes(`${status}`),
        );
      }
    } finally {
      await cache.close();
    }
  });

  it("lets handlers change the response, its TTL and the trace", async () => {
    const h = harness({
      "/short": () =>
        new Response("s", { headers: { "cache-control": "max-age=1" } }),
    });
    h.cache.on("fetch", (ctx) => {
      ctx.ttl = 3600;
      ctx.trace("extended");
      return ctx.store();
    });
    h.cache.on("deliver", (ctx) => {
      ctx.response!.headers.set("x-served-by", "cistern");
    });
    try {
      const first = await visit(h, "/short");
      assert.equal(first.trace, "miss, extended, store");
      assert.equal(first.headers.get("x-served-by"), "cistern");
      assert.equal(
        first.headers.get("cache-control"),
        "max-age=1",
        "the headers stay the origin's",
      );
      await h.clock.advance(600_000);
      assert.equal(
        (await visit(h, "/short")).trace,
        "fresh",
        "stored with the policy's TTL",
      );
    } finally {
      await h.close();
    }
  });

  it("stores what fetch and store handlers leave of a response a 304 refreshed, or what they put in its place", async () => {
    const h = harness({
      "/doc": revalidatable(
        '"d"',
        "doc",
        { "cache-control": "max-age=600", "x-internal": "secret" },
        { "x-internal": "from the 304" },
      ),
      "/copy": revalidatable(
        '"c"',
        "copied",
        { "cache-control": "max-age=600" },
        { "set-cookie": "s=1" },
      ),
      "/swap": (request) =>
        request.headers.get("if-none-match") === '"s"'
          ? new Response(null, { status: 304, headers: { etag: '"s"' } })
          : new Response("original", {
            headers: { etag: '"s"', "cache-control": "max-age=600" },
          }),
    });
    h.cache.on("fetch", (ctx) => {
      ctx.response!.headers.delete("x-internal");
      if (ctx.request.url.endsWith("/copy")) {
        // A copy made around the same body: after a 304 it has none, and
        // the stored body goes with it.
        ctx.response = new Response(ctx.response!.body, ctx.response);
        ctx.response.headers.set("x-copied", "yes");
      }
    });
    h.cache.on("store", (ctx) => {
      ctx.response!.headers.set("cache-control", "public, max-age=10");
      if (
        ctx.request.url.endsWith("/swap") && ctx.traces.includes("valid")
      ) {
        ctx.response = new Response("replaced", {
          headers: { "cache-control": "max-age=600" },
        });
      }
    });
    const reload = { headers: { "cache-control": "no-cache" } };
    try {
      for (const path of ["/doc", "/swap"]) await visit(h, path);
      const refreshed = await visit(h, "/doc", reload);
      assert.equal(refreshed.trace, "stale, valid, store");
      assert.equal(refreshed.body, "doc");
      for (const answer of [refreshed, await visit(h, "/doc")]) {
        assert.equal(answer.headers.get("cache-control"), "public, max-age=10");
        assert.equal(answer.headers.get("x-internal"), null);
      }
      for (const init of [{}, reload, {}]) {
        const copy = await visit(h, "/copy", init);
        assert.equal(copy.body, "copied");
        assert.equal(copy.headers.get("x-copied"), "yes");
      }
      const head = await h.get("/copy", { method: "HEAD", ...reload });
      assert.equal(head.headers.get("x-cache"), "stale, valid, store");
      assert.deepEqual(head.headers.getSetCookie(), ["s=1"], "once");
      assert.equal(head.headers.get("content-length"), "6");
      assert.equal((await visit(h, "/copy")).body, "copied");
      assert.equal((await visit(h, "/swap", reload)).body, "replaced");
      const hit = await visit(h, "/swap");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.body, "replaced");
    } finally {
      await h.close();
    }
  });

  it("escapes trace words a header cannot carry, never failing the answer", async () => {
    const h = harness({ "/t": cacheable() });
    h.cache.on("deliver", (ctx) => {
      ctx.trace("日本\nx");
    });
    try {
      for (const expected of ["miss, store", "fresh"]) {
        const answer = await visit(h, "/t");
        assert.equal(answer.status, 200);
        assert.equal(answer.body, "ok");
        assert.equal(answer.trace, `${expected}, \\u65e5\\u672c\\u000ax`);
      }
    } finally {
      await h.close();
    }
  });

  it("rejects options naming no header field, or a Via name that is none, when made, not on every request", async () => {
    const origin = () => new Response("ok");
    for (
      const option of [
        { privateHeaders: ["x api key"] },
        { ignoreHeaders: ["set-cookie", "bad:name"] },
        { targetedFields: [""] },
        { traceHeader: "x cache" },
        { via: "my proxy" },
        { via: "cistern (unclosed" },
      ]
    ) {
      assert.throws(
        () => new SharedCache({ origin, ...option }),
        (error) =>
          error instanceof TypeError &&
          error.message.startsWith(Object.keys(option)[0]),
        JSON.stringify(option),
      );
    }
    for (
      const via of [
        "cistern",
        "edge-1:8080",
        "[::1]:8080",
        "cistern (cistern/1.0)",
      ]
    ) {
      await new SharedCache({ origin, via }).close();
    }
  });

  it("never answers a method other than GET or HEAD from storage, even when a policy looks it up", async () => {
    const h = harness({
      "/f": async (request, n) =>
        new Response(`${request.method} ${n} ${await request.text()}`, {
          headers: { "cache-control": "max-age=60" },
        }),
    });
    h.cache.on("receive", (ctx) => ctx.lookup());
    try {
      assert.equal((await visit(h, "/f")).body, "GET 1 ");
      const post = await visit(h, "/f", { method: "POST", body: "data" });
      assert.equal(post.body, "POST 2 data");
      assert.equal(post.trace, "miss, invalidate");
      assert.equal((await visit(h, "/f")).body, "GET 3 ", "invalidated");
    } finally {
      await h.close();
    }
  });

  it("rejects an illegal transition with a clear error", async () => {
    const cache = new SharedCache({ origin: cacheable() });
    cache.on("hit", (ctx) => ctx.store());
    try {
      await (await cache.fetch(new Request("http://a.test/x"))).text();
      await assert.rejects(
        async () => await cache.fetch(new Request("http://a.test/x")),
        (error: unknown) =>
          error instanceof IllegalTransitionError && error.event === "hit" &&
          error.transition === "store" &&
          /allowed: deliver, pass, error/.test(error.message),
      );
      assert.throws(() => cache.on("lookup" as "hit", () => {}), TypeError);
      // A handler that returns something else than a transition is told so.
      cache.on("hit", () => "deliver" as unknown as Transition);
      await assert.rejects(
        async () => await cache.fetch(new Request("http://a.test/x")),
        (error: unknown) =>
          error instanceof IllegalTransitionError &&
          error.message.startsWith(
            'a "hit" handler returned "deliver", which is no transition: return one of ctx.deliver(), ctx.pass(), ctx.error(), or nothing',
          ),
      );
    } finally {
      await cache.close();
    }
  });

  it("answers a hit on heap stores at once, and any error as a rejection", async () => {
    const cache = new SharedCache({ origin: cacheable("hi") });
    try {
      await (await cache.fetch(new Request("http://a.test/x"))).text();
      const hit = cache.fetch(new Request("http://a.test/x"));
      assert.ok(hit instanceof Response, "a hit needs no promise");
      assert.equal(await hit.text(), "hi");
      cache.on("hit", (ctx) => ctx.store());
      let answer: ReturnType<typeof cache.fetch> | undefined;
      assert.doesNotThrow(() => {
        answer = cache.fetch(new Request("http://a.test/x"));
      });
      await assert.rejects(Promise.resolve(answer), IllegalTransitionError);
    } finally {
      await cache.close();
    }
  });

  it("allows exactly the transitions the design names", () => {
    assert.deepEqual(LEGAL_TRANSITIONS, {
      receive: ["pass", "lookup", "error"],
      hit: ["deliver", "pass", "error"],
      miss: ["fetch", "pass", "error"],
      fetch: ["store", "deliver", "error"],
      store: ["deliver", "error"],
      deliver: ["finish", "error"],
      pass: ["deliver", "error"],
      error: ["finish"],
    });
  });

  it("lets a miss pass and a hit pass", async () => {
    const h = harness({ "/m": cacheable("m") });
    let passHits = false;
    h.cache.on("hit", (ctx) => (passHits ? ctx.pass() : undefined));
    try {
      await visit(h, "/m");
      passHits = true;
      assert.equal((await visit(h, "/m")).trace, "fresh, pass");
      assert.equal(h.count("/m"), 2);
    } finally {
      await h.close();
    }
  });

  it("lets receive choose the stores for a request", async () => {
    const other = entityStoreFrom("heap:");
    const h = harness({ "/s": cacheable("s") });
    h.cache.on("receive", (ctx) => {
      ctx.entitystore = other;
    });
    try {
      await visit(h, "/s");
      assert.equal(
        other.cache!.keys().length,
        1,
        "the body went to the chosen store",
      );
      assert.equal((await visit(h, "/s")).trace, "fresh");
    } finally {
      await h.close();
      await other.cache!.close();
    }
  });

  it("imports reusable policies with use()", async () => {
    const calls: string[] = [];
    const tagging: PolicyModule = (cache) => {
      cache.on("deliver", (ctx) => {
        calls.push(ctx.traces.join(","));
      });
    };
    const h = harness({ "/t": cacheable() });
    h.cache.use(tagging);
    try {
      await visit(h, "/t");
      assert.deepEqual(calls, ["miss,store"]);
    } finally {
      await h.close();
    }
  });
});

describe("shipped policies", () => {
  it("cacheBusters stores versioned URLs for a long time", async () => {
    const h = harness({
      "/app.js": () => new Response("js"),
      "/plain.js": () => new Response("js"),
    });
    h.cache.use(cacheBusters());
    try {
      assert.equal(
        (await visit(h, "/app.js?v=3")).trace,
        "miss, busted, store",
      );
      await visit(h, "/app.js?1700000000");
      await visit(h, "/plain.js");
      await h.clock.advance(30 * 86_400_000);
      assert.equal((await visit(h, "/app.js?v=3")).trace, "fresh");
      assert.equal((await visit(h, "/app.js?1700000000")).trace, "fresh");
      assert.equal(
        (await visit(h, "/plain.js")).trace,
        "miss",
        "unversioned URLs are left to their headers",
      );
      assert.equal(
        (await visit(h, "/plain.js?_=1700000000123")).trace,
        "miss",
        "jQuery's anti-cache parameter is no version",
      );
    } finally {
      await h.close();
    }
  });

  it("cacheBusters tests each URL afresh whatever flags its pattern has", async () => {
    const h = harness({ "/app.js": () => new Response("js") });
    h.cache.use(cacheBusters({ pattern: /[?&]rev=\d+/g }));
    try {
      for (const rev of [1, 2, 3, 4]) {
        assert.equal(
          (await visit(h, `/app.js?rev=${rev}`)).trace,
          "miss, busted, store",
          `rev ${rev}`,
        );
      }
    } finally {
      await h.close();
    }
  });

  it("honourClientNoCache reloads for a client's no-cache", async () => {
    const h = harness({
      "/r": numbered("v", { "cache-control": "max-age=60" }),
    });
    h.cache.use(honourClientNoCache());
    try {
      await visit(h, "/r");
      const reloaded = await visit(h, "/r", {
        headers: { pragma: "no-cache" },
      });
      assert.equal(reloaded.trace, "reload, store");
      assert.equal(reloaded.body, "v2");
      assert.equal((await visit(h, "/r")).body, "v2", "the reload is stored");
    } finally {
      await h.close();
    }
  });

  it("honourClientNoCache passes a browser's WebSocket handshake (which says no-cache) on untouched", async () => {
    const upgrades: (string | null)[] = [];
    const cache = new SharedCache({
      origin: (request) => {
        upgrades.push(request.headers.get("upgrade"));
        return new Response("app");
      },
    }).use(honourClientNoCache());
    try {
      const answer = await cache.fetch(
        new Request("http://a.test/ws", {
          headers: {
            upgrade: "websocket",
            connection: "Upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
            // Chrome and Firefox send both on every handshake.
            "cache-control": "no-cache",
            pragma: "no-cache",
          },
        }),
      );
      assert.deepEqual(upgrades, ["websocket"], "the app saw the upgrade");
      assert.equal(await answer.text(), "app");
      assert.equal(
        answer.headers.get("x-cache"),
        null,
        "the app's answer goes out untouched, as without the module",
      );
    } finally {
      await cache.close();
    }
  });

  it("honourClientNoCache leaves earlier receive handlers their say (a pass stays a pass)", async () => {
    const h = harness({
      "/admin": (_request, n) =>
        new Response(`admin ${n}`, {
          headers: { "cache-control": "max-age=60" },
        }),
    });
    h.cache.on(
      "receive",
      (ctx) =>
        new URL(ctx.request.url).pathname.startsWith("/admin")
          ? ctx.pass()
          : undefined,
    );
    h.cache.use(honourClientNoCache());
    try {
      const noCache = { headers: { "cache-control": "no-cache" } };
      assert.equal((await visit(h, "/admin", noCache)).trace, "pass");
      const next = await visit(h, "/admin");
      assert.equal(next.trace, "pass", "never stored for all");
      assert.equal(next.body, "admin 2");
    } finally {
      await h.close();
    }
  });

  it("keeps a response fresh for ctx.ttl seconds from now, as Rack::Cache's ttl= and Varnish's beresp.ttl do, whatever Age it came with", async () => {
    const h = harness({
      "/a": (request, n) =>
        request.headers.get("if-none-match") === '"a"'
          ? new Response(null, { status: 304, headers: { age: "120" } })
          : new Response(`a${n}`, { headers: { age: "120", etag: '"a"' } }),
    });
    let ttl = 60;
    h.cache.on("fetch", (ctx) => {
      ctx.ttl = ttl;
      return ctx.store();
    });
    try {
      assert.equal((await visit(h, "/a")).trace, "miss, store");
      await h.clock.advance(30_000);
      const hit = await visit(h, "/a");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.body, "a1");
      // The same after a 304 that came with an Age.
      await h.clock.advance(40_000);
      ttl = 100;
      assert.equal((await visit(h, "/a")).trace, "stale, valid, store");
      await h.clock.advance(90_000);
      assert.equal((await visit(h, "/a")).trace, "fresh", "after the 304");
    } finally {
      await h.close();
    }
  });

  it("does not add the Age a response first came with to the ttl it keeps after a 304", async () => {
    const h = harness({
      "/a": (request, n) =>
        request.headers.get("if-none-match") === '"a"'
          ? new Response(null, { status: 304 })
          : new Response(`a${n}`, { headers: { age: "100", etag: '"a"' } }),
    });
    h.cache.on("fetch", (ctx) => {
      // A ttl for bodies fetched whole; a 304's refresh keeps the one stored.
      if (ctx.response?.body) ctx.ttl = 60;
      return ctx.store();
    });
    try {
      assert.equal((await visit(h, "/a")).trace, "miss, store");
      await h.clock.advance(70_000);
      assert.equal((await visit(h, "/a")).trace, "stale, valid, store");
      await h.clock.advance(100_000); // 100 s after the 304, which had no Age
      assert.match(
        (await visit(h, "/a")).trace!,
        /^stale/,
        "fresh for 60 s from the 304, not 60 + the first response's 100",
      );
    } finally {
      await h.close();
    }
  });

  it("cancels the origin's body when a handler replaces the response and then throws or rejects", async () => {
    for (const event of ["fetch", "store", "pass"] as const) {
      for (const rejects of [false, true]) {
        let cancelled = false;
        const cache = new SharedCache({
          origin: () =>
            new Response(
              new ReadableStream({
                pull: () => tick(5),
                cancel() {
                  cancelled = true;
                },
              }),
              { headers: { "cache-control": "max-age=60" } },
            ),
        });
        if (event === "pass") cache.on("receive", (ctx) => ctx.pass());
        cache.on(event, (ctx) => {
          ctx.response = new Response("replaced");
          if (rejects) return Promise.reject(new Error("boom"));
          throw new Error("boom");
        });
        try {
          await assert.rejects(
            Promise.resolve(cache.fetch(new Request("http://a.test/x"))),
            /boom/,
          );
          await tick(20);
          assert.ok(cancelled, `${event}, ${rejects ? "rejects" : "throws"}`);
        } finally {
          await cache.close();
        }
      }
    }
  });

  it("normalizeAcceptEncoding stores one variant per coding, not per client's spelling", async () => {
    const h = harness({
      "/z": echoing("accept-encoding"),
    });
    h.cache.use(normalizeAcceptEncoding());
    const asking = (value: string) =>
      visit(h, "/z", { headers: { "accept-encoding": value } });
    try {
      assert.equal((await asking("gzip, deflate, br")).body, "br 1");
      const other = await asking("br;q=1.0, gzip;q=0.8, *;q=0.1");
      assert.equal(other.body, "br 1");
      assert.equal(other.trace, "fresh");
      assert.equal((await asking("gzip, deflate")).body, "gzip 2");
      assert.equal((await asking("x-gzip")).body, "gzip 2");
      assert.equal((await asking("deflate")).body, "identity 3");
      assert.equal((await asking("*;q=0")).body, "*;q=0 4", "left as it came");
      await visit(h, "/z", {
        method: "POST",
        headers: { "accept-encoding": "gzip, br" },
      });
      assert.equal(h.seen[4].headers.get("accept-encoding"), "br", "a pass");
      // Handlers see the request as it came; a hit builds no new one.
      let seen = "";
      h.cache.on("receive", (ctx) => {
        seen = ctx.request.headers.get("accept-encoding")!;
      });
      await asking("gzip, deflate, br");
      const hit = await asking("gzip, deflate, br");
      assert.equal(hit.trace, "fresh");
      assert.equal(seen, "gzip, deflate, br");
      assert.throws(() => h.cache.normalize("a b", (v) => v), /field name/);
      assert.throws(
        () => normalizeAcceptEncoding({ codings: ["b r"] }),
        /tokens/,
      );
    } finally {
      await h.close();
    }
  });

  it("purgeRequests forgets every variant of a URL for an allowed PURGE, without the origin", async () => {
    const h = harness({
      "/p": echoing("accept-language"),
      "/other": cacheable(),
    });
    h.cache.use(purgeRequests({
      allow: (request) => request.headers.get("authorization") === "Bearer t",
    }));
    const as = (language: string) => ({
      headers: { "accept-language": language },
    });
    const purge = (authorization: string) =>
      visit(h, "/p", { method: "PURGE", headers: { authorization } });
    try {
      await visit(h, "/p", as("en"));
      await visit(h, "/p", as("fr"));
      await visit(h, "/other");
      const refused = await purge("Bearer wrong");
      assert.equal(refused.status, 403);
      assert.equal((await visit(h, "/p", as("en"))).trace, "fresh");
      const purged = await purge("Bearer t");
      assert.equal(purged.status, 200);
      assert.equal(purged.body, "purged 2\n");
      assert.equal(purged.trace, "purge, synth");
      assert.equal(purged.headers.get("content-length"), "9");
      assert.ok(purged.headers.has("date"));
      assert.equal((await purge("Bearer t")).status, 404, "nothing left");
      assert.equal(h.seen.filter((r) => r.method === "PURGE").length, 0);
      assert.match((await visit(h, "/p", as("en"))).trace!, /^miss/);
      assert.match((await visit(h, "/p", as("fr"))).trace!, /^miss/);
      assert.equal((await visit(h, "/other")).trace, "fresh", "others stay");
      assert.throws(
        () => purgeRequests({} as unknown as PurgeRequestsOptions),
        /allow/,
      );
      // Other requests stay synchronous: a hit on heap stores is no promise.
      const direct = new SharedCache({ origin: cacheable() }).use(
        purgeRequests({ allow: () => false }),
      );
      await (await direct.fetch(new Request("http://a.test/s"))).text();
      assert.ok(
        direct.fetch(new Request("http://a.test/s")) instanceof Response,
      );
      await direct.close();
      await direct.close(); // twice is fine
    } finally {
      await h.close();
    }
  });

  it("SharedCache.purge forgets a URL's responses and keeps a fetch under way from storing", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    const cache = new SharedCache({
      origin: async (request) => {
        if (new URL(request.url).pathname === "/slow") await held;
        return cacheable(request.url)();
      },
      clock: new ManualClock(),
    });
    const trace = async (url: string) => {
      const response = await cache.fetch(new Request(url));
      await response.text();
      return response.headers.get("x-cache");
    };
    try {
      await trace("http://a.test/n");
      assert.equal(await cache.purge("http://a.test/n"), 1);
      assert.equal(await cache.purge(new URL("http://a.test/n")), 0);
      assert.equal(await trace("http://a.test/n"), "miss, store");
      const slow = trace("http://a.test/slow");
      await tick(10);
      assert.equal(await cache.purge(new Request("http://a.test/slow")), 0);
      release();
      await slow;
      assert.match((await trace("http://a.test/slow"))!, /^miss/);
    } finally {
      await cache.close();
    }
  });

  it("logs each request to a verbose logger", async () => {
    const lines: string[] = [];
    const cache = new SharedCache({
      origin: cacheable(),
      verbose: (line) => lines.push(line),
      clock: new ManualClock(),
    });
    try {
      await (await cache.fetch(new Request("http://a.test/v"))).text();
      assert.deepEqual(lines, ["GET http://a.test/v miss, store"]);
    } finally {
      await cache.close();
    }
  });
});
