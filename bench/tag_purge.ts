/**
 * A purge by tag over a `file:` meta store, which walks every record file,
 * against the runtime reading the same files one after another (`readdir`,
 * `readFile`, `JSON.parse`: the least a walk must do, done the plain way).
 * Rounds alternate the two; prints milliseconds per walk (medians) and
 * their ratio.
 *
 *   deno run -A bench/tag_purge.ts [--records=20000] [--rounds=5]
 *   bun bench/tag_purge.ts
 *
 * Each purge forgets one record (its own tag), as a purge after an edit does.
 * The files are in the page cache after the first round, as a store in use
 * is: this measures the walk, not the disk.
 *
 * @module
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numberFlag } from "./number_flag.ts";
import { fileMetaStore, SharedCache, type StoredResponse } from "../mod.ts";
import { median, runtimeName } from "./report.ts";

const RECORDS = numberFlag("records", 20_000);
const ROUNDS = numberFlag("rounds", 5);

const dir = await mkdtemp(join(tmpdir(), "cistern-tag-purge-"));
try {
  const record = (i: number): StoredResponse => ({
    status: 200,
    statusText: "OK",
    headers: [
      ["content-type", "text/html"],
      ["cache-control", "max-age=600"],
      ["etag", `"v${i}"`],
      ["surrogate-key", `page-${i} section-${i % 100}`],
    ],
    vary: {},
    requestTime: 0,
    responseTime: 0,
    entity: `body-${i}`,
    size: 1000,
  });
  const meta = fileMetaStore(dir, { maxEntries: 1 });
  for (let i = 0; i < RECORDS; i += 500) {
    const batch = Array.from(
      { length: Math.min(500, RECORDS - i) },
      (_, j) => meta.store(`http://site.test/page/${i + j}`, [record(i + j)]),
    );
    await Promise.all(batch);
  }
  const cache = new SharedCache({
    origin: () => new Response("unused"),
    metastore: meta,
    entitystore: "heap:",
  });

  let read = 0;
  const plainRead = async () => {
    for (const sub of await readdir(dir)) {
      for (const name of await readdir(join(dir, sub))) {
        read += JSON.parse(await readFile(join(dir, sub, name), "utf8"))
          ? 1
          : 0;
      }
    }
  };
  let purged = 0;
  const purge = async (round: number) => {
    purged += await cache.purgeTags([`page-${round * 7}`]);
  };
  const time = async (run: () => Promise<void>) => {
    const start = performance.now();
    await run();
    return performance.now() - start;
  };

  await plainRead(); // warm-up: the files into the page cache
  const plain: number[] = [];
  const walks: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order: what runs later runs on a warmer heap.
    if (round % 2) {
      walks.push(await time(() => purge(round)));
      plain.push(await time(plainRead));
    } else {
      plain.push(await time(plainRead));
      walks.push(await time(() => purge(round)));
    }
  }
  await cache.close();
  if (purged !== ROUNDS) {
    throw new Error(`expected ${ROUNDS} records purged, got ${purged}`);
  }
  const runtime = runtimeName();
  console.log(
    `${runtime}, ${RECORDS} records, median of ${ROUNDS} rounds (range):`,
  );
  const line = (label: string, values: number[]) =>
    console.log(
      `  ${label.padEnd(34)} ${median(values).toFixed(0).padStart(6)} ms (${
        Math.min(...values).toFixed(0)
      }–${Math.max(...values).toFixed(0)})`,
    );
  line("files read one after another", plain);
  line("purgeTags over the file: store", walks);
  console.log(
    `  walk / plain read: ${(median(walks) / median(plain)).toFixed(2)}× ` +
      `(below 1.0×: faster than reading the files one by one)`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
