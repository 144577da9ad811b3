/**
 * What one client sends shapes its own answer only: its preconditions, its
 * Cache-Control and junk in its Connection field never change what the cache
 * stores or how it treats the URL for everyone else.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { proxyTo, serve, SharedCache } from "../../mod.ts";
import { crowd, harness, numbered, overlapping, visit } from "./_harness.ts";

describe("shared cache: one client cannot steer it for the others", () => {
  it("does not store an origin's 412 to one client's If-Match or If-Unmodified-Since", async () => {
    // An origin that checks preconditions itself, and marks even its 412s
    // cacheable.
    const answer = (request: Request) =>
      request.headers.has("if-match") ||
        request.headers.has("if-unmodified-since")
        ? new Response("precondition failed", {
          status: 412,
          headers: { "cache-control": "public, max-age=300" },
        })
        : new Response("the page", {
          headers: {
            "cache-control": "public, max-age=300",
            etag: '"p1"',
            "last-modified": new Date(Date.now() - 86_400_000).toUTCString(),
          },
        });
    const h = harness({ "/p": answer, "/q": answer });
    try {
      const early = new Date(Date.now() - 7 * 86_400_000).toUTCString();
      const poisons = [
        ["/p", { "if-match": '"nope"' }],
        ["/q", { "if-unmodified-since": early }],
      ] as const;
      for (const [path, headers] of poisons) {
        const first = await visit(h, path, { headers });
        assert.equal(first.status, 412, `${path}: the cache evaluates it`);
        const plain = await visit(h, path);
        assert.equal(plain.status, 200, `${path}: others get the page`);
        assert.equal(plain.body, "the page");
        assert.equal(plain.trace, "fresh", `${path}: the page was stored`);
      }
      for (const seen of h.seen) {
        assert.equal(seen.headers.has("if-match"), false);
        assert.equal(seen.headers.has("if-unmodified-since"), false);
      }
    } finally {
      await h.close();
    }
  });

  it("asks again with the client's Range and conditions when the whole answer goes out unstored", async () => {
    const body = "0123456789".repeat(200); // 2,000 bytes
    // An origin that answers Range and If-Match itself.
    const ranged = (cacheControl: string) => (request: Request) => {
      const headers = { "cache-control": cacheControl, etag: '"r1"' };
      const ifMatch = request.headers.get("if-match");
      if (ifMatch !== null && ifMatch !== '"r1"') {
        return new Response(null, { status: 412, headers });
      }
      const range = /^bytes=(\d+)-(\d+)$/.exec(
        request.headers.get("range") ?? "",
      );
      if (!range) return new Response(body, { headers });
      const [start, end] = [Number(range[1]), Number(range[2])];
      return new Response(body.slice(start, end + 1), {
        status: 206,
        headers: {
          ...headers,
          "content-range": `bytes ${start}-${end}/${body.length}`,
        },
      });
    };
    const h = harness({
      "/private": ranged("private"),
      "/big": ranged("max-age=60"),
    }, { maxEntrySize: 1000 });
    try {
      for (const path of ["/private", "/big"]) {
        for (const round of [1, 2]) {
          const part = await visit(h, path, {
            headers: { range: "bytes=2-5" },
          });
          assert.equal(part.status, 206, `${path}, ${round}`);
          assert.equal(part.body, "2345");
          const failed = await visit(h, path, {
            headers: { "if-match": '"r0"' },
          });
          assert.equal(failed.status, 412, `${path}, ${round}`);
        }
        // The first asked for the whole body, then again as sent; the URL
        // then goes to the origin as asked (hit-for-pass).
        const asked = h.seen.filter((r) => r.path === path);
        assert.deepEqual(
          asked.map((r) => r.headers.get("range") ?? r.headers.get("if-match")),
          [null, "bytes=2-5", '"r0"', "bytes=2-5", '"r0"'],
          path,
        );
      }
    } finally {
      await h.close();
    }
  });

  it("keeps coalescing a URL after a client's own no-store", async () => {
    const origin = overlapping(() =>
      new Response("shared", { headers: { "cache-control": "max-age=60" } })
    );
    const h = harness({ "/c": origin.route });
    try {
      const own = await visit(h, "/c", {
        headers: { "cache-control": "no-store" },
      });
      assert.equal(own.trace, "miss", "the client's no-store is obeyed");
      origin.reset();
      const many = await Promise.all(crowd(h, "/c"));
      assert.equal(origin.most(), 1, "one origin request for the crowd");
      assert.ok(many.some((r) => r.trace === "miss, collapsed"));
    } finally {
      await h.close();
    }
  });

  it("refreshes in the background whatever directives the client that triggered it sent", async () => {
    const h = harness({
      "/swr": numbered("v", {
        "cache-control": "max-age=10, stale-while-revalidate=60",
      }),
    });
    try {
      await visit(h, "/swr");
      await h.clock.advance(20_000);
      const stale = await visit(h, "/swr", {
        headers: { "cache-control": "only-if-cached, no-store" },
      });
      assert.equal(stale.body, "v1");
      assert.equal(stale.trace, "stale");
      // Other stale visits would start refreshes of their own: only wait.
      for (let i = 0; i < 100 && h.count("/swr") < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(h.count("/swr"), 2, "the refresh reached the origin");
      // While it runs, stale visits start no other.
      let after = await visit(h, "/swr");
      for (let i = 0; i < 100 && after.body !== "v2"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        after = await visit(h, "/swr");
      }
      assert.equal(after.body, "v2", "and was stored");
      assert.equal(after.trace, "fresh");
      assert.equal(h.count("/swr"), 2);
      assert.equal(h.seen[1].headers.has("cache-control"), false);
    } finally {
      await h.close();
    }
  });

  it("tells the origin the address the client used, never a forged one, unless told to trust the proxy in front", async () => {
    const h = harness({ "/f": () => new Response("f") });
    try {
      const forged = {
        "x-forwarded-host": "evil.test",
        "x-forwarded-proto": "gopher",
        "x-forwarded-port": "666",
        forwarded: "host=evil.test",
        "x-forwarded-prefix": "//evil.test",
        "x-original-url": "/admin",
        "x-rewrite-url": "/admin",
        "x-host": "evil.test",
        "x-forwarded-path": "/admin",
        "x-original-uri": "/admin",
        "x-forwarded-protocol": "gopher",
        "front-end-https": "on",
        "x-envoy-original-path": "/admin",
        "x-forwarded-for": "10.0.0.1",
        "x-http-method-override": "DELETE",
      };
      await visit(h, "/f", { headers: forged });
      const replaced = h.seen[0].headers;
      assert.equal(replaced.get("x-forwarded-host"), new URL(h.url).host);
      assert.equal(replaced.get("x-forwarded-proto"), "http");
      assert.equal(replaced.get("x-forwarded-port"), new URL(h.url).port);
      assert.equal(replaced.get("x-forwarded-for"), "127.0.0.1", "the peer's");
      for (
        const name of [
          "forwarded",
          "x-forwarded-prefix",
          "x-original-url",
          "x-rewrite-url",
          "x-host",
          "x-forwarded-path",
          "x-original-uri",
          "x-forwarded-protocol",
          "front-end-https",
          "x-envoy-original-path",
          "x-http-method-override",
        ]
      ) assert.equal(replaced.has(name), false, name);
      // A POST may still say it means DELETE (its answer is nobody else's).
      await (await h.get("/f", {
        method: "POST",
        headers: { "x-http-method-override": "DELETE" },
      })).text();
      assert.equal(h.seen[1].headers.get("x-http-method-override"), "DELETE");
      // Behind a TLS terminator that sets them itself:
      const keep = proxyTo(h.originUrl, { forwarded: "keep" });
      await (await keep(new Request("http://pub.test/f", { headers: forged })))
        .text();
      const kept = h.seen[2].headers;
      assert.equal(kept.get("x-forwarded-host"), "evil.test");
      assert.equal(kept.get("forwarded"), "host=evil.test");
      assert.equal(kept.get("x-forwarded-for"), "10.0.0.1", "no peer known");
      // Served by cistern, the proxy in front joins the list.
      const front = serve(keep, { port: 0 });
      try {
        await (await fetch(`${front.url}/f`, { headers: forged })).text();
        assert.equal(
          h.seen[3].headers.get("x-forwarded-for"),
          "10.0.0.1, 127.0.0.1",
        );
      } finally {
        await front.shutdown();
      }
    } finally {
      await h.close();
    }
  });

  it("tells the origin the client's address when a handler made the request anew", async () => {
    const h = harness({ "/f": () => new Response("f") });
    try {
      h.cache.on("receive", (ctx) => {
        const headers = new Headers(ctx.request.headers);
        headers.set("x-rewritten", "1");
        ctx.request = new Request(ctx.request, { headers });
      });
      await visit(h, "/f", { method: "POST" });
      await visit(h, "/f");
      for (const seen of h.seen) {
        assert.equal(seen.headers.get("x-rewritten"), "1", seen.method);
        assert.equal(seen.headers.get("x-forwarded-for"), "127.0.0.1");
      }
      assert.equal(h.seen.length, 2);
    } finally {
      await h.close();
    }
  });

  it("ignores Connection members that are not field names, from either side", async () => {
    const origin = (request: Request) =>
      new Response(request.headers.get("x-kept") ?? "none", {
        headers: {
          connection: "x(y), bad name, x-hop",
          "x-hop": "1",
          "cache-control": "max-age=60",
        },
      });
    const cache = new SharedCache({ origin, entitystore: "heap:" });
    try {
      for (const method of ["GET", "POST"]) {
        const response = await cache.fetch(
          new Request("http://example.test/c", {
            method,
            headers: { connection: "foo bar, é, x-drop", "x-kept": "k" },
          }),
        );
        assert.equal(response.status, 200, method);
        assert.equal(await response.text(), "k");
        assert.equal(response.headers.has("x-hop"), false);
      }
    } finally {
      await cache.close();
    }
  });
});
