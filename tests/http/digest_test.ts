import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { DigestAbortedError, digestStream } from "../../lib/http/digest.ts";
import { etagFor } from "../../lib/http/etag.ts";

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

describe("digestStream", () => {
  it("passes bytes through unchanged and chunk for chunk", async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(10_000));
    const digest = digestStream();
    const sizes: number[] = [];
    const out: number[] = [];
    for await (const chunk of chunked(bytes, 333).pipeThrough(digest)) {
      sizes.push(chunk.byteLength);
      out.push(...chunk);
    }
    assert.deepEqual(new Uint8Array(out), bytes);
    assert.equal(sizes.length, Math.ceil(10_000 / 333));
    assert.equal(digest.bytes, 10_000);
  });

  it("gives the SHA-256 of the whole body and a strong ETag", async () => {
    const bytes = new Uint8Array(1 << 20).map((_, i) =>
      (i * 31 + (i >> 9)) & 255
    );
    const digest = digestStream();
    await chunked(bytes, 65536).pipeThrough(digest).pipeTo(
      new WritableStream(),
    );
    const expected = createHash("sha256").update(bytes).digest();
    assert.deepEqual(await digest.digest, new Uint8Array(expected));
    assert.equal(
      await digest.etag,
      `"${Buffer.from(expected).toString("base64url")}"`,
    );
    assert.equal(await digest.etag, etagFor(bytes, { weak: false }));
  });

  it("agrees with etagFor on a string body", async () => {
    const digest = digestStream();
    await new Response(new Response("hello").body!.pipeThrough(digest)).text();
    assert.equal(await digest.etag, etagFor("hello", { weak: false }));
  });

  it("digests an empty body", async () => {
    const digest = digestStream({ algorithm: "sha1" });
    await new ReadableStream<Uint8Array>({ start: (c) => c.close() })
      .pipeThrough(digest).pipeTo(new WritableStream());
    assert.deepEqual(
      await digest.digest,
      new Uint8Array(createHash("sha1").digest()),
    );
  });

  it("rejects the digest when the source fails", async () => {
    const digest = digestStream();
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1]));
        controller.error(new Error("origin reset"));
      },
    });
    await assert.rejects(
      failing.pipeThrough(digest).pipeTo(new WritableStream()),
    );
    await assert.rejects(digest.digest, DigestAbortedError);
    await assert.rejects(digest.etag, DigestAbortedError);
  });

  it("rejects the digest when the consumer cancels", async () => {
    const digest = digestStream();
    const reader = chunked(new Uint8Array(1000), 10).pipeThrough(digest)
      .getReader();
    await reader.read();
    await reader.cancel("client went away");
    await assert.rejects(
      digest.digest,
      (error: unknown) =>
        error instanceof DigestAbortedError &&
        error.cause === "client went away",
    );
  });

  it("does not report an unhandled rejection when nobody asks", async () => {
    const digest = digestStream();
    const writer = digest.writable.getWriter();
    await writer.abort(new Error("nobody listens"));
    // Reaching the end of this test without an unhandled rejection is the check;
    // the assertion below makes sure the rejection really happened.
    await assert.rejects(digest.digest, DigestAbortedError);
  });
});
