import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cacheBusters } from "../../mod.ts";
import { tick } from "../_util.ts";
import {
  harness,
  numbered,
  overlapping,
  revalidatable,
  visit,
} from "./_harness.ts";

/** A body that arrives in `parts` pieces, `pause` ms apart; `fail` makes it die after half. */
function slowBody(
  parts: number,
  pause: number,
  fail = false,
): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      if (fail && sent === parts / 2) {
        controller.error(new Error("origin died"));
        return;
      }
      if (sent === parts) return controller.close();
      controller.enqueue(new TextEncoder().encode(`part ${sent++}\n`));
    },
  }, { highWaterMark: 0 });
}

const expected = Array.from({ length: 10 }, (_, i) => `part ${i}\n`).join("");

describe("shared cache: request coalescing", () => {
  it("makes one origin request for 100 concurrent misses, all streaming the body live", async () => {
    const h = harness({
      "/slow": () =>
        new Response(slowBody(10, 30), {
          headers: { "cache-control": "max-age=60" },
        }),
    });
    try {
      const started = Date.now();
      let firstByteAt = 0;
      const clients = Array.from({ length: 100 }, async (_, i) => {
        const response = await h.get("/slow");
        const reader = response.body!.getReader();
        let text = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (i === 0 && !firstByteAt) firstByteAt = Date.now() - started;
          text += new TextDecoder().decode(value);
        }
        return { text, trace: response.headers.get("x-cache") };
      });
      const results = await Promise.all(clients);
      const total = Date.now() - started;
      assert.equal(h.count("/slow"), 1, "one origin request");
      for (const { text } of results) assert.equal(text, expected);
      const traces = new Set(results.map((r) => r.trace));
      assert.ok(traces.has("miss, store"));
      assert.ok(traces.has("miss, collapsed"), [...traces].join(" | "));
      assert.ok(
        firstByteAt < total - 100,
        `first byte at ${firstByteAt} ms of ${total} ms: streamed live`,
      );
      const later = await h.get("/slow");
      assert.equal(later.headers.get("x-cache"), "fresh");
      assert.equal(await later.text(), expected);
    } finally {
      await h.close();
    }
  });

  it("coalesces concurrent misses of a URL cacheBusters stores (no hit-for-pass left behind)", async () => {
    const h = harness({
      "/app.js": () =>
        new Response(slowBody(5, 30), {
          headers: { "content-type": "text/javascript" },
        }),
    });
    h.cache.use(cacheBusters());
    try {
      const first = visit(h, "/app.js?v=1");
      await tick(60); // the head has come, the body is being stored
      const rest = await Promise.all([
        visit(h, "/app.js?v=1"),
        visit(h, "/app.js?v=1"),
        visit(h, "/app.js?v=1"),
      ]);
      assert.equal((await first).trace, "miss, busted, store");
      for (const answer of rest) {
        assert.equal(answer.body, expected.slice(0, "part 0\n".length * 5));
        assert.equal(answer.trace, "miss, collapsed");
      }
      assert.equal(h.count("/app.js"), 1, "one origin request");
    } finally {
      await h.close();
    }
  });

  it("gives clients a terminated body and stores nothing when the origin dies mid-body", async () => {
    const h = harness({
      "/dies": (_request, n) =>
        n === 1
          ? new Response(slowBody(10, 10, true), {
            headers: { "cache-control": "max-age=60" },
          })
          : new Response(expected, {
            headers: { "cache-control": "max-age=60" },
          }),
    });
    try {
      const outcomes = await Promise.all(Array.from({ length: 5 }, async () => {
        const response = await h.get("/dies");
        try {
          await response.text();
          return "complete";
        } catch {
          return "terminated";
        }
      }));
      assert.deepEqual(
        outcomes,
        Array(5).fill("terminated"),
        "no client takes a cut body as complete",
      );
      assert.equal(h.count("/dies"), 1);
      const next = await h.get("/dies");
      assert.equal(
        next.headers.get("x-cache"),
        "miss, store",
        "nothing was stored",
      );
      assert.equal(await next.text(), expected);
    } finally {
      await h.close();
    }
  });

  it("has the waiters of a fetch that failed, or brought another variant, share the next one", async () => {
    const later = (ms: number) =>
      new Promise((resolve) => setTimeout(resolve, ms));
    const h = harness({
      "/fails": async (_request, n) => {
        await later(n === 1 ? 1500 : 300); // the first is past originTimeout
        return new Response("ok", {
          headers: { "cache-control": "max-age=60" },
        });
      },
      "/vary": async () => {
        await later(300);
        return new Response("ok", {
          headers: { "cache-control": "max-age=60", vary: "accept-language" },
        });
      },
    }, { originTimeout: 1000 });
    try {
      const visits = Array.from({ length: 20 }, () => visit(h, "/fails"));
      // The cache's clock is the harness's manual one: time out the first,
      // once the origin has it (a slow machine may take a while to send it)
      // and the others have had a moment to join it.
      while (h.count("/fails") < 1) await later(10);
      await later(200);
      await h.clock.advance(1001);
      const fails = await Promise.all(visits);
      assert.equal(fails.filter((r) => r.status === 504).length, 1);
      assert.equal(h.count("/fails"), 2, "one retry for the 19 who waited");
      const first = visit(h, "/vary", {
        headers: { "accept-language": "fr" },
      });
      await later(50);
      const others = Array.from(
        { length: 19 },
        () => visit(h, "/vary", { headers: { "accept-language": "en" } }),
      );
      const varied = await Promise.all([first, ...others]);
      assert.ok(varied.every((r) => r.status === 200));
      assert.equal(h.count("/vary"), 2, "one fetch for fr, one for the en");
    } finally {
      await h.close();
    }
  });

  it("keeps filling the entry for the others when the client that started it leaves", async () => {
    const h = harness({
      "/shared": () =>
        new Response(slowBody(10, 20), {
          headers: { "cache-control": "max-age=60" },
        }),
    });
    try {
      const leaver = await h.get("/shared");
      const stayer = h.get("/shared");
      const reader = leaver.body!.getReader();
      await reader.read();
      await reader.cancel();
      const stayed = await stayer;
      assert.equal(await stayed.text(), expected);
      assert.equal(h.count("/shared"), 1);
      const hit = await h.get("/shared");
      assert.equal(hit.headers.get("x-cache"), "fresh");
      assert.equal(await hit.text(), expected);
    } finally {
      await h.close();
    }
  });

  it("does not share a response that may not be stored", async () => {
    const h = harness({
      "/mine": numbered("for ", { "cache-control": "private" }),
    });
    try {
      const texts = await Promise.all(
        Array.from({ length: 5 }, async () => (await h.get("/mine")).text()),
      );
      assert.equal(new Set(texts).size, 5, "each client got its own response");
      assert.equal(h.count("/mine"), 5);
    } finally {
      await h.close();
    }
  });

  it("does not hand waiters an answer that may not be reused without validation", async () => {
    const directives = ["no-cache", "max-age=0, must-revalidate", "max-age=0"];
    const h = harness(Object.fromEntries(directives.map((cc, i) => [
      `/v${i}`,
      async (_request: Request, n: number) => {
        await tick(50);
        return new Response(`for ${n}`, {
          headers: { "cache-control": cc, etag: `"${n}"` },
        });
      },
    ])));
    try {
      for (const [i, cc] of directives.entries()) {
        const texts = await Promise.all(
          Array.from({ length: 5 }, async (_, j) => {
            await tick(j * 5);
            return (await h.get(`/v${i}`)).text();
          }),
        );
        assert.equal(new Set(texts).size, 5, `${cc}: ${texts}`);
        assert.equal(h.count(`/v${i}`), 5, cc);
      }
    } finally {
      await h.close();
    }
  });

  it("collapses concurrent revalidations of a stale entry into one", async () => {
    const h = harness({
      "/v": (request) =>
        request.headers.get("if-none-match") === '"v"'
          ? new Promise<Response>((resolve) =>
            setTimeout(
              () =>
                resolve(
                  new Response(null, { status: 304, headers: { etag: '"v"' } }),
                ),
              50,
            )
          )
          : new Response("v", {
            headers: { "cache-control": "max-age=1", etag: '"v"' },
          }),
    });
    try {
      await (await h.get("/v")).text();
      await h.clock.advance(10_000);
      const texts = await Promise.all(
        Array.from({ length: 20 }, async () => (await h.get("/v")).text()),
      );
      assert.deepEqual(new Set(texts), new Set(["v"]));
      assert.equal(h.count("/v"), 2, "one revalidation for twenty clients");
    } finally {
      await h.close();
    }
  });
});

describe("collapsed forwarding, reviewed", () => {
  it("a client collapsed onto another's revalidation gets the refreshed response's Age, not its stale lookup's", async () => {
    const h = harness({
      "/v": revalidatable(
        '"v"',
        "v",
        { "cache-control": "max-age=60" },
        {},
        200,
      ),
    });
    try {
      await (await h.get("/v")).text();
      await h.clock.advance(100_000); // stale: 100 s old, max-age 60
      const first = h.get("/v"); // revalidates
      await tick(50);
      const second = h.get("/v"); // joins that revalidation
      const answers = await Promise.all([first, second]);
      for (const response of answers) await response.text();
      assert.equal(h.count("/v"), 2, "one revalidation");
      assert.equal(answers[0].headers.get("age"), "0");
      assert.match(answers[1].headers.get("x-cache")!, /collapsed/);
      assert.equal(
        answers[1].headers.get("age"),
        "0",
        "the revalidated response is new, not 100 s old (RFC 9111 §4.2.3)",
      );
    } finally {
      await h.close();
    }
  });

  it("lets clients that waited on a fetch whose answer may not be stored go to the origin side by side", async () => {
    const held = overlapping(
      () => new Response("mine", { headers: { "cache-control": "private" } }),
      300,
    );
    const h = harness({ "/private": held.route });
    try {
      await Promise.all(
        Array.from({ length: 5 }, async (_, i) => {
          await tick(i * 10); // the first asks, the others join its fetch
          await (await h.get("/private")).text();
        }),
      );
      assert.equal(h.count("/private"), 5);
      // The first answer puts the URL in hit-for-pass: the four that waited
      // for it then ask at once, not one behind another.
      assert.equal(held.most(), 4);
    } finally {
      await h.close();
    }
  });
});
