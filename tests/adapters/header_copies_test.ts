import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  copyHeaders,
  headerPairs,
  requestWithHeaders,
} from "../../lib/adapters/header_copies.ts";

/** Repeated fields, two cookies, names in mixed case, and a dozen more. */
function manyFields(): Headers {
  const headers = new Headers([
    ["Accept", "text/html"],
    ["accept", "*/*"],
    ["Set-Cookie", "a=1; Path=/"],
    ["set-cookie", "b=2"],
    ["X-Zeta", "last"],
  ]);
  for (let i = 0; i < 12; i++) headers.append(`x-field-${i}`, `value ${i}`);
  return headers;
}

describe("header copies", () => {
  it("copies every field as new Headers(headers) does, cookies apart", () => {
    const original = manyFields();
    const copy = copyHeaders(original);
    assert.deepEqual([...copy], [...new Headers(original)]);
    assert.deepEqual(copy.getSetCookie(), ["a=1; Path=/", "b=2"]);
    assert.equal(copy.get("accept"), "text/html, */*");
  });

  it("makes a copy whose changes leave the original as it was, and back", () => {
    const original = manyFields();
    const copy = copyHeaders(original);
    copy.delete("x-zeta");
    copy.append("set-cookie", "c=3");
    original.set("accept", "image/png");
    assert.equal(original.get("x-zeta"), "last");
    assert.deepEqual(original.getSetCookie(), ["a=1; Path=/", "b=2"]);
    assert.equal(copy.get("accept"), "text/html, */*");
  });

  it("copies the other kinds of init as new Headers does", () => {
    assert.deepEqual([...copyHeaders({ B: "2", a: "1" })], [["a", "1"], [
      "b",
      "2",
    ]]);
    assert.deepEqual([...copyHeaders([["x", "1"], ["x", "2"]])], [[
      "x",
      "1, 2",
    ]]);
    assert.deepEqual([...copyHeaders()], []);
  });

  it("gives the pairs iteration gives, each cookie its own", () => {
    const headers = manyFields();
    assert.deepEqual(headerPairs(headers), [...headers]);
    assert.deepEqual(
      headerPairs(headers).filter(([name]) => name === "set-cookie"),
      [["set-cookie", "a=1; Path=/"], ["set-cookie", "b=2"]],
    );
  });

  it("makes a request with the fields, method, body and signal given", async () => {
    const headers = manyFields();
    headers.set("content-type", "application/x-ndjson");
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({
      start(stream) {
        stream.enqueue(new TextEncoder().encode("{}\n"));
        stream.close();
      },
    });
    const request = requestWithHeaders("http://origin.test/up", {
      method: "POST",
      headers,
      body,
      duplex: "half",
      redirect: "manual",
      signal: controller.signal,
    });
    assert.equal(request.method, "POST");
    assert.equal(request.redirect, "manual");
    assert.deepEqual([...request.headers], [...headers]);
    assert.equal(await request.text(), "{}\n");
    controller.abort();
    assert.equal(request.signal.aborted, true);
  });

  it("leaves the fields it was given as they were", () => {
    const headers = manyFields();
    const before = [...headers];
    const request = requestWithHeaders("http://origin.test/", { headers });
    request.headers.delete("accept");
    assert.deepEqual([...headers], before);
  });
});
