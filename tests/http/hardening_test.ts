/**
 * Regression tests for what a review of the HTTP helpers found.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  acceptedCoding,
  formatHttpDate,
  ifRangeMatches,
  parseCacheControl,
  parseETagList,
  parseHttpDate,
  parseRange,
  rangeResponse,
  resolveFilePath,
  sendFile,
  serve,
  stream,
} from "../../mod.ts";
import { ageHeaderValue, requestCacheControl } from "../../lib/proxy/policy.ts";
import { tempDirsRemovedAfter } from "../_util.ts";

const freshDir = tempDirsRemovedAfter();

describe("HTTP helpers hardening", () => {
  it("merges thousands of repeated no-cache field lists, reading more than 256 names as bare", () => {
    // Bare is the restrictive reading: dropping names would store or send
    // fields the origin forbids.
    const value = Array.from({ length: 5000 }, (_, i) => `no-cache="f${i}"`)
      .join(", ");
    assert.equal(parseCacheControl(value).noCache, true);
    assert.deepEqual(
      parseCacheControl('private="a, b", private="b, c"').private,
      ["a", "b", "c"],
    );
  });

  it("takes only spaces and tabs as the whitespace around values and members, not NBSP or VT", () => {
    // RFC 9110 §5.6.3: OWS is SP / HTAB. `trim()` also takes NBSP, VT, FF
    // and BOM, which would make malformed values read as valid ones.
    for (const space of [" ", "\t"]) {
      assert.equal(
        parseRange(`bytes=0-4,${space}6-9`, 10).type,
        "satisfiable",
      );
      assert.deepEqual(parseETagList(`${space}"a"${space}`), ['"a"']);
      assert.equal(
        parseHttpDate(`Sun, 06 Nov 1994 08:49:37 GMT${space}`),
        784111777000,
      );
      assert.equal(acceptedCoding(`gzip${space};q=0.5`, ["gzip"]), "gzip");
      assert.equal(ageHeaderValue(`${space}5${space}`), 5);
    }
    for (const other of ["\xa0", "\v", "\f", "\ufeff"]) {
      const where = JSON.stringify(other);
      assert.equal(
        parseRange(`bytes=0-4,${other}6-9`, 10).type,
        "ignored",
        where,
      );
      assert.equal(parseRange(`${other}bytes=0-4`, 10).type, "ignored", where);
      assert.deepEqual(parseETagList(`${other}*`), [], where);
      assert.equal(
        parseHttpDate(`${other}Sun, 06 Nov 1994 08:49:37 GMT`),
        undefined,
        where,
      );
      assert.equal(acceptedCoding(`gzip${other}`, ["gzip"]), "identity", where);
      assert.equal(ageHeaderValue(`5${other}`), 0, where);
      // Field values carry bytes: a BOM cannot be sent in one.
      if (other === "\ufeff") continue;
      assert.equal(
        requestCacheControl(new Headers({ pragma: `no-cache${other}` }))
          .noCache,
        undefined,
        where,
      );
      const request = new Request("http://a.test/", {
        headers: { "if-range": `${other}"v"` },
      });
      assert.equal(ifRangeMatches(request, { etag: '"v"' }), false, where);
    }
  });

  it("honours If-Range with a date only when Last-Modified is a strong validator", () => {
    const modified = Date.UTC(2026, 0, 1, 12, 0, 0);
    const request = new Request("http://x/", {
      headers: { "if-range": formatHttpDate(modified) },
    });
    const validators = (date: number) => ({
      "last-modified": formatHttpDate(modified),
      date: formatHttpDate(date),
    });
    assert.equal(
      ifRangeMatches(request, validators(modified)),
      false,
      "changed within the same second",
    );
    assert.equal(ifRangeMatches(request, validators(modified + 1000)), true);
  });

  it("applies preconditions to any 2xx, and ranges to 200s only", async () => {
    const init = { status: 203, headers: { etag: '"v1"' } };
    const notModified = rangeResponse(
      new Request("http://x/", { headers: { "if-none-match": '"v1"' } }),
      new Uint8Array(4),
      init,
    );
    assert.equal(notModified.status, 304);
    const failed = rangeResponse(
      new Request("http://x/", { headers: { "if-match": '"other"' } }),
      new Uint8Array(4),
      init,
    );
    assert.equal(failed.status, 412);
    const ranged = rangeResponse(
      new Request("http://x/", { headers: { range: "bytes=0-1" } }),
      new Uint8Array(4),
      init,
    );
    assert.equal(ranged.status, 203);
    assert.equal((await ranged.arrayBuffer()).byteLength, 4);
  });

  it("reads and writes HTTP dates with years below 1000 exactly", () => {
    const ms = parseHttpDate("Sat, 06 Nov 0094 08:49:37 GMT");
    assert.equal(new Date(ms!).getUTCFullYear(), 94);
    assert.equal(formatHttpDate(ms!), "Sat, 06 Nov 0094 08:49:37 GMT");
    assert.throws(() => formatHttpDate(Date.UTC(10000, 0, 1)), RangeError);
    assert.throws(() => formatHttpDate(Date.UTC(-3, 0, 1)), RangeError);
  });

  it("runs a generator's finally when one of its Blob chunks fails", async () => {
    let finished = false;
    class BrokenBlob extends Blob {
      override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
        return new ReadableStream({
          pull: (c) => c.error(new Error("blob read failed")),
        });
      }
    }
    async function* chunks() {
      try {
        yield "ok ";
        yield new BrokenBlob(["x"]);
        yield "never";
      } finally {
        finished = true;
      }
    }
    await assert.rejects(stream(chunks()).text(), /blob read failed/);
    assert.equal(finished, true);
  });

  it("serves files under a root that is the file-system root", async () => {
    const dir = await freshDir();
    await writeFile(join(dir, "a.txt"), "a");
    assert.equal(
      await resolveFilePath("/", join(dir, "a.txt")),
      join(dir, "a.txt"),
    );
  });

  it("names no file in Content-Disposition unless asked to, on either runtime", async () => {
    const dir = await freshDir();
    await mkdir(join(dir, "pub"));
    await writeFile(join(dir, "pub", "report.pdf"), "%PDF-1.4");
    const server = serve(
      (request) =>
        sendFile(request, new URL(request.url).pathname, {
          root: join(dir, "pub"),
        }),
      {
        port: 0,
      },
    );
    try {
      const response = await fetch(`${server.url}/report.pdf`);
      await response.arrayBuffer();
      assert.ok(
        !(response.headers.get("content-disposition") ?? "").includes(
          "report.pdf",
        ),
      );
      assert.equal(response.headers.get("content-type"), "application/pdf");
    } finally {
      await server.shutdown();
    }
  });
});
