import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RecentMap } from "../lib/recent_map.ts";

describe("RecentMap", () => {
  it("drops the least recently used entries past its weight limit", () => {
    const recent = new RecentMap<string, Uint8Array>(
      10,
      (bytes) => bytes.byteLength,
    );
    assert.equal(recent.set("a", new Uint8Array(4)), true);
    assert.equal(recent.set("b", new Uint8Array(4)), true);
    assert.ok(recent.get("a")); // b is now the least recently used
    recent.set("c", new Uint8Array(4));
    assert.deepEqual(
      ["a", "b", "c"].map((key) => recent.get(key) !== undefined),
      [true, false, true],
    );
    assert.equal(recent.weight, 8);
    // Replacing a value counts only the new one.
    recent.set("a", new Uint8Array(6));
    assert.equal(recent.weight, 10);
    assert.equal(recent.size, 2);
  });

  it("lists its entries least recent first, as a copy that leaves their order alone", () => {
    const recent = new RecentMap<string, number>(10, () => 1);
    recent.set("a", 1);
    recent.set("b", 2);
    recent.get("a");
    const listed = recent.entries();
    assert.deepEqual(listed, [["b", 2], ["a", 1]]);
    recent.get("b"); // a hit during a walk does not change what it walks
    assert.deepEqual(listed, [["b", 2], ["a", 1]]);
    recent.set("c", 3); // nor does listing make "b" the least recent
    assert.deepEqual(recent.entries().map(([key]) => key), ["a", "b", "c"]);
  });

  it("keeps no value heavier than the limit, and forgets the key's old one", () => {
    const recent = new RecentMap<string, Uint8Array>(
      10,
      (bytes) => bytes.byteLength,
    );
    recent.set("a", new Uint8Array(3));
    assert.equal(recent.set("a", new Uint8Array(11)), false);
    assert.equal(recent.get("a"), undefined);
    assert.equal(recent.weight, 0);
  });

  it("tells of entries it lets go for room or cannot keep, not of those deleted or replaced", () => {
    const dropped: string[] = [];
    const recent = new RecentMap<string, number>(
      2,
      (n) => n,
      (key, value) => dropped.push(`${key}=${value}`),
    );
    recent.set("a", 1);
    recent.set("b", 1);
    recent.set("a", 1); // replaced: not dropped
    recent.set("c", 1); // b is the least recent
    recent.delete("a");
    recent.set("d", 3); // too heavy
    assert.deepEqual(dropped, ["b=1", "d=3"]);
  });

  it("counts entries by default, and a limit of 0 keeps nothing", () => {
    const recent = new RecentMap<string, number>(2);
    recent.set("a", 1);
    recent.set("b", 2);
    recent.set("c", 3);
    assert.deepEqual([recent.get("a"), recent.get("b"), recent.get("c")], [
      undefined,
      2,
      3,
    ]);
    assert.equal(recent.delete("b"), true);
    assert.equal(recent.delete("b"), false);
    const none = new RecentMap<string, number>(0);
    none.set("a", 1);
    assert.equal(none.size, 0);
    assert.throws(() => new RecentMap(-1), /limit must be a number >= 0/);
  });
});
