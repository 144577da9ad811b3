import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  mkdir,
  mkdtemp,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ForbiddenPathError,
  resolveFilePath,
  sendFile,
} from "../../lib/http/send_file.ts";
import { openAsBlob } from "node:fs";
import { rangeResponse } from "../../lib/http/range_response.ts";
import { fastReadRange } from "../../lib/adapters/file_io.ts";
import { serve } from "../../lib/adapters/serve.ts";

let dir: string;
let root: string;
const TEXT = "hello, file world\n";
const BIG = new Uint8Array(3 * (1 << 20) + 123).map((_, i) => (i * 7) & 255);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "cistern-send-file-"));
  root = join(dir, "public");
  await mkdir(join(root, "nested"), { recursive: true });
  await writeFile(join(root, "hello.txt"), TEXT);
  await writeFile(join(root, "nested", "data.json"), '{"a":1}');
  await writeFile(join(root, "empty.bin"), new Uint8Array(0));
  await writeFile(join(root, "big.bin"), BIG);
  await writeFile(join(root, ".env"), "SECRET=1");
  await writeFile(join(root, "%2e%2e"), "a file with a strange name");
  await writeFile(join(dir, "secret.txt"), "do not serve");
  await symlink(join(dir, "secret.txt"), join(root, "escape.txt"));
  await symlink(join(root, "hello.txt"), join(root, "alias.txt"));
  await symlink(join(root, ".env"), join(root, "env.txt"));
  await writeFile(join(root, "future.txt"), "from the future");
  const ahead = new Date(Date.now() + 30 * 86_400_000);
  await utimes(join(root, "future.txt"), ahead, ahead);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function get(headers: Record<string, string> = {}, method = "GET") {
  return new Request("http://localhost/", { method, headers });
}

describe("sendFile", () => {
  it("sends a file with type, validators, cache-control and length", async () => {
    const response = await sendFile(get(), "/hello.txt", { root });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    assert.equal(response.headers.get("content-length"), String(TEXT.length));
    assert.equal(response.headers.get("accept-ranges"), "bytes");
    assert.equal(response.headers.get("cache-control"), "no-cache");
    assert.match(response.headers.get("etag")!, /^"[0-9a-z]+-[0-9a-z]+"$/);
    assert.match(response.headers.get("last-modified")!, / GMT$/);
    assert.equal(await response.text(), TEXT);
  });

  it("answers conditional GETs with 304", async () => {
    const first = await sendFile(get(), "/hello.txt", { root });
    await first.body?.cancel();
    const byTag = await sendFile(
      get({ "if-none-match": first.headers.get("etag")! }),
      "/hello.txt",
      { root },
    );
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body, null);
    const byDate = await sendFile(
      get({ "if-modified-since": first.headers.get("last-modified")! }),
      "/hello.txt",
      { root },
    );
    assert.equal(byDate.status, 304);
  });

  it("sends ranges: single, multiple, unsatisfiable, If-Range", async () => {
    const single = await sendFile(get({ range: "bytes=0-4" }), "/hello.txt", {
      root,
    });
    assert.equal(single.status, 206);
    assert.equal(
      single.headers.get("content-range"),
      `bytes 0-4/${TEXT.length}`,
    );
    assert.equal(await single.text(), "hello");

    const multi = await sendFile(get({ range: "bytes=0-0,-2" }), "/hello.txt", {
      root,
    });
    assert.equal(multi.status, 206);
    const body = await multi.text();
    assert.match(body, /content-type: text\/plain; charset=utf-8\r\n/);
    assert.match(body, /content-range: bytes 0-0\/18\r\n\r\nh\r\n/);
    assert.match(body, /content-range: bytes 16-17\/18\r\n\r\nd\n\r\n/);

    const unsatisfiable = await sendFile(
      get({ range: "bytes=500-" }),
      "/hello.txt",
      { root },
    );
    assert.equal(unsatisfiable.status, 416);
    assert.equal(
      unsatisfiable.headers.get("content-range"),
      `bytes */${TEXT.length}`,
    );

    const etag = single.headers.get("etag")!;
    const resumed = await sendFile(
      get({ range: "bytes=7-", "if-range": etag }),
      "/hello.txt",
      { root },
    );
    assert.equal(resumed.status, 206);
    assert.equal(await resumed.text(), "file world\n");
    const changed = await sendFile(
      get({ range: "bytes=7-", "if-range": '"other"' }),
      "/hello.txt",
      { root },
    );
    assert.equal(changed.status, 200);
    assert.equal(await changed.text(), TEXT);
  });

  it("answers HEAD without a body and without reading the file", async () => {
    const reads: unknown[] = [];
    const response = await sendFile(get({}, "HEAD"), "/hello.txt", {
      root,
      readRange: (path, start, end) => {
        reads.push([path, start, end]);
        return fastReadRange()(path, start, end);
      },
    });
    assert.equal(response.status, 200);
    assert.equal(response.body, null);
    assert.equal(response.headers.get("content-length"), String(TEXT.length));
    assert.deepEqual(reads, []);
  });

  it("reads only the requested range from disk", async () => {
    const reads: [number, number][] = [];
    const response = await sendFile(
      get({ range: "bytes=1000000-1000009" }),
      "/big.bin",
      {
        root,
        readRange: (path, start, end) => {
          reads.push([start, end]);
          return fastReadRange()(path, start, end);
        },
      },
    );
    const bytes = new Uint8Array(await response.arrayBuffer());
    assert.deepEqual(bytes, BIG.slice(1000000, 1000010));
    assert.deepEqual(reads, [[1000000, 1000010]]);
  });

  it("sends empty files", async () => {
    const response = await sendFile(get(), "/empty.bin", { root });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), "0");
    assert.equal((await response.arrayBuffer()).byteLength, 0);
    const ranged = await sendFile(get({ range: "bytes=0-" }), "/empty.bin", {
      root,
    });
    assert.equal(ranged.status, 416);
  });

  it("answers 404 for missing files and directories, 405 for POST", async () => {
    assert.equal((await sendFile(get(), "/missing.txt", { root })).status, 404);
    assert.equal((await sendFile(get(), "/nested", { root })).status, 404);
    assert.equal((await sendFile(get(), "/", { root })).status, 404);
    assert.equal(
      (await sendFile(get(), "/hello.txt/x", { root })).status,
      404,
    );
    const post = await sendFile(get({}, "POST"), "/hello.txt", { root });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  });

  it("refuses paths that escape the root with 403", async () => {
    for (
      const path of [
        "/../secret.txt",
        "../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/nested/../../secret.txt",
        "/nested/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/hello.txt%00.png",
        "/%E0%A4%A",
        "/escape.txt",
      ]
    ) {
      const response = await sendFile(get(), path, { root });
      assert.equal(response.status, 403, path);
      assert.equal(await response.text(), "Forbidden");
    }
  });

  it("decodes once: %252e%252e names a file, not a parent", async () => {
    const response = await sendFile(get(), "/%252e%252e", { root });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "a file with a strange name");
  });

  it("follows symlinks that stay inside the root", async () => {
    const response = await sendFile(get(), "/alias.txt", { root });
    assert.equal(await response.text(), TEXT);
  });

  it("hides dotfiles unless allowed, links to them included", async () => {
    assert.equal((await sendFile(get(), "/.env", { root })).status, 404);
    assert.equal((await sendFile(get(), "/env.txt", { root })).status, 404);
    const allowed = await sendFile(get(), "/.env", { root, dotfiles: "allow" });
    assert.equal(await allowed.text(), "SECRET=1");
  });

  it("takes content type, validators, cache-control and disposition", async () => {
    const response = await sendFile(get(), "/nested/data.json", {
      root,
      contentType: "application/vnd.test",
      etag: '"fixed"',
      lastModified: Date.UTC(2020, 0, 1),
      cacheControl: "max-age=60, public",
      disposition: { type: "attachment", filename: 'données "v1".json' },
      headers: { "x-extra": "1" },
    });
    assert.equal(response.headers.get("content-type"), "application/vnd.test");
    assert.equal(response.headers.get("etag"), '"fixed"');
    assert.equal(
      response.headers.get("last-modified"),
      "Wed, 01 Jan 2020 00:00:00 GMT",
    );
    assert.equal(response.headers.get("cache-control"), "max-age=60, public");
    assert.equal(
      response.headers.get("content-disposition"),
      'attachment; filename="donn_es _v1_.json"; ' +
        "filename*=UTF-8''donn%C3%A9es%20%22v1%22.json",
    );
    assert.equal(response.headers.get("x-extra"), "1");
    const plain = await sendFile(get(), "/nested/data.json", {
      root,
      etag: false,
      lastModified: false,
      disposition: "attachment",
    });
    assert.equal(plain.headers.get("etag"), null);
    assert.equal(plain.headers.get("last-modified"), null);
    assert.equal(
      plain.headers.get("content-disposition"),
      "attachment; filename=\"data.json\"; filename*=UTF-8''data.json",
    );
    await plain.body?.cancel();
  });

  it("never sends a Last-Modified in the future (RFC 9110 §8.8.2.1)", async () => {
    const before = Date.now();
    const response = await sendFile(get(), "/future.txt", { root });
    const sent = Date.parse(response.headers.get("last-modified")!);
    assert.ok(sent <= Date.now() && sent >= before - 1000, `${sent}`);
    await response.body?.cancel();
  });

  it("names a download whose name has a lone surrogate, not a 500", async () => {
    const response = await sendFile(get(), "/hello.txt", {
      root,
      disposition: { type: "attachment", filename: "a\uD800b.txt" },
    });
    assert.equal(response.status, 200);
    assert.match(
      response.headers.get("content-disposition")!,
      /filename\*=UTF-8''a%EF%BF%BDb\.txt/,
    );
    await response.body?.cancel();
  });

  it("uses a file system path as is without a root", async () => {
    const response = await sendFile(get(), join(dir, "secret.txt"));
    assert.equal(await response.text(), "do not serve");
  });

  it("streams a large file over a real connection", async () => {
    const server = serve(
      (request) => sendFile(request, new URL(request.url).pathname, { root }),
      { port: 0 },
    );
    try {
      const response = await fetch(`${server.url}/big.bin`);
      assert.equal(response.status, 200);
      // On Bun the file goes out as a Blob, so its length is sent too.
      assert.equal(response.headers.get("content-length"), String(BIG.length));
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), BIG);

      const tail = await fetch(`${server.url}/big.bin`, {
        headers: { range: "bytes=-100" },
      });
      assert.equal(tail.status, 206);
      assert.deepEqual(
        new Uint8Array(await tail.arrayBuffer()),
        BIG.slice(BIG.length - 100),
      );

      const head = await fetch(`${server.url}/big.bin`, { method: "HEAD" });
      assert.equal(head.headers.get("content-length"), String(BIG.length));
      await head.body?.cancel();

      const missing = await fetch(`${server.url}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      await server.shutdown();
    }
  });
});

describe("rangeResponse with file-backed Blobs", () => {
  it("answers ranges itself, even where the runtime could (Bun.file)", async () => {
    // node:fs openAsBlob gives a file-backed Blob (a Bun.file under Bun), the
    // kind of body some Bun versions apply Range to on their own.
    const blob = await openAsBlob(join(root, "big.bin"));
    const server = serve(
      (request) => rangeResponse(request, blob),
      { port: 0 },
    );
    try {
      const single = await fetch(server.url, {
        headers: { range: "bytes=100-199" },
      });
      assert.equal(single.status, 206);
      assert.equal(
        single.headers.get("content-range"),
        `bytes 100-199/${BIG.length}`,
      );
      assert.deepEqual(
        new Uint8Array(await single.arrayBuffer()),
        BIG.slice(100, 200),
      );
      const full = await fetch(server.url);
      assert.equal(full.status, 200);
      assert.deepEqual(new Uint8Array(await full.arrayBuffer()), BIG);
      const multi = await fetch(server.url, {
        headers: { range: "bytes=0-0,-1" },
      });
      assert.equal(multi.status, 206);
      assert.match(
        multi.headers.get("content-type")!,
        /^multipart\/byteranges/,
      );
      await multi.body?.cancel();
    } finally {
      await server.shutdown();
    }
  });
});

describe("resolveFilePath", () => {
  it("resolves inside the root", async () => {
    assert.equal(
      await resolveFilePath(root, "/nested/data.json"),
      join(root, "nested", "data.json"),
    );
    assert.equal(
      await resolveFilePath(root, "nested/x y"),
      join(root, "nested", "x y"),
    );
  });

  it("throws a typed error carrying the path and status", async () => {
    await assert.rejects(
      resolveFilePath(root, "/%2e%2e/secret.txt"),
      (error: unknown) =>
        error instanceof ForbiddenPathError && error.status === 403 &&
        error.path === "/%2e%2e/secret.txt",
    );
    await assert.rejects(
      resolveFilePath(root, "/.git/config"),
      (error: unknown) =>
        error instanceof ForbiddenPathError && error.status === 404,
    );
  });
});
