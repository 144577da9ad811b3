import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { bodyKindOf } from "../../lib/http/body_kind.ts";
import { proxyTo } from "../../lib/proxy/proxy_to.ts";
import { SharedCache } from "../../lib/proxy/shared_cache.ts";
import { rawExchange, tick } from "../_util.ts";

describe("proxyTo", () => {
  it("asks the origin under its path prefix, with the request's path and query, by the origin's own name", async () => {
    const seen: { url: string; host: string | null; port: string | null }[] =
      [];
    const origin = serve((request) => {
      seen.push({
        url: request.url,
        host: request.headers.get("host"),
        port: request.headers.get("x-forwarded-port"),
      });
      return new Response("ok");
    }, { port: 0 });
    try {
      const cases: [string, string, string, string][] = [
        [`${origin.url}/api/`, "http://me/users?id=1", "/api/users?id=1", "80"],
        [
          `${origin.url}/api`,
          "http://me:8080/a/../b?x=%20y#frag",
          "/api/b?x=%20y",
          "8080",
        ],
        [origin.url, "https://me", "/", "443"],
        [`${origin.url}/`, "http://[::1]/p?q", "/p?q", "80"],
        [origin.url, "http://[::1]:81/", "/", "81"],
      ];
      for (const [base, incoming, path, port] of cases) {
        const response = await proxyTo(base)(
          new Request(incoming, { headers: { host: "me" } }),
        );
        assert.equal(await response.text(), "ok");
        const last = seen[seen.length - 1];
        assert.equal(
          new URL(last.url).pathname + new URL(last.url).search,
          path,
        );
        assert.equal(last.host, `127.0.0.1:${origin.port}`);
        assert.equal(last.port, port, incoming);
      }
      assert.throws(() => proxyTo("ftp://x/"), /http\(s\) URL/);
      // What would be dropped unseen, or print a password, is refused.
      for (
        const base of [
          "http://user:pw@127.0.0.1:1/",
          "http://127.0.0.1:1/?q=1",
          "http://127.0.0.1:1/#f",
        ]
      ) {
        assert.throws(
          () => proxyTo(base),
          /without credentials, query or fragment, got "http:\/\/127\.0\.0\.1:1\/"/,
          base,
        );
      }
    } finally {
      await origin.shutdown();
    }
  });

  it("forwards an answer it may not store that came whole with its head as those bytes, with its fields, and the client's fields to the origin", async () => {
    const seen: Headers[] = [];
    const origin = serve((request) => {
      seen.push(request.headers);
      return new Response(
        request.url.endsWith("/big") ? "b".repeat(1 << 20) : "small",
        {
          headers: { "cache-control": "no-store", "content-type": "text/x-t" },
        },
      );
    }, { port: 0 });
    const cache = new SharedCache({ origin: origin.url });
    try {
      for (let i = 0; i < 2; i++) {
        const small = await cache.fetch(
          new Request("http://me/small", {
            headers: { "x-client": String(i), cookie: "a=b" },
          }),
        );
        // Bytes a server sends as such (the cache holds none of them).
        assert.equal(bodyKindOf(small), "in-memory");
        assert.equal(small.headers.get("content-type"), "text/x-t");
        assert.equal(small.headers.get("content-length"), "5");
        assert.equal(await small.text(), "small");
        assert.equal(seen[i].get("x-client"), String(i));
        assert.equal(seen[i].get("cookie"), "a=b");
        assert.equal(seen[i].get("x-forwarded-host"), "me");
      }
      // A body the origin client did not get whole is streamed on.
      const big = await cache.fetch(new Request("http://me/big"));
      assert.notEqual(bodyKindOf(big), "in-memory");
      assert.equal((await big.text()).length, 1 << 20);
    } finally {
      await cache.close();
      await origin.shutdown();
    }
  });

  it("answers a Host that is not one with a 400, alone or behind the cache, and never asks the origin", async () => {
    let asked = 0;
    const origin = serve(() => {
      asked++;
      return new Response("ok", { headers: { "cache-control": "max-age=60" } });
    }, { port: 0 });
    const cache = new SharedCache({ origin: proxyTo(origin.url) });
    const fronts = [
      serve(proxyTo(origin.url), { port: 0 }),
      serve(cache.fetch, { port: 0 }),
    ];
    try {
      for (const front of fronts) {
        for (const host of ["a b", "[::1", "a:99999", "a,b c"]) {
          const answer = await rawExchange(
            front.port,
            `GET /r HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`,
          );
          assert.match(answer, /^HTTP\/1\.1 400/, `${host}: ${answer}`);
        }
        // An HTTP/1.0 request needs none: it is this server's.
        const plain = await rawExchange(front.port, "GET /r HTTP/1.0\r\n\r\n");
        assert.match(plain, /^HTTP\/1\.[01] 200[^]*\r\n\r\nok$/);
      }
      assert.equal(asked, 2);
    } finally {
      for (const front of fronts) await front.shutdown();
      await cache.close();
      await origin.shutdown();
    }
  });

  it("answers as a gateway: a 502 for an origin it cannot reach, said once to onError, and a quiet 499 once the client left", async () => {
    const gone = serve(() => new Response("never"), { port: 0 });
    await gone.shutdown();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow = serve(async () => {
      await released;
      return new Response("late");
    }, { port: 0 });
    const failures: string[] = [];
    const onError = (error: unknown, request: Request) =>
      failures.push(`${request.url} ${error}`);
    try {
      const down = await proxyTo(gone.url, { onError })(
        new Request("http://me/a"),
      );
      assert.equal(down.status, 502);
      assert.equal(
        down.headers.get("content-type"),
        "text/plain; charset=utf-8",
      );
      assert.equal(
        await down.text(),
        "502 Bad Gateway: the origin did not answer\n",
      );
      assert.equal(failures.length, 1);
      assert.match(failures[0], /^http:\/\/me\/a /);

      const client = new AbortController();
      const waiting = proxyTo(slow.url, { onError })(
        new Request("http://me/b", { signal: client.signal }),
      );
      await tick(50);
      client.abort();
      const left = await waiting;
      assert.equal(left.status, 499);
      await left.body?.cancel();
      assert.equal(failures.length, 1, failures.join("; "));
    } finally {
      release();
      await slow.shutdown();
    }
  });
});
