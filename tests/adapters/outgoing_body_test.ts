import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { outgoingBody } from "../../lib/adapters/outgoing_body.ts";
import { markBodyKind } from "../../lib/http/body_kind.ts";
import { Loan, markLentBody } from "../../lib/stream/lent_views.ts";

/** A stream of `chunks`, one per pull. */
function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    pull(controller) {
      if (next === chunks.length) controller.close();
      else controller.enqueue(chunks[next++]);
    },
  }, { highWaterMark: 0 });
}

function bytes(size: number, fill: number): Uint8Array {
  return new Uint8Array(size).fill(fill);
}

/** Every chunk `response`'s body gives, read one pull at a time. */
async function chunksOf(response: Response): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of response.body!) chunks.push(chunk.slice());
  return chunks;
}

describe("outgoingBody", () => {
  it("leaves a response it does not know to be a stream as it is", () => {
    const plain = new Response("hi");
    assert.equal(outgoingBody(plain, 4), plain);
    const streamingWithoutCut = markBodyKind(
      new Response(streamOf([bytes(8, 1)])),
      "streaming",
    );
    assert.equal(outgoingBody(streamingWithoutCut), streamingWithoutCut);
  });

  it("cuts a streaming body's chunks to maxChunk, keeping status, fields and bytes", async () => {
    const original = markBodyKind(
      new Response(streamOf([bytes(10, 1), bytes(3, 2), bytes(8, 3)]), {
        status: 203,
        headers: { "content-length": "21", "x-kept": "yes" },
      }),
      "streaming",
    );
    const out = outgoingBody(original, 4);
    assert.notEqual(out, original);
    assert.equal(out.status, 203);
    assert.equal(out.headers.get("x-kept"), "yes");
    assert.equal(out.headers.get("content-length"), "21");
    const chunks = await chunksOf(out);
    assert.deepEqual(chunks.map((c) => c.byteLength), [4, 4, 2, 3, 4, 4]);
    assert.deepEqual(
      Array.from(chunks.flatMap((c) => Array.from(c))),
      [...Array(10).fill(1), ...Array(3).fill(2), ...Array(8).fill(3)],
    );
  });

  it("returns a lent view once the two chunks after it are asked for, and never cuts one", async () => {
    const blocks = [bytes(6, 1), bytes(6, 2), bytes(6, 3), bytes(6, 4)];
    const views = blocks.map((block) => {
      const loan = new Loan();
      loan.own([block]);
      const view = loan.lend(block.subarray());
      // The storage has dropped it: it is freed once back.
      loan.drop();
      return view;
    });
    const body = streamOf(views);
    const out = outgoingBody(markLentBody(new Response(body), body), 4);
    const reader = out.body!.getReader();
    const sizes = () => blocks.map((block) => block.byteLength);
    assert.equal((await reader.read()).value!.byteLength, 6, "whole");
    await reader.read();
    assert.deepEqual(sizes(), [6, 6, 6, 6], "one chunk after it: still held");
    await reader.read();
    assert.deepEqual(sizes(), [0, 6, 6, 6], "two chunks after it: returned");
    await reader.read();
    assert.deepEqual(sizes(), [0, 0, 6, 6]);
    assert.equal((await reader.read()).done, true);
    assert.deepEqual(
      sizes(),
      [0, 0, 0, 6],
      "the last view stays to the collector",
    );
  });

  it("passes a cancellation on to the body it reads", async () => {
    let reason: unknown;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(bytes(16, 1)),
      cancel: (why) => {
        reason = why;
      },
    }, { highWaterMark: 0 });
    const out = outgoingBody(markBodyKind(new Response(body), "streaming"), 8);
    const reader = out.body!.getReader();
    await reader.read();
    await reader.cancel("client left");
    assert.equal(reason, "client left");
  });
});
