/**
 * The runtime's server as `serve` wraps it: what a client sees when a handler
 * fails.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../lib/adapters/serve.ts";

describe("serve", () => {
  it("answers a handler that throws with a plain 500 that shows nothing of the error", async () => {
    const server = serve(() => {
      throw new Error("secret-db-password=hunter2");
    }, { port: 0 });
    try {
      const response = await fetch(server.url);
      assert.equal(response.status, 500);
      const body = await response.text();
      assert.ok(body.length < 200, `a short body, not a page: ${body.length}`);
      assert.doesNotMatch(body, /hunter2|serve_test|at /);
    } finally {
      await server.shutdown();
    }
  });
});
