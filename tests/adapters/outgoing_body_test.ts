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

/**
 * Views lent of blocks of `sizes` bytes, one per block, whose storage has
 * dropped them: each block is freed once its view is back.
 */
function lentViews(sizes: number[]) {
  const blocks = sizes.map((size, i) => bytes(size, i + 1));
  const views = blocks.map((block) => {
    const loan = new Loan();
    loan.own([block]);
    const view = loan.lend(block.subarray());
    loan.drop();
    return view;
  });
  return { blocks, views };
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
    assert.equal(outgoingBody(plain, { maxChunk: 4 }), plain);
    for (const kind of ["streaming", "stored"] as const) {
      const withoutCut = markBodyKind(
        new Response(streamOf([bytes(8, 1)])),
        kind,
      );
      assert.equal(outgoingBody(withoutCut), withoutCut, kind);
    }
    const inMemory = markBodyKind(new Response("hi"), "in-memory");
    assert.equal(outgoingBody(inMemory, { maxChunk: 4 }), inMemory);
  });

  it("cuts a streaming or stored body's chunks to maxChunk, keeping status, fields and bytes", async () => {
    for (const kind of ["streaming", "stored"] as const) {
      const original = markBodyKind(
        new Response(streamOf([bytes(10, 1), bytes(3, 2), bytes(8, 3)]), {
          status: 203,
          headers: { "content-length": "21", "x-kept": "yes" },
        }),
        kind,
      );
      const out = outgoingBody(original, { maxChunk: 4 });
      assert.notEqual(out, original, kind);
      assert.equal(out.status, 203);
      assert.equal(out.headers.get("x-kept"), "yes");
      assert.equal(out.headers.get("content-length"), "21");
      const chunks = await chunksOf(out);
      assert.deepEqual(chunks.map((c) => c.byteLength), [4, 4, 2, 3, 4, 4]);
      assert.deepEqual(
        Array.from(chunks.flatMap((c) => Array.from(c))),
        [...Array(10).fill(1), ...Array(3).fill(2), ...Array(8).fill(3)],
      );
    }
  });

  it("returns a lent view once the two chunks after it are asked for", async () => {
    const { blocks, views } = lentViews([6, 6, 6, 6]);
    const body = streamOf(views);
    const out = outgoingBody(markLentBody(new Response(body), body));
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

  it("cuts a lent view, returning it once the two pieces after its last are asked for", async () => {
    const { blocks, views } = lentViews([6, 6, 6]);
    const body = streamOf(views);
    const out = outgoingBody(markLentBody(new Response(body), body), {
      maxChunk: 4,
    });
    const reader = out.body!.getReader();
    const sizes = () => blocks.map((block) => block.byteLength);
    const pieces: number[] = [];
    const held: number[][] = [];
    for (
      let next = await reader.read();
      !next.done;
      next = await reader.read()
    ) {
      pieces.push(next.value.byteLength);
      held.push(sizes());
    }
    assert.deepEqual(pieces, [4, 2, 4, 2, 4, 2]);
    assert.deepEqual(held, [
      [6, 6, 6],
      [6, 6, 6],
      [6, 6, 6],
      [0, 6, 6], // the second piece after the first view's last
      [0, 6, 6],
      [0, 0, 6],
    ]);
  });

  it("keeps lent views of a body still arriving whole", async () => {
    const { views } = lentViews([6, 6]);
    const body = streamOf(views);
    const response = markBodyKind(
      markLentBody(new Response(body), body),
      "streaming",
    );
    const chunks = await chunksOf(outgoingBody(response, { maxChunk: 4 }));
    assert.deepEqual(chunks.map((c) => c.byteLength), [6, 6]);
  });

  it("ends with a one-line reason, for the server's log, when the body it reads fails", async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(bytes(4, 1));
        else controller.error(new TypeError("origin went away"));
      },
    }, { highWaterMark: 0 });
    const out = outgoingBody(markBodyKind(new Response(body), "streaming"), {
      maxChunk: 8,
    });
    const reader = out.body!.getReader();
    assert.equal((await reader.read()).value?.byteLength, 4);
    await assert.rejects(
      reader.read(),
      (reason) =>
        reason === "cistern: answer cut short: TypeError: origin went away",
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
    const out = outgoingBody(markBodyKind(new Response(body), "streaming"), {
      maxChunk: 8,
    });
    const reader = out.body!.getReader();
    await reader.read();
    await reader.cancel("client left");
    assert.equal(reason, "client left");
  });
});
