import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HitTemplates, presetTraceOf } from "../../lib/proxy/hit_templates.ts";
import { ManualClock, SharedCache, type StoredResponse } from "../../mod.ts";

const MiB = 1 << 20;
const FIELDS = { age: "0", trace: ["x-cache", "fresh"] as [string, string] };

/** A stored response as a revalidation at `time` leaves it. */
function storedAt(time: number, size: number): StoredResponse {
  return {
    entity: "e1",
    requestTime: time,
    responseTime: time,
    status: 200,
    statusText: "",
    headers: [],
    vary: {},
    size,
  };
}

describe("hit templates", () => {
  it("builds once per stored response and answers with clones", async () => {
    const templates = new HitTemplates(0);
    const body = new TextEncoder().encode("hello");
    let builds = 0;
    const build = () => (builds++, new Response(body.slice()));
    const first = templates.answer(body, storedAt(1, 5), FIELDS, build)!;
    const second = templates.answer(body, storedAt(1, 5), FIELDS, build)!;
    assert.equal(builds, 1);
    assert.notEqual(first, second);
    assert.equal(await first.text(), "hello");
    assert.equal(await second.text(), "hello");
    templates.answer(body, storedAt(2, 5), FIELDS, build);
    assert.equal(builds, 2, "a revalidated response gets a new template");
  });

  it("keeps large templates within the budget, and a revalidation frees its old one", () => {
    const templates = new HitTemplates(1.5 * MiB);
    const a = new Uint8Array(MiB);
    const b = new Uint8Array(MiB);
    const build = (bytes: Uint8Array) => () => new Response(bytes.slice());
    assert.ok(templates.answer(a, storedAt(1, MiB), FIELDS, build(a)));
    assert.equal(
      templates.answer(b, storedAt(1, MiB), FIELDS, build(b)),
      undefined,
      "no room for a second 1 MiB copy",
    );
    // The old template of `a` leaves the budget before its successor is made.
    assert.ok(templates.answer(a, storedAt(2, MiB), FIELDS, build(a)));
    assert.equal(
      templates.answer(
        new Uint8Array(MiB + 1),
        storedAt(1, MiB + 1),
        FIELDS,
        build(a),
      ),
      undefined,
      "past 1 MiB, never",
    );
  });

  it("carries Age and the trace, remade when they change, never rebuilding the body", async () => {
    const templates = new HitTemplates(0);
    const body = new TextEncoder().encode("hello");
    let builds = 0;
    const build = () => (builds++, new Response(body.slice()));
    const at = (age: string, trace?: string) =>
      templates.answer(body, storedAt(1, 5), {
        age,
        trace: trace ? ["x-cache", trace] : undefined,
      }, build)!;
    const first = at("3", "fresh");
    assert.equal(first.headers.get("age"), "3");
    assert.equal(first.headers.get("x-cache"), "fresh");
    assert.equal(presetTraceOf(first), "fresh");
    const later = at("4", "fresh");
    assert.equal(later.headers.get("age"), "4");
    assert.equal(
      first.headers.get("age"),
      "3",
      "answers already out keep theirs",
    );
    const stale = at("4", "stale");
    assert.equal(stale.headers.get("x-cache"), "stale");
    const untraced = at("4");
    assert.equal(presetTraceOf(untraced), undefined);
    assert.equal(untraced.headers.get("x-cache"), null);
    assert.equal(builds, 1);
    assert.equal(await later.text(), "hello");
  });

  it("refuses a budget that is not a number >= 0", () => {
    for (const budget of [-1, NaN]) {
      assert.throws(() => new HitTemplates(budget), TypeError);
    }
  });
});

describe("hits answered from templates", () => {
  it("carry the current Age and the trace of each request", async () => {
    const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
    const cache = new SharedCache({
      clock,
      origin: () =>
        new Response("hello", {
          headers: {
            "cache-control": "max-age=3600",
            date: new Date(clock.now()).toUTCString(),
          },
        }),
    });
    // A handler that traces some requests only.
    cache.on("deliver", (ctx) => {
      if (ctx.request.headers.has("x-tag")) ctx.trace("tagged");
    });
    const url = "http://cache.test/t";
    await (await cache.fetch(new Request(url))).arrayBuffer();
    const hit = async (headers: HeadersInit = {}) => {
      const response = await cache.fetch(new Request(url, { headers }));
      assert.equal(await response.text(), "hello");
      return [response.headers.get("age"), response.headers.get("x-cache")];
    };
    assert.deepEqual(await hit(), ["0", "fresh"]);
    assert.deepEqual(await hit({ "x-tag": "1" }), ["0", "fresh, tagged"]);
    assert.deepEqual(await hit(), ["0", "fresh"]);
    await clock.advance(5_000);
    assert.deepEqual(await hit(), ["5", "fresh"]);
    assert.deepEqual(await hit({ "x-tag": "1" }), ["5", "fresh, tagged"]);
    await cache.close();
  });
});
