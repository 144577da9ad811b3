import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  entityStoreFrom,
  fileMetaStore,
  heapMetaStore,
  lruReaper,
  type MetaStore,
  metaStoreFrom,
  SharedCache,
  type StoredResponse,
  StoreUriError,
  StreamCache,
} from "../../mod.ts";
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { bytes, tempDirsRemovedAfter, tick } from "../_util.ts";
import { lentBodyOf } from "../../lib/stream/lent_views.ts";
import { bodyKindOf } from "../../lib/http/body_kind.ts";
import { harness, numbered, visit } from "./_harness.ts";
import { slowRemovals } from "./_storage.ts";

const freshDir = tempDirsRemovedAfter();

/** A stored response with body id `entity`, whole enough to be read back. */
function variant(
  entity: string,
  fields: Partial<StoredResponse> = {},
): StoredResponse {
  return {
    status: 200,
    statusText: "",
    headers: [],
    vary: {},
    requestTime: 0,
    responseTime: 0,
    entity,
    size: 0,
    ...fields,
  };
}

/**
 * A `file:` store in a fresh folder, keyed by path, in front of `/a`, `/b`
 * and `/c`: `open()` starts a cache on it (again after a close), `files`
 * lists what the folder holds by suffix.
 */
async function restartable() {
  const dir = await freshDir();
  const stores = {
    metastore: `file:${dir}/meta`,
    entitystore: `file:${dir}/body`,
    cacheKey: (request: Request) => new URL(request.url).pathname,
  };
  const routes = Object.fromEntries(
    ["/a", "/b", "/c"].map((path) => [
      path,
      () =>
        new Response(`body of ${path}`, {
          headers: { "cache-control": "max-age=600" },
        }),
    ]),
  );
  return {
    dir,
    files: async (suffix: string) =>
      (await readdir(dir, { recursive: true }))
        .filter((name) => name.endsWith(suffix)),
    open: () => harness(routes, stores),
  };
}
describe("stores chosen by URI", () => {
  it("file: stores survive a restart of the cache", async () => {
    const dir = await freshDir();
    const stores = {
      metastore: `file:${dir}/meta`,
      entitystore: `file:${dir}/body`,
    };
    const body = "persisted ".repeat(10_000);
    // The default key holds the proxy's port, which each harness picks anew;
    // a restarted proxy keeps its address, so key on the path here.
    const keyed = {
      ...stores,
      cacheKey: (request: Request) => new URL(request.url).pathname,
    };
    const third = harness({
      "/k": () =>
        new Response(body, { headers: { "cache-control": "max-age=600" } }),
    }, keyed);
    try {
      await visit(third, "/k");
      for (
        let i = 0;
        i < 50 && (await visit(third, "/k")).trace !== "fresh";
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await third.close();
    }
    const fourth = harness({}, keyed);
    try {
      const hit = await visit(fourth, "/k");
      assert.equal(hit.trace, "fresh", "answered from disk after a restart");
      assert.equal(hit.body, body);
      assert.equal(fourth.count("/k"), 0);
    } finally {
      await fourth.close();
    }
  });

  it("file: bodies past the live tail reach early, stalled, late and later clients whole", async () => {
    // Through cistern's server, whose adapters return the views the live
    // tail and the shared reads lend once the runtime holds their bytes,
    // and the buffers are detached: no client may miss a byte of them.
    const dir = await freshDir();
    const body = bytes(24 << 20, 9);
    const digest = (data: Uint8Array) =>
      createHash("sha256").update(data).digest("hex");
    const h = harness({
      "/big": () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              for (let at = 0; at < body.byteLength; at += 64 << 10) {
                controller.enqueue(body.slice(at, at + (64 << 10)));
              }
              controller.close();
            },
          }),
          { headers: { "cache-control": "max-age=600" } },
        ),
    }, { metastore: `file:${dir}/meta`, entitystore: `file:${dir}/body` });
    try {
      const whole = async (response: Promise<Response>) =>
        digest(new Uint8Array(await (await response).arrayBuffer()));
      const early = [h.get("/big"), h.get("/big"), h.get("/big")].map(whole);
      // One stops reading for a while: the server's writes to it back up.
      const stalled = h.get("/big").then(async (response) => {
        const reader = response.body!.getReader();
        const hash = createHash("sha256");
        let next = await reader.read();
        await tick(300);
        for (; !next.done; next = await reader.read()) hash.update(next.value);
        return hash.digest("hex");
      });
      // A late client joins once the first has 16 MiB, far past the tail.
      const first = (await h.get("/big")).body!.getReader();
      const hash = createHash("sha256");
      let seen = 0;
      let late: Promise<string> | undefined;
      for (;;) {
        const next = await first.read();
        if (next.done) break;
        hash.update(next.value);
        seen += next.value.byteLength;
        late ??= seen >= 16 << 20 ? whole(h.get("/big")) : undefined;
      }
      const expected = digest(body);
      assert.equal(hash.digest("hex"), expected);
      for (const got of await Promise.all([...early, stalled, late!])) {
        assert.equal(got, expected);
      }
      // A hit, read from the file through the shared reads.
      let hit = await h.get("/big");
      for (let i = 0; i < 50 && hit.headers.get("x-cache") !== "fresh"; i++) {
        await hit.body?.cancel();
        await tick(10);
        hit = await h.get("/big");
      }
      assert.equal(hit.headers.get("x-cache"), "fresh");
      assert.equal(await whole(Promise.resolve(hit)), expected);
      assert.equal(h.count("/big"), 1);
    } finally {
      await h.close();
    }
  });

  it("marks answers streamed from a disk entry as lent views, and a big hit from heap: as stored", async () => {
    const dir = await freshDir();
    const body = bytes(2 << 20, 4);
    const origin = () =>
      new Response(body.slice(), {
        headers: { "cache-control": "max-age=600" },
      });
    for (
      const [entitystore, lends] of [
        [`file:${dir}/body`, true],
        ["heap:", false],
      ] as const
    ) {
      const cache = new SharedCache({ origin, entitystore });
      try {
        const miss = await cache.fetch(new Request("http://a.test/x"));
        assert.equal(miss.headers.get("x-cache"), "miss, store");
        assert.equal(lentBodyOf(miss) !== undefined, lends, entitystore);
        assert.equal((await miss.arrayBuffer()).byteLength, body.byteLength);
        const hit = await cache.fetch(new Request("http://a.test/x"));
        assert.equal(hit.headers.get("x-cache"), "fresh");
        assert.equal(lentBodyOf(hit) !== undefined, lends, entitystore);
        // Too big to be held as bytes: Deno's adapter cuts its blocks.
        assert.equal(bodyKindOf(hit), lends ? undefined : "stored");
        assert.equal((await hit.arrayBuffer()).byteLength, body.byteLength);
      } finally {
        await cache.close();
      }
    }
  });

  it("frees the bodies a bounded heap: meta store forgets, and after a restart those no meta reaches", async () => {
    const dir = await freshDir();
    const bodies = async () => {
      const entries = await readdir(dir, { recursive: true });
      return entries.filter((name) => name.endsWith(".cst")).length;
    };
    const routes = Object.fromEntries(
      Array.from({ length: 5 }, (_, i) => [
        `/u${i}`,
        () =>
          new Response("x".repeat(2 << 20), {
            headers: { "cache-control": "max-age=60" },
          }),
      ]),
    );
    const h = harness(routes, {
      metastore: "heap:?maxEntries=2",
      entitystore: `file:${dir}`,
    });
    try {
      for (let i = 0; i < 5; i++) await visit(h, `/u${i}`);
      for (let i = 0; i < 50 && (await bodies()) > 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(await bodies(), 2, "only the two keys kept have bodies");
    } finally {
      await h.close();
    }
    // A new cache on the same folder with a meta store in memory: no meta
    // reaches the bodies kept, so they go.
    const again = new SharedCache({
      origin: () => new Response("y"),
      entitystore: `file:${dir}`,
    });
    await again.ready;
    for (let i = 0; i < 50 && (await bodies()) > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await bodies(), 0);
    await again.close();
  });

  it("forgets the variants whose bodies a bounded file: store reaps, so its meta files stay bounded too", async () => {
    const dir = await freshDir();
    const count = async (folder: string, suffix: string) =>
      (await readdir(join(dir, folder), { recursive: true }))
        .filter((name) => name.endsWith(suffix)).length;
    const routes = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [
        `/u${i}`,
        () =>
          new Response(`body ${i}`, {
            headers: { "cache-control": "max-age=60" },
          }),
      ]),
    );
    const h = harness(routes, {
      metastore: `file:${dir}/meta`,
      entitystore: `file:${dir}/body?maxEntries=2`,
    });
    try {
      for (let i = 0; i < 6; i++) await visit(h, `/u${i}`);
      // Records land a moment after their answers, and reaped ones go a
      // moment after their bodies: wait for both to settle. The counts alone
      // can match on the way (u5's record still to come, u3's still to go).
      const recordOf = (path: string) => {
        const hash = createHash("sha256").update(h.url + path).digest("hex");
        return join(dir, "meta", hash.slice(0, 2), `${hash}.json`);
      };
      const settled = async () =>
        (await count("body", ".cst")) === 2 &&
        (await count("meta", ".json")) === 2 &&
        (await stat(recordOf("/u4")).then(() => true, () => false)) &&
        (await stat(recordOf("/u5")).then(() => true, () => false));
      for (let i = 0; i < 1000 && !(await settled()); i++) await tick(10);
      assert.equal(await count("body", ".cst"), 2);
      assert.equal(await count("meta", ".json"), 2, "one per body kept");
      assert.equal((await visit(h, "/u5")).trace, "fresh");
      assert.match((await visit(h, "/u0")).trace!, /^miss/);
    } finally {
      await h.close();
    }
  });

  it("forgets at start the records whose bodies went while no cache ran, and temporary files a crash left", async () => {
    const { dir, files, open } = await restartable();
    const count = async (suffix: string) => (await files(suffix)).length;
    const first = open();
    try {
      for (const path of ["/a", "/b", "/c"]) await visit(first, path);
    } finally {
      await first.close();
    }
    // While no cache runs: a body goes (by hand, a crash), and a write that
    // never finished leaves its temporary file.
    const body = (await readdir(join(dir, "body"), { recursive: true }))
      .find((name) => name.endsWith(".cst"))!;
    await rm(join(dir, "body", body));
    const [sub] = await readdir(join(dir, "meta"));
    const temporary = join(dir, "meta", sub, "left.json.x.tmp");
    await writeFile(temporary, "{");
    await utimes(temporary, new Date(0), new Date(0));
    assert.equal(await count(".json"), 3);
    const second = open();
    try {
      for (let i = 0; i < 300 && (await count(".json")) > 2; i++) {
        await tick(10);
      }
      assert.equal(await count(".json"), 2, "the record without a body went");
      assert.equal(await count(".tmp"), 0);
      const traces = [];
      for (const path of ["/a", "/b", "/c"]) {
        traces.push((await visit(second, path)).trace);
      }
      assert.deepEqual(traces.sort(), ["fresh", "fresh", "miss, store"]);
    } finally {
      await second.close();
    }
  });

  it("frees at start the bodies no record names (records torn or lost), never those stored since", async () => {
    const { dir, files, open } = await restartable();
    const first = open();
    try {
      for (const path of ["/a", "/b"]) await visit(first, path);
    } finally {
      await first.close();
    }
    const before = await files(".cst");
    assert.equal(before.length, 2);
    // While no cache runs, both records are torn: no lookup reaches a body.
    for (const record of await files(".json")) {
      await writeFile(join(dir, record), "{");
    }
    const second = open();
    try {
      assert.equal((await visit(second, "/c")).trace, "miss, store");
      const left = async () =>
        (await files(".cst")).filter((name) => before.includes(name)).length;
      for (let i = 0; i < 300 && (await left()) > 0; i++) await tick(10);
      assert.equal(await left(), 0, "the unnamed bodies went");
      assert.equal((await visit(second, "/c")).trace, "fresh", "kept");
      const again = await visit(second, "/a");
      assert.equal(again.trace, "miss, store");
      assert.equal(again.body, "body of /a");
    } finally {
      await second.close();
    }
  });

  it("noop: keeps headers only: 304s from the cache, full bodies from the origin", async () => {
    const h = harness({
      "/n": numbered("body ", { "cache-control": "max-age=60", etag: '"n"' }),
    }, { entitystore: "noop:" });
    try {
      assert.equal((await visit(h, "/n")).body, "body 1");
      const conditional = await h.get("/n", {
        headers: { "if-none-match": '"n"' },
      });
      assert.equal(conditional.status, 304);
      assert.equal(conditional.headers.get("x-cache"), "fresh");
      const full = await visit(h, "/n");
      assert.equal(full.body, "body 2", "no body is kept");
    } finally {
      await h.close();
    }
  });

  it("heap: bounds bodies by bytes, and a stored response whose body is gone is a miss", async () => {
    const h = harness({
      "/a": () =>
        new Response("a".repeat(600), {
          headers: { "cache-control": "max-age=60" },
        }),
      "/b": () =>
        new Response("b".repeat(600), {
          headers: { "cache-control": "max-age=60" },
        }),
    }, { entitystore: "heap:?maxBytes=1000" });
    try {
      await visit(h, "/a");
      await visit(h, "/b");
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(
        (await visit(h, "/a")).trace!,
        /^miss/,
        "evicted to stay under 1000 bytes",
      );
      assert.equal(h.count("/a"), 2);
    } finally {
      await h.close();
    }
  });

  it("heapMetaStore keeps the most recently used keys", async () => {
    const meta = heapMetaStore({ maxEntries: 2 });
    const variants = (entity: string) => [
      variant(entity),
    ];
    const has = (key: string) => (meta.lookup(key) as StoredResponse[]).length;
    await meta.store("a", variants("a"));
    await meta.store("b", variants("b"));
    // b is the newest already; a lookup of it must not lose a's place.
    assert.equal(has("b"), 1);
    assert.equal(has("a"), 1); // a is now the most recently used
    await meta.store("c", variants("c"));
    assert.deepEqual([has("a"), has("b"), has("c")], [1, 0, 1]);
    assert.equal(has("a"), 1);
    assert.equal(has("a"), 1);
    await meta.store("d", variants("d"));
    assert.deepEqual([has("a"), has("c"), has("d")], [1, 0, 1]);
    await meta.purge("d");
    assert.equal(has("d"), 0);
  });

  it("heapMetaStore keeps within maxBytes, counting keys and the request values Vary nominates", async () => {
    const meta = heapMetaStore({ maxBytes: 1 << 20 });
    const big = (entity: string) => [
      variant(entity, {
        headers: [["vary", "accept-language"]],
        vary: { "accept-language": "x".repeat(48 * 1024) },
      }),
    ];
    for (let i = 0; i < 100; i++) await meta.store(`k${i}`, big(`e${i}`));
    const kept = Array.from(
      { length: 100 },
      (_, i) => (meta.lookup(`k${i}`) as StoredResponse[]).length,
    ).reduce((a, b) => a + b, 0);
    assert.ok(kept > 0 && kept * 48 * 1024 <= 1 << 20, `${kept} kept`);
    assert.equal((meta.lookup("k99") as StoredResponse[]).length, 1);
    // Long keys count too, and the body ids that name them.
    const url = (i: number) => `http://a.test/${"u".repeat(32 * 1024)}${i}`;
    for (let i = 0; i < 100; i++) {
      await meta.store(url(i), [
        variant(`e ${url(i)}`),
      ]);
    }
    const keys = Array.from({ length: 100 }, (_, i) => url(i))
      .filter((key) => (meta.lookup(key) as StoredResponse[]).length > 0);
    assert.ok(
      keys.length > 0 && keys.length * 64 * 1024 <= 1 << 20,
      `${keys.length} kept`,
    );
  });

  it("fileMetaStore keeps in memory only what fits maxBytes, and reads the rest from its files", async () => {
    const meta = fileMetaStore(await freshDir(), { maxBytes: 100_000 });
    const url = (i: number) => `http://a.test/${"u".repeat(32 * 1024)}${i}`;
    for (let i = 0; i < 10; i++) {
      await meta.store(url(i), [
        variant(`e${i}`),
      ]);
    }
    assert.ok(Array.isArray(meta.lookup(url(9))), "the newest, from memory");
    const oldest = meta.lookup(url(0));
    assert.ok(oldest instanceof Promise, "the oldest, from its file");
    assert.equal((await oldest)[0].entity, "e0");
  });

  it("fileMetaStore: purges by the thousand do not push recent keys out of memory", async () => {
    const meta = fileMetaStore(await freshDir(), { maxEntries: 10 });
    const one = [variant("e")];
    for (let i = 0; i < 5; i++) await meta.store(`hot${i}`, one);
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) => meta.purge(`reaped${i}`)),
    );
    for (let i = 0; i < 5; i++) {
      assert.ok(Array.isArray(meta.lookup(`hot${i}`)), `hot${i} from memory`);
    }
    assert.deepEqual(meta.lookup("reaped1999"), [], "a purge is known at once");
  });

  it("close() waits for a body being stored and its record: a stop right after an answer keeps both", async () => {
    const dir = await freshDir();
    // A meta store that takes its time, as a disk under load does.
    const files = fileMetaStore(`${dir}/meta`);
    const slow: MetaStore = {
      lookup: (key) => files.lookup(key),
      store: async (key, variants) => {
        await tick(50);
        await files.store(key, variants);
      },
      purge: (key) => files.purge(key),
    };
    const h = harness({
      "/new": () =>
        new Response("x".repeat(100_000), {
          headers: { "cache-control": "max-age=60" },
        }),
    }, { metastore: slow, entitystore: `file:${dir}/body` });
    await visit(h, "/new");
    await h.close();
    const names = await readdir(dir, { recursive: true });
    assert.equal(names.filter((n) => n.endsWith(".json")).length, 1);
    assert.equal(names.filter((n) => n.endsWith(".cst")).length, 1);
    assert.equal(names.filter((n) => n.endsWith(".tmp")).length, 0);
  });

  it("fileMetaStore answers recent keys from memory and writes them through", async () => {
    const dir = await freshDir();
    const meta = fileMetaStore(dir);
    const stored = [variant("e1")];
    await meta.store("k", stored);
    const hit = meta.lookup("k");
    assert.ok(Array.isArray(hit), "a recent key is answered without a promise");
    assert.equal(
      hit[0],
      stored[0],
      "the same objects, so parsed fields stay cached",
    );
    // A new store on the same folder (a restart) reads the file once.
    const restarted = fileMetaStore(dir);
    const read = restarted.lookup("k");
    assert.ok(read instanceof Promise);
    assert.deepEqual(await read, stored);
    assert.ok(Array.isArray(restarted.lookup("k")));
    await restarted.purge("k");
    assert.deepEqual(restarted.lookup("k"), []);
    assert.deepEqual(await fileMetaStore(dir).lookup("k"), []);
    // Keys found absent are not kept: each lookup reads again.
    assert.ok(restarted.lookup("absent") instanceof Promise);
    assert.deepEqual(await restarted.lookup("absent"), []);
    assert.ok(restarted.lookup("absent") instanceof Promise);
  });

  it("fileMetaStore makes its folders again when they are removed while it runs", async () => {
    const dir = await freshDir();
    const meta = fileMetaStore(dir);
    const v = [variant("e1")];
    await meta.store("k", v);
    await rm(dir, { recursive: true });
    await meta.store("k", v);
    assert.deepEqual(await fileMetaStore(dir).lookup("k"), v);
  });

  it("fileMetaStore: a store or purge made while a lookup reads the file wins", async () => {
    const dir = await freshDir();
    const stored = [variant("e1")];
    await fileMetaStore(dir).store("k", stored);
    const meta = fileMetaStore(dir);
    const reading = meta.lookup("k");
    const purged = meta.purge("k");
    assert.deepEqual(
      await reading,
      [],
      "the purge began before the read ended",
    );
    await purged;
    assert.deepEqual(meta.lookup("k"), [], "not brought back by the read");
    const newer = [variant("e2")];
    const other = fileMetaStore(dir);
    const before = other.lookup("absent");
    const storing = other.store("absent", newer);
    assert.deepEqual(await before, newer);
    await storing;
  });

  it("fileMetaStore: changes to one key land in the order made; two stores on one folder never collide", async () => {
    const dir = await freshDir();
    const v = (entity: string, size = 0) => [
      { ...variant(entity), pad: "x".repeat(size) },
    ];
    const meta = fileMetaStore(dir, { maxEntries: 0 });
    for (let i = 0; i < 10; i++) {
      // A big write begun first must not land last.
      await Promise.all([
        meta.store(`k${i}`, v("old", 1 << 20)),
        meta.store(`k${i}`, v("new")),
      ]);
      assert.equal((await meta.lookup(`k${i}`))[0]?.entity, "new");
      await Promise.all([
        meta.store(`p${i}`, v("old", 1 << 20)),
        meta.purge(`p${i}`),
      ]);
      assert.deepEqual(await meta.lookup(`p${i}`), [], "the purge stays");
    }
    // Two stores in one process (as two processes with one pid would be):
    // their temporary files must not be each other's.
    const a = fileMetaStore(dir, { maxEntries: 0 });
    const b = fileMetaStore(dir, { maxEntries: 0 });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        a.store(`s${i}`, v("a")),
        b.store(`s${i}`, v("b")),
      ]).flat(),
    );
    for (let i = 0; i < 20; i++) {
      assert.equal((await a.lookup(`s${i}`)).length, 1, `s${i} is whole`);
    }
  });

  it("fileMetaStore deletes a torn or unusable file but keeps one it cannot read for now", async () => {
    const dir = await freshDir();
    const meta = fileMetaStore(dir, { maxEntries: 0 });
    const v = [variant("e")];
    await meta.store("torn", v);
    await meta.store("unreadable", v);
    // The store's layout: sha256(key) in hex, under its first two digits.
    const fileOf = (key: string) => {
      const hash = createHash("sha256").update(key).digest("hex");
      return join(dir, hash.slice(0, 2), `${hash}.json`);
    };
    const torn = fileOf("torn");
    await writeFile(torn, '{"key": "torn", "vari');
    assert.deepEqual(await meta.lookup("torn"), []);
    await assert.rejects(stat(torn), "a torn file goes");
    // Whole, but no answer can be made from it (edited by hand).
    await meta.store("edited", v);
    const edited = fileOf("edited");
    const record = JSON.parse(await readFile(edited, "utf8"));
    record.variants[0].status = "x";
    await writeFile(edited, JSON.stringify(record));
    assert.deepEqual(await meta.lookup("edited"), []);
    await assert.rejects(stat(edited), "an unusable record goes");
    // A read that fails (here: a link to a folder; else no descriptors
    // left, an I/O error) is a miss, and the file is left for later.
    const unreadable = fileOf("unreadable");
    await rm(unreadable);
    await symlink(dir, unreadable);
    assert.deepEqual(await meta.lookup("unreadable"), []);
    assert.ok((await lstat(unreadable)).isSymbolicLink(), "left in place");
  });

  it("fileMetaStore walks every record, several read at once, and fails rather than skip one it cannot read", async () => {
    const dir = await freshDir();
    const meta = fileMetaStore(dir, { maxEntries: 1 });
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((key) => meta.store(key, [variant(key)])));
    const walked = new Map<string, string>();
    for await (const [key, variants] of meta.entries!()) {
      walked.set(key, variants[0].entity);
    }
    assert.equal(walked.size, 100);
    for (const key of keys) assert.equal(walked.get(key), key);
    // One record that cannot be read (a folder where its file belongs):
    // the walk fails, as a walk that skipped it would free a named body.
    const hash = createHash("sha256").update("k57").digest("hex");
    const file = join(dir, hash.slice(0, 2), `${hash}.json`);
    await rm(file);
    await mkdir(file);
    await assert.rejects(async () => {
      for await (const _ of meta.entries!()) { /* walk on */ }
    }, { code: "EISDIR" });
  });

  it("fileMetaStore with maxEntries 0 sees another store's write after its own purge, and offers no walk", async () => {
    const dir = await freshDir();
    const a = fileMetaStore(dir, { maxEntries: 0 });
    const b = fileMetaStore(dir, { maxEntries: 0 });
    const one = [variant("e")];
    await b.purge("k");
    await a.store("k", one);
    assert.deepEqual(await b.lookup("k"), one);
    assert.equal(
      a.entries,
      undefined,
      "another's records point at bodies it never loaded",
    );
  });

  it("fileMetaStore with maxEntries 0 reads the folder every time, for folders processes share", async () => {
    const dir = await freshDir();
    const a = fileMetaStore(dir, { maxEntries: 0 });
    const b = metaStoreFrom(`file:${dir}?maxEntries=0`);
    const v = (entity: string) => [
      variant(entity),
    ];
    await a.store("k", v("1"));
    assert.deepEqual(await b.lookup("k"), v("1"));
    await a.store("k", v("2"));
    assert.deepEqual(await b.lookup("k"), v("2"));
  });

  it("file: stores answer a repeated hit from memory, without a promise", async () => {
    const dir = await freshDir();
    const cache = new SharedCache({
      origin: () =>
        new Response("hot body", {
          headers: { "cache-control": "max-age=600" },
        }),
      metastore: `file:${dir}/meta`,
      entitystore: `file:${dir}/body`,
    });
    try {
      const url = "http://cache.test/hot";
      const first = await cache.fetch(new Request(url));
      assert.equal(await first.text(), "hot body");
      // Once the miss's files are written, take them away: a hit must not need them.
      const written = async () =>
        (await readdir(dir, { recursive: true })).some((name) =>
          name.endsWith(".json")
        );
      for (let i = 0; i < 200 && !(await written()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await rm(join(dir, "meta"), { recursive: true });
      await rm(join(dir, "body"), { recursive: true });
      const hit = cache.fetch(new Request(url));
      assert.ok(hit instanceof Response, "answered at once");
      assert.equal(hit.headers.get("x-cache"), "fresh");
      assert.equal(await hit.text(), "hot body");
    } finally {
      await cache.close();
    }
  });

  it("takes any MetaStore object", async () => {
    const inner = heapMetaStore();
    const calls: string[] = [];
    const logging: MetaStore = {
      lookup: (key) => (calls.push("lookup"), inner.lookup(key)),
      store: (
        key,
        variants,
      ) => (calls.push("store"), inner.store(key, variants)),
      purge: (key) => (calls.push("purge"), inner.purge(key)),
    };
    const cache = new SharedCache({
      origin: () =>
        new Response("x", { headers: { "cache-control": "max-age=60" } }),
      metastore: logging,
    });
    try {
      await (await cache.fetch(new Request("http://a.test/"))).text();
      await new Promise((resolve) => setTimeout(resolve, 10));
      await (await cache.fetch(new Request("http://a.test/"))).text();
      await (await cache.fetch(
        new Request("http://a.test/", { method: "DELETE" }),
      )).text();
      assert.deepEqual(calls, [
        "lookup",
        "lookup",
        "store",
        "lookup",
        "lookup",
        "purge",
      ]);
    } finally {
      await cache.close();
    }
  });

  it("takes a MetaStore that answers with thenables, not native promises", async () => {
    const inner = heapMetaStore();
    // A promise from another library or realm: `then` only.
    const thenable = <T>(value: T | Promise<T>) => {
      const promise = Promise.resolve(value);
      return { then: promise.then.bind(promise) } as unknown as Promise<T>;
    };
    const foreign: MetaStore = {
      lookup: (key) => thenable(inner.lookup(key)),
      store: (key, variants) => thenable(inner.store(key, variants)),
      purge: (key) => thenable(inner.purge(key)),
    };
    const cache = new SharedCache({
      origin: () =>
        new Response("x", { headers: { "cache-control": "max-age=60" } }),
      metastore: foreign,
    });
    try {
      const miss = await cache.fetch(new Request("http://a.test/"));
      assert.equal(await miss.text(), "x");
      await new Promise((resolve) => setTimeout(resolve, 10));
      const hit = await cache.fetch(new Request("http://a.test/"));
      assert.equal(await hit.text(), "x");
      assert.equal(hit.headers.get("x-cache"), "fresh");
    } finally {
      await cache.close();
    }
  });

  it("refuses unknown or malformed store URIs with a clear error", () => {
    assert.throws(() => metaStoreFrom("redis:"), StoreUriError);
    assert.throws(() => metaStoreFrom("noop:"), StoreUriError);
    assert.throws(() => entityStoreFrom("ftp://x"), StoreUriError);
    assert.throws(() => entityStoreFrom("file:"), /needs a path/);
    assert.throws(() => entityStoreFrom("heap:?maxBytes=-5"), /maxBytes/);
    assert.throws(
      () => new SharedCache({ origin: "not a url" }),
      /http\(s\) URL/,
    );
  });

  it("keeps an entity store within its bounds when bodies complete during a sweep", async () => {
    const bodies = new StreamCache({
      fs: slowRemovals(200),
      reaper: lruReaper({ maxEntries: 2 }),
    });
    const h = harness({
      "/": (request) =>
        new Response(new URL(request.url).search, {
          headers: { "cache-control": "max-age=60" },
        }),
    }, { entitystore: { cache: bodies } });
    try {
      for (const name of ["a", "b", "c"]) {
        await (await h.get(`/?${name}`)).text();
      }
      // The third body's completion started a sweep, which takes 200 ms to
      // remove the first; the fourth completes while it runs.
      await tick(20);
      await (await h.get("/?d")).text();
      await tick(500);
      assert.ok(
        bodies.keys().length <= 2,
        `${bodies.keys().length} bodies kept against maxEntries=2`,
      );
    } finally {
      await h.close();
    }
  });
});
