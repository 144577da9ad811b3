import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  harness,
  numbered,
  revalidatable,
  type Route,
  visit,
} from "./_harness.ts";
import {
  ManualClock,
  memoryFs,
  serve,
  SharedCache,
  sharedCache,
  StreamCache,
} from "../../mod.ts";
import { deferred } from "../../lib/deferred.ts";
import { heapMetaStore } from "../../lib/proxy/metastore.ts";
import { rawExchange, tick } from "../_util.ts";
import { responseWithoutHopByHop } from "../../lib/proxy/headers.ts";

const text = (body: string, headers: HeadersInit = {}, status = 200) => () =>
  new Response(body, { status, headers });

/** A POST whose body streams `body`. */
function upload(body: ReadableStream<Uint8Array>): Request {
  return new Request("http://a.test/up", {
    method: "POST",
    body,
    duplex: "half",
  } as RequestInit);
}

/** `pieces` pieces of `size` bytes, one every `ms` (an upload or a body that trickles). */
function trickle(
  pieces: number,
  size: number,
  ms: number,
): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === pieces) return controller.close();
      await new Promise((resolve) => setTimeout(resolve, ms));
      controller.enqueue(new Uint8Array(size));
      sent++;
    },
  });
}

describe("shared cache: a faithful intermediary", () => {
  it("forwards every method, streams request bodies and passes statuses and headers", async () => {
    const h = harness({
      "/echo": async (request) =>
        new Response(`${request.method} ${await request.text()}`, {
          headers: {
            "x-origin": "yes",
            "x-got": request.headers.get("x-client") ?? "",
          },
        }),
      "/none": () =>
        new Response(null, { status: 204, headers: { "x-empty": "1" } }),
      "/moved": () =>
        new Response(null, {
          status: 301,
          headers: { location: "/elsewhere" },
        }),
      "/boom": text("broken", {}, 500),
      "/teapot": text("short and stout", {}, 418),
    });
    try {
      for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
        const r = await visit(h, "/echo", {
          method,
          body: "payload",
          headers: { "x-client": "c1" },
        });
        assert.equal(r.body, `${method} payload`);
        assert.equal(r.headers.get("x-origin"), "yes");
        assert.equal(
          r.headers.get("x-got"),
          "c1",
          "request headers reach the origin",
        );
        assert.match(r.trace!, /pass/);
      }
      const big = "x".repeat(3 << 20);
      const echoed = await visit(h, "/echo", { method: "POST", body: big });
      assert.equal(
        echoed.body.length,
        big.length + 5,
        "a 3 MiB request body streams through",
      );
      const none = await visit(h, "/none");
      assert.equal(none.status, 204);
      assert.equal(none.headers.get("x-empty"), "1");
      const moved = await h.get("/moved", { redirect: "manual" });
      assert.equal(moved.status, 301, "redirects come back, not followed");
      assert.equal(moved.headers.get("location"), "/elsewhere");
      await moved.body?.cancel();
      assert.equal((await visit(h, "/boom")).status, 500);
      assert.equal((await visit(h, "/teapot")).status, 418);
    } finally {
      await h.close();
    }
  });

  it("removes hop-by-hop fields, including those Connection names", async () => {
    const h = harness({
      "/hop": () =>
        new Response("ok", {
          headers: {
            connection: "x-hop",
            "x-hop": "1",
            "x-end": "2",
            "keep-alive": "timeout=5",
          },
        }),
    });
    try {
      const r = await visit(h, "/hop", {
        headers: { connection: "x-secret", "x-secret": "s", "x-kept": "k" },
      });
      assert.equal(r.headers.get("x-hop"), null);
      assert.equal(r.headers.get("x-end"), "2");
      const forwarded = h.seen[0].headers;
      assert.equal(
        forwarded.get("x-secret"),
        null,
        "a field Connection names is not forwarded",
      );
      assert.equal(forwarded.get("x-kept"), "k");
    } finally {
      await h.close();
    }
  });

  it("removes hop-by-hop fields from passed answers, keeping the answer when it can", async () => {
    const h = harness({
      "/private-hop": () =>
        new Response("mine", {
          headers: {
            "cache-control": "private",
            connection: "x-hop",
            "x-hop": "1",
            "keep-alive": "timeout=5",
            "x-end": "2",
          },
        }),
    });
    try {
      const r = await visit(h, "/private-hop");
      assert.equal(r.body, "mine");
      assert.equal(r.headers.get("x-hop"), null);
      assert.equal(r.headers.get("keep-alive"), null);
      assert.equal(r.headers.get("x-end"), "2");
    } finally {
      await h.close();
    }
    const plain = new Response("x", { headers: { etag: '"a"' } });
    assert.equal(responseWithoutHopByHop(plain), plain, "nothing to remove");
    const mutable = new Response("x", {
      headers: { connection: "x-hop", "x-hop": "1", etag: '"a"' },
    });
    assert.equal(responseWithoutHopByHop(mutable), mutable);
    const hops = (headers: Headers) =>
      ["connection", "x-hop", "etag"].map((name) => headers.has(name));
    assert.deepEqual(hops(mutable.headers), [false, false, true]);
    // Headers that refuse changes (a fetch() answer's): a new response, same body.
    const immutable = new Response("body", {
      status: 203,
      headers: { connection: "x-hop", "x-hop": "1", etag: '"a"' },
    });
    Object.defineProperty(immutable.headers, "delete", {
      value: () => {
        throw new TypeError("Headers are immutable");
      },
    });
    const copy = responseWithoutHopByHop(immutable);
    assert.notEqual(copy, immutable);
    assert.equal(copy.status, 203);
    assert.deepEqual(hops(copy.headers), [false, false, true]);
    assert.equal(await copy.text(), "body");
  });

  it("passes answers whose headers cannot be changed: a redirect, a fetch()", async () => {
    const h = harness({
      "/x": () =>
        new Response("o", { headers: { "cache-control": "max-age=60" } }),
    });
    const app = (request: Request) =>
      request.method === "POST" && new URL(request.url).pathname === "/form"
        ? Response.redirect("http://a.test/done", 303)
        : fetch(h.originUrl + new URL(request.url).pathname, {
          method: request.method,
          body: request.body,
        });
    const handler = sharedCache({})(app);
    try {
      const redirect = await handler(
        new Request("http://a.test/form", { method: "POST", body: "x=1" }),
      );
      assert.equal(redirect.status, 303);
      assert.equal(redirect.headers.get("location"), "http://a.test/done");
      assert.equal(redirect.headers.get("x-cache"), "invalidate, pass");
      for (const method of ["POST", "GET"]) {
        const answer = await handler(
          new Request("http://a.test/x", {
            method,
            body: method === "POST" ? "b" : null,
          }),
        );
        assert.equal(answer.status, 200, method);
        assert.equal(await answer.text(), "o");
        assert.ok(answer.headers.get("x-cache"));
      }
    } finally {
      await h.close();
    }
  });

  it("hands a protocol upgrade to the app as it came, and its answer back untouched", async () => {
    let seen: Request | undefined;
    const answer = new Response(null, { status: 200 });
    const handler = sharedCache({})((request) => {
      seen = request;
      return answer;
    });
    const request = new Request("http://a.test/ws", {
      headers: { upgrade: "websocket", connection: "Upgrade" },
    });
    // The runtime upgrades the very request object it handed over.
    assert.equal(await handler(request), answer);
    assert.equal(seen, request);
    // An app that fails or hangs is answered as any origin is.
    const failing = new SharedCache({
      origin: (request) =>
        new URL(request.url).pathname === "/down"
          ? Promise.reject(new Error("down"))
          : new Promise<Response>(() => {}),
      originTimeout: 200,
    });
    // The cache's timers do not keep a process alive; a server would.
    const alive = setInterval(() => {}, 50);
    try {
      for (const [path, status] of [["/down", 502], ["/hangs", 504]] as const) {
        const answer = await failing.fetch(
          new Request(`http://a.test${path}`, {
            headers: { upgrade: "websocket", connection: "Upgrade" },
          }),
        );
        assert.equal(answer.status, status, path);
      }
    } finally {
      clearInterval(alive);
      await failing.close();
    }
  });

  it("adds a Date to answers forwarded without one, missed, stored or passed (RFC 9110 §6.6.1), and a server sends it once", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const app = (request: Request) =>
      new Response("a", {
        headers: new URL(request.url).pathname === "/kept"
          ? { "cache-control": "max-age=60" }
          : {},
      });
    const handler = sharedCache({ clock })(app);
    const noon = "Thu, 01 Jan 2026 12:00:00 GMT";
    for (const path of ["/kept", "/kept", "/passed"]) {
      const response = await handler(new Request(`http://a.test${path}`));
      await response.text();
      assert.equal(response.headers.get("date"), noon, path);
    }
    const post = await handler(
      new Request("http://a.test/passed", { method: "POST", body: "x" }),
    );
    await post.text();
    assert.equal(post.headers.get("date"), noon, "POST");
    const server = serve(sharedCache({})(app), { port: 0 });
    try {
      const response = await fetch(`${server.url}/passed`);
      await response.text();
      assert.match(
        response.headers.get("date")!,
        /^\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT$/,
      );
    } finally {
      await server.shutdown();
    }
  });

  it("caches a request offering another upgrade (h2c) as any other, its hop-by-hop fields dropped both ways", async () => {
    const seen: Headers[] = [];
    const cache = new SharedCache({
      origin: (request) => {
        seen.push(request.headers);
        return new Response("v", {
          headers: {
            "cache-control": "max-age=600",
            connection: "x-hop",
            "x-hop": "1",
            "keep-alive": "timeout=5",
          },
        });
      },
    });
    const offer = {
      connection: "Upgrade, HTTP2-Settings",
      upgrade: "h2c",
      "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA",
    };
    try {
      for (const trace of ["miss, store", "fresh"]) {
        const response = await cache.fetch(
          new Request("http://a.test/h2c", { headers: offer }),
        );
        assert.equal(await response.text(), "v");
        assert.equal(response.headers.get("x-cache"), trace);
        for (const field of ["connection", "x-hop", "keep-alive"]) {
          assert.equal(response.headers.get(field), null, field);
        }
      }
      assert.equal(seen.length, 1);
      for (const field of Object.keys(offer)) {
        assert.equal(seen[0].get(field), null, field);
      }
    } finally {
      await cache.close();
    }
  });

  it("still times out an origin that never reads an upload nor answers, and never cuts an answer after the upload", async () => {
    const hangs = new SharedCache({
      origin: () => new Promise<Response>(() => {}),
      originTimeout: 200,
    });
    // The cache's timers do not keep a process alive; a server would.
    const alive = setInterval(() => {}, 50);
    try {
      const answer = await hangs.fetch(
        upload(trickle(Infinity, 10, 100)),
      );
      assert.equal(answer.status, 504);
    } finally {
      clearInterval(alive);
      await hangs.close();
    }
    // Answered at once, body for 600 ms; the upload ends after 300 ms.
    const early = new SharedCache({
      origin: (request) => {
        void request.arrayBuffer();
        return new Response(trickle(6, 10, 100));
      },
      originTimeout: 200,
    });
    try {
      const answer = await early.fetch(
        upload(trickle(3, 1, 100)),
      );
      assert.equal((await answer.arrayBuffer()).byteLength, 60, "whole");
    } finally {
      await early.close();
    }
  });

  it("starts the origin's answer timeout once a streamed upload is sent", async () => {
    const cache = new SharedCache({
      origin: async (request) =>
        new Response(`got ${(await request.text()).length}`),
      originTimeout: 300,
    });
    try {
      const answer = await cache.fetch(
        upload(trickle(5, 10, 150)),
      );
      assert.equal(answer.status, 200, "750 ms of upload is not a late origin");
      assert.equal(await answer.text(), "got 50");
    } finally {
      await cache.close();
    }
  });

  it("answers 502 saying so when the origin's answer is not HTTP/1.1", async () => {
    const { createServer } = await import("node:net");
    const { SharedCache } = await import("../../lib/proxy/shared_cache.ts");
    const origin = createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => socket.end("HTTP/1.1 999 Weird\r\n\r\n"));
    });
    await new Promise<void>((resolve) =>
      origin.listen(0, "127.0.0.1", resolve)
    );
    const port = (origin.address() as { port: number }).port;
    const cache = new SharedCache({ origin: `http://127.0.0.1:${port}` });
    try {
      const response = await cache.fetch(new Request("http://me/x"));
      assert.equal(response.status, 502);
      assert.equal(
        await response.text(),
        "502 Bad Gateway: the origin's answer was not valid HTTP/1.1\n",
      );
    } finally {
      await cache.close();
      await new Promise((resolve) => origin.close(resolve));
    }
  });

  it("answers 502 with a short body when the origin is unreachable", async () => {
    const h = harness({});
    const { SharedCache } = await import("../../lib/proxy/shared_cache.ts");
    const { serve } = await import("../../lib/adapters/serve.ts");
    const dead = new SharedCache({ origin: "http://127.0.0.1:9" });
    const proxy = serve(dead.fetch, { port: 0 });
    try {
      const response = await fetch(`${proxy.url}/x`);
      assert.equal(response.status, 502);
      assert.match(await response.text(), /Bad Gateway/);
    } finally {
      await proxy.shutdown();
      await dead.close();
      await h.close();
    }
  });

  it("answers 504 when the origin is unreachable and a stored response may not be served stale (RFC 9111 §5.2.2.2)", async () => {
    const origin = serve((request) =>
      new Response("kept", {
        headers: {
          "cache-control": new URL(request.url).pathname === "/mr"
            ? "max-age=1, must-revalidate"
            : "max-age=1",
        },
      }), { port: 0 });
    const clock = new ManualClock(Date.now());
    const cache = new SharedCache({ origin: origin.url, clock });
    const proxy = serve(cache.fetch, { port: 0 });
    let originUp = true;
    try {
      for (const path of ["/mr", "/plain"]) {
        assert.equal(await (await fetch(proxy.url + path)).text(), "kept");
      }
      await origin.shutdown();
      originUp = false;
      await clock.advance(60_000);
      for (const path of ["/mr", "/plain"]) {
        const response = await fetch(proxy.url + path);
        assert.equal(response.status, 504, path);
        assert.match(await response.text(), /may not be used without it/);
      }
      const never = await fetch(`${proxy.url}/never-stored`);
      assert.equal(never.status, 502, "a plain miss is still a 502");
      await never.text();
    } finally {
      await proxy.shutdown();
      if (originUp) await origin.shutdown();
      await cache.close();
    }
  });
});

describe("shared cache: storing and freshness", () => {
  it("stores a max-age response once and serves hits with Age and Date", async () => {
    const h = harness({ "/a": text("A", { "cache-control": "max-age=60" }) });
    try {
      const first = await visit(h, "/a");
      assert.equal(first.trace, "miss, store");
      const date = first.headers.get("date");
      await h.clock.advance(10_000);
      const second = await visit(h, "/a");
      assert.equal(second.trace, "fresh");
      assert.equal(second.body, "A");
      const age = Number(second.headers.get("age"));
      assert.ok(age >= 10 && age <= 11, `age ${age}`);
      assert.equal(second.headers.get("date"), date, "Date is kept");
      assert.equal(h.count("/a"), 1);
      await h.clock.advance(51_000);
      assert.equal((await visit(h, "/a")).trace, "stale, invalid, store");
      assert.equal(h.count("/a"), 2);
    } finally {
      await h.close();
    }
  });

  it("prefers s-maxage to max-age, and max-age to Expires", async () => {
    const inAnHour = new Date(Date.now() + 3_600_000).toUTCString();
    const h = harness({
      "/s": text("s", { "cache-control": "max-age=1, s-maxage=100" }),
      "/m": text("m", { "cache-control": "max-age=1", expires: inAnHour }),
      "/e": text("e", { expires: inAnHour }),
      "/bad-expires": text("b", { expires: "0" }),
    });
    try {
      for (const path of ["/s", "/m", "/e", "/bad-expires"]) {
        await visit(h, path);
      }
      await h.clock.advance(5_000);
      assert.equal((await visit(h, "/s")).trace, "fresh");
      assert.match((await visit(h, "/m")).trace!, /^stale/);
      assert.equal((await visit(h, "/e")).trace, "fresh");
      assert.equal(h.count("/bad-expires"), 1);
      assert.match(
        (await visit(h, "/bad-expires")).trace!,
        /^miss|^stale/,
        "invalid Expires is already expired",
      );
    } finally {
      await h.close();
    }
  });

  it("replaces an invalid Date with the time the answer came, and counts Expires from it (RFC 9110 §6.6.1)", async () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const h = harness({
      // An origin whose clock is broken.
      "/d": text("d", { date: "Tue, 99 Foo 2026", expires: inAMinute }),
    });
    try {
      const first = await visit(h, "/d");
      assert.equal(first.trace, "miss, store");
      assert.equal(
        first.headers.get("date"),
        new Date(h.clock.now()).toUTCString(),
      );
      await h.clock.advance(30_000);
      const hit = await visit(h, "/d");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.headers.get("date"), first.headers.get("date"));
      assert.equal(h.count("/d"), 1);
    } finally {
      await h.close();
    }
  });

  it("uses heuristic freshness for heuristically cacheable statuses with Last-Modified, and for public answers", async () => {
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toUTCString();
    const h = harness({
      "/lm": text("lm", { "last-modified": tenDaysAgo }),
      "/gone": text("gone", { "last-modified": tenDaysAgo }, 410),
      "/created": text("c", { "last-modified": tenDaysAgo }, 201),
      "/public": text("p", {
        "last-modified": tenDaysAgo,
        "cache-control": "public",
      }, 599),
    });
    try {
      const paths = ["/lm", "/gone", "/created", "/public"];
      for (const path of paths) await visit(h, path);
      await h.clock.advance(3_600_000); // 1 h < 10% of 10 days
      assert.equal((await visit(h, "/lm")).trace, "fresh");
      assert.equal((await visit(h, "/gone")).trace, "fresh");
      assert.equal(
        (await visit(h, "/created")).trace,
        "miss",
        "201 is not heuristically cacheable",
      );
      const marked = await visit(h, "/public");
      assert.equal(marked.trace, "fresh", "RFC 9111 §4.2.2: marked public");
      assert.equal(marked.status, 599);
    } finally {
      await h.close();
    }
  });

  it("applies defaultTtl to storable responses without freshness", async () => {
    const h = harness({ "/plain": text("p") }, { defaultTtl: 30 });
    try {
      assert.equal((await visit(h, "/plain")).trace, "miss, store");
      await h.clock.advance(20_000);
      assert.equal((await visit(h, "/plain")).trace, "fresh");
    } finally {
      await h.close();
    }
  });

  it("stores nothing for no-store (either side), private, or a plain response without freshness", async () => {
    const h = harness({
      "/ns": text("ns", { "cache-control": "no-store, max-age=60" }),
      "/priv": text("p", { "cache-control": "private, max-age=60" }),
      "/plain": text("plain"),
      "/ok": text("ok", { "cache-control": "max-age=60" }),
      "/unknown": text("u", {
        "cache-control": "max-age=60, x-fancy=1, no-cheese",
      }),
    });
    // Malformed, but naming no-store or private: never stored, even where
    // defaultTtl would store a response with no directives.
    const malformed = harness({
      "/ns": text("ns", { "cache-control": "no-store; no-cache" }),
      "/priv": text("p", { "cache-control": "private; max-age=100" }),
    }, { defaultTtl: 60 });
    try {
      for (let i = 0; i < 2; i++) {
        assert.equal((await visit(malformed, "/ns")).trace, "miss");
        assert.equal((await visit(malformed, "/priv")).trace, "miss");
        assert.equal((await visit(h, "/ns")).trace, "miss");
        assert.equal((await visit(h, "/priv")).trace, "miss");
        assert.equal((await visit(h, "/plain")).trace, "miss");
        assert.equal(
          (await visit(h, "/ok", { headers: { "cache-control": "no-store" } }))
            .trace,
          "miss",
        );
      }
      await visit(h, "/unknown");
      assert.equal(
        (await visit(h, "/unknown")).trace,
        "fresh",
        "unknown directives are ignored",
      );
      assert.equal(h.count("/ns"), 2);
      assert.equal(h.count("/priv"), 2);
    } finally {
      await h.close();
      await malformed.close();
    }
  });

  it("treats a malformed max-age as stale", async () => {
    const h = harness({
      "/m": text("m", { "cache-control": "max-age=soon", etag: '"m"' }),
    });
    try {
      await visit(h, "/m");
      assert.match((await visit(h, "/m")).trace!, /^stale/);
    } finally {
      await h.close();
    }
  });

  it("stores responses to Authorization only when they say they may be shared", async () => {
    const auth = { headers: { authorization: "Bearer secret" } };
    const h = harness({
      "/mine": text("mine", { "cache-control": "max-age=60" }),
      "/public": text("pub", { "cache-control": "public, max-age=60" }),
      "/smax": text("s", { "cache-control": "s-maxage=60" }),
      "/must": text("m", { "cache-control": "max-age=60, must-revalidate" }),
    });
    try {
      await visit(h, "/mine", auth);
      assert.equal((await visit(h, "/mine", auth)).trace, "miss");
      for (const path of ["/public", "/smax", "/must"]) {
        await visit(h, path, auth);
        assert.equal((await visit(h, path)).trace, "fresh", path);
      }
      // Cookie is a private header too (Rack::Cache's default).
      await visit(h, "/mine", { headers: { cookie: "session=1" } });
      assert.equal(
        (await visit(h, "/mine", { headers: { cookie: "session=1" } })).trace,
        "miss",
      );
    } finally {
      await h.close();
    }
  });

  it("never shares an answer to a request with Authorization, whatever privateHeaders lists (RFC 9111 §3.5)", async () => {
    const h = harness({
      "/me": (request) =>
        new Response(`hello ${request.headers.get("authorization")}`, {
          headers: { "cache-control": "max-age=60" },
        }),
    }, { privateHeaders: ["x-api-key"] });
    try {
      const alice = { headers: { authorization: "Bearer alice" } };
      const bob = { headers: { authorization: "Bearer bob" } };
      assert.equal((await visit(h, "/me", alice)).body, "hello Bearer alice");
      const answer = await visit(h, "/me", bob);
      assert.equal(answer.body, "hello Bearer bob", "not alice's");
    } finally {
      await h.close();
    }
  });

  it("never stores Set-Cookie responses unless configured, and then strips the cookie", async () => {
    const routes = {
      "/c": text("c", { "cache-control": "max-age=60", "set-cookie": "s=1" }),
    };
    const plain = harness(routes);
    try {
      await visit(plain, "/c");
      const again = await visit(plain, "/c");
      assert.equal(again.trace, "miss");
      assert.equal(again.headers.get("set-cookie"), "s=1");
    } finally {
      await plain.close();
    }
    const storing = harness(routes, { storeSetCookie: true });
    try {
      const first = await visit(storing, "/c");
      assert.equal(
        first.headers.get("set-cookie"),
        "s=1",
        "the client that fetched it gets its cookie",
      );
      const hit = await visit(storing, "/c");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.headers.get("set-cookie"), null, "no one else gets it");
    } finally {
      await storing.close();
    }
  });

  it("takes its own ignoreHeaders and privateHeaders", async () => {
    const h = harness({
      "/i": text("i", {
        "cache-control": "max-age=60",
        "x-internal": "secret",
        "x-kept": "k",
      }),
      "/p": text("p", { "cache-control": "max-age=60" }),
    }, { ignoreHeaders: ["x-internal"], privateHeaders: ["x-session"] });
    try {
      assert.equal(
        (await visit(h, "/i")).headers.get("x-internal"),
        "secret",
        "the fetching client gets it",
      );
      const hit = await visit(h, "/i");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.headers.get("x-internal"), null, "stored copies do not");
      assert.equal(hit.headers.get("x-kept"), "k");
      await visit(h, "/p", { headers: { "x-session": "1" } });
      assert.equal(
        (await visit(h, "/p", { headers: { "x-session": "1" } })).trace,
        "miss",
      );
      await visit(h, "/p", { headers: { cookie: "c=1" } });
      assert.equal(
        (await visit(h, "/p")).trace,
        "fresh",
        "cookie is no longer private when not listed",
      );
    } finally {
      await h.close();
    }
  });

  it("strips fields named by private= and no-cache= from the stored copy", async () => {
    const h = harness({
      "/f": text("f", {
        "cache-control": 'max-age=60, private="x-user", no-cache="x-token"',
        "x-user": "alice",
        "x-token": "t",
        "x-public": "p",
      }),
    });
    try {
      await visit(h, "/f");
      const hit = await visit(h, "/f");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.headers.get("x-user"), null);
      assert.equal(hit.headers.get("x-token"), null);
      assert.equal(hit.headers.get("x-public"), "p");
    } finally {
      await h.close();
    }
  });
});

describe("shared cache: request directives", () => {
  it("honours max-age, min-fresh, max-stale and no-cache from the client", async () => {
    const h = harness({
      "/r": text("r", { "cache-control": "max-age=60", etag: '"r1"' }),
    });
    try {
      await visit(h, "/r");
      await h.clock.advance(30_000);
      assert.equal(
        (await visit(h, "/r", { headers: { "cache-control": "max-age=100" } }))
          .trace,
        "fresh",
      );
      assert.match(
        (await visit(h, "/r", { headers: { "cache-control": "max-age=10" } }))
          .trace!,
        /^stale/,
      );
      await h.clock.advance(30_000);
      assert.match(
        (await visit(h, "/r", { headers: { "cache-control": "min-fresh=50" } }))
          .trace!,
        /^stale/,
      );
      assert.match(
        (await visit(h, "/r", { headers: { "cache-control": "no-cache" } }))
          .trace!,
        /valid/,
      );
      assert.match(
        (await visit(h, "/r", { headers: { pragma: "no-cache" } })).trace!,
        /valid/,
      );
      await h.clock.advance(70_000);
      assert.equal(
        (await visit(h, "/r", {
          headers: { "cache-control": "max-stale=100" },
        })).trace,
        "stale",
      );
      assert.equal(
        (await visit(h, "/r", { headers: { "cache-control": "max-stale" } }))
          .trace,
        "stale",
      );
      assert.match(
        (await visit(h, "/r", { headers: { "cache-control": "max-stale=5" } }))
          .trace!,
        /valid/,
      );
    } finally {
      await h.close();
    }
  });

  it("ignores client max-age and no-cache when allowRevalidate is off", async () => {
    const h = harness({ "/r": text("r", { "cache-control": "max-age=60" }) }, {
      allowRevalidate: false,
    });
    try {
      await visit(h, "/r");
      assert.equal(
        (await visit(h, "/r", {
          headers: { "cache-control": "no-cache, max-age=0" },
        })).trace,
        "fresh",
      );
    } finally {
      await h.close();
    }
  });

  it("reloads on a client no-cache when allowReload is on", async () => {
    const h = harness({ "/r": text("r", { "cache-control": "max-age=60" }) }, {
      allowReload: true,
    });
    try {
      await visit(h, "/r");
      assert.equal(
        (await visit(h, "/r", { headers: { "cache-control": "no-cache" } }))
          .trace,
        "reload, store",
      );
      assert.equal(h.count("/r"), 2);
      assert.equal(
        h.seen[1].headers.get("if-none-match"),
        null,
        "a reload is unconditional",
      );
    } finally {
      await h.close();
    }
  });

  it("answers only-if-cached from the cache or with 504", async () => {
    const h = harness({ "/o": text("o", { "cache-control": "max-age=60" }) });
    try {
      const missing = await visit(h, "/o", {
        headers: { "cache-control": "only-if-cached" },
      });
      assert.equal(missing.status, 504);
      assert.equal(h.count("/o"), 0, "the origin is not asked");
      // Its HEAD twin: the same length, a Date, no body, on both servers.
      const head = await rawExchange(
        Number(new URL(h.url).port),
        "HEAD /o HTTP/1.1\r\nhost: a.test\r\n" +
          "cache-control: only-if-cached\r\nconnection: close\r\n\r\n",
      );
      const [fields, rest] = head.split("\r\n\r\n");
      assert.match(fields, /^HTTP\/1\.1 504/);
      assert.match(
        fields,
        new RegExp(`\r\ncontent-length: ${missing.body.length}(\r|$)`, "i"),
      );
      assert.match(fields, /\r\ndate: /i);
      assert.doesNotMatch(fields, /transfer-encoding/i);
      assert.equal(rest, "");
      await visit(h, "/o");
      const cached = await visit(h, "/o", {
        headers: { "cache-control": "only-if-cached" },
      });
      assert.equal(cached.status, 200);
      assert.equal(cached.trace, "fresh");
    } finally {
      await h.close();
    }
  });
});

describe("shared cache: validation", () => {
  it("answers If-Modified-Since from a stored response without Last-Modified by its Date (RFC 9111 §4.3.2)", async () => {
    const h = harness({ "/d": text("d", { "cache-control": "max-age=60" }) });
    try {
      const first = await visit(h, "/d");
      const date = first.headers.get("date")!;
      const later = new Date(Date.parse(date) + 1000).toUTCString();
      const earlier = new Date(Date.parse(date) - 1000).toUTCString();
      const since = (when: string) =>
        h.get("/d", { headers: { "if-modified-since": when } });
      const notModified = await since(later);
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.get("x-cache"), "fresh");
      const modified = await since(earlier);
      assert.equal(modified.status, 200);
      assert.equal(await modified.text(), "d");
      assert.equal(h.count("/d"), 1);
    } finally {
      await h.close();
    }
  });

  it("revalidates a stale entry with its validators and merges the 304's fields", async () => {
    const lastModified = new Date(Date.now() - 86_400_000).toUTCString();
    const h = harness({
      "/v": (request, n) =>
        request.headers.get("if-none-match") === '"v1"'
          ? new Response(null, {
            status: 304,
            headers: {
              etag: '"v1"',
              "x-version": `${n}`,
              "cache-control": "max-age=10",
            },
          })
          : new Response("body", {
            headers: {
              etag: '"v1"',
              "last-modified": lastModified,
              "cache-control": "max-age=10",
              "x-version": "1",
            },
          }),
    });
    try {
      await visit(h, "/v");
      const before = await visit(h, "/v");
      assert.equal(before.headers.get("x-version"), "1");
      await h.clock.advance(20_000);
      const revalidated = await visit(h, "/v");
      assert.equal(revalidated.trace, "stale, valid, store");
      assert.equal(revalidated.body, "body");
      assert.equal(
        revalidated.headers.get("x-version"),
        "2",
        "the 304's fields update the stored ones",
      );
      const sent = h.seen[1].headers;
      assert.equal(sent.get("if-none-match"), '"v1"');
      assert.equal(sent.get("if-modified-since"), lastModified);
      const hit = await visit(h, "/v");
      assert.equal(hit.trace, "fresh", "the entry is fresh again");
      assert.equal(hit.headers.get("x-version"), "2");
      assert.equal(h.count("/v"), 2);
    } finally {
      await h.close();
    }
  });

  it("passes the revalidating 304's Set-Cookie to its client only, and freshens the stored copy", async () => {
    const h = harness({
      "/s": (request) =>
        request.headers.get("if-none-match") === '"s1"'
          ? new Response(null, {
            status: 304,
            headers: {
              etag: '"s1"',
              "set-cookie": "session=refreshed",
              "cache-control": "max-age=10",
            },
          })
          : text("s", { etag: '"s1"', "cache-control": "max-age=10" })(),
    });
    try {
      await visit(h, "/s");
      await h.clock.advance(20_000);
      const answer = await h.get("/s", {
        headers: { "if-none-match": '"s1"' },
      });
      assert.equal(answer.status, 304);
      // The stored copy is freshened; the cookie is this client's only.
      assert.equal(answer.headers.get("x-cache"), "stale, valid, store");
      assert.deepEqual(answer.headers.getSetCookie(), ["session=refreshed"]);
      const next = await visit(h, "/s");
      assert.equal(next.trace, "fresh");
      assert.deepEqual(next.headers.getSetCookie(), []);
      assert.equal(h.count("/s"), 2);
    } finally {
      await h.close();
    }
  });

  it("fetches anew when a 304 names another version than the one stored (RFC 9111 §4.3.4)", async () => {
    const h = harness({
      // An origin that answers If-Modified-Since before If-None-Match, and
      // has a new version with the same date.
      "/o": (request, n) =>
        request.headers.has("if-modified-since")
          ? new Response(null, { status: 304, headers: { etag: '"b"' } })
          : text(n === 1 ? "A" : "B", {
            etag: n === 1 ? '"a"' : '"b"',
            "last-modified": new Date(Date.now() - 86_400_000).toUTCString(),
            "cache-control": "max-age=10",
          })(),
    }, { via: "cistern" });
    try {
      await visit(h, "/o");
      await h.clock.advance(20_000);
      const answer = await visit(h, "/o");
      assert.equal(answer.trace, "stale, invalid, store");
      assert.equal(answer.body, "B", "not A labelled as B");
      assert.equal(answer.headers.get("etag"), '"b"');
      assert.equal(h.seen[2].headers.has("if-none-match"), false);
      assert.equal(h.seen[2].headers.get("via"), "1.1 cistern", "Via once");
      const hit = await visit(h, "/o");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.body, "B");
    } finally {
      await h.close();
    }
  });

  it("always revalidates a response with no-cache", async () => {
    const h = harness({
      "/nc": revalidatable('"n"', "nc", { "cache-control": "no-cache" }),
    });
    try {
      assert.equal((await visit(h, "/nc")).trace, "miss, store");
      const again = await visit(h, "/nc");
      assert.equal(again.trace, "stale, valid, store");
      assert.equal(again.body, "nc");
    } finally {
      await h.close();
    }
  });

  it("answers a client's conditional request with 304, If-None-Match before If-Modified-Since", async () => {
    const lastModified = new Date(Date.now() - 86_400_000).toUTCString();
    const h = harness({
      "/c": text("c", {
        "cache-control": "max-age=60",
        etag: '"c1"',
        "last-modified": lastModified,
      }),
    });
    try {
      await visit(h, "/c");
      const weak = await h.get("/c", {
        headers: { "if-none-match": 'W/"c1"' },
      });
      assert.equal(weak.status, 304, "If-None-Match compares weakly");
      assert.equal(weak.headers.get("etag"), '"c1"');
      const list = await h.get("/c", {
        headers: { "if-none-match": '"x", "c1"' },
      });
      assert.equal(list.status, 304);
      const other = await h.get("/c", {
        headers: {
          "if-none-match": '"other"',
          "if-modified-since": new Date().toUTCString(),
        },
      });
      assert.equal(
        other.status,
        200,
        "If-Modified-Since is ignored when If-None-Match is present",
      );
      await other.body?.cancel();
      const since = await h.get("/c", {
        headers: { "if-modified-since": new Date().toUTCString() },
      });
      assert.equal(since.status, 304);
      const junk = await h.get("/c", {
        headers: { "if-modified-since": "yesterday-ish" },
      });
      assert.equal(junk.status, 200, "an unparseable date is ignored");
      await junk.body?.cancel();
      assert.equal(h.count("/c"), 1);
    } finally {
      await h.close();
    }
  });

  it("serves stale while one background revalidation runs (stale-while-revalidate)", async () => {
    // The revalidation waits until the three stale answers are in, so a fast
    // loopback origin cannot finish it first.
    const answered = deferred<void>();
    const h = harness({
      "/swr": async (_request, n) => {
        if (n === 2) await answered.promise;
        return new Response(`v${n}`, {
          headers: { "cache-control": "max-age=10, stale-while-revalidate=60" },
        });
      },
    });
    try {
      await visit(h, "/swr");
      await h.clock.advance(20_000);
      const answers = await Promise.all([
        visit(h, "/swr"),
        visit(h, "/swr"),
        visit(h, "/swr"),
      ]);
      answered.resolve();
      for (const answer of answers) {
        assert.equal(answer.body, "v1", "stale content at once");
        assert.equal(answer.trace, "stale");
      }
      for (let i = 0; i < 50 && (await visit(h, "/swr")).body !== "v2"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(h.count("/swr"), 2, "one background revalidation");
      const after = await visit(h, "/swr");
      assert.equal(after.trace, "fresh");
      assert.equal(after.body, "v2");
      await h.clock.advance(100_000);
      assert.match(
        (await visit(h, "/swr")).trace!,
        /^stale, invalid/,
        "beyond the window: validate first",
      );
    } finally {
      answered.resolve();
      await h.close();
    }
  });

  it("close() stops a background revalidation still waiting for the origin, and nothing is stored after it", async () => {
    const clock = new ManualClock(Date.now());
    const refreshing = deferred<Request>();
    const late = deferred<Response>();
    let writesAfterClose = 0;
    let closed = false;
    const meta = heapMetaStore();
    const cache = new SharedCache({
      clock,
      metastore: {
        lookup: (key) => meta.lookup(key),
        store: (key, variants) => {
          if (closed) writesAfterClose++;
          return meta.store(key, variants);
        },
        purge: (key) => meta.purge(key),
      },
      origin: (request) => {
        if (request.headers.has("if-none-match")) {
          // The refresh: answered only once the cache has closed.
          refreshing.resolve(request);
          return late.promise;
        }
        return new Response("v1", {
          headers: {
            etag: '"1"',
            "cache-control": "max-age=10, stale-while-revalidate=60",
          },
        });
      },
    });
    const url = "http://a.test/swr";
    await (await cache.fetch(new Request(url))).text();
    await clock.advance(20_000);
    const stale = await cache.fetch(new Request(url));
    assert.equal(stale.headers.get("x-cache"), "stale");
    await stale.text();
    const refresh = await refreshing.promise;
    await cache.close();
    closed = true;
    assert.equal(refresh.signal.aborted, true, "its origin request stopped");
    late.resolve(new Response(null, { status: 304, headers: { etag: '"1"' } }));
    await tick(10);
    assert.equal(writesAfterClose, 0);
  });

  it("serves stale when the origin fails or answers 5xx (stale-if-error)", async () => {
    let broken = false;
    const h = harness({
      "/sie": () =>
        broken ? new Response("down", { status: 503 }) : new Response("good", {
          headers: { "cache-control": "max-age=10, stale-if-error=60" },
        }),
      "/strict": () =>
        broken
          ? new Response("down", { status: 503 })
          : new Response("strict", {
            headers: {
              "cache-control": "max-age=10, must-revalidate, stale-if-error=60",
            },
          }),
    });
    try {
      await visit(h, "/sie");
      await visit(h, "/strict");
      broken = true;
      await h.clock.advance(20_000);
      const stale = await visit(h, "/sie");
      assert.equal(stale.status, 200);
      assert.equal(stale.body, "good");
      assert.match(stale.trace!, /stale-if-error/);
      assert.equal(
        (await visit(h, "/strict")).status,
        503,
        "must-revalidate wins over stale-if-error",
      );
      await h.clock.advance(100_000);
      assert.equal(
        (await visit(h, "/sie")).status,
        503,
        "beyond the window the error goes through",
      );
    } finally {
      await h.close();
    }
  });

  it("serves stale on any origin failure when faultTolerant", async () => {
    let broken = false;
    const h = harness({
      "/ft": () =>
        broken
          ? new Response("down", { status: 500 })
          : text("ok", { "cache-control": "max-age=1" })(),
      "/mr": () =>
        broken
          ? new Response("down", { status: 500 })
          : text("ok", { "cache-control": "max-age=1, must-revalidate" })(),
    }, { faultTolerant: true });
    try {
      await visit(h, "/ft");
      await visit(h, "/mr");
      broken = true;
      await h.clock.advance(60_000);
      const answer = await visit(h, "/ft");
      assert.equal(answer.status, 200);
      assert.equal(answer.body, "ok");
      const forbidden = await visit(h, "/mr");
      assert.equal(
        forbidden.status,
        500,
        "must-revalidate forbids stale in all circumstances (RFC 9111 §4.2.4)",
      );
    } finally {
      await h.close();
    }
  });

  it("never serves a must-revalidate response stale, even to max-stale", async () => {
    const h = harness({
      "/mr": numbered("mr", { "cache-control": "max-age=1, must-revalidate" }),
      "/sm": numbered("sm", { "cache-control": "s-maxage=1" }),
    });
    try {
      await visit(h, "/mr");
      await visit(h, "/sm");
      await h.clock.advance(10_000);
      const mr = await visit(h, "/mr", {
        headers: { "cache-control": "max-stale=1000" },
      });
      assert.equal(mr.body, "mr2");
      const sm = await visit(h, "/sm", {
        headers: { "cache-control": "max-stale=1000" },
      });
      assert.equal(sm.body, "sm2", "s-maxage implies proxy-revalidate");
    } finally {
      await h.close();
    }
  });
});

describe("shared cache: Vary", () => {
  it("keeps one variant per nominated request value, and never matches Vary: *", async () => {
    const h = harness({
      "/lang": (request) =>
        new Response(
          `hello in ${request.headers.get("x-lang") ?? "none"}`,
          {
            headers: { "cache-control": "max-age=60", vary: "X-Lang" },
          },
        ),
      "/star": text("star", { "cache-control": "max-age=60", vary: "*" }),
    });
    try {
      const en = { headers: { "x-lang": "en" } };
      const fr = { headers: { "x-lang": "fr" } };
      assert.equal((await visit(h, "/lang", en)).trace, "miss, store");
      assert.equal((await visit(h, "/lang", fr)).trace, "miss, store");
      const enHit = await visit(h, "/lang", en);
      assert.equal(enHit.trace, "fresh");
      assert.equal(enHit.body, "hello in en");
      const frHit = await visit(h, "/lang", {
        headers: { "x-lang": "fr  " },
      });
      assert.equal(frHit.body, "hello in fr", "values compare after trimming");
      await visit(h, "/lang", { headers: { "x-lang": "fr,de" } });
      const unknown = await visit(h, "/lang", {
        headers: { "x-lang": "fr, de" },
      });
      assert.equal(unknown.trace, "miss, store", "a field of unknown syntax");
      assert.equal((await visit(h, "/lang")).body, "hello in none");
      assert.equal(h.count("/lang"), 5);
      await visit(h, "/star");
      assert.equal((await visit(h, "/star")).trace, "miss");
    } finally {
      await h.close();
    }
  });

  it("files a variant under the values the origin saw: a field the client made hop-by-hop counts as absent", async () => {
    const cache = new SharedCache({
      origin: (request) =>
        new Response(`for ${request.headers.get("accept-language")}`, {
          headers: { "cache-control": "max-age=60", vary: "accept-language" },
        }),
    });
    const body = async (headers: Record<string, string>) => {
      const response = await cache.fetch(
        new Request("http://a.test/page", { headers }),
      );
      return `${await response.text()} (${response.headers.get("x-cache")})`;
    };
    try {
      assert.equal(
        await body({
          "accept-language": "fr",
          connection: "close, accept-language",
        }),
        "for null (miss, store)",
      );
      assert.equal(
        await body({ "accept-language": "fr" }),
        "for fr (miss, store)",
      );
      assert.equal(await body({}), "for null (fresh)");
      // Values the list's syntax makes equal select the same variant.
      const same = [
        ["FR", "for fr (fresh)"], // language tags are case-insensitive
        ["fr,de;q=0.5", "for fr,de;q=0.5 (miss, store)"],
        [" fr ,  de;q=0.5", "for fr,de;q=0.5 (fresh)"], // OWS around commas
        ['fr, x;q="a , b"', 'for fr, x;q="a , b" (miss, store)'], // quoted
        // NBSP is not whitespace to HTTP: a value of its own.
        ["fr,\xa0de;q=0.5", "for fr,\xa0de;q=0.5 (miss, store)"],
      ];
      for (const [language, expected] of same) {
        assert.equal(await body({ "accept-language": language }), expected);
      }
    } finally {
      await cache.close();
    }
  });
});

describe("shared cache: invalidation", () => {
  it("invalidates the target, Location and Content-Location of a successful unsafe request", async () => {
    const h = harness({
      "/a": (request) =>
        request.method === "POST"
          ? new Response("made", {
            status: 201,
            headers: { location: "/b", "content-location": "/c" },
          })
          : text("a", { "cache-control": "max-age=60" })(),
      "/b": text("b", { "cache-control": "max-age=60" }),
      "/c": text("c", { "cache-control": "max-age=60" }),
      "/d": (request) =>
        request.method === "DELETE"
          ? new Response("no", { status: 403 })
          : text("d", { "cache-control": "max-age=60" })(),
      "/e": (request) =>
        request.method === "PUT"
          ? new Response("ok", {
            headers: { location: "http://elsewhere.example/b" },
          })
          : text("e", { "cache-control": "max-age=60" })(),
    });
    try {
      for (const path of ["/a", "/b", "/c", "/d", "/e"]) await visit(h, path);
      const post = await visit(h, "/a", { method: "POST", body: "x" });
      assert.equal(post.trace, "invalidate, pass");
      for (const path of ["/a", "/b", "/c"]) {
        assert.equal((await visit(h, path)).trace, "miss, store", path);
      }
      assert.equal(
        (await visit(h, "/d", { method: "DELETE" })).trace,
        "pass",
        "an error does not invalidate",
      );
      assert.equal((await visit(h, "/d")).trace, "fresh");
      await visit(h, "/e", { method: "PUT", body: "y" });
      assert.equal(
        (await visit(h, "/b")).trace,
        "fresh",
        "another origin's Location is left alone",
      );
    } finally {
      await h.close();
    }
  });
});

describe("shared cache: HEAD and ranges", () => {
  it("answers HEAD from a stored GET, and a HEAD miss stores the GET", async () => {
    const h = harness({
      "/h": text("head me", {
        "cache-control": "max-age=60",
        "content-type": "text/plain",
      }),
    });
    try {
      const head = await h.get("/h", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), "7");
      assert.equal(await head.text(), "");
      assert.equal(h.seen[0].method, "GET", "a HEAD miss is fetched with GET");
      const hit = await visit(h, "/h");
      assert.equal(hit.trace, "fresh");
      assert.equal(hit.body, "head me");
      const head2 = await h.get("/h", { method: "HEAD" });
      assert.equal(head2.headers.get("x-cache"), "fresh");
      assert.equal(await head2.text(), "");
      const ranged = await h.get("/h", {
        method: "HEAD",
        headers: { range: "bytes=0-1" },
      });
      assert.equal(
        ranged.status,
        200,
        "Range is for GET only (RFC 9110 §14.2)",
      );
      assert.equal(ranged.headers.get("content-length"), "7");
      assert.equal(ranged.headers.has("content-range"), false);
    } finally {
      await h.close();
    }
  });

  it("sends a HEAD for a URL it cannot store to the origin as a HEAD", async () => {
    const h = harness({
      "/mine": text("only mine", { "cache-control": "private" }),
    });
    // Even a policy that stores what it fetched has no body to store here.
    h.cache.on("fetch", (ctx) => {
      if (ctx.request.method === "HEAD") return ctx.store();
    });
    try {
      await visit(h, "/mine"); // marks the URL as not storable
      for (const round of [1, 2]) {
        const head = await h.get("/mine", { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-length"), "9", `${round}`);
        assert.equal(await head.text(), "");
      }
      const got = await visit(h, "/mine");
      assert.equal(got.body, "only mine");
      assert.deepEqual(h.seen.map((r) => r.method), [
        "GET",
        "HEAD",
        "HEAD",
        "GET",
      ]);
    } finally {
      await h.close();
    }
  });

  it("never says Content-Length: 0 for a HEAD whose GET body has no length", async () => {
    const chunked = (cacheControl: string): Route => () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new Uint8Array(100_000).fill(121));
            controller.close();
          },
        }),
        { headers: { "cache-control": cacheControl } },
      );
    const h = harness({
      "/kept": chunked("max-age=60"),
      "/passed": chunked("no-store"),
    });
    try {
      for (const path of ["/kept", "/passed"]) {
        const head = await h.get(path, { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-length"), null, path);
        assert.equal(await head.text(), "");
      }
      const got = await h.get("/kept");
      assert.equal((await got.bytes()).byteLength, 100_000);
      const hit = await h.get("/kept", { method: "HEAD" });
      assert.equal(hit.headers.get("x-cache"), "fresh");
      assert.equal(hit.headers.get("content-length"), "100000");
    } finally {
      await h.close();
    }
  });
  it("answers single, multiple, unsatisfiable and If-Range requests from a stored 200", async () => {
    const body = "0123456789abcdefghij";
    const h = harness({
      "/r": text(body, {
        "cache-control": "max-age=60",
        etag: '"r"',
        "content-type": "text/plain",
      }),
    });
    try {
      const miss = await h.get("/r", { headers: { range: "bytes=2-4" } });
      assert.equal(
        miss.status,
        206,
        "a miss is stored whole and the range answered from it",
      );
      assert.equal(await miss.text(), "234");
      assert.equal(
        h.seen[0].headers.get("range"),
        null,
        "the origin is asked for the whole body",
      );
      const single = await h.get("/r", { headers: { range: "bytes=-3" } });
      assert.equal(single.status, 206);
      assert.equal(single.headers.get("content-range"), "bytes 17-19/20");
      assert.equal(await single.text(), "hij");
      const multi = await h.get("/r", { headers: { range: "bytes=0-1, 5-6" } });
      assert.equal(multi.status, 206);
      assert.match(
        multi.headers.get("content-type")!,
        /^multipart\/byteranges; boundary=/,
      );
      const parts = await multi.text();
      assert.match(parts, /content-range: bytes 0-1\/20\r\n\r\n01\r\n/);
      assert.match(parts, /content-range: bytes 5-6\/20\r\n\r\n56\r\n/);
      const none = await h.get("/r", { headers: { range: "bytes=50-60" } });
      assert.equal(none.status, 416);
      assert.equal(none.headers.get("content-range"), "bytes */20");
      await none.body?.cancel();
      const stale = await h.get("/r", {
        headers: { range: "bytes=0-1", "if-range": '"old"' },
      });
      assert.equal(
        stale.status,
        200,
        "If-Range that does not match gets the whole body",
      );
      assert.equal(await stale.text(), body);
      const matching = await h.get("/r", {
        headers: { range: "bytes=0-1", "if-range": '"r"' },
      });
      assert.equal(matching.status, 206);
      assert.equal(await matching.text(), "01");
      assert.equal(h.count("/r"), 1);
    } finally {
      await h.close();
    }
  });

  /**
   * An origin whose GET answers `v1 body` (ETag "v1", fresh 10 s) and whose
   * HEAD answers `head` (fields and body, whose length the server sends);
   * the cache passes every HEAD on.
   */
  function headPassing(head: { body: string; headers: HeadersInit }) {
    const h = harness({
      "/doc": (request) =>
        request.method === "HEAD"
          ? new Response(head.body, { headers: head.headers })
          : new Response(
            `${request.headers.get("x-lang") ?? "v1"} body`,
            {
              headers: {
                "cache-control": "max-age=10",
                etag: '"v1"',
                vary: "x-lang",
                "x-rev": "1",
              },
            },
          ),
    });
    h.cache.on("receive", (ctx) => {
      if (ctx.request.method === "HEAD") return ctx.pass();
    });
    return h;
  }

  it("freshens stored GET responses from a 200 to a HEAD it passed on (RFC 9111 §4.3.5)", async () => {
    const h = headPassing({
      body: "v1 body",
      headers: { "cache-control": "max-age=60", etag: '"v1"', "x-rev": "2" },
    });
    try {
      assert.equal((await visit(h, "/doc")).trace, "miss, store");
      await h.clock.advance(20_000);
      const head = await h.get("/doc", { method: "HEAD" });
      assert.equal(head.headers.get("x-cache"), "freshen, pass");
      assert.equal(head.headers.get("x-rev"), "2");
      await head.body?.cancel();
      const hit = await visit(h, "/doc");
      assert.equal(hit.trace, "fresh", "the HEAD's max-age=60 now governs");
      assert.equal(hit.headers.get("x-rev"), "2", "its fields were merged");
      assert.equal(hit.headers.get("content-length"), "7");
      assert.equal(hit.body, "v1 body");
      assert.deepEqual(h.seen.map((r) => r.method), ["GET", "HEAD"]);
    } finally {
      await h.close();
    }
  });

  it("forgets a stored GET response a HEAD's 200 shows outdated or may not be stored", async () => {
    const cases: [string, { body: string; headers: HeadersInit }][] = [
      ["another ETag", { body: "v1 body", headers: { etag: '"v2"' } }],
      ["another length", {
        body: "v1 body, longer",
        headers: { etag: '"v1"' },
      }],
      ["another Last-Modified", {
        body: "v1 body",
        headers: { "last-modified": "Tue, 01 Jan 2030 00:00:00 GMT" },
      }],
      ["no-store", {
        body: "v1 body",
        headers: { etag: '"v1"', "cache-control": "no-store" },
      }],
    ];
    for (const [name, head] of cases) {
      const h = headPassing(head);
      try {
        assert.equal((await visit(h, "/doc")).trace, "miss, store");
        const passed = await h.get("/doc", { method: "HEAD" });
        assert.equal(passed.headers.get("x-cache"), "invalidate, pass", name);
        await passed.body?.cancel();
        const after = await visit(h, "/doc");
        assert.equal(after.trace, "miss, store", name);
        assert.equal(after.headers.get("x-rev"), "1", name);
      } finally {
        await h.close();
      }
    }
  });

  it("touches only the variants a passed HEAD could have been given", async () => {
    const h = headPassing({ body: "v1 body", headers: { etag: '"v2"' } });
    try {
      const en = { headers: { "x-lang": "en" } };
      const fr = { headers: { "x-lang": "fr" } };
      assert.equal((await visit(h, "/doc", en)).trace, "miss, store");
      assert.equal((await visit(h, "/doc", fr)).trace, "miss, store");
      const head = await h.get("/doc", { method: "HEAD", ...en });
      assert.equal(head.headers.get("x-cache"), "invalidate, pass");
      await head.body?.cancel();
      assert.equal((await visit(h, "/doc", fr)).trace, "fresh");
      assert.equal((await visit(h, "/doc", en)).trace, "miss, store");
      const other = await h.get("/doc", {
        method: "HEAD",
        headers: { "x-lang": "de" },
      });
      assert.equal(other.headers.get("x-cache"), "pass", "no variant selected");
      await other.body?.cancel();
    } finally {
      await h.close();
    }
  });
});

describe("shared cache: targeted cache control and keys", () => {
  it("obeys CDN-Cache-Control ahead of Cache-Control, and can hide it from clients", async () => {
    const routes = {
      "/t": text("t", {
        "cache-control": "no-store",
        "cdn-cache-control": "max-age=60",
      }),
      "/own": text("o", {
        "cache-control": "max-age=60",
        "cdn-cache-control": "max-age=60",
        "x-edge-cc": "no-store",
      }),
    };
    const h = harness(routes);
    try {
      await visit(h, "/t");
      const hit = await visit(h, "/t");
      assert.equal(hit.trace, "fresh");
      assert.equal(
        hit.headers.get("cdn-cache-control"),
        "max-age=60",
        "forwarded by default",
      );
    } finally {
      await h.close();
    }
    const own = harness(routes, {
      targetedFields: ["x-edge-cc", "cdn-cache-control"],
      forwardTargetedFields: false,
    });
    try {
      await visit(own, "/own");
      const again = await visit(own, "/own");
      assert.equal(again.trace, "miss", "the operator's own field comes first");
      await visit(own, "/t");
      const hit = await visit(own, "/t");
      assert.equal(hit.trace, "fresh");
      assert.equal(
        hit.headers.get("cdn-cache-control"),
        null,
        "not forwarded when configured so",
      );
    } finally {
      await own.close();
    }
  });

  it("ignores a CDN-Cache-Control that is no valid Dictionary, or types a directive otherwise (RFC 9213 §2.1)", async () => {
    const invalid = [
      "max-age=10000, &&&&&",
      'max-age="10000"',
      "max-age = 10000",
      "max-age=10000.5",
    ];
    const routes = Object.fromEntries(
      invalid.map((value, i) => [
        `/i${i}`,
        numbered("v", {
          "cache-control": "no-store",
          "cdn-cache-control": value,
        }),
      ]),
    );
    // What an unreadable targeted field restricts still restricts.
    const restrictive = ["no-store=1", "private=1", 'max-age="60", no-store'];
    for (const [i, value] of restrictive.entries()) {
      routes[`/r${i}`] = numbered("v", {
        "cache-control": "public, max-age=3600",
        "cdn-cache-control": value,
      });
    }
    const h = harness(routes);
    try {
      for (const [i, value] of invalid.entries()) {
        await visit(h, `/i${i}`);
        const again = await visit(h, `/i${i}`);
        assert.equal(again.body, "v2", `${value}: Cache-Control's no-store`);
      }
      for (const [i, value] of restrictive.entries()) {
        await visit(h, `/r${i}`);
        assert.equal((await visit(h, `/r${i}`)).body, "v2", value);
      }
    } finally {
      await h.close();
    }
    // Also on top of a later targeted field that governs.
    const two = harness({
      "/t": numbered("v", {
        "x-edge-cc": "no-store=1",
        "cdn-cache-control": "max-age=3600",
      }),
    }, { targetedFields: ["x-edge-cc", "cdn-cache-control"] });
    try {
      await visit(two, "/t");
      assert.equal((await visit(two, "/t")).body, "v2");
    } finally {
      await two.close();
    }
  });

  it("invalidates and refreshes a URL however its client spelled it", async () => {
    // Deno hands handlers the Host field and target as sent; a URL built
    // anew is normalised. Both must reach the same entry.
    let version = 0;
    const h = harness({
      "/u": (request) => {
        if (request.method === "POST") version++;
        return new Response(`v${version}`, {
          headers: {
            "cache-control": "max-age=10, stale-while-revalidate=600",
          },
        });
      },
    });
    const port = new URL(h.url).port;
    /** A request sent as raw bytes; its x-cache and body. */
    const raw = async (method: string, host: string) => {
      const text = await rawExchange(
        Number(port),
        `${method} /u HTTP/1.1\r\nhost: ${host}\r\n` +
          "content-length: 0\r\nconnection: close\r\n\r\n",
      );
      return `${/x-cache: (.*)\r/i.exec(text)?.[1]} ${
        text.split("\r\n\r\n")[1]
      }`;
    };
    try {
      for (const host of [`Good.Test:${port}`, `good.test:${port}`]) {
        version = 0;
        await raw("POST", host); // starts each spelling afresh
        version = 0;
        assert.equal(await raw("GET", host), "miss, store v0", host);
        assert.equal(await raw("GET", host), "fresh v0", host);
        await raw("POST", host);
        assert.equal(
          await raw("GET", host),
          "miss, store v1",
          `${host}: purged`,
        );
        await h.clock.advance(20_000);
        version = 2;
        assert.equal(await raw("GET", host), "stale v1", host);
        let after = "";
        for (let i = 0; i < 50 && after !== "fresh v2"; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          after = await raw("GET", host);
        }
        assert.equal(after, "fresh v2", `${host}: refreshed in place`);
      }
    } finally {
      await h.close();
    }
  });

  it("keys on scheme, host and the full URL, or on a cacheKey function", async () => {
    const { SharedCache } = await import("../../lib/proxy/shared_cache.ts");
    let calls = 0;
    const origin = (request: Request) => {
      calls++;
      return new Response(new URL(request.url).host, {
        headers: { "cache-control": "max-age=60" },
      });
    };
    const cache = new SharedCache({ origin });
    try {
      for (
        const url of [
          "http://a.test/x",
          "http://b.test/x",
          "https://a.test/x",
          "http://a.test/x?q=1",
          "http://a.test/x",
        ]
      ) {
        await (await cache.fetch(new Request(url))).text();
      }
      assert.equal(calls, 4);
    } finally {
      await cache.close();
    }
    const keyed = new SharedCache({
      origin,
      cacheKey: (request) => new URL(request.url).pathname,
    });
    try {
      calls = 0;
      await (await keyed.fetch(new Request("http://a.test/y"))).text();
      const other = await keyed.fetch(new Request("http://b.test/y"));
      assert.equal(await other.text(), "a.test");
      assert.equal(calls, 1);
    } finally {
      await keyed.close();
    }
  });

  it("names its trace header as configured, or sends none", async () => {
    const named = harness({
      "/n": text("n", { "cache-control": "max-age=60" }),
    }, { traceHeader: "x-trace" });
    try {
      const response = await named.get("/n");
      assert.equal(response.headers.get("x-trace"), "miss, store");
      assert.equal(response.headers.get("x-cache"), null);
      await response.body?.cancel();
    } finally {
      await named.close();
    }
    const off = harness({ "/n": text("n") }, {
      traceHeader: false,
      via: "cistern",
    });
    try {
      const response = await off.get("/n");
      assert.equal(response.headers.get("x-cache"), null);
      assert.equal(response.headers.get("via"), "1.1 cistern");
      assert.equal(
        off.seen[0].headers.get("via"),
        "1.1 cistern",
        "forwarded requests carry Via too",
      );
      await response.body?.cancel();
    } finally {
      await off.close();
    }
  });

  it("passes bodies larger than maxEntrySize without storing them", async () => {
    const h = harness({
      "/big": text("x".repeat(5000), { "cache-control": "max-age=60" }),
      "/small": text("x".repeat(50), { "cache-control": "max-age=60" }),
      "/chunked": () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new Uint8Array(3000));
              controller.enqueue(new Uint8Array(3000));
              controller.close();
            },
          }),
          { headers: { "cache-control": "max-age=60" } },
        ),
    }, { maxEntrySize: 1000 });
    try {
      assert.equal((await visit(h, "/big")).body.length, 5000);
      assert.equal((await visit(h, "/big")).trace, "miss");
      await visit(h, "/small");
      assert.equal((await visit(h, "/small")).trace, "fresh");
      const chunked = await h.get("/chunked");
      assert.equal(
        (await chunked.arrayBuffer()).byteLength,
        6000,
        "a body that outgrows the limit still arrives whole",
      );
      assert.match(
        (await visit(h, "/chunked")).trace!,
        /^miss/,
        "but is not kept",
      );
      assert.equal(h.count("/chunked"), 2);
    } finally {
      await h.close();
    }
  });
});

describe("shared cache: Cache-Status (RFC 9211)", () => {
  it("appends what it did: hit or why it went forward, the origin's status, stored, collapsed, ttl", async () => {
    const h = harness({
      "/a": revalidatable('"a"', "a", {
        "cache-control": "max-age=60",
        "cache-status": "upstream; hit",
      }),
      "/v": () =>
        new Response("v", {
          headers: { "cache-control": "max-age=60", vary: "accept-language" },
        }),
      "/slow": async () => {
        await tick(50);
        return new Response("s", {
          headers: { "cache-control": "max-age=60" },
        });
      },
    }, { cacheStatus: "cistern" });
    const status = async (path: string, init?: RequestInit) =>
      (await h.get(path, init).then(async (response) => {
        await response.body?.cancel();
        return response;
      })).headers.get("cache-status");
    try {
      assert.match(
        (await status("/a"))!,
        /^upstream; hit, cistern; fwd=uri-miss; fwd-status=200; stored; ttl=(59|60)$/,
      );
      await h.clock.advance(10_000);
      assert.match((await status("/a"))!, /, cistern; hit; ttl=(49|50)$/);
      assert.match(
        (await status("/a", { headers: { "cache-control": "no-cache" } }))!,
        /, cistern; fwd=request; fwd-status=304; stored; ttl=(59|60)$/,
      );
      await h.clock.advance(120_000);
      assert.match(
        (await status("/a"))!,
        /, cistern; fwd=stale; fwd-status=304; stored; ttl=(59|60)$/,
      );
      assert.equal(
        await status("/a", { method: "POST", body: "x" }),
        "upstream; hit, cistern; fwd=method; fwd-status=200",
      );
      await status("/v", { headers: { "accept-language": "en" } });
      assert.match(
        (await status("/v", { headers: { "accept-language": "fr" } }))!,
        /^cistern; fwd=vary-miss; fwd-status=200; stored; ttl=/,
      );
      const both = await Promise.all([status("/slow"), status("/slow")]);
      assert.ok(
        both.some((s) =>
          /^cistern; fwd=uri-miss; fwd-status=200; collapsed; ttl=/.test(s!)
        ),
        both.join(" | "),
      );
      assert.throws(
        () =>
          new SharedCache({
            origin: () => new Response(),
            cacheStatus: "two words",
          }),
        TypeError,
      );
      // A record whose body went (removed by hand: no reaper told): `miss`.
      const bodies = new StreamCache({ fs: memoryFs() });
      const direct = new SharedCache({
        origin: () =>
          new Response("d", { headers: { "cache-control": "max-age=60" } }),
        entitystore: { cache: bodies },
        cacheStatus: "c",
      });
      const get = async () => {
        const response = await direct.fetch(new Request("http://a.test/d"));
        await response.text();
        return response.headers.get("cache-status");
      };
      assert.match((await get())!, /^c; fwd=uri-miss;/);
      await bodies.clean();
      assert.match((await get())!, /^c; fwd=miss; fwd-status=200; stored;/);
      await direct.close();
    } finally {
      await h.close();
    }
  });
});

describe("stale-if-error, timed when the error comes", () => {
  /**
   * The answer to a request for a response stored with `cc`, made
   * `storedFor` ms after it was stored, to an origin that then hangs past
   * originTimeout (30 s).
   */
  async function afterTimeout(
    cc: string,
    storedFor: number,
  ): Promise<{ answer: Response; body: string }> {
    let broken = false;
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => release = resolve);
    const h = harness({
      "/sie": async () => {
        if (broken) {
          await stuck;
          return new Response("down", { status: 503 });
        }
        return new Response("good", { headers: { "cache-control": cc } });
      },
    });
    try {
      await (await h.get("/sie")).text();
      broken = true;
      await h.clock.advance(storedFor);
      const pending = h.get("/sie");
      await tick(100); // the origin has the request
      await h.clock.advance(30_000); // originTimeout passes
      const answer = await pending;
      return { answer, body: await answer.text() };
    } finally {
      release();
      await h.close();
    }
  }

  it("serves stale-if-error with the Age it has when sent, not the one it had before the origin was asked", async () => {
    // 20 s old when asked: stale.
    const { answer: stale, body } = await afterTimeout(
      "max-age=10, stale-if-error=600",
      20_000,
    );
    assert.equal(body, "good");
    assert.match(stale.headers.get("x-cache")!, /stale-if-error/);
    assert.equal(
      stale.headers.get("age"),
      "50",
      "the stored response is 50 s old when sent",
    );
  });

  it("judges the stale-if-error window when the error comes, not when the request came", async () => {
    // 10 s stale when asked, within stale-if-error=20; 40 s when the origin
    // gives up.
    const { answer, body } = await afterTimeout(
      "max-age=10, stale-if-error=20",
      20_000,
    );
    assert.notEqual(
      answer.headers.get("x-cache"),
      "stale, stale-if-error",
      `served ${JSON.stringify(body)} 40 s stale under stale-if-error=20`,
    );
    assert.equal(answer.status, 504);
  });
});

describe("origin failures and validators, reviewed", () => {
  it("gives the clients that waited on a fetch the origin did not answer in time one more try, then the 504, not one try per turn", async () => {
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const h = harness({
      "/hang": async () => {
        await stuck;
        return new Response("late", {
          headers: { "cache-control": "max-age=60" },
        });
      },
    });
    try {
      const first = h.get("/hang");
      await tick(50);
      const joined = [h.get("/hang"), h.get("/hang")];
      await tick(50);
      await h.clock.advance(30_000); // originTimeout
      assert.equal((await first).status, 504);
      // The two that waited share one more try, which times out too.
      while (h.count("/hang") < 2) await tick(10);
      await tick(50);
      await h.clock.advance(30_000);
      for (const answer of [await first, ...await Promise.all(joined)]) {
        assert.equal(answer.status, 504);
        await answer.text();
      }
      assert.equal(h.count("/hang"), 2);
    } finally {
      release();
      await h.close();
    }
  });

  it("does not answer a client's no-cache from the stored response when the origin fails, unless the client takes stale-if-error", async () => {
    let failing = false;
    const h = harness({
      "/nc": () =>
        failing
          ? new Response("origin down", { status: 503 })
          : new Response("stored body", {
            headers: { "cache-control": "max-age=100", etag: '"n"' },
          }),
    });
    try {
      await (await h.get("/nc")).text();
      failing = true;
      const refused = await h.get("/nc", {
        headers: { "cache-control": "no-cache" },
      });
      assert.equal(refused.status, 503);
      assert.equal(await refused.text(), "origin down");
      assert.doesNotMatch(refused.headers.get("x-cache")!, /stale-if-error/);
      const taken = await h.get("/nc", {
        headers: { "cache-control": "no-cache, stale-if-error=60" },
      });
      assert.equal(taken.status, 200);
      assert.equal(await taken.text(), "stored body");
      assert.match(taken.headers.get("x-cache")!, /stale-if-error/);
    } finally {
      await h.close();
    }
  });

  it("revalidates only with validators RFC 9110 can read: no junk ETag or Last-Modified is sent as a condition", async () => {
    const stale = (lastModified: string) => ({
      "cache-control": "max-age=0",
      "last-modified": lastModified,
    });
    const h = harness({
      "/junk": revalidatable("bogus-unquoted", "j", stale("garbage")),
      "/good": revalidatable(
        '"g"',
        "g",
        stale("Sun, 06 Nov 1994 08:49:37 GMT"),
      ),
    });
    try {
      for (const path of ["/junk", "/junk", "/good", "/good"]) {
        await (await h.get(path)).text();
      }
      const [, junk, , good] = h.seen.map((request) => request.headers);
      assert.equal(junk.get("if-none-match"), null);
      assert.equal(junk.get("if-modified-since"), null);
      assert.equal(good.get("if-none-match"), '"g"');
      assert.equal(
        good.get("if-modified-since"),
        "Sun, 06 Nov 1994 08:49:37 GMT",
      );
    } finally {
      await h.close();
    }
  });
});

describe("Max-Forwards (RFC 9110 §7.6.2)", () => {
  it("answers an OPTIONS or TRACE with Max-Forwards: 0 itself, and passes others on one lower", async () => {
    const h = harness({ "/m": () => new Response("from origin") });
    try {
      const options = await h.get("/m", {
        method: "OPTIONS",
        headers: { "max-forwards": "0" },
      });
      assert.equal(options.status, 200);
      assert.match(options.headers.get("allow")!, /OPTIONS/);
      await options.text();
      // fetch() may not send a TRACE: written out.
      const trace = await rawExchange(
        Number(new URL(h.url).port),
        "TRACE /m HTTP/1.1\r\nhost: x\r\nmax-forwards: 0\r\nconnection: close\r\n\r\n",
      );
      assert.match(trace, /^HTTP\/1\.1 405/);
      assert.equal(h.count("/m"), 0);
      await (await h.get("/m", {
        method: "OPTIONS",
        headers: { "max-forwards": "5" },
      })).text();
      // Other methods, and values that are not numbers, pass as they came.
      await (await h.get("/m", {
        method: "POST",
        headers: { "max-forwards": "0" },
      })).text();
      await (await h.get("/m", {
        method: "OPTIONS",
        headers: { "max-forwards": "x" },
      })).text();
      assert.deepEqual(
        h.seen.map((request) =>
          `${request.method} ${request.headers.get("max-forwards")}`
        ),
        ["OPTIONS 4", "POST 0", "OPTIONS x"],
      );
    } finally {
      await h.close();
    }
  });
});
