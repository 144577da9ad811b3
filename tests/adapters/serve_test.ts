/**
 * The runtime's server as `serve` wraps it: what a client sees when a handler
 * fails.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { liveStream } from "../../lib/http/live.ts";
import { serverSentEvents } from "../../lib/http/sse.ts";
import { sharedCache } from "../../lib/proxy/shared_cache.ts";

describe("serve", () => {
  it("answers a handler that throws with a plain 500 that shows nothing of the error", async () => {
    const server = serve(() => {
      throw new Error("secret-db-password=hunter2");
    }, { port: 0 });
    try {
      const response = await fetch(server.url);
      assert.equal(response.status, 500);
      const body = await response.text();
      assert.ok(body.length < 200, `a short body, not a page: ${body.length}`);
      assert.doesNotMatch(body, /hunter2|serve_test|at /);
    } finally {
      await server.shutdown();
    }
  });

  it("ends its live bodies when it shuts down, telling their producers", async () => {
    const stopped: string[] = [];
    const server = serve(
      (request) =>
        new URL(request.url).pathname === "/events"
          ? serverSentEvents(async (events) => {
            while (!events.signal.aborted) {
              await events.send("tick").catch(() => {});
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            stopped.push("events");
          })
          : liveStream(async (out) => {
            while (!out.signal.aborted) {
              await out.write("tick\n").catch(() => {});
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            stopped.push("live");
          }),
      { port: 0 },
    );
    const bodies = await Promise.all(
      ["/events", "/live"].map(async (path) => {
        const response = await fetch(server.url + path);
        const reader = response.body!.getReader();
        await reader.read(); // it is under way
        // (Wrapped: an async function returning a promise would wait on it.)
        return {
          end: (async () => {
            for (;;) if ((await reader.read()).done) return "ended";
          })().catch(() => "cut"),
        };
      }),
    );
    const stopped_ = await Promise.race([
      server.shutdown().then(() => "stopped"),
      new Promise((resolve) => setTimeout(resolve, 3000, "still waiting")),
    ]);
    assert.equal(stopped_, "stopped", "shutdown does not wait on live clients");
    assert.deepEqual(
      await Promise.all(bodies.map((body) => body.end)),
      ["ended", "ended"],
    );
    for (let i = 0; i < 50 && stopped.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(stopped.sort(), ["events", "live"]);
  });

  it("ends an app's live body behind the shared cache when it shuts down", async () => {
    const app = () =>
      serverSentEvents(async (events) => {
        while (!events.signal.aborted) {
          await events.send("tick").catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      });
    const server = serve(sharedCache({})(app), { port: 0 });
    const response = await fetch(server.url + "/events");
    const reader = response.body!.getReader();
    await reader.read();
    const end = (async () => {
      for (;;) if ((await reader.read()).done) return "ended";
    })().catch(() => "cut");
    const stopped = await Promise.race([
      server.shutdown().then(() => "stopped"),
      new Promise((resolve) => setTimeout(resolve, 3000, "still waiting")),
    ]);
    assert.equal(stopped, "stopped");
    assert.equal(await end, "ended");
  });
});
