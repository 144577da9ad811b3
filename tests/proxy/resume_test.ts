/**
 * Clients that joined a body being stored, carried on from the origin with a
 * `Range` request when storing it stops midway, and cut (never spliced) when
 * the origin cannot send the same representation's rest.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { rangeResponse, SharedCache, StreamCache } from "../../mod.ts";
import { tick } from "../_util.ts";
import { type Harness, harness, visit } from "./_harness.ts";
import { failsToCommit, fillsUp } from "./_storage.ts";

const TOTAL = 4 << 20;
const PIECE = 64 * 1024;

/** 4 MiB whose every byte depends on its offset and on `version`. */
function pattern(version = 0): Uint8Array {
  const bytes = new Uint8Array(TOTAL);
  for (let i = 0; i < TOTAL; i++) {
    bytes[i] = (i * 31 + (i >>> 12) + version) & 0xff;
  }
  return bytes;
}

/**
 * `bytes` in 64 KiB pieces that stop after 512 KiB until `gate` settles, so
 * clients can join before storing stops; `dies` errors the body there instead.
 */
function gated(
  bytes: Uint8Array,
  gate: Promise<void>,
  dies = false,
): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === 512 * 1024) {
        await gate;
        if (dies) return controller.error(new Error("origin died"));
      }
      if (sent >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(sent, sent + PIECE));
      sent += PIECE;
    },
  }, { highWaterMark: 0 });
}

/** A gate the test opens. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => open = resolve);
  return { promise, open };
}

/**
 * Sends one client to start the miss and `joiners` to join it while the body
 * waits at the gate, then opens it; returns each client's status and body
 * bytes, or "cut" for a body that ended in an error.
 */
async function crowd(
  h: Harness,
  path: string,
  joiners: RequestInit[],
  open: () => void,
): Promise<{ status: number; body: Uint8Array | "cut" }[]> {
  const first = await h.get(path);
  assert.equal(first.headers.get("x-cache"), "miss, store");
  const joined = await Promise.all(joiners.map((init) => h.get(path, init)));
  for (const response of joined) {
    assert.equal(response.headers.get("x-cache"), "miss, collapsed");
  }
  open();
  return await Promise.all([first, ...joined].map(async (response) => {
    try {
      const body = new Uint8Array(await response.arrayBuffer());
      return { status: response.status, body };
    } catch {
      return { status: response.status, body: "cut" as const };
    }
  }));
}

/** Asserts `got` is all of `bytes`, or the part a 206 says. */
function assertWhole(
  got: { status: number; body: Uint8Array | "cut" },
  bytes: Uint8Array,
  range?: [number, number],
): void {
  assert.ok(got.body !== "cut", "the body is whole");
  const want = got.status === 206 && range
    ? bytes.subarray(range[0], range[1] + 1)
    : bytes;
  assert.equal(got.status, range && got.status === 206 ? 206 : 200);
  const body = got.body as Uint8Array;
  assert.equal(body.byteLength, want.byteLength, "every byte");
  assert.ok(
    body.every((byte, i) => byte === want[i]),
    "the bytes of the one representation",
  );
}

/** The `Range` requests the origin saw for `path`. */
function rangesAsked(h: Harness, path: string) {
  return h.seen.filter((seen) =>
    seen.path === path && seen.headers.has("range")
  );
}

describe("shared cache: resuming joined clients from the origin", () => {
  it("carries clients that joined a body on with a Range when storage fails mid-body", async () => {
    const bytes = pattern();
    const { promise, open } = gate();
    const fields = {
      "cache-control": "public, max-age=60",
      etag: '"v1"',
      "content-length": String(TOTAL),
    };
    const h = harness({
      "/big": (request) =>
        request.headers.has("range")
          ? rangeResponse(request, bytes, { headers: fields })
          : new Response(gated(bytes, promise), { headers: fields }),
    }, { entitystore: { cache: new StreamCache({ fs: fillsUp() }) } });
    try {
      const range: [number, number] = [100_000, 2_999_999];
      const results = await crowd(h, "/big", [
        {},
        {},
        {},
        { headers: { range: `bytes=${range[0]}-${range[1]}` } },
      ], open);
      for (const got of results.slice(0, 4)) assertWhole(got, bytes);
      assertWhole(results[4], bytes, range);
      const asked = rangesAsked(h, "/big");
      assert.equal(asked.length, 4, "each joined client asked for its rest");
      for (const seen of asked) {
        assert.equal(seen.headers.get("if-range"), '"v1"');
        assert.match(seen.headers.get("range")!, /^bytes=\d+-\d*$/);
      }
      const again = await visit(h, "/big");
      assert.match(again.trace!, /^miss/, "nothing was kept");
    } finally {
      await h.close();
    }
  });

  it("carries them on with a strong Last-Modified when a body with no length outgrows maxEntrySize", async () => {
    const bytes = pattern();
    const { promise, open } = gate();
    const fields = {
      "cache-control": "public, max-age=60",
      "last-modified": new Date(Date.now() - 3_600_000).toUTCString(),
    };
    const h = harness({
      "/grows": (request) =>
        request.headers.has("range")
          ? rangeResponse(request, bytes, { headers: fields })
          : new Response(gated(bytes, promise), { headers: fields }),
    }, { maxEntrySize: 1 << 20 });
    try {
      const results = await crowd(h, "/grows", [{}, {}], open);
      for (const got of results) assertWhole(got, bytes);
      const asked = rangesAsked(h, "/grows");
      assert.equal(asked.length, 2);
      for (const seen of asked) {
        assert.equal(seen.headers.get("if-range"), fields["last-modified"]);
      }
    } finally {
      await h.close();
    }
  });

  it("cuts joined clients when no strong validator pins the rest, or the origin's changed", async () => {
    const bytes = pattern();
    const changed = pattern(1);
    const gates = { weak: gate(), changed: gate() };
    const h = harness({
      // A weak tag cannot pin a range (RFC 9110 §13.1.5): no rest is asked.
      "/weak": () =>
        new Response(gated(bytes, gates.weak.promise), {
          headers: { "cache-control": "public, max-age=60", etag: 'W/"v1"' },
        }),
      // The representation changed: If-Range fails and the origin sends it
      // all, which must not be spliced on.
      "/changed": (request) =>
        request.headers.has("range")
          ? rangeResponse(request, changed, { headers: { etag: '"v2"' } })
          : new Response(gated(bytes, gates.changed.promise), {
            headers: { "cache-control": "public, max-age=60", etag: '"v1"' },
          }),
    }, { entitystore: { cache: new StreamCache({ fs: fillsUp() }) } });
    try {
      for (const path of ["/weak", "/changed"] as const) {
        const [fetcher, ...joined] = await crowd(
          h,
          path,
          [{}, {}],
          gates[path.slice(1) as keyof typeof gates].open,
        );
        assertWhole(fetcher, bytes);
        for (const got of joined) {
          assert.equal(got.body === "cut", true, `${path}: cut, not spliced`);
        }
      }
      assert.equal(rangesAsked(h, "/weak").length, 0);
      assert.equal(rangesAsked(h, "/changed").length, 2);
    } finally {
      await h.close();
    }
  });

  it("leaves every client whole when only the commit fails", async () => {
    const bytes = pattern();
    const gates = { sized: gate(), chunked: gate() };
    const fields = { "cache-control": "public, max-age=60", etag: '"v1"' };
    const answer =
      (path: keyof typeof gates, length: boolean) => (request: Request) =>
        request.headers.has("range")
          ? rangeResponse(request, bytes, { headers: fields })
          : new Response(gated(bytes, gates[path].promise), {
            headers: length
              ? { ...fields, "content-length": String(TOTAL) }
              : fields,
          });
    const h = harness({
      "/sized": answer("sized", true),
      "/chunked": answer("chunked", false),
    }, { entitystore: { cache: new StreamCache({ fs: failsToCommit() }) } });
    try {
      for (const path of ["sized", "chunked"] as const) {
        const results = await crowd(h, `/${path}`, [{}, {}], gates[path].open);
        for (const got of results) assertWhole(got, bytes);
        const again = await visit(h, `/${path}`);
        assert.match(again.trace!, /^miss/, `${path}: nothing was kept`);
      }
      // A known length leaves nothing to ask (but Bun's origin server drops
      // the length of a streamed body, oven-sh/bun#10507). An unknown one:
      // each joined client asks past the end once, and the origin's 416
      // says there is nothing more.
      const asked = [
        ...rangesAsked(h, "/sized"),
        ...rangesAsked(h, "/chunked"),
      ];
      assert.ok(asked.length <= 4, `${asked.length} asked`);
      assert.ok(rangesAsked(h, "/chunked").length > 0);
      for (const seen of asked) {
        assert.equal(seen.headers.get("range"), `bytes=${TOTAL}-`);
      }
    } finally {
      await h.close();
    }
  });

  it("lets the origin's rest go when its client leaves while it is asked for", async () => {
    const bytes = pattern();
    const { promise, open } = gate();
    const asked = gate();
    let restCancelled = false;
    const fields = { "cache-control": "public, max-age=60", etag: '"v1"' };
    // In process, so that the cancel of the rest is seen where it lands.
    const cache = new SharedCache({
      entitystore: { cache: new StreamCache({ fs: fillsUp() }) },
      origin: async (request) => {
        if (!request.headers.has("range")) {
          return new Response(gated(bytes, promise), { headers: fields });
        }
        asked.open();
        await new Promise((resolve) => setTimeout(resolve, 200));
        const ranged = rangeResponse(request, bytes, { headers: fields });
        return new Response(
          new ReadableStream({
            pull: (controller) => controller.enqueue(new Uint8Array(65_536)),
            cancel: () => void (restCancelled = true),
          }, { highWaterMark: 0 }),
          { status: ranged.status, headers: ranged.headers },
        );
      },
    });
    try {
      const first = await cache.fetch(new Request("http://a.test/left"));
      const joined = await cache.fetch(new Request("http://a.test/left"));
      assert.equal(joined.headers.get("x-cache"), "miss, collapsed");
      const reader = joined.body!.getReader();
      const reading = (async () => {
        try {
          for (;;) if ((await reader.read()).done) break;
        } catch { /* cancelled */ }
      })();
      // The fetcher's own answer is not the point here.
      void first.body!.cancel().catch(() => {});
      open();
      await asked.promise;
      await reader.cancel("gone");
      await reading;
      for (let i = 0; i < 50 && !restCancelled; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(restCancelled, true, "the origin's rest is let go");
    } finally {
      await cache.close();
    }
  });

  it("does not resume clients when the origin itself dies mid-body", async () => {
    const bytes = pattern();
    const { promise, open } = gate();
    const fields = { "cache-control": "public, max-age=60", etag: '"v1"' };
    const h = harness({
      "/dies": (request) =>
        request.headers.has("range")
          ? rangeResponse(request, bytes, { headers: fields })
          : new Response(gated(bytes, promise, true), { headers: fields }),
    });
    try {
      const results = await crowd(h, "/dies", [{}, {}], open);
      // (Booleans: a failure message that printed 4 MiB would take minutes.)
      for (const got of results) assert.equal(got.body === "cut", true);
      assert.equal(rangesAsked(h, "/dies").length, 0);
    } finally {
      await h.close();
    }
  });
});

/**
 * An origin at `/grows` whose body, `bytes` of no given length, outgrows the
 * cache's `maxEntrySize` (1 MiB) once `open()` lets it past 512 KiB, so that
 * the client that joined it is carried on with `Range`, which `rest`
 * answers (with `from`, the first byte asked for).
 */
function outgrowing(
  bytes: Uint8Array,
  rest: (from: number) => Response,
): { h: Harness; open: () => void } {
  const PIECE = 64 * 1024;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const h = harness({
    "/grows": (request) => {
      const range = request.headers.get("range");
      if (range) return rest(Number(/^bytes=(\d+)-$/.exec(range)![1]));
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (sent === 512 * 1024) await gate;
            if (sent >= bytes.length) return controller.close();
            controller.enqueue(bytes.slice(sent, sent + PIECE));
            sent += PIECE;
          },
        }, { highWaterMark: 0 }),
        { headers: GROWS_FIELDS },
      );
    },
  }, { maxEntrySize: 1 << 20 });
  return { h, open };
}

/** The fields of `outgrowing`'s answers. */
const GROWS_FIELDS = { "cache-control": "public, max-age=60", etag: '"v1"' };

describe("resuming from an origin that does not know the length", () => {
  it("does not take an origin's partial rest of unknown complete length as the end of a joined client's body", async () => {
    const TOTAL = 4 << 20;
    const bytes = new Uint8Array(TOTAL).map((_, i) =>
      (i * 31 + (i >>> 12)) & 0xff
    );
    const { h, open } = outgrowing(bytes, (from) =>
      // A part of the rest, the complete length not known (RFC 9110
      // §14.4); past the end, the end's length.
      from >= TOTAL
        ? new Response(null, {
          status: 416,
          headers: { ...GROWS_FIELDS, "content-range": `bytes */${TOTAL}` },
        })
        : new Response(bytes.slice(from, Math.min(from + 10_000, TOTAL)), {
          status: 206,
          headers: {
            ...GROWS_FIELDS,
            "content-range": `bytes ${from}-${
              Math.min(from + 9_999, TOTAL - 1)
            }/*`,
          },
        }));
    try {
      const first = await h.get("/grows");
      const joined = await h.get("/grows");
      assert.match(joined.headers.get("x-cache")!, /collapsed/);
      open();
      assert.equal((await first.arrayBuffer()).byteLength, TOTAL);
      let got: string;
      try {
        const length = (await joined.arrayBuffer()).byteLength;
        got = length === TOTAL ? "whole" : `${length} bytes, ended cleanly`;
      } catch {
        got = "cut";
      }
      // The origin's `N-M/*` rests are asked for on until it says the end.
      assert.equal(got, "whole");
    } finally {
      await h.close();
    }
  });

  it("cuts a joined client, not loops, when the origin's rest of unknown length brings no byte", async () => {
    let rests = 0;
    // Each rest is "bytes N-(N-1)/*", a range that ends before it starts,
    // with a byte of body all the same; after 100, a 500 ends the loop this
    // test is about.
    const { h, open } = outgrowing(
      new Uint8Array(2 << 20),
      (from) =>
        ++rests > 100
          ? new Response(null, { status: 500 })
          : new Response(new Uint8Array(1), {
            status: 206,
            headers: {
              ...GROWS_FIELDS,
              "content-range": `bytes ${from}-${from - 1}/*`,
            },
          }),
    );
    const joined = await h.get("/grows").then(async (first) => {
      const joined = await h.get("/grows");
      assert.match(joined.headers.get("x-cache")!, /collapsed/);
      open();
      await first.arrayBuffer();
      return joined;
    });
    try {
      const outcome = await Promise.race([
        joined.arrayBuffer().then(() => "ended cleanly", () => "cut"),
        tick(3000).then(() => "still waiting"),
      ]);
      assert.equal(
        outcome,
        "cut",
        `${outcome} after ${rests} requests for the rest, none bringing a byte`,
      );
      assert.ok(rests < 5, `${rests} requests for the rest`);
    } finally {
      await joined.body?.cancel().catch(() => {});
      await h.close();
    }
  });
});
