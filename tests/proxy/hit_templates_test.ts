import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HitTemplates } from "../../lib/proxy/hit_templates.ts";
import type { StoredResponse } from "../../mod.ts";

const MiB = 1 << 20;

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
    const first = templates.answer(body, storedAt(1, 5), build)!;
    const second = templates.answer(body, storedAt(1, 5), build)!;
    assert.equal(builds, 1);
    assert.notEqual(first, second);
    assert.equal(await first.text(), "hello");
    assert.equal(await second.text(), "hello");
    templates.answer(body, storedAt(2, 5), build);
    assert.equal(builds, 2, "a revalidated response gets a new template");
  });

  it("keeps large templates within the budget, and a revalidation frees its old one", () => {
    const templates = new HitTemplates(1.5 * MiB);
    const a = new Uint8Array(MiB);
    const b = new Uint8Array(MiB);
    const build = (bytes: Uint8Array) => () => new Response(bytes.slice());
    assert.ok(templates.answer(a, storedAt(1, MiB), build(a)));
    assert.equal(
      templates.answer(b, storedAt(1, MiB), build(b)),
      undefined,
      "no room for a second 1 MiB copy",
    );
    // The old template of `a` leaves the budget before its successor is made.
    assert.ok(templates.answer(a, storedAt(2, MiB), build(a)));
    assert.equal(
      templates.answer(new Uint8Array(MiB + 1), storedAt(1, MiB + 1), build(a)),
      undefined,
      "past 1 MiB, never",
    );
  });

  it("refuses a budget that is not a number >= 0", () => {
    for (const budget of [-1, NaN]) {
      assert.throws(() => new HitTemplates(budget), TypeError);
    }
  });
});
