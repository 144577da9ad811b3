import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  InvalidChunkError,
  isStreaming,
  stream,
  streamChunks,
} from "../../lib/http/streaming.ts";
import { serve } from "../../lib/adapters/serve.ts";

const decoder = new TextDecoder();

describe("stream", () => {
  it("streams strings, bytes and Blobs, encoded as it goes", async () => {
    const response = stream([
      "héllo ",
      new TextEncoder().encode("bytes "),
      new Blob(["blob ", "parts"]),
      "",
      "!",
    ]);
    assert.equal(await response.text(), "héllo bytes blob parts!");
  });

  it("streams async iterables", async () => {
    async function* rows() {
      for (let i = 0; i < 3; i++) {
        await Promise.resolve();
        yield `${i}\n`;
      }
    }
    const response = stream(rows(), {
      headers: { "content-type": "text/plain" },
    });
    assert.equal(response.headers.get("content-type"), "text/plain");
    assert.equal(await response.text(), "0\n1\n2\n");
  });

  it("cancels a Blob being streamed along with the iterator", async () => {
    let cleanedUp = false;
    function* blobs() {
      try {
        yield new Blob([new Uint8Array(1 << 20)]);
        yield "never";
      } finally {
        cleanedUp = true;
      }
    }
    const reader = stream(blobs()).body!.getReader();
    const { value } = await reader.read();
    assert.ok(value && value.byteLength > 0);
    await reader.cancel();
    assert.equal(cleanedUp, true);
  });

  it("pulls nothing before the consumer asks", async () => {
    let produced = 0;
    function* numbers() {
      for (let i = 0; i < 100; i++) {
        produced++;
        yield String(i);
      }
    }
    const reader = stream(numbers()).body!.getReader();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(produced, 0);
    await reader.read();
    assert.equal(produced, 1);
    await reader.read();
    assert.equal(produced, 2);
    await reader.cancel();
  });

  it("calls the iterator's return() when the body is cancelled", async () => {
    let cleanedUp = false;
    async function* endless() {
      try {
        for (let i = 0;; i++) yield `${i},`;
      } finally {
        cleanedUp = true;
      }
    }
    const reader = stream(endless()).body!.getReader();
    await reader.read();
    await reader.cancel("bye");
    assert.equal(cleanedUp, true);
  });

  it("tells the source when the body is cancelled before its first read", async () => {
    let cancelled: unknown;
    const source = new ReadableStream<string>({
      pull: (controller) => controller.enqueue("x"),
      cancel: (reason) => void (cancelled = reason ?? "cancelled"),
    });
    await stream(source).body!.cancel("bye");
    assert.ok(cancelled, "the ReadableStream is cancelled");
    let returned = false;
    const iterable: AsyncIterable<string> = {
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ value: "x", done: false }),
        return: () => {
          returned = true;
          return Promise.resolve({ value: undefined, done: true });
        },
      }),
    };
    await stream(iterable).body!.cancel();
    assert.equal(returned, true, "the iterator's return() is called");
  });

  it("cancels without an error a body whose source already failed", async () => {
    const broken = new ReadableStream<string>({
      start: (controller) => controller.error(new Error("source broke")),
    });
    await stream(broken).body!.cancel("bye");
  });

  it("errors the body on a chunk of the wrong type and stops the iterator", async () => {
    let cleanedUp = false;
    function* bad(): Generator<unknown> {
      try {
        yield "ok";
        yield 42;
        yield "never";
      } finally {
        cleanedUp = true;
      }
    }
    const response = stream(bad() as Iterable<string>);
    await assert.rejects(response.text(), InvalidChunkError);
    assert.equal(cleanedUp, true);
  });

  it("errors the body when the iterable throws", async () => {
    async function* failing() {
      yield "a";
      throw new Error("database went away");
    }
    await assert.rejects(stream(failing()).text(), /database went away/);
  });

  it("streams over a real connection and stops the producer on disconnect", async () => {
    let stopped!: () => void;
    const producerStopped = new Promise<void>((resolve) => (stopped = resolve));
    const server = serve(() =>
      stream((async function* () {
        try {
          for (let i = 0;; i++) {
            yield `line ${i}\n`.padEnd(1024, ".");
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        } finally {
          stopped();
        }
      })()), { port: 0 });
    try {
      const controller = new AbortController();
      const response = await fetch(server.url, { signal: controller.signal });
      const reader = response.body!.getReader();
      const { value } = await reader.read();
      assert.match(decoder.decode(value), /^line 0/);
      controller.abort();
      await reader.cancel().catch(() => {});
      await producerStopped;
    } finally {
      await server.shutdown();
    }
  });
});

describe("streamChunks", () => {
  it("yields a body's chunks", async () => {
    const chunks: string[] = [];
    for await (const chunk of streamChunks(stream(["a", "b", "c"]))) {
      chunks.push(decoder.decode(chunk));
    }
    assert.deepEqual(chunks, ["a", "b", "c"]);
  });

  it("yields nothing for a response without a body", async () => {
    for await (const _ of streamChunks(new Response(null))) {
      assert.fail("no chunks expected");
    }
  });

  it("cancels the body when the loop ends early", async () => {
    let cleanedUp = false;
    function* endless() {
      try {
        for (;;) yield "x";
      } finally {
        cleanedUp = true;
      }
    }
    for await (const _ of streamChunks(stream(endless()))) break;
    assert.equal(cleanedUp, true);
  });
});

describe("isStreaming", () => {
  it("recognises streamed and event-stream responses only", () => {
    assert.equal(isStreaming(stream(["a"])), true);
    assert.equal(
      isStreaming(
        new Response(new ReadableStream(), {
          headers: { "content-type": "text/event-stream" },
        }),
      ),
      true,
    );
    assert.equal(isStreaming(new Response("a")), false);
    assert.equal(isStreaming(new Response(null)), false);
    assert.equal(isStreaming(new Response(new ReadableStream())), false);
    assert.equal(
      isStreaming(stream(["a"], { headers: { "content-length": "1" } })),
      false,
    );
  });
});
