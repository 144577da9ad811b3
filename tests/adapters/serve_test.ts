/**
 * The runtime's server as `serve` wraps it: what a client sees when a handler
 * fails, and what a handler is given and sends on either runtime.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { liveStream } from "../../lib/http/live.ts";
import { rangeResponse } from "../../lib/http/range_response.ts";
import { serverSentEvents } from "../../lib/http/sse.ts";
import { sharedCache } from "../../lib/proxy/shared_cache.ts";
import { rawExchange } from "../_util.ts";

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

  it("sends bytes without Content-Type unlabelled, and strings as text", async () => {
    const server = serve((request) => {
      const size = new URL(request.url).searchParams.get("size");
      return size === null
        ? new Response("text")
        : rangeResponse(request, new Uint8Array(Number(size)).fill(97));
    }, { port: 0 });
    try {
      for (const size of [5, 300_000]) {
        const response = await fetch(`${server.url}/?size=${size}`);
        assert.equal(response.headers.get("content-type"), null, `${size}`);
        assert.equal((await response.bytes()).byteLength, size);
      }
      const text = await fetch(server.url);
      assert.match(text.headers.get("content-type")!, /^text\/plain/);
      assert.equal(await text.text(), "text");
    } finally {
      await server.shutdown();
    }
  });

  it("gives a request with no Host this server's URL", async () => {
    const server = serve(
      (request) => new Response(new URL(request.url).pathname),
      { port: 0 },
    );
    try {
      const answer = await rawExchange(
        server.port,
        "GET /health HTTP/1.0\r\n\r\n",
      );
      assert.match(answer, /^HTTP\/1\.[01] 200/);
      assert.match(answer, /\r\n\r\n\/health$/);
    } finally {
      await server.shutdown();
    }
  });

  it("takes uploads larger than 128 MiB, streamed through", async () => {
    const size = 129 * 2 ** 20;
    const server = serve(async (request) => {
      let seen = 0;
      for await (const chunk of request.body!) seen += chunk.byteLength;
      return new Response(String(seen));
    }, { port: 0 });
    try {
      const piece = new Uint8Array(1 << 20);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === size) return controller.close();
          sent += piece.byteLength;
          controller.enqueue(piece);
        },
      });
      const response = await fetch(server.url, {
        method: "POST",
        headers: { "content-length": String(size) },
        body,
        duplex: "half",
      } as RequestInit);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), String(size));
    } finally {
      await server.shutdown();
    }
  });
});
