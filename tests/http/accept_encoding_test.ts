import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { acceptedCoding } from "../../lib/http/accept_encoding.ts";

const ours = ["br", "gzip"];

describe("acceptedCoding", () => {
  it("picks the best-weighted coding the server has, its preference breaking ties", () => {
    assert.equal(acceptedCoding("gzip, deflate, br, zstd", ours), "br");
    assert.equal(acceptedCoding("gzip, deflate", ours), "gzip");
    assert.equal(acceptedCoding("br;q=0.5, gzip", ours), "gzip");
    assert.equal(acceptedCoding("BR ; Q=1.0 , GZIP;q=0.8", ours), "br");
    assert.equal(acceptedCoding("x-gzip", ours), "gzip", "an alias");
    assert.equal(acceptedCoding("*", ours), "br");
    assert.equal(acceptedCoding("gzip;q=0.2, *;q=0.5", ours), "br");
  });

  it("falls back to identity, refused only as RFC 9110 says", () => {
    assert.equal(acceptedCoding("deflate", ours), "identity");
    assert.equal(acceptedCoding("", ours), "identity", "empty: no coding");
    assert.equal(acceptedCoding("br;q=0, gzip;q=0", ours), "identity");
    assert.equal(acceptedCoding("identity, gzip;q=0.5", ours), "identity");
    assert.equal(acceptedCoding("identity;q=1, gzip", ours), "gzip", "a tie");
    assert.equal(acceptedCoding("*;q=0", ours), undefined);
    assert.equal(acceptedCoding("identity;q=0", ["br"]), undefined);
    assert.equal(acceptedCoding("*;q=0, identity", ours), "identity");
  });

  it("ignores members with malformed weights, and takes no field as any coding", () => {
    for (const junk of ["br;q=2", "br;q=abc", "br;q=0.1234", "br;q="]) {
      assert.equal(acceptedCoding(junk, ours), "identity", junk);
    }
    assert.equal(acceptedCoding("br;level=5", ours), "br", "other parameters");
    assert.equal(acceptedCoding(null, ours), "br");
    assert.equal(acceptedCoding(null, []), "identity");
  });
});
