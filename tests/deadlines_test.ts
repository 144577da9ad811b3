import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../lib/clock.ts";
import { Deadlines } from "../lib/deadlines.ts";

describe("Deadlines", () => {
  it("expires each deadline its length after it was added, unless cancelled", async () => {
    const clock = new ManualClock(0);
    const deadlines = new Deadlines(clock, 1000);
    const expired: string[] = [];
    deadlines.add(() => expired.push("a"));
    await clock.advance(300);
    const cancelB = deadlines.add(() => expired.push("b"));
    await clock.advance(300);
    deadlines.add(() => expired.push("c"));
    cancelB();
    await clock.advance(399);
    assert.equal(expired.length, 0);
    await clock.advance(1);
    assert.deepEqual(expired, ["a"]);
    await clock.advance(599);
    assert.deepEqual(expired, ["a"], "b was cancelled; c is not due yet");
    await clock.advance(1);
    assert.deepEqual(expired, ["a", "c"]);
    // Later deadlines start a timer again.
    deadlines.add(() => expired.push("d"));
    await clock.advance(1000);
    assert.deepEqual(expired, ["a", "c", "d"]);
  });

  it("keeps expiring the others when one throws, and refuses a bad length", async () => {
    const clock = new ManualClock(0);
    const deadlines = new Deadlines(clock, 10);
    const expired: string[] = [];
    const thrown: unknown[] = [];
    const original = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (callback) =>
      original(() => {
        try {
          callback();
        } catch (error) {
          thrown.push(error);
        }
      });
    try {
      deadlines.add(() => {
        throw new Error("boom");
      });
      deadlines.add(() => expired.push("after"));
      await clock.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
    } finally {
      globalThis.queueMicrotask = original;
    }
    assert.deepEqual(expired, ["after"]);
    assert.equal((thrown[0] as Error).message, "boom");
    assert.throws(() => new Deadlines(clock, -1), /a deadline must be/);
    assert.throws(() => new Deadlines(clock, 2 ** 31), /2147483647 ms/);
  });
});
