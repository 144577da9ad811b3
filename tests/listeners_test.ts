import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Listeners } from "../lib/listeners.ts";

describe("Listeners", () => {
  it("tells each listener in the order added, until it is removed", () => {
    const heard: string[] = [];
    const listeners = new Listeners<string>();
    const stopA = listeners.add((value) => heard.push(`a:${value}`));
    listeners.add((value) => heard.push(`b:${value}`));
    listeners.tell("1");
    stopA();
    stopA(); // twice is fine
    listeners.tell("2");
    assert.deepEqual(heard, ["a:1", "b:1", "b:2"]);
  });
});
