import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";
import { BodyReader } from "../../lib/proxy/body_reader.ts";
import { proxyTo } from "../../lib/proxy/proxy_to.ts";
import { SharedCache } from "../../lib/proxy/shared_cache.ts";
import { assertStreamEquals, bytes, tempDir, tick } from "../_util.ts";

/** A byte stream of `data` in pieces of `piece` bytes, filling the reader's buffers. */
function byteStream(
  data: Uint8Array,
  piece: number,
): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: piece,
    pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      const take = Math.min(piece, view.byteLength, data.byteLength - offset);
      new Uint8Array(view.buffer, view.byteOffset, take).set(
        data.subarray(offset, offset + take),
      );
      offset += take;
      request.respond(take);
      if (offset === data.byteLength) {
        controller.close();
        controller.byobRequest?.respond(0);
      }
    },
  });
}

/** Reads `reader` to the end, keeping copies, giving every buffer back. */
async function readAll(
  reader: BodyReader,
): Promise<{ copy: Uint8Array; buffers: Set<number> }> {
  const parts: Uint8Array[] = [];
  const buffers = new Set<number>();
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    parts.push(next.value.slice());
    buffers.add(next.value.buffer.byteLength);
    reader.reuse(next.value);
  }
  return { copy: concat(parts), buffers };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.byteLength;
  }
  return whole;
}

describe("BodyReader", () => {
  it("reads a byte stream into one buffer, given back after each chunk", async () => {
    const data = bytes(3 * 256 * 1024 + 123);
    const reader = new BodyReader(byteStream(data, 100_000));
    const { copy, buffers } = await readAll(reader);
    assert.deepEqual(copy, data);
    // Every chunk was a view of the one 256 KiB buffer, moved from read to read.
    assert.deepEqual([...buffers], [256 * 1024]);
  });

  it("reads other streams chunk by chunk, as they come", async () => {
    const chunks = [bytes(10, 1), bytes(70_000, 2), bytes(5, 3)];
    let sent = 0;
    const reader = new BodyReader(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === chunks.length) controller.close();
          else controller.enqueue(chunks[sent++]);
        },
      }),
    );
    const { copy } = await readAll(reader);
    assert.deepEqual(copy, concat(chunks));
  });

  it("hands the rest of a byte stream on after the chunk read last", async () => {
    const data = bytes(600_000);
    const reader = new BodyReader(byteStream(data, 50_000));
    const first = await reader.read();
    assert.ok(!first.done);
    const kept = first.value.slice();
    const handoff = reader.handOff(first.value);
    assert.deepEqual(handoff.first, kept);
    const rest: Uint8Array[] = [];
    for (let next = await handoff.rest.read(); !next.done;) {
      rest.push(next.value);
      next = await handoff.rest.read();
    }
    assert.deepEqual(concat([kept, ...rest]), data);
  });

  for (const store of ["heap:", "file:"]) {
    it(`stores exact bytes read through one buffer (${store} entity store)`, async () => {
      // Bytes that differ everywhere: a buffer filled again too soon would
      // show as wrong bytes in the stored copy.
      const data = bytes(5 * (1 << 20) + 7, 9);
      const origin = serve(() =>
        new Response(data as Uint8Array<ArrayBuffer>, {
          headers: { "cache-control": "max-age=60", "content-type": "x/y" },
        }), { port: 0 });
      const made = await tempDir();
      const cache = new SharedCache({
        origin: proxyTo(origin.url),
        entitystore: store === "file:" ? `file:${made.dir}` : store,
      });
      try {
        const miss = await cache.fetch(new Request(`${origin.url}/x`));
        assert.match(miss.headers.get("x-cache") ?? "", /miss/);
        await assertStreamEquals(miss.body!, data);
        // The entry is recorded just after its last byte reaches the readers.
        let trace = "";
        for (let i = 0; i < 50 && !trace.includes("fresh"); i++) {
          await tick(10);
          const again = await cache.fetch(new Request(`${origin.url}/x`));
          trace = again.headers.get("x-cache") ?? "";
          await assertStreamEquals(again.body!, data);
        }
        assert.match(trace, /fresh/);
      } finally {
        await cache.close();
        await origin.shutdown();
        await made.cleanup();
      }
    });
  }
});
