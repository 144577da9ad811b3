/**
 * What hashing a body as it streams costs: `digestStream()` (node:crypto's
 * incremental `createHash`) against plain pass-through through the same
 * kind of TransformStream (the baseline), the bare hash with no stream (the
 * ceiling), and the non-incremental alternative, buffering the whole body
 * for `crypto.subtle.digest`.
 *
 * Run under both runtimes and compare the ratios:
 *
 *     deno run -A bench/digest.ts
 *     bun bench/digest.ts
 *
 * Options: `--mib N` body size (default 256), `--chunk KIB` chunk size
 * (default 64), `--rounds N` (default 3; the best round is printed).
 *
 * @module
 */
import process from "node:process";
import { createHash } from "node:crypto";
import { digestStream } from "../lib/http/digest.ts";

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

const MIB = option("mib", 256);
const CHUNK = option("chunk", 64) * 1024;
const ROUNDS = option("rounds", 3);
const TOTAL = MIB * 1024 * 1024;
const chunk = new Uint8Array(CHUNK).map((_, i) => (i * 131) & 255);

/** A body of TOTAL bytes in CHUNK-sized pieces, made on demand. */
function body(): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= TOTAL) return controller.close();
      controller.enqueue(chunk);
      sent += CHUNK;
    },
  }, { highWaterMark: 0 });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  while (!(await reader.read()).done) { /* consume */ }
}

const cases: Record<string, () => Promise<unknown>> = {
  "pass-through (baseline)": () =>
    drain(
      body().pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform: (c, controller) => controller.enqueue(c),
        }),
      ),
    ),
  "digestStream sha256": async () => {
    const digest = digestStream();
    await drain(body().pipeThrough(digest));
    return await digest.etag;
  },
  "digestStream sha1": async () => {
    const digest = digestStream({ algorithm: "sha1" });
    await drain(body().pipeThrough(digest));
    return await digest.digest;
  },
  "createHash sha256, no stream": () => {
    // The hash alone, for the ceiling digestStream can reach.
    const hash = createHash("sha256");
    for (let sent = 0; sent < TOTAL; sent += CHUNK) hash.update(chunk);
    return Promise.resolve(hash.digest());
  },
  "buffer + crypto.subtle sha256": async () => {
    const whole = new Uint8Array(await new Response(body()).arrayBuffer());
    return await crypto.subtle.digest("SHA-256", whole);
  },
};

const runtime = "Bun" in globalThis
  ? "bun"
  : "Deno" in globalThis
  ? "deno"
  : "node";
console.log(
  `digest bench: ${runtime}, ${MIB} MiB in ${CHUNK / 1024} KiB chunks, ` +
    `best of ${ROUNDS}`,
);
const results: [string, number][] = [];
for (const [name, run] of Object.entries(cases)) {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  results.push([name, MIB / (best / 1000)]);
}
const passThrough = results[0][1];
const bareHash = results.find(([name]) => name.startsWith("createHash"))![1];
console.log(
  `${"case".padEnd(32)} ${"MiB/s".padStart(8)}  ${
    "÷ pass-through".padStart(14)
  }` +
    `  ${"÷ bare hash".padStart(11)}`,
);
for (const [name, rate] of results) {
  console.log(
    `${name.padEnd(32)} ${rate.toFixed(0).padStart(8)}  ${
      (rate / passThrough).toFixed(3).padStart(14)
    }  ${(rate / bareHash).toFixed(2).padStart(11)}`,
  );
}
