import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BackgroundQueue } from "../lib/background_queue.ts";
import { deferred } from "../lib/deferred.ts";
import { tick } from "./_util.ts";

describe("BackgroundQueue", () => {
  it("runs tasks in order, at most `concurrency` at once", async () => {
    const queue = new BackgroundQueue({ concurrency: 2, maxWaiting: 100 });
    let running = 0;
    let most = 0;
    const order: number[] = [];
    for (let i = 0; i < 10; i++) {
      queue.add(async () => {
        order.push(i);
        most = Math.max(most, ++running);
        await tick(5);
        running--;
      });
    }
    assert.equal(queue.waiting, 8);
    while (queue.waiting > 0 || running > 0) await tick(5);
    assert.equal(most, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("drops and counts tasks past maxWaiting, and goes on after a task that fails", async () => {
    const errors: unknown[] = [];
    const queue = new BackgroundQueue({
      concurrency: 1,
      maxWaiting: 2,
      onError: (error) => errors.push(error),
    });
    const gate = deferred<void>();
    const ran: string[] = [];
    queue.add(() => gate.promise);
    assert.equal(queue.add(() => Promise.reject(new Error("no"))), true);
    assert.equal(queue.add(() => (ran.push("third"), Promise.resolve())), true);
    assert.equal(
      queue.add(() => (ran.push("fourth"), Promise.resolve())),
      false,
    );
    assert.equal(queue.dropped, 1);
    gate.resolve();
    while (queue.waiting > 0) await tick(1);
    await queue.stop();
    assert.deepEqual(ran, ["third"]);
    assert.equal((errors[0] as Error).message, "no");
  });

  it("stop() drops what has not started, waits for what runs, and takes nothing more", async () => {
    const queue = new BackgroundQueue({ concurrency: 1, maxWaiting: 100 });
    let finished = false;
    queue.add(async () => {
      await tick(20);
      finished = true;
    });
    for (let i = 0; i < 5; i++) queue.add(() => Promise.resolve());
    await queue.stop();
    assert.equal(finished, true);
    assert.equal(queue.dropped, 5);
    assert.equal(queue.add(() => Promise.resolve()), false);
    assert.equal(queue.dropped, 6);
  });
});
