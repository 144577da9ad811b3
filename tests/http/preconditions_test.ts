import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { evaluatePreconditions } from "../../lib/http/preconditions.ts";

const LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT";
const BEFORE = "Sat, 05 Nov 1994 08:49:37 GMT";
const AFTER = "Mon, 07 Nov 1994 08:49:37 GMT";
const validators = { etag: '"v1"', "last-modified": LAST_MODIFIED };

function request(method: string, headers: Record<string, string>) {
  return new Request("http://localhost/", { method, headers });
}

describe("evaluatePreconditions", () => {
  it("proceeds without conditional headers", () => {
    assert.equal(
      evaluatePreconditions(request("GET", {}), validators),
      undefined,
    );
  });

  it("If-None-Match: weak comparison, lists and *", () => {
    const cases: [string, string | undefined][] = [
      ['"v1"', "not-modified"],
      ['W/"v1"', "not-modified"],
      ['"v0", "v1"', "not-modified"],
      ["*", "not-modified"],
      ['"v2"', undefined],
      ["junk", undefined],
    ];
    for (const [header, expected] of cases) {
      assert.equal(
        evaluatePreconditions(
          request("GET", { "if-none-match": header }),
          validators,
        ),
        expected,
        header,
      );
    }
  });

  it("answers a matching If-None-Match on unsafe methods with 412", () => {
    assert.equal(
      evaluatePreconditions(
        request("PUT", { "if-none-match": "*" }),
        validators,
      ),
      "precondition-failed",
    );
    assert.equal(
      evaluatePreconditions(
        request("POST", { "if-none-match": '"v2"' }),
        validators,
      ),
      undefined,
    );
  });

  it("gives 304 only for GET and HEAD", () => {
    assert.equal(
      evaluatePreconditions(
        request("HEAD", { "if-none-match": '"v1"' }),
        validators,
      ),
      "not-modified",
    );
    assert.equal(
      evaluatePreconditions(
        request("DELETE", { "if-modified-since": AFTER }),
        validators,
      ),
      undefined,
    );
  });

  it("If-Modified-Since: not modified at or after the date", () => {
    const at = (date: string) =>
      evaluatePreconditions(
        request("GET", { "if-modified-since": date }),
        validators,
      );
    assert.equal(at(LAST_MODIFIED), "not-modified");
    assert.equal(at(AFTER), "not-modified");
    assert.equal(at(BEFORE), undefined);
  });

  it("compares If-Modified-Since with a stored response's Date when it has no Last-Modified (fromCache)", () => {
    const stored = { date: LAST_MODIFIED };
    const at = (date: string, fromCache: boolean) =>
      evaluatePreconditions(
        request("GET", { "if-modified-since": date }),
        stored,
        { fromCache },
      );
    assert.equal(at(AFTER, true), "not-modified");
    assert.equal(at(LAST_MODIFIED, true), "not-modified");
    assert.equal(at(BEFORE, true), undefined);
    assert.equal(
      at(AFTER, false),
      undefined,
      "an origin's own Date is no validator",
    );
    assert.equal(
      evaluatePreconditions(
        request("GET", { "if-unmodified-since": BEFORE }),
        stored,
        { fromCache: true },
      ),
      undefined,
      "If-Unmodified-Since still needs a Last-Modified",
    );
  });

  it("ignores If-Modified-Since when If-None-Match is present", () => {
    assert.equal(
      evaluatePreconditions(
        request("GET", { "if-none-match": '"v2"', "if-modified-since": AFTER }),
        validators,
      ),
      undefined,
    );
  });

  it("ignores unparseable dates and dates without Last-Modified", () => {
    for (const date of ["yesterday", "", "Sun, 32 Nov 1994 08:49:37 GMT"]) {
      assert.equal(
        evaluatePreconditions(
          request("GET", { "if-modified-since": date }),
          validators,
        ),
        undefined,
      );
      assert.equal(
        evaluatePreconditions(
          request("PUT", { "if-unmodified-since": date }),
          validators,
        ),
        undefined,
      );
    }
    assert.equal(
      evaluatePreconditions(
        request("GET", { "if-modified-since": AFTER }),
        { etag: '"v1"' },
      ),
      undefined,
    );
  });

  it("If-Match: strong comparison, lists and *", () => {
    const cases: [string, string | undefined][] = [
      ['"v1"', undefined],
      ['"v0", "v1"', undefined],
      ["*", undefined],
      ['W/"v1"', "precondition-failed"],
      ['"v2"', "precondition-failed"],
      ["", "precondition-failed"],
    ];
    for (const [header, expected] of cases) {
      assert.equal(
        evaluatePreconditions(
          request("PUT", { "if-match": header }),
          validators,
        ),
        expected,
        header,
      );
    }
    // weak current tag never matches strongly
    assert.equal(
      evaluatePreconditions(request("PUT", { "if-match": 'W/"v1"' }), {
        etag: 'W/"v1"',
      }),
      "precondition-failed",
    );
    assert.equal(
      evaluatePreconditions(request("PUT", { "if-match": '"v1"' }), {}),
      "precondition-failed",
    );
  });

  it("If-Unmodified-Since: fails when modified after the date", () => {
    assert.equal(
      evaluatePreconditions(
        request("PUT", { "if-unmodified-since": BEFORE }),
        validators,
      ),
      "precondition-failed",
    );
    assert.equal(
      evaluatePreconditions(
        request("PUT", { "if-unmodified-since": LAST_MODIFIED }),
        validators,
      ),
      undefined,
    );
  });

  it("follows RFC 9110 §13.2.2 order", () => {
    // 1. If-Match wins over If-Unmodified-Since
    assert.equal(
      evaluatePreconditions(
        request("PUT", { "if-match": '"v1"', "if-unmodified-since": BEFORE }),
        validators,
      ),
      undefined,
    );
    // a failing If-Match is answered before If-None-Match
    assert.equal(
      evaluatePreconditions(
        request("GET", { "if-match": '"v2"', "if-none-match": '"v1"' }),
        validators,
      ),
      "precondition-failed",
    );
    // If-Unmodified-Since passes, then If-None-Match decides
    assert.equal(
      evaluatePreconditions(
        request("GET", {
          "if-unmodified-since": AFTER,
          "if-none-match": '"v1"',
        }),
        validators,
      ),
      "not-modified",
    );
  });

  it("accepts Headers and plain records for validators", () => {
    const req = request("GET", { "if-none-match": '"v1"' });
    assert.equal(
      evaluatePreconditions(req, new Headers({ ETag: '"v1"' })),
      "not-modified",
    );
    assert.equal(evaluatePreconditions(req, { ETag: '"v1"' }), "not-modified");
  });

  it("survives hostile headers", () => {
    const huge = '"x", '.repeat(20_000) + '"v1"';
    assert.equal(
      evaluatePreconditions(
        request("GET", { "if-none-match": huge }),
        validators,
      ),
      "not-modified",
    );
    assert.equal(
      evaluatePreconditions(
        request("GET", { "if-modified-since": "9".repeat(10_000) }),
        validators,
      ),
      undefined,
    );
  });
});
