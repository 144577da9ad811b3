import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { diskFs, memoryFs, openCache, StreamCache } from "../../mod.ts";
import {
  bytes,
  collect,
  runtimeCommand,
  tempDirsRemovedAfter,
} from "../_util.ts";

const freshDir = tempDirsRemovedAfter();

async function put(cache: StreamCache, key: string, data: Uint8Array) {
  const { writer, reader } = await cache.get(key);
  assert.ok(writer, `${key} is new`);
  const w = writer.getWriter();
  await w.write(data);
  await w.close();
  reader.close();
}

async function read(cache: StreamCache, key: string): Promise<Uint8Array> {
  const { writer, reader } = await cache.get(key);
  assert.equal(writer, undefined, `${key} exists`);
  try {
    return await collect(reader.stream());
  } finally {
    reader.close();
  }
}

/** A short stand-in for bytes in assertions (a failing one prints no huge diff). */
function digest(data: Uint8Array | undefined): string | undefined {
  return data && createHash("sha256").update(data).digest("hex");
}

/** Every entry file under the cache folder. */
async function entryFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const sub of await readdir(dir)) {
    for (const name of await readdir(join(dir, sub))) {
      files.push(join(dir, sub, name));
    }
  }
  return files;
}

describe("diskFs", () => {
  it("reloads every complete entry in a new cache on the same folder", async () => {
    const dir = await freshDir();
    const first = await openCache(dir);
    const a = bytes(100_000, 1);
    const b = bytes(3, 2);
    await put(first, "a", a);
    await put(first, "b", b);
    await put(first, "empty", new Uint8Array(0));
    await first.close();

    const second = await openCache(dir);
    assert.deepEqual(second.keys().sort(), ["a", "b", "empty"]);
    assert.deepEqual(await read(second, "a"), a);
    assert.deepEqual(await read(second, "b"), b);
    assert.equal((await read(second, "empty")).byteLength, 0);
    const { reader } = await second.get("a");
    assert.deepEqual(await collect(reader.stream(10, 20)), a.slice(10, 20));
    assert.deepEqual(reader.size(), { size: a.byteLength, complete: true });
    reader.close();
    await second.close();
  });

  it("keeps any key safe and recovers it after a restart", async () => {
    const dir = await freshDir();
    const keys = [
      "../x",
      "../../etc/passwd",
      "a\0b",
      "/absolute/path",
      "k".repeat(10_000),
      "ключ 🔑 鍵",
      "",
      "with\nnewline",
      "C:\\windows",
    ];
    const cache = await openCache(dir);
    for (const [i, key] of keys.entries()) {
      await put(cache, key, bytes(100 + i, i + 1));
    }
    await cache.close();
    // Nothing escaped the folder: only two-hex-digit subfolders, fixed-length names.
    for (const sub of await readdir(dir)) assert.match(sub, /^[0-9a-f]{2}$/);
    for (const file of await entryFiles(dir)) {
      assert.match(
        file.slice(dir.length),
        /^\/[0-9a-f]{2}\/[0-9a-f]{40}-[0-9a-f]{12}\.cst$/,
      );
    }
    const again = await openCache(dir);
    assert.deepEqual(again.keys().sort(), [...keys].sort());
    for (const [i, key] of keys.entries()) {
      assert.deepEqual(await read(again, key), bytes(100 + i, i + 1));
    }
    // Lone surrogates would come back as U+FFFD, one key for many: refused.
    for (const key of ["a\uD800", "a\uDC00"]) {
      await assert.rejects(again.get(key), TypeError);
      assert.equal(again.has(key), false);
    }
    await again.close();
  });

  it("discards an entry whose writer was killed mid-write, never serving it", async () => {
    const dir = await freshDir();
    const script =
      new URL("./fixtures/crash_writer.ts", import.meta.url).pathname;
    const [cmd, args] = runtimeCommand(script, [dir]);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (data) => {
        out += data;
        if (out.includes("ready")) resolve();
      });
      child.once(
        "exit",
        (code) => reject(new Error(`child exited early (${code})`)),
      );
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    assert.equal((await entryFiles(dir)).length, 2, "both files are on disk");

    const cache = await openCache(dir);
    assert.deepEqual(cache.keys(), ["done"]);
    assert.deepEqual(await read(cache, "done"), bytes(300_000, 1));
    assert.equal(cache.has("partial"), false);
    assert.equal(
      (await entryFiles(dir)).length,
      1,
      "the partial file is deleted",
    );
    const { writer, reader } = await cache.get("partial");
    assert.ok(writer, "the key starts fresh");
    await writer.abort();
    reader.close();
    await cache.close();
  });

  it("discards truncated, foreign and corrupt files on reload", async () => {
    const dir = await freshDir();
    const cache = await openCache(dir);
    await put(cache, "ok", bytes(1000));
    await put(cache, "cut", bytes(1000, 9));
    await cache.close();
    const files = await entryFiles(dir);
    const hash = createHash("sha256").update("cut").digest("hex").slice(0, 40);
    const cut = files.find((f) => f.includes(hash))!;
    const content = await readFile(cut);
    await writeFile(cut, content.subarray(0, content.byteLength - 10));
    await mkdir(join(dir, "ab"), { recursive: true });
    await writeFile(join(dir, "ab", "junk.cst"), "not an entry");
    const again = await openCache(dir);
    assert.deepEqual(again.keys(), ["ok"]);
    assert.equal((await entryFiles(dir)).length, 1);
    await again.close();
  });

  it("skips files it cannot open on reload, and fails get, not the process, when the folder cannot be used", async () => {
    const dir = await freshDir();
    const first = new StreamCache({ fs: diskFs(dir) });
    await put(first, "good", bytes(100));
    await first.close();
    // A dangling link where an entry would be: skipped, neither loaded
    // nor deleted (it may be a file this process cannot see right now).
    await mkdir(join(dir, "ab"), { recursive: true });
    const dangling = join(dir, "ab", "dangling.cst");
    await symlink("/nonexistent/cistern-test", dangling);
    const again = new StreamCache({ fs: diskFs(dir) });
    await again.ready;
    assert.deepEqual(again.keys(), ["good"]);
    assert.ok((await lstat(dangling)).isSymbolicLink(), "left in place");
    await again.close();
    // A folder under a regular file cannot be made: nobody awaits `ready`,
    // and the failure reaches get, not the process.
    await writeFile(join(dir, "plain"), "x");
    const broken = new StreamCache({ fs: diskFs(join(dir, "plain", "store")) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(broken.get("k"), /ENOTDIR|not a directory/i);
    await broken.close();
  });

  it("drops an entry whose file was deleted or cut short behind its back", async () => {
    const dir = await freshDir();
    const cache = new StreamCache({ fs: diskFs(dir, { memoryBytes: 0 }) });
    await put(cache, "gone", bytes(3 << 20));
    const [goneFile] = await entryFiles(dir);
    await put(cache, "cut", bytes(3 << 20));
    const cutFile = (await entryFiles(dir)).find((f) => f !== goneFile)!;
    await unlink(goneFile);
    await truncate(cutFile, 1 << 20);
    for (const key of ["gone", "cut"]) {
      const { writer, reader } = await cache.get(key);
      assert.equal(writer, undefined);
      await assert.rejects(collect(reader.stream()), `${key}: the read fails`);
      reader.close();
      assert.equal(cache.has(key), false, `${key}: dropped`);
      // The next get stores it anew.
      await put(cache, key, bytes(10));
      assert.deepEqual(await read(cache, key), bytes(10));
    }
    await cache.close();
  });

  it("writes files with the given mode", async () => {
    const dir = await freshDir();
    const cache = await openCache(dir, { mode: 0o640 });
    await put(cache, "m", bytes(10));
    const [file] = await entryFiles(dir);
    assert.equal((await stat(file)).mode & 0o777, 0o640);
    await cache.close();
  });

  it("frees the file of a removed entry only after its reader finishes", async () => {
    const dir = await freshDir();
    const cache = await openCache(dir);
    await put(cache, "r", bytes(50_000));
    const { reader } = await cache.get("r");
    const removal = cache.remove("r");
    await put(cache, "r", bytes(10, 2));
    assert.equal((await entryFiles(dir)).length, 2, "old file kept while read");
    assert.deepEqual(await collect(reader.stream()), bytes(50_000));
    reader.close();
    await removal;
    assert.equal((await entryFiles(dir)).length, 1);
    await cache.close();
    const again = await openCache(dir);
    assert.deepEqual(
      await read(again, "r"),
      bytes(10, 2),
      "the newer entry survives",
    );
    await again.close();
  });

  it("durable mode syncs and still reloads", async () => {
    const dir = await freshDir();
    const cache = new StreamCache({ fs: diskFs(dir, { durable: true }) });
    await put(cache, "d", bytes(1234));
    await cache.close();
    const again = await openCache(dir);
    assert.deepEqual(await read(again, "d"), bytes(1234));
    await again.close();
  });
  it("keeps small complete bodies in memory too, least recently read dropped past memoryBytes", async () => {
    const dir = await freshDir();
    const fs = diskFs(dir, { memoryBytes: 250_000 });
    const write = async (key: string, data: Uint8Array) => {
      const file = await fs.create(key);
      await file.write(data);
      await file.commit();
      return file;
    };
    const a = await write("a", bytes(100_000, 1));
    // Kept from the live tail at commit: the file is not read again.
    for (const path of await entryFiles(dir)) await unlink(path);
    assert.equal(digest(a.bytes?.()), digest(bytes(100_000, 1)));
    assert.equal(a.bytes?.(), a.bytes?.(), "the same view every time");
    const [part] = a.read(10, 20) as Uint8Array[];
    assert.deepEqual(part, bytes(100_000, 1).subarray(10, 20));
    const b = await write("b", bytes(100_000, 2));
    const c = await write("c", bytes(100_000, 3));
    // 300,000 bytes do not fit in 250,000: "a" was read before "b" and "c" were written.
    assert.equal(a.bytes?.(), undefined);
    assert.equal(digest(b.bytes?.()), digest(bytes(100_000, 2)));
    assert.equal(digest(c.bytes?.()), digest(bytes(100_000, 3)));
    await c.remove();
    assert.equal(c.bytes?.(), undefined, "gone with its file");
    const big = await write("big", bytes((1 << 20) + 1, 4));
    assert.equal(big.bytes?.(), undefined, "over 1 MiB: never held");
  });

  it("keeps a small body in memory until commit, then writes it whole; a big one is on disk as it comes", async () => {
    const dir = await freshDir();
    const fs = diskFs(dir);
    const small = await fs.create("small");
    await small.write(bytes(1000, 1));
    assert.equal(
      await entryFiles(dir).catch(() => []).then((f) => f.length),
      0,
    );
    await small.commit();
    assert.equal((await entryFiles(dir)).length, 1);
    const gone = await fs.create("gone");
    await gone.write(bytes(10, 2));
    await gone.abandon();
    await gone.remove();
    const big = await fs.create("big");
    await big.write(bytes(600_000, 3));
    await big.write(bytes(600_000, 4));
    assert.equal((await entryFiles(dir)).length, 2, "past 1 MiB: on disk");
    await big.commit();
    const reloaded = await diskFs(dir, { memoryBytes: 0 }).reload();
    const byKey = new Map(reloaded.map((file) => [file.key, file]));
    assert.deepEqual([...byKey.keys()].sort(), ["big", "small"]);
    const whole = async (key: string) =>
      digest(
        new Uint8Array(
          await new Response(
            byKey.get(key)!.read(0, byKey.get(key)!.size) as ReadableStream<
              Uint8Array
            >,
          ).arrayBuffer(),
        ),
      );
    assert.equal(await whole("small"), digest(bytes(1000, 1)));
    const expected = new Uint8Array(1_200_000);
    expected.set(bytes(600_000, 3));
    expected.set(bytes(600_000, 4), 600_000);
    assert.equal(await whole("big"), digest(expected));
  });

  it("makes its folders again when they are removed while it runs", async () => {
    const dir = await freshDir();
    const fs = diskFs(dir);
    const first = await fs.create("a");
    await first.commit();
    await rm(dir, { recursive: true });
    const again = await fs.create("a");
    await again.write(bytes(10, 1));
    await again.commit();
    const reloaded = await diskFs(dir).reload();
    assert.deepEqual(reloaded.map((file) => [file.key, file.size]), [[
      "a",
      10,
    ]]);
  });

  it("reads a reloaded small body into memory on its first ask, unless memoryBytes is 0", async () => {
    const dir = await freshDir();
    const data = bytes(50_000, 5);
    const first = await diskFs(dir).create("k");
    await first.write(data);
    await first.commit();
    const [file] = await diskFs(dir).reload();
    assert.equal(
      file.bytes?.(),
      undefined,
      "not at hand yet: streamed this time",
    );
    let held: Uint8Array | undefined;
    for (let i = 0; i < 400 && !held; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      held = file.bytes?.();
    }
    assert.equal(digest(held), digest(data));
    const [cold] = await diskFs(dir, { memoryBytes: 0 }).reload();
    assert.equal(cold.bytes?.(), undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(cold.bytes?.(), undefined);
  });
});

describe("memoryFs", () => {
  it("errors readers in one cache of a file another cache removed, never reading it as empty", async () => {
    const fs = memoryFs();
    const first = new StreamCache({ fs });
    await put(first, "shared", bytes(1000));
    const second = new StreamCache({ fs });
    await second.ready;
    const reader = second.openReader("shared")!;
    await first.remove("shared");
    assert.equal(reader.bytes(), undefined);
    await assert.rejects(collect(reader.stream()), /removed/);
    reader.close();
    await first.close();
    await second.close();
  });

  it("lets a new cache on the same storage find committed entries only", async () => {
    const fs = memoryFs();
    const first = new StreamCache({ fs });
    await put(first, "kept", bytes(70_000));
    const open = await first.get("open");
    await open.writer!.getWriter().write(bytes(5));
    await first.close();
    const second = new StreamCache({ fs });
    await second.ready;
    assert.deepEqual(second.keys(), ["kept"]);
    assert.deepEqual(await read(second, "kept"), bytes(70_000));
    await second.close();
    open.reader.close();
  });
});
