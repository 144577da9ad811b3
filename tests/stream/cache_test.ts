import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CacheClosedError,
  diskFs,
  EntryAbortedError,
  expiryReaper,
  type FileSystem,
  ManualClock,
  memoryFs,
  StreamCache,
} from "../../mod.ts";
import {
  assertStreamEquals,
  bytes,
  collect,
  tempDirsRemovedAfter,
  tick,
} from "../_util.ts";

const freshDir = tempDirsRemovedAfter();

const storages: [string, () => Promise<FileSystem>][] = [
  ["memory", () => Promise.resolve(memoryFs())],
  ["disk", async () => {
    return diskFs(await freshDir());
  }],
];

/** Writes `data` in `pieces` chunks, yielding to the event loop between them. */
async function slowWrite(
  writer: WritableStream<Uint8Array>,
  data: Uint8Array,
  pieces: number,
  pause = 1,
): Promise<void> {
  const w = writer.getWriter();
  const step = Math.ceil(data.byteLength / pieces);
  for (let i = 0; i < data.byteLength; i += step) {
    await w.write(data.slice(i, i + step));
    await tick(pause);
  }
  await w.close();
}

for (const [name, makeFs] of storages) {
  describe(`StreamCache on ${name} storage`, () => {
    it("gives the writer to the first caller only, and a reader to all", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const first = await cache.get("k");
      const second = await cache.get("k");
      assert.ok(first.writer);
      assert.equal(second.writer, undefined);
      assert.ok(first.reader && second.reader);
      const data = bytes(1000);
      await slowWrite(first.writer, data, 3);
      assert.deepEqual(await collect(first.reader.stream()), data);
      assert.deepEqual(await collect(second.reader.stream()), data);
      const third = await cache.get("k");
      assert.equal(third.writer, undefined);
      assert.deepEqual(await collect(third.reader.stream()), data);
      for (const h of [first, second, third]) h.reader.close();
      await cache.close();
    });

    it("serves three readers opened before, during and after a slow write", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const data = bytes(300_000, 7);
      const { writer, reader } = await cache.get("slow");
      const before = (await cache.get("slow")).reader;
      const readBefore = collect(before.stream());
      const writing = slowWrite(writer!, data, 30, 2);
      await tick(15);
      const during = (await cache.get("slow")).reader;
      assert.equal(during.size().complete, false);
      assert.ok(during.size().size > 0, "some bytes are written already");
      const readDuring = collect(during.stream());
      await writing;
      const afterwards = (await cache.get("slow")).reader;
      assert.deepEqual(await readBefore, data);
      assert.deepEqual(
        await readDuring,
        data,
        "mid-write reader gets the whole body",
      );
      assert.deepEqual(await collect(afterwards.stream()), data);
      assert.deepEqual(reader.size(), {
        size: data.byteLength,
        complete: true,
      });
      assert.equal(await reader.complete, data.byteLength);
      for (const r of [reader, before, during, afterwards]) r.close();
      await cache.close();
    });

    it("gives 1,000 concurrent readers of one 8 MiB entry identical bytes", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const data = bytes(8 << 20, 3);
      const { writer } = await cache.get("big");
      const handles = await Promise.all(
        Array.from({ length: 1000 }, () => cache.get("big")),
      );
      assert.ok(handles.every((h) => h.writer === undefined));
      const reads = handles.map(async (h) => {
        await assertStreamEquals(h.reader.stream(), data);
        h.reader.close();
      });
      await slowWrite(writer!, data, 64, 0);
      await Promise.all(reads);
      // And once more, from the complete entry.
      await Promise.all(
        handles.slice(0, 100).map(async () => {
          using reader = (await cache.get("big")).reader;
          await assertStreamEquals(reader.stream(), data);
        }),
      );
      await cache.close();
    });

    it("reads ranges of an unfinished entry, waiting for bytes not yet written", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("r");
      const w = writer!.getWriter();
      const data = bytes(100, 5);
      await w.write(data.slice(0, 10));
      const early = collect(reader.stream(2, 8));
      const pending = collect(reader.stream(50, 70));
      const toEnd = collect(reader.stream(90));
      const pastEnd = collect(reader.stream(95, 1000));
      const beyond = collect(reader.stream(500, 600));
      assert.deepEqual(await early, data.slice(2, 8));
      let settled = false;
      void pending.then(() => (settled = true));
      await tick(5);
      assert.equal(settled, false, "range beyond what is written waits");
      await w.write(data.slice(10, 60));
      await tick(5);
      assert.equal(settled, false, "waits for all of the range");
      await w.write(data.slice(60));
      assert.deepEqual(await pending, data.slice(50, 70));
      await w.close();
      assert.deepEqual(await toEnd, data.slice(90));
      assert.deepEqual(await pastEnd, data.slice(95), "ends at the final size");
      assert.equal((await beyond).byteLength, 0);
      assert.deepEqual(await collect(reader.stream(0, 0)), new Uint8Array(0));
      reader.close();
      await cache.close();
    });

    it("hands each trickle of bytes to a waiting reader without more writes", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { reader, writer } = await cache.get("trickle");
      const w = writer!.getWriter();
      const live = reader.stream().getReader();
      await w.write(bytes(3));
      assert.deepEqual((await live.read()).value, bytes(3), "first bytes");
      await w.write(bytes(5, 3));
      assert.deepEqual(
        (await live.read()).value,
        bytes(5, 3),
        "a later trickle",
      );
      await w.close();
      assert.equal((await live.read()).done, true);
      reader.close();
      await cache.close();
    });

    it("hands a trickle to hundreds of waiting readers without more writes", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { reader, writer } = await cache.get("trickle-many");
      const w = writer!.getWriter();
      await w.write(bytes(2));
      const handles = await Promise.all(
        Array.from({ length: 300 }, () => cache.get("trickle-many")),
      );
      const lives = handles.map(({ reader }) => reader.stream().getReader());
      for (const live of lives) {
        assert.deepEqual((await live.read()).value, bytes(2), "first bytes");
      }
      // All 300 now wait; one small write must reach every one of them.
      const next = Promise.all(lives.map((live) => live.read()));
      await w.write(bytes(4, 2));
      for (const { value } of await next) assert.deepEqual(value, bytes(4, 2));
      await w.close();
      for (const { reader } of handles) reader.close();
      reader.close();
      await cache.close();
    });

    it("rejects malformed ranges with a RangeError", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { reader, writer } = await cache.get("bad");
      for (const [start, end] of [[-1, 2], [5, 1], [1.5, 3], [0, NaN]]) {
        assert.throws(() => reader.stream(start, end), RangeError);
      }
      await writer!.close();
      reader.close();
      await cache.close();
    });

    it("errors waiting readers when the writer aborts, and forgets the entry", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("a");
      const w = writer!.getWriter();
      await w.write(bytes(1000));
      const reason = new Error("origin died");
      const waiting = [
        collect(reader.stream()),
        collect((await cache.get("a")).reader.stream()),
      ];
      const complete = reader.complete;
      await w.abort(reason);
      for (const read of waiting) {
        await assert.rejects(read, (e) => e === reason);
      }
      await assert.rejects(complete, (e) => e === reason);
      assert.equal(cache.has("a"), false);
      const again = await cache.get("a");
      assert.ok(again.writer, "a new get starts a fresh entry");
      await again.writer.close();
      assert.equal((await collect(again.reader.stream())).byteLength, 0);
      again.reader.close();
      reader.close();
      await cache.close();
    });

    it("lets a reader take the bytes written before an abort, then errors it", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("partial");
      const w = writer!.getWriter();
      await w.write(bytes(5000, 4));
      const stream = reader.stream().getReader();
      const got: Uint8Array[] = [];
      const first = await stream.read();
      got.push(first.value!);
      const reason = new Error("cut");
      await w.abort(reason);
      await assert.rejects(async () => {
        for (;;) {
          const { done, value } = await stream.read();
          if (done) break;
          got.push(value);
        }
      }, (e) => e === reason);
      assert.deepEqual(
        new Uint8Array(Buffer.concat(got)),
        bytes(5000, 4),
        "then the error, never an end",
      );
      reader.close();
      await cache.close();
    });

    it("uses EntryAbortedError when the writer aborts without an Error", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("b");
      const read = collect(reader.stream());
      await writer!.abort("gone");
      await assert.rejects(
        read,
        (e: unknown) => e instanceof EntryAbortedError && e.key === "b",
      );
      reader.close();
      await cache.close();
    });

    it("fails the entry when a chunk is not bytes", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("c");
      const read = collect(reader.stream());
      const w = writer!.getWriter();
      await assert.rejects(w.write("text" as unknown as Uint8Array), TypeError);
      await assert.rejects(read, TypeError);
      assert.equal(cache.has("c"), false);
      reader.close();
      await cache.close();
    });

    it("removes at once, keeps old readers reading, and frees when they finish", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const old = bytes(200_000, 11);
      const { writer, reader } = await cache.get("x");
      await slowWrite(writer!, old, 4, 0);
      const oldStream = reader.stream().getReader();
      const first = await oldStream.read();
      let freed = false;
      const removal = cache.remove("x").then(() => (freed = true));
      assert.equal(cache.has("x"), false, "gone at once");
      const fresh = await cache.get("x");
      assert.ok(fresh.writer, "a new get writes a fresh entry");
      const newer = bytes(5000, 12);
      await slowWrite(fresh.writer, newer, 2, 0);
      assert.deepEqual(await collect(fresh.reader.stream()), newer);
      // The old reader goes on with the old bytes.
      const rest: Uint8Array[] = [first.value!];
      for (;;) {
        const { done, value } = await oldStream.read();
        if (done) break;
        rest.push(value);
      }
      assert.deepEqual(new Uint8Array(Buffer.concat(rest)), old);
      await tick(5);
      assert.equal(
        freed,
        false,
        "storage is kept while the old reader is open",
      );
      reader.close();
      await removal;
      assert.equal(freed, true);
      fresh.reader.close();
      await cache.close();
    });

    it("never holds the writer back for a slow reader", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("s");
      const slow = reader.stream().getReader();
      const first = slow.read();
      // The writer finishes 4 MiB while the reader takes one chunk.
      await slowWrite(writer!, bytes(4 << 20), 64, 0);
      assert.equal(reader.size().complete, true);
      assert.ok((await first).value!.byteLength < 4 << 20);
      await slow.cancel();
      reader.close();
      await cache.close();
    });

    it("lets other work run while a writer stores a source that never waits", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader } = await cache.get("fast");
      const w = writer!.getWriter();
      const pieces = 32;
      let written = 0;
      const writtenWhenTimerRan = new Promise<number>((resolve) =>
        setTimeout(() => resolve(written), 0)
      );
      const chunk = new Uint8Array(1 << 20);
      for (; written < pieces; written++) await w.write(chunk);
      await w.close();
      const early = await writtenWhenTimerRan;
      assert.ok(
        early < pieces,
        `a timer ran only after ${early} of ${pieces} MiB`,
      );
      assert.equal(reader.size().size, pieces << 20);
      reader.close();
      await cache.close();
    });

    it("knows its keys, cleans, and refuses gets once closed", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      for (const key of ["a", "b", "c"]) {
        const { writer, reader } = await cache.get(key);
        await writer!.close();
        reader.close();
      }
      assert.deepEqual(cache.keys().sort(), ["a", "b", "c"]);
      assert.equal(cache.has("b"), true);
      await cache.clean();
      assert.deepEqual(cache.keys(), []);
      await cache.close();
      await assert.rejects(cache.get("a"), CacheClosedError);
      await assert.rejects(cache.get(42 as unknown as string), TypeError);
    });

    it("releases readers with `await using` and `using`", async () => {
      const cache = new StreamCache({ fs: await makeFs() });
      const { writer, reader: first } = await cache.get("u");
      await writer!.close();
      {
        await using reader = first;
        assert.equal(reader.key, "u");
      }
      assert.throws(() => first.stream(), /closed/);
      const { reader: second } = await cache.get("u");
      {
        using reader = second;
        assert.equal(reader.size().complete, true);
      }
      assert.throws(() => second.stream(), /closed/);
      // Both released: nothing is in use, so a removal completes at once.
      await cache.remove("u");
      await cache.close();
    });
  });
}

describe("StreamCache waking readers", () => {
  it("wakes a waiting reader once for a burst of writes, with all of it", async () => {
    const cache = new StreamCache({ fs: await Promise.resolve(memoryFs()) });
    const { reader, writer } = await cache.get("burst");
    const w = writer!.getWriter();
    const live = reader.stream().getReader();
    const data = bytes(64 * 1024);
    const first = live.read();
    // Written within one turn of the event loop: the reader sees it as one.
    for (let at = 0; at < data.byteLength; at += 1024) {
      await w.write(data.slice(at, at + 1024));
    }
    assert.equal((await first).value!.byteLength, data.byteLength);
    await w.close();
    reader.close();
    await cache.close();
  });
});

describe("StreamCache on memory storage, large entries", () => {
  it("keeps every byte when the last block is cut to size on commit", async () => {
    const cache = new StreamCache({ fs: memoryFs() });
    // 64 KiB + ... + 4 MiB blocks, the last one mostly empty: cut on commit.
    const data = bytes(9 * (1 << 20) + 12345);
    const { reader, writer } = await cache.get("big");
    const live = collect(reader.stream());
    await slowWrite(writer!, data, 150, 0);
    assert.deepEqual(await live, data, "the live reader");
    const after = await cache.get("big");
    assert.deepEqual(await collect(after.reader.stream()), data);
    const from = 8 * (1 << 20) - 7;
    assert.deepEqual(
      await collect(after.reader.stream(from, from + 2_000_000)),
      data.subarray(from, from + 2_000_000),
    );
    reader.close();
    after.reader.close();
    await cache.close();
  });

  it("holds a complete entry of up to 8 MiB in one piece of its exact size", async () => {
    const cache = new StreamCache({ fs: memoryFs() });
    for (const size of [100, 65_537, 3 * (1 << 20) + 5, 8 << 20]) {
      const data = bytes(size);
      const { reader, writer } = await cache.get(`whole-${size}`);
      const live = collect(reader.stream());
      assert.equal(reader.bytes(), undefined, "not while being written");
      await slowWrite(writer!, data, 50, 0);
      assert.deepEqual(await live, data, "the live reader");
      const whole = reader.bytes();
      assert.ok(whole, `${size} bytes in one piece`);
      assert.deepEqual(whole, data);
      assert.equal(whole.buffer.byteLength, size, "no room wasted");
      reader.close();
    }
    await cache.close();
  });
});

describe("StreamCache with storage that fails to free", () => {
  it("reports the failure to remove() and keeps reaping, with nothing unhandled", async () => {
    const inner = memoryFs();
    let failures = 0;
    const failing: FileSystem = {
      reload: () => inner.reload(),
      async create(key) {
        const file = await inner.create(key);
        return Object.assign(Object.create(file), {
          write: (chunk: Uint8Array) => file.write(chunk),
          commit: () => file.commit(),
          abandon: () => file.abandon(),
          read: (start: number, end: number) => file.read(start, end),
          get size() {
            return file.size;
          },
          remove: () => {
            failures++;
            return Promise.reject(new Error("EROFS: read-only file system"));
          },
        });
      },
    };
    const clock = new ManualClock(0);
    const cache = new StreamCache({
      fs: failing,
      reaper: expiryReaper(1000),
      clock,
    });
    for (const key of ["a", "b"]) {
      const { writer, reader } = await cache.get(key);
      await writer!.close();
      reader.close();
    }
    await assert.rejects(cache.remove("a"), /EROFS/);
    const { reader } = await cache.get("b");
    const removal = cache.remove("b");
    reader.close(); // the deferred free fails with no one but remove() to tell
    await assert.rejects(removal, /EROFS/);
    const { writer: w, reader: r } = await cache.get("c");
    await w!.close();
    r.close();
    await clock.advance(5000); // a sweep whose removal fails…
    await clock.advance(5000); // …does not stop the next one
    assert.ok(failures >= 3, `${failures} failed removals`);
    await cache.close();
  });
});
