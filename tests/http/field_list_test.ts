import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FieldList } from "../../lib/http/field_list.ts";

describe("FieldList", () => {
  it("takes any HeadersInit, lowercasing names and keeping repeats", () => {
    const fromRecord = new FieldList({
      "Content-Type": "text/plain",
      ETag: '"a"',
    });
    assert.deepEqual(fromRecord.pairs, [
      ["content-type", "text/plain"],
      ["etag", '"a"'],
    ]);
    const fromPairs = new FieldList([["Link", "</a>"], ["link", "</b>"]]);
    assert.equal(fromPairs.get("link"), "</a>, </b>");
    const fromHeaders = new FieldList(new Headers({ Vary: "accept" }));
    assert.deepEqual(fromHeaders.pairs, [["vary", "accept"]]);
    assert.deepEqual(new FieldList().pairs, []);
    // Any other form is read as Headers reads it.
    const fromMap = new FieldList(
      new Map([["X-A", "1"]]) as unknown as HeadersInit,
    );
    assert.deepEqual(fromMap.pairs, [["x-a", "1"]]);
    const caseTwice = new FieldList({ "X-B": "1", "x-b": "2" });
    assert.equal(caseTwice.get("x-b"), "1, 2");
  });

  it("strips whitespace around values, as Headers does", () => {
    const fields = new FieldList([["etag", ' \t"x"\r\n'], ["a", "b c"]]);
    assert.deepEqual(fields.pairs, [["etag", '"x"'], ["a", "b c"]]);
    assert.equal(new FieldList({ ETag: ' "y" ' }).get("etag"), '"y"');
  });

  it("reads, replaces and deletes as Headers does", () => {
    const fields = new FieldList([["age", "1"], ["age", "2"], ["etag", '"x"']]);
    assert.equal(fields.has("age"), true);
    fields.set("age", "3");
    assert.deepEqual(fields.pairs, [["etag", '"x"'], ["age", "3"]]);
    fields.delete("etag");
    assert.equal(fields.get("etag"), null);
    assert.equal(fields.has("etag"), false);
  });

  it("makes a Response with every field, its own Content-Type over the body's", async () => {
    const fields = new FieldList([
      ["content-type", "application/json"],
      ["link", "</a>"],
      ["link", "</b>"],
    ]);
    const response = fields.response("{}", { status: 201, statusText: "Made" });
    assert.equal(response.status, 201);
    assert.equal(response.statusText, "Made");
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("link"), "</a>, </b>");
    assert.equal(await response.text(), "{}");
    const blob = new FieldList([["content-type", "text/html"]]).response(
      new Blob(["x"], { type: "text/plain" }),
    );
    assert.equal(blob.headers.get("content-type"), "text/html");
  });

  it("rejects a field value a Response would not carry", () => {
    assert.throws(() => new FieldList([["x-bad", "a\nb"]]).response(null));
  });
});
