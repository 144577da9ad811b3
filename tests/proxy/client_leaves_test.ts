/**
 * A client that leaves before the origin answers: a request made for it
 * alone is aborted, a fetch other clients and the store share goes on. Real
 * servers on loopback, the cache in front of an app that sees its request's
 * signal.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { SharedCache } from "../../lib/proxy/shared_cache.ts";
import { ClientGoneError } from "../../lib/proxy/errors.ts";
import { tick } from "../_util.ts";

/**
 * An app whose answers wait until released (unless asked with `x-now`); it
 * records the requests that reached it and how each one ended.
 */
function waitingApp(cacheControl: string) {
  const arrived: string[] = [];
  const aborted = new Map<string, unknown>();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const origin = async (request: Request) => {
    const path = new URL(request.url).pathname;
    arrived.push(path);
    request.signal.addEventListener(
      "abort",
      () => aborted.set(path, request.signal.reason),
    );
    await Promise.race([
      request.headers.has("x-now") ? undefined : released,
      new Promise((resolve) =>
        request.signal.addEventListener("abort", resolve)
      ),
    ]);
    return new Response(`answer for ${path}`, {
      headers: { "cache-control": cacheControl },
    });
  };
  return { origin, arrived, aborted, release };
}

/** Resolves once `check()` holds, polling; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick(10);
  }
}

/** Runs `visit` with `app` behind a shared cache served on loopback. */
async function behindCache(
  app: ReturnType<typeof waitingApp>,
  visit: (url: string) => Promise<void>,
): Promise<void> {
  const cache = new SharedCache({ origin: app.origin });
  const server = serve(cache.fetch, { port: 0 });
  try {
    await visit(server.url);
  } finally {
    app.release();
    await server.shutdown();
    await cache.close();
  }
}

/** Sends `init` to `url` and leaves once the app has the request. */
async function leaveEarly(
  url: string,
  init: RequestInit,
  arrived: () => boolean,
): Promise<void> {
  const client = new AbortController();
  const answer = fetch(url, { ...init, signal: client.signal }).then(
    (response) => response.body?.cancel(),
    () => {},
  );
  await until(arrived, "the app to get the request");
  client.abort();
  await answer;
}

describe("a client that leaves before the origin answers", () => {
  it(
    "aborts a passed request made for it alone",
    async () => {
      const app = waitingApp("no-store");
      await behindCache(app, async (url) => {
        await leaveEarly(
          `${url}/upload`,
          { method: "POST", body: "data" },
          () => app.arrived.includes("/upload"),
        );
        await until(() => app.aborted.has("/upload"), "the pass to abort");
        assert.ok(app.aborted.get("/upload") instanceof ClientGoneError);
        // A GET the cache does not share (the URL's last answer could not
        // be stored) is that client's alone too.
        const first = await fetch(`${url}/private`, {
          headers: { "x-now": "1" },
        });
        await first.text();
        await leaveEarly(
          `${url}/private`,
          {},
          () => app.arrived.length === 3,
        );
        await until(() => app.aborted.has("/private"), "the fetch to abort");
        assert.ok(app.aborted.get("/private") instanceof ClientGoneError);
      });
    },
  );

  it("goes on with a fetch that is shared, and stores its answer", async () => {
    const app = waitingApp("max-age=60");
    await behindCache(app, async (url) => {
      await leaveEarly(
        `${url}/shared`,
        {},
        () => app.arrived.includes("/shared"),
      );
      // Long enough for an abort to reach the app, were there one.
      await tick(200);
      assert.equal(app.aborted.size, 0);
      app.release();
      // The answer was stored though its client was gone.
      let trace = "";
      for (let turn = 0; turn < 50 && trace !== "fresh"; turn++) {
        const response = await fetch(`${url}/shared`);
        trace = response.headers.get("x-cache") ?? "";
        assert.equal(await response.text(), "answer for /shared");
        if (trace !== "fresh") await tick(20);
      }
      assert.equal(trace, "fresh");
      assert.deepEqual(app.arrived, ["/shared"]);
    });
  });

  it("lets a client that stays read the whole body of its pass, whatever its request's signal does once answered", async () => {
    // Deno's server aborts a request's signal once its handler has answered
    // (unless --unstable-no-legacy-abort): the body still streaming from
    // the origin must not be cut then.
    let aborted = false;
    const origin = (request: Request) => {
      request.signal.addEventListener("abort", () => (aborted = true));
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await tick(30);
            if (sent++ === 5) controller.close();
            else controller.enqueue(new TextEncoder().encode(`${sent} `));
          },
        }),
        { headers: { "cache-control": "no-store" } },
      );
    };
    const cache = new SharedCache({ origin });
    const server = serve(cache.fetch, { port: 0 });
    try {
      for (const method of ["POST", "GET"]) {
        const response = await fetch(`${server.url}/slow`, { method });
        assert.equal(await response.text(), "1 2 3 4 5 ", method);
      }
      assert.equal(aborted, false);
    } finally {
      await server.shutdown();
      await cache.close();
    }
  });

  it("stops waiting when the client leaves, even for an app that ignores its signal, and follows the client a handler's new request came from", async () => {
    let release!: () => void;
    const never = new Promise<void>((resolve) => (release = resolve));
    const aborted: unknown[] = [];
    let cancelled = false;
    const cache = new SharedCache({
      origin: async (request) => {
        request.signal.addEventListener(
          "abort",
          () => aborted.push(request.signal.reason),
        );
        await never; // heeds no signal
        return new Response(
          new ReadableStream({
            pull: (controller) => controller.enqueue(new Uint8Array(1024)),
            cancel: () => void (cancelled = true),
          }),
        );
      },
    });
    // A handler that makes the request anew, from the URL alone.
    cache.on("receive", (ctx) => {
      ctx.request = new Request(ctx.request.url, {
        method: "POST",
        headers: ctx.request.headers,
        body: "data",
      });
    });
    try {
      const client = new AbortController();
      const answer = Promise.resolve(
        cache.fetch(
          new Request("http://a.test/upload", {
            method: "POST",
            body: "data",
            signal: client.signal,
          }),
        ),
      );
      await tick(20);
      client.abort();
      const settled = await Promise.race([
        answer.then(() => "settled", () => "settled"),
        tick(2000).then(() => "still waiting"),
      ]);
      assert.equal(settled, "settled");
      assert.ok(aborted[0] instanceof ClientGoneError, String(aborted[0]));
      // Its answer, when it comes, is read by no one: the body is cancelled.
      release();
      await until(() => cancelled, "the late body to be cancelled");
    } finally {
      release();
      await cache.close();
    }
  });
});
