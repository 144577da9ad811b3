import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import {
  fastFixedFileReader,
  fastReadRange,
  type FixedFileReader,
  nodeFixedFileReader,
  nodeReadRange,
  type ReadRange,
} from "../../lib/adapters/file_io.ts";
import { bytes, collect, tempDir } from "../_util.ts";

// Bigger than every reader's piece (Deno 2 MiB, node 1 MiB), and
// not a multiple of any.
const DATA = bytes(5 * (1 << 20) + 777);
/** Whole, partial, tiny and empty ranges of DATA. */
const RANGES = [
  [0, DATA.byteLength],
  [1, DATA.byteLength - 1],
  [(1 << 19) - 3, (1 << 21) + 5],
  [12345, 12346],
  [100, 100],
];
let path: string;
let cleanup: () => Promise<void>;

before(async () => {
  const made = await tempDir();
  cleanup = made.cleanup;
  path = join(made.dir, "data.bin");
  await writeFile(path, DATA);
});
after(() => cleanup());

const readers: [string, () => ReadRange][] = [
  ["nodeReadRange", () => nodeReadRange],
  ["fastReadRange()", fastReadRange],
];

for (const [name, make] of readers) {
  describe(name, () => {
    it("reads exactly the bytes of whole, partial, tiny and empty ranges", async () => {
      const read = make();
      for (const [start, end] of RANGES) {
        assert.deepEqual(
          await collect(read(path, start, end)),
          DATA.subarray(start, end),
          `[${start}, ${end})`,
        );
      }
    });

    it("errors when the file ends before the range does", async () => {
      await assert.rejects(
        collect(make()(path, DATA.byteLength - 10, DATA.byteLength + 10)),
        RangeError,
      );
      await assert.rejects(collect(make()(join(path, "..", "missing"), 0, 1)));
    });

    it("stops reading when cancelled", async () => {
      const reader = make()(path, 0, DATA.byteLength).getReader();
      const first = await reader.read();
      assert.equal(first.done, false);
      assert.deepEqual(
        first.value,
        DATA.subarray(0, first.value!.byteLength),
      );
      await reader.cancel();
    });
  });
}

const fixedReaders: [string, (path: string) => FixedFileReader][] = [
  ["nodeFixedFileReader", nodeFixedFileReader],
  ["fastFixedFileReader", fastFixedFileReader],
];

for (const [name, open] of fixedReaders) {
  describe(name, () => {
    it("reads exactly the bytes of whole, partial, tiny and empty ranges", async () => {
      const reader = open(path);
      for (const [start, end] of RANGES) {
        assert.deepEqual(
          await reader.read(start, end),
          DATA.subarray(start, end),
          `[${start}, ${end})`,
        );
      }
      await reader.close();
      assert.deepEqual(
        await reader.read(0, 3),
        DATA.subarray(0, 3),
        "after close",
      );
      await reader.close();
    });

    it("errors when the file ends before the range does", async () => {
      const reader = open(path);
      await assert.rejects(
        reader.read(DATA.byteLength - 10, DATA.byteLength + 10),
        RangeError,
      );
      await reader.close();
      await assert.rejects(open(join(path, "..", "missing")).read(0, 1));
    });
  });
}
