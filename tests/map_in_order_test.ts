import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mapInOrder } from "../lib/map_in_order.ts";
import { deferred } from "../lib/deferred.ts";
import { tick } from "./_util.ts";

/** Work whose items finish only when the test says, counting those under way. */
function heldWork() {
  const held = new Map<number, PromiseWithResolvers<void>>();
  const state = { underWay: 0, most: 0, started: [] as number[] };
  const work = async (n: number) => {
    state.started.push(n);
    state.most = Math.max(state.most, ++state.underWay);
    const gate = deferred<void>();
    held.set(n, gate);
    await gate.promise;
    state.underWay--;
    if (n < 0) throw new Error(`item ${n} failed`);
    return n * 10;
  };
  return { work, state, finish: (n: number) => held.get(n)?.resolve() };
}

describe("mapInOrder", () => {
  it("keeps up to width items under way and yields in the items' order, whatever order they finish in", async () => {
    const { work, state, finish } = heldWork();
    const results: number[] = [];
    const walking = (async () => {
      for await (const value of mapInOrder([1, 2, 3, 4, 5], 3, work)) {
        results.push(value);
      }
    })();
    await tick(0);
    assert.deepEqual(state.started, [1, 2, 3], "three at once, no more");
    // The later ones finish first: nothing is yielded before 1.
    finish(3);
    finish(2);
    await tick(0);
    assert.deepEqual(results, []);
    finish(1);
    for (const n of [4, 5]) {
      await tick(0);
      finish(n);
    }
    await walking;
    assert.deepEqual(results, [10, 20, 30, 40, 50]);
    assert.equal(state.most, 3);
  });

  it("throws a failure at its turn, after the results before it, with no rejection left unhandled", async () => {
    const { work, finish } = heldWork();
    const results: number[] = [];
    const walking = (async () => {
      for await (const value of mapInOrder([1, -2, 3, 4], 4, work)) {
        results.push(value);
      }
    })();
    await tick(0);
    // Work after the failure fails or ends too, unobserved.
    for (const n of [3, -2, 1, 4]) finish(n);
    await assert.rejects(walking, /item -2 failed/);
    assert.deepEqual(results, [10]);
  });

  it("starts no item after the caller stops, and takes async items and work that throws at once", async () => {
    const started: number[] = [];
    async function* items() {
      for (let n = 1; n <= 100; n++) yield n;
    }
    for await (
      const value of mapInOrder(items(), 4, (n) => {
        started.push(n);
        return n;
      })
    ) {
      if (value === 2) break;
    }
    assert.ok(started.length <= 6, `started ${started.length} of 100`);
    const failing = mapInOrder([1], 1, () => {
      throw new RangeError("at once");
    });
    await assert.rejects(failing.next(), RangeError);
    assert.throws(() => mapInOrder([1], 0, (n) => n), /width/);
  });
});
