import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KeyQueue } from "../lib/key_queue.ts";
import { deferred } from "../lib/deferred.ts";
import { tick } from "./_util.ts";

describe("KeyQueue", () => {
  it("runs one key's tasks one at a time, in order; other keys alongside", async () => {
    const queue = new KeyQueue();
    const log: string[] = [];
    // a1 ends only once b1 has: events, not timers, so a slow machine cannot
    // reorder them. Were b queued behind a, a1 would wait for good.
    const b1Done = deferred<void>();
    const task = (name: string, waitFor?: Promise<void>) => async () => {
      log.push(`${name} start`);
      await waitFor;
      await tick(0);
      log.push(`${name} end`);
      if (name === "b1") b1Done.resolve();
      return name;
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const results = await Promise.race([
      Promise.all([
        queue.run("a", task("a1", b1Done.promise)),
        queue.run("a", task("a2")),
        queue.run("b", task("b1")),
      ]),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`stuck: ${log.join()}`)),
          10_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
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
