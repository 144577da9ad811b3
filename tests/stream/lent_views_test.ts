import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  lentBodyOf,
  Loan,
  markLentBody,
  returnView,
} from "../../lib/stream/lent_views.ts";
import { _Blocks } from "../../lib/stream/fs_memory.ts";

const KiB = 1024;

/** A loan owning `block`, with `count` views of it lent. */
function lent(block: Uint8Array, count: number) {
  const loan = new Loan();
  loan.own([block]);
  const views = Array.from(
    { length: count },
    (_, i) => loan.lend(block.subarray(i, i + 1)),
  );
  return { loan, views };
}

describe("lent views", () => {
  it("detach a dropped buffer once every view lent of it is back", () => {
    const block = new Uint8Array(64).fill(7);
    const { loan, views: [a, b] } = lent(block, 2);
    returnView(a);
    assert.equal(block.byteLength, 64, "the storage still holds it");
    loan.drop();
    assert.equal(b[0], 7, "one view is still out");
    returnView(b);
    assert.equal(block.byteLength, 0, "detached: its memory is freed");
    returnView(b);
    returnView(new Uint8Array(1));
  });

  it("leave a buffer to the collector while a view never comes back; one never lent goes when dropped", () => {
    const kept = new Uint8Array(8);
    const { loan } = lent(kept, 1);
    loan.drop();
    assert.equal(kept.byteLength, 8);
    const unread = new Uint8Array(8);
    const quiet = new Loan();
    quiet.own([unread]);
    quiet.drop();
    assert.equal(unread.byteLength, 0);
  });

  it("leave a buffer that cannot be detached to the collector", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const loan = new Loan();
    loan.own([new Uint8Array(memory.buffer)]);
    const view = loan.lend(new Uint8Array(memory.buffer, 0, 4));
    loan.drop();
    returnView(view);
    assert.equal(memory.buffer.byteLength, 65536);
  });

  it("keep a buffer while a hold is on it", () => {
    const block = new Uint8Array(8);
    const { loan, views: [view] } = lent(block, 1);
    const release = loan.hold();
    loan.drop();
    returnView(view);
    assert.equal(block.byteLength, 8, "views are about to be lent");
    release();
    release();
    assert.equal(block.byteLength, 0);
  });

  it("never detach a buffer a view covers only part of", () => {
    const shared = new Uint8Array(16);
    const part = shared.subarray(4, 8);
    const loan = new Loan();
    loan.own([part]);
    const view = loan.lend(part.subarray(0, 2));
    loan.drop();
    returnView(view);
    assert.equal(shared.byteLength, 16);
  });

  it("mark a response whose body is a stream of lent views, while it still is", async () => {
    const stream = new ReadableStream<Uint8Array>();
    assert.equal(lentBodyOf(new Response(stream)), undefined);
    const response = markLentBody(new Response(stream), stream);
    assert.equal(lentBodyOf(response), stream);
    const copy = response.clone();
    assert.equal(lentBodyOf(response), undefined, "a clone tees the body");
    assert.equal(lentBodyOf(copy), undefined);
    const other = new ReadableStream<Uint8Array>();
    const wrapped = markLentBody(
      new Response(other.pipeThrough(new TransformStream())),
      other,
    );
    assert.equal(lentBodyOf(wrapped), undefined, "another body");
    await Promise.all([
      copy.body?.cancel(),
      response.body?.cancel(),
      wrapped.body?.cancel(),
    ]);
  });

  it("free the live tail's trimmed blocks once their views are back, and only those", () => {
    const tail = new _Blocks(0, 64 * KiB);
    tail.append(new Uint8Array(64 * KiB).fill(1));
    const [early] = tail.lend(0, KiB);
    const [plain] = tail.views(KiB, 2 * KiB);
    tail.append(new Uint8Array(64 * KiB).fill(2));
    tail.append(new Uint8Array(64 * KiB).fill(3));
    const [late] = tail.lend(64 * KiB, 65 * KiB);
    tail.trim(64 * KiB);
    assert.equal(tail.start, 128 * KiB, "two blocks dropped");
    assert.equal(early[0], 1, "kept while lent");
    returnView(early);
    assert.equal(early.byteLength, 0, "the first block is freed");
    assert.equal(plain.byteLength, 0, "with every view of it");
    assert.equal(late[0], 2);
    returnView(late);
    assert.equal(late.byteLength, 0, "the second, once its view is back");
    const [held] = tail.lend(128 * KiB, 129 * KiB);
    returnView(held);
    assert.equal(held[0], 3, "a block still held is never freed");
  });
});
