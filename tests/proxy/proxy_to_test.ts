import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { proxyTo } from "../../lib/proxy/proxy_to.ts";

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
        [`${origin.url}/?ignored=1`, "http://[::1]/p?q", "/p?q", "80"],
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
    } finally {
      await origin.shutdown();
    }
  });
});
