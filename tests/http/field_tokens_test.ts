import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fieldTokens } from "../../lib/http/field_tokens.ts";

describe("fieldTokens", () => {
  it("trims, lower-cases and drops empty members", () => {
    assert.deepEqual(fieldTokens(" Keep-Alive ,, Upgrade,\t"), [
      "keep-alive",
      "upgrade",
    ]);
  });

  it("reads a missing or empty field as no members", () => {
    assert.deepEqual(fieldTokens(null), []);
    assert.deepEqual(fieldTokens(""), []);
    assert.deepEqual(fieldTokens(" , "), []);
  });
});
