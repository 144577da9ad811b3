import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diskFs, nodeReadRange, StreamCache } from "../../mod.ts";
import { FIXED_READ_PLAN } from "../../lib/adapters/file_io.ts";
import {
  SharedReads,
  type SharedReadsOptions,
} from "../../lib/stream/shared_reads.ts";
import { returnView } from "../../lib/stream/lent_views.ts";
import { bytes, collect, tempDirsRemovedAfter } from "../_util.ts";

const freshDir = tempDirsRemovedAfter();
const KiB = 1024;

/** A file in memory behind SharedReads, counting reads per chunk start. */
function memoryFile(
  data: Uint8Array,
  options: SharedReadsOptions = { chunkSize: KiB, ahead: 1 },
) {
  let written = data.byteLength;
  const reads: number[] = [];
  let failAt: number | undefined;
  let idle = 0;
  const shared = new SharedReads(
    async (start, end) => {
      reads.push(start);
      // Let other streams ask for the same chunk while this one reads.
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (start === failAt) {
        failAt = undefined;
        throw new Error(`cannot read ${start}`);
      }
      // Two views, as a range reader may give.
      const middle = start + Math.floor((end - start) / 2);
      return [data.slice(start, middle), data.slice(middle, end)];
    },
    () => written,
    () => idle++,
    options,
  );
  return {
    shared,
    reads,
    idle: () => idle,
    failOnce(start: number) {
      failAt = start;
    },
    setWritten(n: number) {
      written = n;
    },
  };
}

describe("SharedReads", () => {
  it("reads each chunk once for readers at the same place", async () => {
    const data = bytes(10 * KiB);
    const file = memoryFile(data);
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        () => collect(file.shared.stream(0, 10 * KiB)),
      ),
    );
    for (const result of results) assert.deepEqual(result, data);
    assert.deepEqual(
      file.reads.sort((a, b) => a - b),
      Array.from({ length: 10 }, (_, i) => i * KiB),
    );
  });

  it("gives ranges starting and ending inside chunks exactly their bytes", async () => {
    const data = bytes(5 * KiB + 300, 3);
    const file = memoryFile(data);
    const ranges: [number, number][] = [
      [0, 1],
      [1, KiB - 1],
      [KiB - 1, KiB + 1],
      [700, 4 * KiB + 5],
      [3 * KiB, 5 * KiB + 300],
      [5 * KiB + 299, 5 * KiB + 300],
      [2 * KiB, 2 * KiB],
    ];
    const results = await Promise.all(
      ranges.map(([start, end]) => collect(file.shared.stream(start, end))),
    );
    ranges.forEach(([start, end], i) =>
      assert.deepEqual(results[i], data.subarray(start, end), `${start}-${end}`)
    );
  });

  it("lets chunks go when the last stream ends, and reads again after", async () => {
    const data = bytes(3 * KiB);
    const file = memoryFile(data);
    await collect(file.shared.stream(0, 3 * KiB));
    assert.equal(file.idle(), 1);
    assert.equal(file.reads.length, 3);
    assert.deepEqual(await collect(file.shared.stream(0, 3 * KiB)), data);
    assert.equal(file.reads.length, 6, "nothing kept between crowds");
    assert.equal(file.idle(), 2);
  });

  it("errors readers of a chunk whose read failed, and never keeps it", async () => {
    const data = bytes(4 * KiB);
    const file = memoryFile(data);
    file.failOnce(2 * KiB);
    await assert.rejects(
      collect(file.shared.stream(0, 4 * KiB)),
      /cannot read 2048/,
    );
    assert.equal(file.idle(), 1, "a failed stream ends too");
    assert.deepEqual(await collect(file.shared.stream(0, 4 * KiB)), data);
  });

  it("keeps a chunk dropped while a stream awaits it whole until its views are lent", async () => {
    const data = bytes(8 * KiB, 3);
    const file = memoryFile(data, {
      chunkSize: KiB,
      ahead: 0,
      keep: 1,
      owned: true,
    });
    // Each chunk comes as two views (see memoryFile).
    const far = file.shared.stream(5 * KiB, 7 * KiB).getReader();
    await far.read();
    await far.read();
    // C stays at chunk 0, so A and B share it.
    const c = file.shared.stream(0, KiB).getReader();
    const a = file.shared.stream(0, KiB).getReader();
    for (const view of [(await a.read()).value!, (await a.read()).value!]) {
      returnView(view);
    }
    const b = file.shared.stream(0, KiB).getReader();
    const first = b.read();
    // B's pull now waits for chunk 0's views; the far stream's next chunk
    // pushes chunk 0 out meanwhile.
    await Promise.resolve();
    const farther = far.read();
    assert.deepEqual((await first).value, data.subarray(0, KiB / 2));
    assert.deepEqual((await b.read()).value, data.subarray(KiB / 2, KiB));
    assert.deepEqual((await farther).value, data.subarray(6 * KiB, 6.5 * KiB));
    for (const reader of [a, b, c, far]) await reader.cancel();
  });

  it("frees chunks dropped with their views back only when the reads own them", async () => {
    for (const owned of [true, false]) {
      const kept: Uint8Array[] = [];
      const shared = new SharedReads(
        (start, end) => {
          const chunk = new Uint8Array(end - start).fill(start / KiB);
          kept.push(chunk);
          return Promise.resolve([chunk]);
        },
        () => 2 * KiB,
        () => {},
        { chunkSize: KiB, ahead: 0, owned },
      );
      const reader = shared.stream(0, 2 * KiB).getReader();
      const first = (await reader.read()).value!;
      returnView(first);
      assert.equal((await reader.read()).value![0], 1);
      assert.equal(
        kept[0].byteLength,
        owned ? 0 : KiB,
        owned ? "passed, back, freed" : "the reader's own buffer stays",
      );
      await reader.cancel();
    }
  });

  it("errors a stream whose read came back short, never skipping bytes", async () => {
    const shared = new SharedReads(
      (start, end) => Promise.resolve([new Uint8Array(end - start - 1)]),
      () => 3 * KiB,
      () => {},
      { chunkSize: KiB },
    );
    await assert.rejects(
      collect(shared.stream(0, 3 * KiB)),
      /read 1023 bytes at 0, expected 1024/,
    );
  });

  it("reads a chunk again for bytes written after it was read", async () => {
    const data = bytes(3 * KiB, 5);
    const file = memoryFile(data);
    file.setWritten(KiB + 512);
    // Holds the short chunk 1 while the file grows.
    const early = file.shared.stream(0, KiB + 512).getReader();
    const first = await early.read();
    assert.deepEqual(first.value, data.subarray(0, KiB / 2));
    file.setWritten(3 * KiB);
    assert.deepEqual(await collect(file.shared.stream(0, 3 * KiB)), data);
    assert.equal(
      file.reads.filter((start) => start === KiB).length,
      2,
      "chunk 1 read short, then whole",
    );
    let rest = first.value!.byteLength;
    for (;;) {
      const { done, value } = await early.read();
      if (done) break;
      rest += value.byteLength;
    }
    assert.equal(rest, KiB + 512);
  });

  it("keeps no more than its limit while streams are far apart", async () => {
    const data = bytes(40 * KiB, 7);
    const file = memoryFile(data, { chunkSize: KiB, ahead: 1, keep: 4 });
    // A stream held at the start keeps its chunks wanted; one running ahead
    // must still not make every chunk it passes stay.
    const held = file.shared.stream(0, 40 * KiB).getReader();
    await held.read();
    assert.deepEqual(await collect(file.shared.stream(0, 40 * KiB)), data);
    const before = file.reads.length;
    let got = 0;
    for (;;) {
      const { done, value } = await held.read();
      if (done) break;
      got += value.byteLength;
    }
    assert.equal(got, 40 * KiB - KiB / 2);
    assert.ok(
      file.reads.length - before >= 30,
      "the held stream reads most chunks again: they were not all kept",
    );
  });
});

describe("diskFs shared reads", () => {
  it("reads an entry once for many readers at once", async () => {
    const dir = await freshDir();
    const ranges: number[] = [];
    const cache = new StreamCache({
      fs: diskFs(dir, {
        readRange(path, start, end) {
          ranges.push(start);
          return nodeReadRange(path, start, end);
        },
      }),
    });
    const data = bytes(5 * FIXED_READ_PLAN.chunkSize + 1234, 9);
    const { writer, reader: own } = await cache.get("big");
    own.close();
    const w = writer!.getWriter();
    await w.write(data);
    await w.close();
    const readers = await Promise.all(
      Array.from({ length: 20 }, () => cache.get("big")),
    );
    const results = await Promise.all(
      readers.map(({ reader }) =>
        collect(reader.stream()).finally(() => reader.close())
      ),
    );
    for (const result of results) assert.deepEqual(result, data);
    assert.equal(ranges.length, 6, "one read per chunk, not per reader");
    await cache.close();
  });

  it("leaves the chunks of a readRange given to it to that reader", async () => {
    const dir = await freshDir();
    // A readRange that keeps what it read, to serve it again.
    const memo = new Map<number, Uint8Array>();
    const cache = new StreamCache({
      fs: diskFs(dir, {
        readRange: (path, start, end) =>
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              let chunk = memo.get(start);
              if (!chunk) {
                chunk = await collect(nodeReadRange(path, start, end));
                memo.set(start, chunk);
              }
              controller.enqueue(chunk);
              controller.close();
            },
          }),
      }),
    });
    const data = bytes(3 * FIXED_READ_PLAN.chunkSize, 13);
    const { writer, reader: own } = await cache.get("kept");
    own.close();
    const w = writer!.getWriter();
    await w.write(data);
    await w.close();
    for (let round = 0; round < 2; round++) {
      const { reader } = await cache.get("kept");
      const got = new Uint8Array(data.byteLength);
      let at = 0;
      for await (const view of reader.stream()) {
        got.set(view, at);
        at += view.byteLength;
        returnView(view);
      }
      reader.close();
      assert.deepEqual(got, data);
    }
    for (const chunk of memo.values()) assert.ok(chunk.byteLength > 0);
    await cache.close();
  });

  it("serves readers following a writer from the file, exactly", async () => {
    const dir = await freshDir();
    // No live tail: every live reader reads the file.
    const cache = new StreamCache({ fs: diskFs(dir, { liveTail: 0 }) });
    const data = bytes(3 * FIXED_READ_PLAN.chunkSize + 77, 11);
    const { writer, reader } = await cache.get("live");
    const w = writer!.getWriter();
    const reads: Promise<Uint8Array>[] = [collect(reader.stream())];
    const piece = Math.floor(FIXED_READ_PLAN.chunkSize / 3);
    for (let at = 0; at < data.byteLength; at += piece) {
      await w.write(data.slice(at, at + piece));
      if (reads.length < 8) {
        const late = await cache.get("live");
        reads.push(
          collect(late.reader.stream()).finally(() => late.reader.close()),
        );
      }
    }
    await w.close();
    for (const result of await Promise.all(reads)) {
      assert.deepEqual(result, data);
    }
    reader.close();
    await cache.close();
  });
});
