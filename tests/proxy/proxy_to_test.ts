import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { proxyTo } from "../../lib/proxy/proxy_to.ts";

describe("proxyTo", () => {
  it("asks the origin under its path prefix, with the request's path and query, by the origin's own name", async () => {
    const seen: { url: string; host: string | null }[] = [];
    const origin = serve((request) => {
      seen.push({ url: request.url, host: request.headers.get("host") });
      return new Response("ok");
    }, { port: 0 });
    try {
      const cases: [string, string, string][] = [
        [`${origin.url}/api/`, "http://me/users?id=1", "/api/users?id=1"],
        [
          `${origin.url}/api`,
          "http://me:8080/a/../b?x=%20y#frag",
          "/api/b?x=%20y",
        ],
        [origin.url, "http://me", "/"],
        [`${origin.url}/?ignored=1`, "http://me/p?q", "/p?q"],
      ];
      for (const [base, incoming, path] of cases) {
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
      }
      assert.throws(() => proxyTo("ftp://x/"), /http\(s\) URL/);
    } finally {
      await origin.shutdown();
    }
  });
});
