import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  answersInFull,
  rangeResponse,
  type RangeSource,
} from "../../lib/http/range_response.ts";
import { serve } from "../../lib/adapters/serve.ts";

const TEXT = "0123456789abcdefghijklmnopqrstuvwxyz";
const BYTES = new TextEncoder().encode(TEXT);

/** A RangeSource over BYTES that records which ranges were streamed. */
function recordingSource(chunk = 4) {
  const calls: [number, number][] = [];
  const cancelled: unknown[] = [];
  const source: RangeSource = {
    size: BYTES.byteLength,
    stream(start, end) {
      calls.push([start, end]);
      let offset = start;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= end) return controller.close();
          const next = Math.min(offset + chunk, end);
          controller.enqueue(BYTES.slice(offset, next));
          offset = next;
        },
        cancel(reason) {
          cancelled.push(reason);
        },
      }, { highWaterMark: 0 });
    },
  };
  return { source, calls, cancelled };
}

function request(headers: Record<string, string> = {}, method = "GET") {
  return new Request("http://localhost/file", { method, headers });
}

interface Part {
  headers: Record<string, string>;
  body: string;
}

/** Splits a multipart/byteranges body, checking its framing on the way. */
function parseMultipart(contentType: string, body: string): Part[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1];
  assert.ok(boundary, contentType);
  assert.ok(body.startsWith(`--${boundary}\r\n`), "opens with a boundary");
  assert.ok(body.endsWith(`\r\n--${boundary}--\r\n`), "closes the multipart");
  const inner = body.slice(0, -`\r\n--${boundary}--\r\n`.length);
  return inner.split(`--${boundary}\r\n`).slice(1).map((raw, i, all) => {
    const text = i < all.length - 1 ? raw.slice(0, -2) : raw; // CRLF before next boundary
    const split = text.indexOf("\r\n\r\n");
    const headers: Record<string, string> = {};
    for (const line of text.slice(0, split).split("\r\n")) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1)
        .trim();
    }
    return { headers, body: text.slice(split + 4) };
  });
}

const sources = {
  "Uint8Array": () => BYTES,
  "Blob": () => new Blob([BYTES]),
  "RangeSource": () => recordingSource().source,
};

describe("rangeResponse", () => {
  for (const [name, make] of Object.entries(sources)) {
    describe(`with a ${name}`, () => {
      it("sends the whole source as 200 with Accept-Ranges", async () => {
        const response = rangeResponse(request(), make(), {
          headers: { "content-type": "text/plain" },
        });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("accept-ranges"), "bytes");
        assert.equal(response.headers.get("content-length"), "36");
        assert.equal(await response.text(), TEXT);
      });

      it("sends one range as 206 with Content-Range", async () => {
        const response = rangeResponse(
          request({ range: "bytes=10-15" }),
          make(),
        );
        assert.equal(response.status, 206);
        assert.equal(response.headers.get("content-range"), "bytes 10-15/36");
        assert.equal(response.headers.get("content-length"), "6");
        assert.equal(await response.text(), "abcdef");
      });

      it("sends several ranges as multipart/byteranges", async () => {
        const response = rangeResponse(
          request({ range: "bytes=0-2, -3, 10-11" }),
          make(),
          { headers: { "content-type": "text/plain" } },
        );
        assert.equal(response.status, 206);
        const type = response.headers.get("content-type")!;
        assert.match(type, /^multipart\/byteranges; boundary=[0-9a-f]{24}$/);
        const body = await response.text();
        assert.equal(
          Number(response.headers.get("content-length")),
          new TextEncoder().encode(body).byteLength,
        );
        assert.deepEqual(parseMultipart(type, body), [
          {
            headers: {
              "content-type": "text/plain",
              "content-range": "bytes 0-2/36",
            },
            body: "012",
          },
          {
            headers: {
              "content-type": "text/plain",
              "content-range": "bytes 10-11/36",
            },
            body: "ab",
          },
          {
            headers: {
              "content-type": "text/plain",
              "content-range": "bytes 33-35/36",
            },
            body: "xyz",
          },
        ]);
      });
    });
  }

  it("answers unsatisfiable ranges with 416 and bytes */size", async () => {
    const response = rangeResponse(request({ range: "bytes=100-" }), BYTES);
    assert.equal(response.status, 416);
    assert.equal(response.headers.get("content-range"), "bytes */36");
    assert.equal(await response.text(), "");
  });

  it("sends everything for ignored Range headers", async () => {
    for (
      const range of [
        "bytes=5-1",
        "items=0-1",
        "bytes=" +
        Array.from({ length: 1000 }, (_, i) => `${i}-${i}`).join(","),
      ]
    ) {
      const response = rangeResponse(request({ range }), BYTES);
      assert.equal(response.status, 200, range.slice(0, 20));
      assert.equal(await response.text(), TEXT);
    }
  });

  it("handles repeated Range and conditional header lines", async () => {
    // Fetch joins repeated lines with ", ": a second "bytes=" makes the
    // header malformed, so it is ignored as a whole.
    const headers = new Headers();
    headers.append("range", "bytes=0-1");
    headers.append("range", "bytes=2-3");
    const twice = rangeResponse(
      new Request("http://localhost/", { headers }),
      BYTES,
    );
    assert.equal(twice.status, 200);
    await twice.body?.cancel();
    const conditional = new Headers();
    conditional.append("if-none-match", '"v0"');
    conditional.append("if-none-match", 'W/"v1"');
    const notModified = rangeResponse(
      new Request("http://localhost/", { headers: conditional }),
      BYTES,
      { headers: { etag: '"v1"' } },
    );
    assert.equal(notModified.status, 304);
  });

  it("survives a very long Range header", async () => {
    const long = "bytes=" + "1".repeat(100_000) + "-";
    const response = rangeResponse(request({ range: long }), BYTES);
    assert.equal(response.status, 416);
    const junk = rangeResponse(
      request({ range: "bytes=" + "-".repeat(100_000) }),
      BYTES,
    );
    assert.equal(junk.status, 200);
    await junk.body?.cancel();
  });

  it("honours maxRanges", async () => {
    const response = rangeResponse(
      request({ range: "bytes=0-0, 2-2, 4-4" }),
      BYTES,
      { maxRanges: 2 },
    );
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });

  it("coalesces overlapping ranges into one part", async () => {
    const response = rangeResponse(
      request({ range: "bytes=0-5, 3-9, 0-, 2-4" }),
      BYTES,
    );
    assert.equal(response.status, 206);
    assert.equal(response.headers.get("content-range"), "bytes 0-35/36");
    assert.equal(await response.text(), TEXT);
  });

  it("applies Range only when If-Range matches", async () => {
    const headers = { etag: '"v1"' };
    const matching = rangeResponse(
      request({ range: "bytes=0-1", "if-range": '"v1"' }),
      BYTES,
      { headers },
    );
    assert.equal(matching.status, 206);
    assert.equal(await matching.text(), "01");
    const stale = rangeResponse(
      request({ range: "bytes=0-1", "if-range": '"v0"' }),
      BYTES,
      { headers },
    );
    assert.equal(stale.status, 200);
    assert.equal(await stale.text(), TEXT);
    const unsatisfiableButStale = rangeResponse(
      request({ range: "bytes=99-", "if-range": '"v0"' }),
      BYTES,
      { headers },
    );
    assert.equal(unsatisfiableButStale.status, 200);
    await unsatisfiableButStale.body?.cancel();
  });

  it("answers conditional requests before ranges", () => {
    const headers = {
      etag: '"v1"',
      "cache-control": "max-age=60",
      "content-type": "text/plain",
    };
    const notModified = rangeResponse(
      request({ "if-none-match": '"v1"', range: "bytes=0-1" }),
      BYTES,
      { headers },
    );
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body, null);
    assert.equal(notModified.headers.get("etag"), '"v1"');
    assert.equal(notModified.headers.get("cache-control"), "max-age=60");
    assert.equal(notModified.headers.get("content-type"), null);
    const failed = rangeResponse(
      request({ "if-match": '"v0"' }),
      BYTES,
      { headers },
    );
    assert.equal(failed.status, 412);
    const unconditional = rangeResponse(
      request({ "if-none-match": '"v1"' }),
      BYTES,
      { headers, conditional: false },
    );
    assert.equal(unconditional.status, 200);
  });

  it("ignores Range on other methods and other statuses", async () => {
    const post = rangeResponse(request({ range: "bytes=0-1" }, "POST"), BYTES);
    assert.equal(post.status, 200);
    assert.equal(await post.text(), TEXT);
    const notFound = rangeResponse(request({ range: "bytes=0-1" }), BYTES, {
      status: 404,
    });
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers.get("accept-ranges"), null);
    assert.equal(await notFound.text(), TEXT);
  });

  it("answers HEAD with the headers and no body, ignoring Range", () => {
    const { source, calls } = recordingSource();
    const full = rangeResponse(request({}, "HEAD"), source);
    assert.equal(full.status, 200);
    assert.equal(full.body, null);
    assert.equal(full.headers.get("content-length"), "36");
    // RFC 9110 §14.2: range handling is defined for GET only.
    for (const range of ["bytes=0-1", "bytes=0-1,5-6", "bytes=99-"]) {
      const ranged = rangeResponse(request({ range }, "HEAD"), source);
      assert.equal(ranged.status, 200, range);
      assert.equal(ranged.body, null);
      assert.equal(ranged.headers.get("content-length"), "36");
      assert.equal(ranged.headers.has("content-range"), false);
    }
    assert.deepEqual(calls, []);
  });

  it("reads only the ranges asked for, and only when consumed", async () => {
    const { source, calls } = recordingSource();
    const response = rangeResponse(
      request({ range: "bytes=1-2,30-31" }),
      source,
    );
    assert.deepEqual(calls, []);
    await response.text();
    assert.deepEqual(calls, [[1, 3], [30, 32]]);
  });

  it("cancels the part being streamed when the client cancels", async () => {
    const { source, cancelled } = recordingSource(1);
    const response = rangeResponse(
      request({ range: "bytes=0-9,20-29" }),
      source,
    );
    const reader = response.body!.getReader();
    await reader.read(); // part header
    await reader.read(); // first byte
    await reader.cancel("gone");
    assert.deepEqual(cancelled, ["gone"]);
  });

  it("errors the body when the source ends early", async () => {
    const short: RangeSource = {
      size: 100,
      stream: () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new Uint8Array(5));
            controller.error(new RangeError("file shrank"));
          },
        }),
    };
    const response = rangeResponse(
      request({ range: "bytes=0-9,50-59" }),
      short,
    );
    await assert.rejects(response.arrayBuffer(), /file shrank/);
  });

  it("serves ranges over a real connection, HEAD included", async () => {
    const { source } = recordingSource(3);
    const server = serve(
      (req) =>
        rangeResponse(req, source, {
          headers: { "content-type": "text/plain", etag: '"v1"' },
        }),
      { port: 0 },
    );
    try {
      const single = await fetch(server.url, {
        headers: { range: "bytes=-4" },
      });
      assert.equal(single.status, 206);
      assert.equal(single.headers.get("content-length"), "4");
      assert.equal(await single.text(), "wxyz");

      const multi = await fetch(server.url, {
        headers: { range: "bytes=0-0,35-35" },
      });
      assert.equal(multi.status, 206);
      const body = await multi.text();
      assert.equal(
        Number(multi.headers.get("content-length")),
        new TextEncoder().encode(body).byteLength,
      );
      const parts = parseMultipart(multi.headers.get("content-type")!, body);
      assert.deepEqual(parts.map((p) => p.body), ["0", "z"]);

      const head = await fetch(server.url, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-length"), "36");
      assert.equal(head.headers.get("accept-ranges"), "bytes");
      assert.equal(await head.text(), "");

      const unsatisfiable = await fetch(server.url, {
        headers: { range: "bytes=36-" },
      });
      assert.equal(unsatisfiable.status, 416);
      assert.equal(unsatisfiable.headers.get("content-range"), "bytes */36");
      await unsatisfiable.body?.cancel();
    } finally {
      await server.shutdown();
    }
  });
});

describe("answersInFull", () => {
  it("is true only for a GET with no Range and no conditional header", () => {
    const url = "http://x/";
    assert.equal(answersInFull(new Request(url)), true);
    assert.equal(
      answersInFull(new Request(url, { headers: { accept: "*/*" } })),
      true,
    );
    assert.equal(answersInFull(new Request(url, { method: "HEAD" })), false);
    for (
      const field of [
        "range",
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
      ]
    ) {
      assert.equal(
        answersInFull(new Request(url, { headers: { [field]: "x" } })),
        false,
        field,
      );
    }
  });
});

describe("rangeResponse reads its header fields as Headers does", () => {
  it("matches validators given with surrounding whitespace or as a Map", () => {
    const request = new Request("http://x/", {
      headers: { "if-none-match": '"x"' },
    });
    assert.equal(
      rangeResponse(request, new Uint8Array(1), {
        headers: { ETag: ' "x" ' },
      }).status,
      304,
    );
    assert.equal(
      rangeResponse(request, new Uint8Array(1), {
        headers: new Map([["etag", '"x"']]) as unknown as HeadersInit,
      }).status,
      304,
    );
  });
});
