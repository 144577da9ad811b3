import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyQueue } from "../lib/key_queue.ts";
import { tick } from "./_util.ts";

describe("KeyQueue", () => {
  it("runs one key's tasks one at a time, in order; other keys alongside", async () => {
    const queue = new KeyQueue();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`${name} start`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([
      queue.run("a", task("a1", 30)),
      queue.run("a", task("a2", 1)),
      queue.run("b", task("b1", 1)),
    ]);
    assert.deepEqual(results, ["a1", "a2", "b1"]);
    assert.ok(log.indexOf("a1 end") < log.indexOf("a2 start"), log.join());
    assert.ok(log.indexOf("b1 end") < log.indexOf("a1 end"), log.join());
  });

  it("goes on after a task that fails, which fails only its own caller", async () => {
    const queue = new KeyQueue();
    const failed = queue.run("k", () => Promise.reject(new Error("no")));
    const next = queue.run("k", () => Promise.resolve("yes"));
    await assert.rejects(failed, /no/);
    assert.equal(await next, "yes");
  });

  it("idle() waits for every task, those queued meanwhile too", async () => {
    const queue = new KeyQueue();
    const log: string[] = [];
    void queue.run("a", async () => {
      await tick(20);
      void queue.run("b", async () => {
        await tick(20);
        log.push("b");
      });
      log.push("a");
    });
    await queue.idle();
    assert.deepEqual(log, ["a", "b"]);
    await queue.idle(); // nothing queued: at once
  });
});
