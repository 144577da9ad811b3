import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  entityStoreFrom,
  fileMetaStore,
  heapMetaStore,
  ManualClock,
  type MetaStore,
  purgeRequests,
  SharedCache,
  type SharedCacheOptions,
  type StoredResponse,
  TagPurgeUnsupportedError,
} from "../../mod.ts";
import { startProxy } from "../../lib/cli.ts";
import { TagPurges } from "../../lib/proxy/tags.ts";
import { serve } from "../../lib/adapters/serve.ts";
import { tempDirsRemovedAfter, tick } from "../_util.ts";
import { harness, type Route, visit } from "./_harness.ts";

const freshDir = tempDirsRemovedAfter();

/** A route stored for a minute, answering `${name}${n}` and tagged with `tags` (one field line each). */
function tagged(name: string, ...tags: string[]): Route {
  return (_request, n) => {
    const headers = new Headers({ "cache-control": "max-age=60" });
    for (const line of tags) headers.append("surrogate-key", line);
    return new Response(`${name}${n}`, { headers });
  };
}

/** A record of a response tagged with `tags`, as a meta store keeps it. */
function taggedRecord(tags: string): StoredResponse {
  return {
    status: 200,
    statusText: "OK",
    headers: [["surrogate-key", tags]],
    vary: {},
    requestTime: 0,
    responseTime: 0,
    entity: "e1",
    size: 0,
  };
}

/** `tagged` routes whose first answer waits until `release()` is called. */
function heldFirst(): {
  route(name: string, tag: string): Route;
  release(): void;
} {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  return {
    route: (name, tag) => async (request, n) => {
      if (n === 1) await held;
      return tagged(name, tag)(request, n);
    },
    release: () => release(),
  };
}

/** A cache in front of an origin function, answering `tagged` routes by path. */
function directCache(
  routes: Record<string, Route>,
  options: Partial<SharedCacheOptions> = {},
): { cache: SharedCache; count(path: string): number } {
  const counts = new Map<string, number>();
  const cache = new SharedCache({
    origin: async (request) => {
      const path = new URL(request.url).pathname;
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      return await routes[path](request, n);
    },
    clock: new ManualClock(),
    ...options,
  });
  return { cache, count: (path) => counts.get(path) ?? 0 };
}

/** The trace of a GET of `url` through `cache`, its body read. */
async function traceOf(cache: SharedCache, url: string): Promise<string> {
  const response = await cache.fetch(new Request(url));
  await response.text();
  return response.headers.get("x-cache") ?? "";
}

describe("purging by tag", () => {
  it("forgets every stored response whose tag field names a tag, whatever its URL, and no other", async () => {
    const h = harness({
      "/a": tagged("a", "news sports"),
      "/b": tagged("b", "news"),
      "/c": tagged("c", "weather"),
      // Commas separate too, and each field line counts.
      "/d": tagged("d", "x,y", "news-2"),
      "/e": () =>
        new Response("e", { headers: { "cache-control": "max-age=60" } }),
    });
    try {
      for (const path of ["/a", "/b", "/c", "/d", "/e"]) await visit(h, path);
      assert.equal(await h.cache.purgeTags(["news"]), 2);
      assert.match((await visit(h, "/a")).trace!, /^miss/);
      assert.match((await visit(h, "/b")).trace!, /^miss/);
      for (const path of ["/c", "/d", "/e"]) {
        assert.equal((await visit(h, path)).trace, "fresh", path);
      }
      assert.equal(h.count("/a"), 2);
      assert.equal(await h.cache.purgeTags(["WEATHER"]), 0, "case counts");
      assert.equal(await h.cache.purgeTags(["y", "news-2"]), 1, "one answer");
      assert.match((await visit(h, "/d")).trace!, /^miss/);
      assert.equal(await h.cache.purgeTags([]), 0);
      assert.equal((await visit(h, "/c")).trace, "fresh");
    } finally {
      await h.close();
    }
  });

  it("forgets only the variants of a URL that carry the tag", async () => {
    const h = harness({
      "/v": (request, n) => {
        const language = request.headers.get("accept-language");
        return new Response(`${language} ${n}`, {
          headers: {
            "cache-control": "max-age=60",
            vary: "accept-language",
            "surrogate-key": `lang-${language}`,
          },
        });
      },
    });
    const as = (language: string) => ({
      headers: { "accept-language": language },
    });
    try {
      await visit(h, "/v", as("en"));
      await visit(h, "/v", as("fr"));
      assert.equal(await h.cache.purgeTags(["lang-en"]), 1);
      assert.equal((await visit(h, "/v", as("fr"))).trace, "fresh");
      const en = await visit(h, "/v", as("en"));
      assert.match(en.trace!, /^miss/);
      assert.equal(en.body, "en 3");
    } finally {
      await h.close();
    }
  });

  it("reaches a file: store's records from before a restart", async () => {
    const dir = await freshDir();
    const stores = {
      metastore: `file:${join(dir, "meta")}`,
      entitystore: `file:${join(dir, "body")}`,
    };
    const routes = { "/a": tagged("a", "news"), "/c": tagged("c", "weather") };
    const first = directCache(routes, stores);
    await traceOf(first.cache, "http://a.test/a");
    await traceOf(first.cache, "http://a.test/c");
    await first.cache.close();
    const second = directCache(routes, stores);
    try {
      await second.cache.ready;
      assert.equal(await second.cache.purgeTags(["news"]), 1);
      assert.match(await traceOf(second.cache, "http://a.test/a"), /^miss/);
      assert.equal(await traceOf(second.cache, "http://a.test/c"), "fresh");
      assert.equal(second.count("/c"), 0, "kept from the first run");
    } finally {
      await second.cache.close();
    }
  });

  it("keeps fetches under way that bring a purged tag from storing, and later requests from joining any", async () => {
    const { route, release } = heldFirst();
    const { cache, count } = directCache({
      "/slow": route("s", "news"),
      "/other": route("o", "unrelated"),
    });
    try {
      const first = traceOf(cache, "http://a.test/slow");
      const other = traceOf(cache, "http://a.test/other");
      await tick(10);
      assert.equal(await cache.purgeTags(["news"]), 0, "nothing stored yet");
      // Joined no fetch from before the purge: its own, stored.
      assert.equal(await traceOf(cache, "http://a.test/slow"), "miss, store");
      release();
      await first;
      assert.equal(await traceOf(cache, "http://a.test/slow"), "fresh");
      assert.equal(count("/slow"), 2);
      // A fetch under way whose answer the purge does not name is stored.
      assert.equal(await other, "miss, store");
      assert.equal(await traceOf(cache, "http://a.test/other"), "fresh");
      assert.equal(count("/other"), 1);
    } finally {
      await cache.close();
    }
  });

  it("keeps a revalidation that began before the walk reached its key from storing the purged answer again", async () => {
    // A walk that takes its time, as a large file: store's does.
    const heap = heapMetaStore();
    let walk = () => {};
    const walking = new Promise<void>((resolve) => walk = resolve);
    const metastore: MetaStore = {
      ...heap,
      async *entries() {
        await walking;
        yield* heap.entries!();
      },
    };
    const entitystore = entityStoreFrom("heap:");
    let answer = () => {};
    const answering = new Promise<void>((resolve) => answer = resolve);
    const clock = new ManualClock(Date.now());
    const { cache } = directCache({
      "/k": async (request, n) => {
        const headers = {
          "cache-control": "max-age=1",
          etag: '"v1"',
          "surrogate-key": "news",
          date: new Date(clock.now()).toUTCString(),
        };
        if (n === 1) return new Response("k1", { headers });
        assert.equal(request.headers.get("if-none-match"), '"v1"');
        await answering;
        return new Response(null, { status: 304, headers });
      },
    }, { metastore, entitystore, clock });
    try {
      assert.equal(await traceOf(cache, "http://a.test/k"), "miss, store");
      await clock.advance(5_000);
      const purging = cache.purgeTags(["news"]);
      // Stale: validated, by a fetch that begins after the purge did.
      const revalidating = traceOf(cache, "http://a.test/k");
      await tick(10);
      walk();
      assert.equal(await purging, 1);
      answer();
      await revalidating;
      const left = await metastore.lookup("http://a.test/k");
      assert.deepEqual(
        left.map((v) => [v.entity, entitystore.cache!.has(v.entity)]),
        [],
        "the purged answer stays forgotten, and no record names a freed body",
      );
    } finally {
      await cache.close();
    }
  });

  it("takes a list of tags, not a string (whose characters would be the tags)", async () => {
    const { cache } = directCache({
      "/s": tagged("s", "s"),
      "/news": tagged("n", "news"),
    });
    try {
      await traceOf(cache, "http://a.test/s");
      await traceOf(cache, "http://a.test/news");
      await assert.rejects(cache.purgeTags("news"), {
        name: "TypeError",
        message: /a list of tags/,
      });
      assert.equal(await traceOf(cache, "http://a.test/s"), "fresh");
      assert.equal(await traceOf(cache, "http://a.test/news"), "fresh");
    } finally {
      await cache.close();
    }
  });

  it("tells a fetch whether a purge since it began named its tags, and when too many ran to tell", () => {
    const purges = new TagPurges("surrogate-key", 2);
    const news = taggedRecord("news");
    const began = purges.count;
    assert.equal(purges.namedSince(began, news), false, "none ran");
    purges.add(new Set(["weather"]));
    assert.equal(purges.namedSince(began, news), false, "another tag");
    purges.add(new Set(["news"]));
    assert.equal(purges.namedSince(began, news), true);
    assert.equal(purges.namedSince(purges.count, news), false, "began after");
    purges.add(new Set(["sports"]));
    assert.equal(purges.namedSince(began + 1, news), true, "still kept");
    assert.equal(purges.namedSince(began + 2, news), false, "sports only");
    assert.equal(purges.namedSince(began, news), true, "past what is kept");
  });

  it("purges nothing, and keeps fetches under way storing, for no tags", async () => {
    const { route, release } = heldFirst();
    const { cache, count } = directCache({ "/slow": route("s", "news") });
    try {
      const first = traceOf(cache, "http://a.test/slow");
      await tick(10);
      assert.equal(await cache.purgeTags([]), 0);
      release();
      assert.equal(await first, "miss, store");
      assert.equal(await traceOf(cache, "http://a.test/slow"), "fresh");
      assert.equal(count("/slow"), 1);
    } finally {
      await cache.close();
    }
  });

  it("answers PURGE requests that carry the tag field (purgeRequests)", async () => {
    const h = harness({
      "/a": tagged("a", "news"),
      "/b": tagged("b", "news"),
      "/c": tagged("c", "weather"),
    });
    h.cache.use(purgeRequests({
      allow: (request) => request.headers.get("authorization") === "Bearer t",
    }));
    const purge = (tags: string, authorization = "Bearer t") =>
      visit(h, "/", {
        method: "PURGE",
        headers: { authorization, "surrogate-key": tags },
      });
    try {
      for (const path of ["/a", "/b", "/c"]) await visit(h, path);
      assert.equal((await purge("news", "Bearer wrong")).status, 403);
      assert.equal((await visit(h, "/a")).trace, "fresh");
      const purged = await purge("news");
      assert.equal(purged.status, 200);
      assert.equal(purged.body, "purged 2\n");
      assert.equal(purged.trace, "purge, synth");
      assert.equal((await purge("news sports")).status, 404, "nothing left");
      assert.match((await visit(h, "/a")).trace!, /^miss/);
      assert.equal((await visit(h, "/c")).trace, "fresh");
      assert.equal(h.seen.filter((r) => r.method === "PURGE").length, 0);
    } finally {
      await h.close();
    }
  });

  it("keeps the tag field from clients when asked, and forwards it by default", async () => {
    const hidden = harness({ "/a": tagged("a", "news") }, {
      forwardTagField: false,
    });
    const shown = harness({ "/a": tagged("a", "news") });
    try {
      for (const h of [hidden, shown]) {
        const miss = await visit(h, "/a");
        const hit = await visit(h, "/a");
        assert.equal(hit.trace, "fresh");
        const expected = h === hidden ? null : "news";
        assert.equal(miss.headers.get("surrogate-key"), expected);
        assert.equal(hit.headers.get("surrogate-key"), expected);
        assert.equal(await h.cache.purgeTags(["news"]), 1, "still tagged");
      }
    } finally {
      await hidden.close();
      await shown.close();
    }
  });

  it("says clearly when it cannot purge by tag", async () => {
    const listless: MetaStore = {
      lookup: () => [],
      store: () => Promise.resolve(),
      purge: () => Promise.resolve(),
    };
    const dir = await freshDir();
    const caches = [
      new SharedCache({ origin: () => new Response("x"), metastore: listless }),
      // A folder shared by processes: this one does not list it.
      new SharedCache({
        origin: () => new Response("x"),
        metastore: fileMetaStore(dir, { maxEntries: 0 }),
      }),
    ];
    const off = new SharedCache({
      origin: () => new Response("x"),
      tagField: false,
    });
    try {
      for (const cache of caches) {
        await assert.rejects(cache.purgeTags(["a"]), (error) => {
          assert.ok(error instanceof TagPurgeUnsupportedError);
          assert.ok(error instanceof TypeError, "a wrong use");
          assert.match(error.message, /entries\(\)/);
          return true;
        });
      }
      await assert.rejects(off.purgeTags(["a"]), TagPurgeUnsupportedError);
      await assert.rejects(off.purgeTags(["a"]), /needs a tagField/);
      assert.throws(
        () =>
          new SharedCache({ origin: () => new Response(), tagField: "a b" }),
        /tagField must name header fields/,
      );
      assert.throws(
        () => purgeRequests({ allow: () => true, tagField: "a:b" }),
        /tagField must name a header field/,
      );
      // Over HTTP: a 501 that says why, not a 500.
      off.use(purgeRequests({ allow: () => true }));
      const answer = await off.fetch(
        new Request("http://a.test/", {
          method: "PURGE",
          headers: { "surrogate-key": "a" },
        }),
      );
      assert.equal(answer.status, 501);
      assert.match(await answer.text(), /needs a tagField/);
    } finally {
      for (const cache of [...caches, off]) await cache.close();
    }
  });

  it("lets a purge whose meta store fails fail, by URL or by tag, not answer that purging is not implemented", async () => {
    const bug = () => new TypeError("a bug in a custom meta store");
    const cases: [Partial<MetaStore>, RequestInit][] = [
      [{
        lookup: () => {
          throw bug();
        },
      }, { method: "PURGE" }],
      [{
        async *entries() {
          yield ["http://a.test/a", [taggedRecord("a")]];
          throw bug();
        },
      }, { method: "PURGE", headers: { "surrogate-key": "a" } }],
    ];
    for (const [failing, purge] of cases) {
      const cache = new SharedCache({
        origin: () => new Response("x"),
        metastore: { ...heapMetaStore(), ...failing },
      });
      cache.use(purgeRequests({ allow: () => true }));
      try {
        // The server answers it with a 500, as before purging by tag.
        await assert.rejects(
          async () => await cache.fetch(new Request("http://a.test/a", purge)),
          /a bug in a custom meta store/,
        );
      } finally {
        await cache.close();
      }
    }
  });

  it("lists a file: store's records still being written", async () => {
    const meta = fileMetaStore(await freshDir());
    const writing = meta.store("http://a.test/new", [taggedRecord("a")]);
    const keys: string[] = [];
    for await (const [key] of meta.entries!()) keys.push(key);
    await writing;
    assert.ok(keys.includes("http://a.test/new"), keys.join());
  });

  it("runs from the cistern command: --tag-field, --hide-tags and --purge-token", async () => {
    const origin = serve(
      () =>
        new Response("page", {
          headers: { "cache-control": "max-age=60", "cache-tag": "p7,prices" },
        }),
      { port: 0 },
    );
    const { server, cache } = await startProxy({
      origin: origin.url,
      listen: "127.0.0.1:0",
      store: "heap:",
      purgeToken: "t",
      tagField: "cache-tag",
      hideTags: true,
    });
    try {
      const page = await fetch(`${server.url}/p/7`);
      await page.text();
      assert.equal(page.headers.get("cache-tag"), null);
      const purge = await fetch(`${server.url}/`, {
        method: "PURGE",
        headers: { authorization: "Bearer t", "cache-tag": "prices" },
      });
      assert.equal(await purge.text(), "purged 1\n");
      const again = await fetch(`${server.url}/p/7`);
      await again.text();
      assert.match(again.headers.get("x-cache")!, /^miss/);
    } finally {
      await server.shutdown();
      await origin.shutdown();
      await cache.close();
    }
  });
});
