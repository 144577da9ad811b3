import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { contentTypeFor, DEFAULT_CONTENT_TYPE } from "../../lib/http/mime.ts";

describe("contentTypeFor", () => {
  it("maps common extensions, case-insensitively, with charset on text", () => {
    assert.equal(contentTypeFor("/a/index.HTML"), "text/html; charset=utf-8");
    assert.equal(contentTypeFor("app.js"), "text/javascript; charset=utf-8");
    assert.equal(
      contentTypeFor("data.json"),
      "application/json; charset=utf-8",
    );
    assert.equal(contentTypeFor("logo.svg"), "image/svg+xml; charset=utf-8");
    assert.equal(contentTypeFor("photo.jpeg"), "image/jpeg");
    assert.equal(contentTypeFor("movie.mp4"), "video/mp4");
    assert.equal(contentTypeFor("font.woff2"), "font/woff2");
  });

  it("falls back to octet-stream for unknown or missing extensions", () => {
    for (
      const name of [
        "README",
        ".bashrc",
        "archive.xyz",
        "dir.d/file",
        "toString",
        "a.constructor",
      ]
    ) {
      assert.equal(contentTypeFor(name), DEFAULT_CONTENT_TYPE, name);
    }
  });
});
