import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  liveBody,
  liveStream,
  StreamClosedError,
} from "../../lib/http/live.ts";
import { isStreaming } from "../../lib/http/streaming.ts";
import { serve } from "../../lib/adapters/serve.ts";

const decoder = new TextDecoder();
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Fails the test instead of hanging it if `promise` never settles. */
function guard<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: never happened`)),
      15_000,
    );
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

describe("liveStream", () => {
  it("streams what the producer writes, then ends", async () => {
    const response = liveStream(async (out) => {
      await out.write("a");
      await out.write(new TextEncoder().encode("b"));
      await out.write("");
      await out.write("c");
    }, { headers: { "content-type": "text/plain" } });
    assert.equal(isStreaming(response), true);
    assert.equal(response.headers.get("content-type"), "text/plain");
    assert.equal(await response.text(), "abc");
  });

  it("holds writes back until the consumer has room (bounded buffering)", async () => {
    const { body, out } = liveBody(8);
    let resolved = 0;
    await out.write("1234"); // 4 of 8 queued: room left
    const full = out.write("5678").then(() => resolved++); // queue full
    await tick();
    await tick();
    assert.equal(resolved, 0);
    assert.equal(out.desiredSize, 0);
    const reader = body.getReader();
    assert.equal(decoder.decode((await reader.read()).value), "1234");
    await full;
    assert.equal(resolved, 1);
    out.close();
    assert.equal(decoder.decode((await reader.read()).value), "5678");
    assert.equal((await reader.read()).done, true);
  });

  it("rejects writes after close, and close is idempotent", async () => {
    const { body, out } = liveBody();
    out.close();
    out.close();
    await assert.rejects(
      out.write("late"),
      (error: unknown) =>
        error instanceof StreamClosedError && error.disconnected === false,
    );
    await out.closed;
    assert.equal(await new Response(body).text(), "");
  });

  it("tells the producer when the consumer cancels", async () => {
    const { body, out } = liveBody(4);
    const pending = out.write("12345"); // over the mark: waits
    await body.cancel("reader left");
    await assert.rejects(
      pending,
      (error: unknown) =>
        error instanceof StreamClosedError && error.disconnected &&
        error.cause === "reader left",
    );
    await assert.rejects(out.write("more"), StreamClosedError);
    assert.equal(out.signal.aborted, true);
    assert.ok(out.signal.reason instanceof StreamClosedError);
    await out.closed;
  });

  it("errors the body when the producer throws", async () => {
    const response = liveStream(async (out) => {
      await out.write("partial");
      throw new Error("producer failed");
    });
    await assert.rejects(response.text(), /producer failed/);
  });

  it("stops the producer when a real client disconnects", async () => {
    let report!: (value: { error: unknown; aborted: boolean }) => void;
    const stopped = new Promise<{ error: unknown; aborted: boolean }>(
      (resolve) => (report = resolve),
    );
    const server = serve(() =>
      liveStream(async (out) => {
        try {
          for (let i = 0;; i++) {
            await out.write(`event ${i}\n`.padEnd(4096, "."));
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        } catch (error) {
          report({ error, aborted: out.signal.aborted });
        }
      }), { port: 0 });
    try {
      const controller = new AbortController();
      const response = await fetch(server.url, { signal: controller.signal });
      const reader = response.body!.getReader();
      const { value } = await reader.read();
      assert.match(decoder.decode(value), /^event 0/);
      controller.abort();
      await reader.cancel().catch(() => {});
      const { error, aborted } = await guard(stopped, "producer stop");
      assert.ok(error instanceof StreamClosedError, String(error));
      assert.equal(error.disconnected, true);
      assert.equal(aborted, true);
    } finally {
      await server.shutdown();
    }
  });

  it("stops a producer blocked on backpressure when the client disconnects", async () => {
    let report!: (error: unknown) => void;
    const stopped = new Promise<unknown>((resolve) => (report = resolve));
    let writes = 0;
    const server = serve(() =>
      liveStream(async (out) => {
        try {
          for (;;) {
            await out.write(new Uint8Array(64 * 1024));
            writes++;
          }
        } catch (error) {
          report(error);
        }
      }, { highWaterMark: 64 * 1024 }), { port: 0 });
    try {
      const controller = new AbortController();
      const response = await fetch(server.url, { signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read(); // the client reads a little, then stops reading
      controller.abort();
      await reader.cancel().catch(() => {});
      const error = await guard(stopped, "producer stop");
      assert.ok(error instanceof StreamClosedError);
      // Bounded: the producer could not run ahead without limit.
      assert.ok(writes < 10_000, `wrote ${writes} chunks`);
    } finally {
      await server.shutdown();
    }
  });
});
