import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatComment,
  formatEvent,
  InvalidEventError,
  serverSentEvents,
} from "../../lib/http/sse.ts";
import { StreamClosedError } from "../../lib/http/live.ts";
import { isStreaming } from "../../lib/http/streaming.ts";
import { serve } from "../../lib/adapters/serve.ts";

const decoder = new TextDecoder();

describe("formatEvent", () => {
  it("writes fields and the dispatching blank line", () => {
    assert.equal(
      formatEvent({ event: "update", id: 7, retry: 3000, data: "hello" }),
      "event: update\nid: 7\nretry: 3000\ndata: hello\n\n",
    );
  });

  it("splits multi-line data on CRLF, CR and LF", () => {
    assert.equal(
      formatEvent({ data: "a\r\nb\rc\nd" }),
      "data: a\ndata: b\ndata: c\ndata: d\n\n",
    );
    assert.equal(formatEvent({ data: "" }), "data: \n\n");
    assert.equal(formatEvent({ data: "x\n" }), "data: x\ndata: \n\n");
  });

  it("encodes non-string data as JSON", () => {
    assert.equal(
      formatEvent({ data: { a: [1, "b"] } }),
      'data: {"a":[1,"b"]}\n\n',
    );
    assert.equal(formatEvent({ data: null }), "data: null\n\n");
  });

  it("refuses fields that would break the framing", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ event: "a\nb" }, "event"],
      [{ id: "1\r" }, "id"],
      [{ id: "a\0b" }, "id"],
      [{ retry: -1 }, "retry"],
      [{ retry: 1.5 }, "retry"],
      [{ data: () => 1 }, "data"],
    ];
    for (const [event, field] of bad) {
      assert.throws(
        () => formatEvent(event),
        (error: unknown) =>
          error instanceof InvalidEventError && error.field === field,
      );
    }
  });
});

describe("formatComment", () => {
  it("writes one comment line per line", () => {
    assert.equal(formatComment(), ": \n\n");
    assert.equal(formatComment("a\nb"), ": a\n: b\n\n");
  });
});

describe("serverSentEvents", () => {
  it("streams events with SSE headers", async () => {
    const response = serverSentEvents(async (events) => {
      await events.send("plain");
      await events.send({ event: "tick", id: 1, data: { n: 1 } });
      await events.comment("note");
    }, { retry: 2000, heartbeat: false });
    assert.equal(
      response.headers.get("content-type"),
      "text/event-stream; charset=utf-8",
    );
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(response.headers.get("x-accel-buffering"), "no");
    assert.equal(isStreaming(response), true);
    assert.equal(
      await response.text(),
      "retry: 2000\n\n" +
        "data: plain\n\n" +
        'event: tick\nid: 1\ndata: {"n":1}\n\n' +
        ": note\n\n",
    );
  });

  it("keeps headers given in init", () => {
    const response = serverSentEvents(() => {}, {
      heartbeat: false,
      headers: { "cache-control": "no-cache", "x-a": "1" },
      status: 200,
    });
    assert.equal(response.headers.get("cache-control"), "no-cache");
    assert.equal(response.headers.get("x-a"), "1");
  });

  it("sends heartbeats while the producer is quiet", async () => {
    let finish!: () => void;
    const quiet = new Promise<void>((resolve) => (finish = resolve));
    const response = serverSentEvents(() => quiet, { heartbeat: 5 });
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    assert.equal(decoder.decode(value), ": \n\n");
    finish();
    await reader.cancel();
  });

  it("errors the stream when an event is malformed", async () => {
    const response = serverSentEvents(async (events) => {
      await events.send({ data: "ok" });
      await events.send({ event: "bad\nname", data: "x" });
    }, { heartbeat: false });
    await assert.rejects(response.text(), InvalidEventError);
  });

  it("works with EventSource-style parsing over a real connection, and stops on disconnect", async () => {
    let report!: (error: unknown) => void;
    const stopped = new Promise<unknown>((resolve) => (report = resolve));
    const server = serve((request) =>
      serverSentEvents(async (events) => {
        const last = Number(request.headers.get("last-event-id") ?? 0);
        try {
          for (let id = last + 1;; id++) {
            await events.send({ event: "count", id, data: `n=${id}\nok` });
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        } catch (error) {
          report(error);
        }
      }, { heartbeat: 1000 }), { port: 0 });
    try {
      const controller = new AbortController();
      const response = await fetch(server.url, {
        headers: { "last-event-id": "41" },
        signal: controller.signal,
      });
      assert.equal(
        response.headers.get("content-type"),
        "text/event-stream; charset=utf-8",
      );
      const reader = response.body!.getReader();
      let text = "";
      while (!text.includes("\n\n")) {
        const { value } = await reader.read();
        text += decoder.decode(value);
      }
      assert.ok(
        text.startsWith("event: count\nid: 42\ndata: n=42\ndata: ok\n\n"),
        text,
      );
      controller.abort();
      await reader.cancel().catch(() => {});
      const error = await stopped;
      assert.ok(error instanceof StreamClosedError);
      assert.equal(error.disconnected, true);
    } finally {
      await server.shutdown();
    }
  });
});
