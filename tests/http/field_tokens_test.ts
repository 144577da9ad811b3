import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fieldTokens, trimOws } from "../../lib/http/field_tokens.ts";

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

  it("takes only spaces and tabs for whitespace: NBSP, VT and FF stay, so the member is no token", () => {
    assert.deepEqual(fieldTokens("chunked\x0b, \xa0gzip"), [
      "chunked\x0b",
      "\xa0gzip",
    ]);
    assert.equal(trimOws(" \t3\t "), "3");
    assert.equal(trimOws("3\xa0"), "3\xa0");
    assert.equal(trimOws("\f3"), "\f3");
    assert.equal(trimOws(" \t "), "");
  });
});
