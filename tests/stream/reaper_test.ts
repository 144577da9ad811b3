import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  combineReapers,
  expiryReaper,
  lruReaper,
  ManualClock,
  memoryFs,
  type Reaper,
  StreamCache,
} from "../../mod.ts";
import { bytes } from "../_util.ts";
import { slowRemovals } from "../proxy/_storage.ts";

async function put(cache: StreamCache, key: string, size: number) {
  const { writer, reader } = await cache.get(key);
  const w = writer!.getWriter();
  await w.write(bytes(size));
  await w.close();
  reader.close();
}

/** Opens and fully reads an entry, marking it read now. */
async function touch(cache: StreamCache, key: string) {
  using reader = (await cache.get(key)).reader;
  for await (const _ of reader.stream());
}

/** A memory cache whose entries expire 10 s after their last read, on a manual clock. */
async function expiringCache() {
  const clock = new ManualClock(1_000_000);
  const cache = new StreamCache({
    fs: memoryFs(),
    reaper: expiryReaper(10_000),
    clock,
  });
  await cache.ready;
  return { clock, cache };
}

describe("expiryReaper", () => {
  it("removes entries not read for the expiry, on the clock's timer", async () => {
    const { clock, cache } = await expiringCache();
    await put(cache, "old", 10);
    await clock.advance(6_000);
    await put(cache, "young", 10);
    await clock.advance(5_000); // old: 11 s unread, young: 5 s
    assert.deepEqual(cache.keys(), ["young"]);
    await touch(cache, "young");
    await clock.advance(9_000);
    assert.deepEqual(cache.keys(), ["young"], "reading renews it");
    await clock.advance(10_000);
    assert.deepEqual(cache.keys(), []);
    await cache.close();
  });

  it("counts taking a complete entry's bytes as reading it", async () => {
    const { clock, cache } = await expiringCache();
    await put(cache, "hot", 10);
    await clock.advance(6_000);
    const reader = cache.openReader("hot")!;
    assert.deepEqual(reader.bytes(), bytes(10));
    reader.close();
    await clock.advance(6_000);
    assert.deepEqual(cache.keys(), ["hot"], "read 6 s ago");
    await clock.advance(9_000); // swept at 20 s, 14 s after the read
    assert.deepEqual(cache.keys(), []);
    await cache.close();
  });

  it("never reaps an entry in use", async () => {
    const clock = new ManualClock(0);
    const cache = new StreamCache({
      fs: memoryFs(),
      reaper: expiryReaper(1000),
      clock,
    });
    await put(cache, "held", 10);
    const { reader } = await cache.get("held");
    const writing = await cache.get("writing");
    await clock.advance(60_000);
    assert.deepEqual(cache.keys().sort(), ["held", "writing"]);
    reader.close();
    await writing.writer!.close();
    writing.reader.close();
    await clock.advance(60_000);
    assert.deepEqual(cache.keys(), []);
    await cache.close();
  });

  it("sweeps once right after reload, with the reloaded times", async () => {
    const fs = memoryFs();
    const first = new StreamCache({ fs });
    await put(first, "a", 5);
    await first.close();
    // The entry was written "now" by the real clock; a clock a day later sees it expired.
    const clock = new ManualClock(Date.now() + 86_400_000);
    const second = new StreamCache({
      fs,
      reaper: expiryReaper(3_600_000),
      clock,
    });
    await second.ready;
    assert.deepEqual(second.keys(), []);
    await second.close();
  });

  it("tells onReap listeners each key it removes, and not keys removed by hand", async () => {
    const { clock, cache } = await expiringCache();
    const reaped: string[] = [];
    cache.onReap((key) => reaped.push(key));
    await put(cache, "a", 10);
    await put(cache, "b", 10);
    await put(cache, "by hand", 10);
    await cache.remove("by hand");
    await clock.advance(6_000);
    await put(cache, "c", 10);
    await clock.advance(5_000);
    assert.deepEqual(reaped.sort(), ["a", "b"]);
    assert.deepEqual(cache.keys(), ["c"]);
    const told: string[] = [];
    const stop = cache.onReap((key) => told.push(key));
    stop();
    await clock.advance(11_000);
    assert.deepEqual(cache.keys(), []);
    assert.deepEqual(told, [], "no longer told once stopped");
    await cache.close();
  });

  it("refuses a non-positive expiry", () => {
    assert.throws(() => expiryReaper(0), RangeError);
    assert.throws(() => expiryReaper(NaN), RangeError);
  });
});

describe("lruReaper", () => {
  it("keeps at most maxEntries, removing the least recently read", async () => {
    const clock = new ManualClock(0);
    const cache = new StreamCache({
      fs: memoryFs(),
      reaper: lruReaper({ maxEntries: 3 }),
      clock,
    });
    for (const key of ["a", "b", "c"]) {
      await put(cache, key, 10);
      await clock.advance(10);
    }
    await touch(cache, "a"); // b is now the least recently read
    await clock.advance(10);
    await put(cache, "d", 10);
    await cache.reap();
    assert.deepEqual(cache.keys().sort(), ["a", "c", "d"]);
    await cache.close();
  });

  it("orders reads within one millisecond as they happened", async () => {
    // A clock that never moves: every write and read has the same time.
    const cache = new StreamCache({
      fs: memoryFs(),
      reaper: lruReaper({ maxEntries: 2 }),
      clock: new ManualClock(0),
    });
    await put(cache, "a", 10);
    await put(cache, "b", 10);
    await touch(cache, "a"); // b is now the least recently read
    await put(cache, "c", 10);
    await cache.reap();
    assert.deepEqual(cache.keys().sort(), ["a", "c"]);
    await cache.close();
  });

  it("keeps at most maxBytes", async () => {
    const clock = new ManualClock(0);
    const cache = new StreamCache({
      fs: memoryFs(),
      reaper: lruReaper({ maxBytes: 1000 }),
      clock,
    });
    for (const key of ["a", "b", "c", "d"]) {
      await put(cache, key, 400);
      await clock.advance(10);
      await cache.reap();
    }
    assert.deepEqual(cache.keys().sort(), ["c", "d"]);
    await cache.close();
  });

  it("counts entries in use but does not remove them", async () => {
    const clock = new ManualClock(0);
    const cache = new StreamCache({
      fs: memoryFs(),
      reaper: lruReaper({ maxEntries: 1 }),
      clock,
    });
    await put(cache, "a", 1);
    await clock.advance(1);
    const { reader } = await cache.get("a");
    await put(cache, "b", 1);
    await cache.reap();
    assert.deepEqual(cache.keys(), ["a"], "b goes, a is held");
    reader.close();
    await cache.close();
  });
});

describe("lruReaper, entries in use", () => {
  it("sweeps again when entries held past the bound are released", async () => {
    const cache = new StreamCache({
      fs: memoryFs(),
      reaper: lruReaper({ maxBytes: 10_000 }),
    });
    // Each completes while its reader is still open (a client still
    // reading): the sweeps then must skip them all.
    const readers = [];
    for (let i = 0; i < 20; i++) {
      const { writer, reader } = await cache.get(`k${i}`);
      const w = writer!.getWriter();
      await w.write(bytes(2000));
      await w.close();
      readers.push(reader);
    }
    await cache.reap();
    assert.equal(cache.keys().length, 20, "all held");
    for (const reader of readers) reader.close();
    for (let i = 0; i < 50 && cache.keys().length > 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(cache.keys().length, 5, "back within 10,000 bytes");
    await cache.close();
  });
});

describe("lruReaper, sweeps that overlap", () => {
  it("resolves a reap asked for during a sweep only once the entries completed meanwhile were swept", async () => {
    // Each removal takes 100 ms: b's completion starts a sweep (removing a)
    // that is still running when c completes and reap() is asked for.
    const cache = new StreamCache({
      fs: slowRemovals(100),
      reaper: lruReaper({ maxEntries: 1 }),
    });
    const reaped: string[] = [];
    cache.onReap((key) => reaped.push(key));
    await put(cache, "a", 1);
    await put(cache, "b", 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await put(cache, "c", 1);
    await cache.reap();
    assert.deepEqual(cache.keys(), ["c"]);
    assert.deepEqual(
      reaped,
      ["a", "b"],
      "b's removal is done once reap() resolves",
    );
    await cache.close();
  });
});

describe("combineReapers", () => {
  it("removes when any reaper would, sweeping as often as the most eager", () => {
    const calls: string[] = [];
    const spy = (name: string, answer: boolean, every: number): Reaper => ({
      next: () => every,
      reap: (key) => {
        calls.push(`${name}:${key}`);
        return answer;
      },
    });
    const reaper = combineReapers(spy("no", false, 500), spy("yes", true, 100));
    assert.equal(reaper.next(), 100);
    assert.equal(reaper.reap("k", 0, 0, 0), true);
    assert.deepEqual(calls, ["no:k", "yes:k"], "every reaper sees every entry");
    assert.equal(reaper.bounded, false);
    assert.equal(combineReapers(lruReaper({ maxEntries: 1 })).bounded, true);
  });

  it("applies expiry and bounds together in a cache", async () => {
    const clock = new ManualClock(0);
    const reaper = combineReapers(
      expiryReaper(1000),
      lruReaper({ maxEntries: 2 }),
    );
    const cache = new StreamCache({ fs: memoryFs(), reaper, clock });
    await put(cache, "a", 1);
    await put(cache, "b", 1);
    await clock.advance(1);
    await put(cache, "c", 1);
    await cache.reap();
    assert.equal(cache.keys().length, 2);
    await clock.advance(5000);
    assert.deepEqual(cache.keys(), []);
    await cache.close();
  });
});
