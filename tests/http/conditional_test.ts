import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  freshWhen,
  InvalidValidatorError,
  isStale,
} from "../../lib/http/conditional.ts";
import { etagFor } from "../../lib/http/etag.ts";
import { serve } from "../../lib/adapters/serve.ts";

const updatedAt = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const LAST_MODIFIED = "Tue, 02 Jan 2024 03:04:05 GMT";

function get(headers: Record<string, string> = {}, method = "GET") {
  return new Request("http://localhost/", { method, headers });
}

describe("freshWhen", () => {
  it("renders with validators and private, no-cache by default", async () => {
    let rendered = 0;
    const response = await freshWhen(
      get(),
      { etag: '"v1"', lastModified: updatedAt },
      () => {
        rendered++;
        return new Response("body");
      },
    );
    assert.equal(rendered, 1);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "body");
    assert.equal(response.headers.get("etag"), '"v1"');
    assert.equal(response.headers.get("last-modified"), LAST_MODIFIED);
    assert.equal(response.headers.get("cache-control"), "private, no-cache");
  });

  it("answers 304 with validators and no body, without rendering", async () => {
    let rendered = 0;
    const response = await freshWhen(
      get({ "if-none-match": 'W/"v1"' }),
      { etag: '"v1"', public: true },
      () => {
        rendered++;
        return new Response("body");
      },
    );
    assert.equal(rendered, 0);
    assert.equal(response.status, 304);
    assert.equal(response.body, null);
    assert.equal(response.headers.get("etag"), '"v1"');
    assert.equal(response.headers.get("cache-control"), "public, no-cache");
  });

  it("answers 304 to If-Modified-Since at second precision", async () => {
    const response = await freshWhen(
      get({ "if-modified-since": LAST_MODIFIED }),
      { lastModified: new Date(updatedAt) },
    );
    assert.equal(response?.status, 304);
    assert.equal(response?.headers.get("last-modified"), LAST_MODIFIED);
  });

  it("returns undefined without render when the client is stale", async () => {
    assert.equal(
      await freshWhen(get({ "if-none-match": '"v0"' }), { etag: '"v1"' }),
      undefined,
    );
  });

  it("answers failed If-Match with 412 on unsafe methods", async () => {
    const response = await freshWhen(
      get({ "if-match": '"v0"' }, "PUT"),
      { etag: '"v1"' },
      () => new Response("updated"),
    );
    assert.equal(response.status, 412);
  });

  it("uses cacheControl over public and over the rendered header", async () => {
    const response = await freshWhen(
      get(),
      { etag: '"v1"', public: true, cacheControl: "max-age=60, public" },
      () => new Response("x", { headers: { "cache-control": "no-store" } }),
    );
    assert.equal(response.headers.get("cache-control"), "max-age=60, public");
    const kept = await freshWhen(
      get(),
      { etag: '"v1"' },
      () => new Response("x", { headers: { "cache-control": "max-age=5" } }),
    );
    assert.equal(kept.headers.get("cache-control"), "max-age=5");
  });

  it("leaves non-2xx renders alone", async () => {
    const response = await freshWhen(
      get(),
      { etag: '"v1"' },
      () => new Response("oops", { status: 500 }),
    );
    assert.equal(response.status, 500);
    assert.equal(response.headers.get("etag"), null);
  });

  it("copies responses whose headers are immutable", async () => {
    // A fetched response's headers cannot be changed: freshWhen must copy it.
    const origin = serve(() => new Response("from origin"), { port: 0 });
    try {
      const response = await freshWhen(
        get(),
        { etag: '"v1"' },
        () => fetch(origin.url),
      );
      assert.equal(response.headers.get("etag"), '"v1"');
      assert.equal(await response.text(), "from origin");
    } finally {
      await origin.shutdown();
    }
  });

  it("refuses malformed validators with a typed error", async () => {
    await assert.rejects(
      () => freshWhen(get(), { etag: "v1" }),
      (error: unknown) =>
        error instanceof InvalidValidatorError && error.validator === "etag",
    );
    await assert.rejects(
      () => freshWhen(get(), { lastModified: "last tuesday" }),
      InvalidValidatorError,
    );
    await assert.rejects(
      () => freshWhen(get(), { lastModified: Number.NaN }),
      InvalidValidatorError,
    );
  });

  it("ignores malformed request dates instead of throwing", async () => {
    const response = await freshWhen(
      get({ "if-modified-since": "not a date" }),
      { lastModified: updatedAt },
      () => new Response("fresh copy"),
    );
    assert.equal(response.status, 200);
  });

  it("serves 304s over a real connection, with etagFor", async () => {
    const article = { id: 7, title: "Hello", updatedAt };
    const server = serve(
      (request) =>
        freshWhen(
          request,
          { etag: etagFor(article), lastModified: article.updatedAt },
          () => Response.json(article),
        ),
      { port: 0 },
    );
    try {
      const first = await fetch(server.url);
      assert.equal(first.status, 200);
      const etag = first.headers.get("etag")!;
      assert.equal(etag, etagFor(article));
      await first.body?.cancel();
      const second = await fetch(server.url, {
        headers: { "if-none-match": etag },
      });
      assert.equal(second.status, 304);
      assert.equal(await second.text(), "");
      const changed = await fetch(server.url, {
        headers: { "if-none-match": etagFor({ ...article, title: "Bye" }) },
      });
      assert.equal(changed.status, 200);
      assert.deepEqual(await changed.json(), article);
    } finally {
      await server.shutdown();
    }
  });
});

describe("isStale", () => {
  it("is the inverse of freshWhen's early answer", () => {
    const validators = { etag: '"v1"', lastModified: updatedAt };
    assert.equal(isStale(get(), validators), true);
    assert.equal(isStale(get({ "if-none-match": '"v1"' }), validators), false);
    assert.equal(isStale(get({ "if-none-match": '"v2"' }), validators), true);
    assert.equal(
      isStale(get({ "if-modified-since": LAST_MODIFIED }), validators),
      false,
    );
    assert.equal(
      isStale(get({ "if-match": '"v2"' }, "POST"), validators),
      false,
    );
  });
});
