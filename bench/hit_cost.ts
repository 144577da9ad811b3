/**
 * What a cache hit costs in JavaScript, without a server or a network: the
 * shared cache's `fetch` answering a stored 13-byte body, against a bare
 * handler that makes the same answer, called alternately in one process.
 * Prints nanoseconds per call (medians over rounds) and their ratio.
 *
 *   deno run -A bench/hit_cost.ts [--rounds=9] [--calls=200000]
 *   bun bench/hit_cost.ts
 *
 * A server adds its own cost to both (bench/proxy.ts measures that); this
 * shows what changes to the hit path save, with far less noise than wrk.
 *
 * @module
 */
import { numberFlag } from "./number_flag.ts";
import { SharedCache } from "../mod.ts";
import { median, runtimeName } from "./report.ts";

const ROUNDS = numberFlag("rounds", 9);
const CALLS = numberFlag("calls", 200_000);

const BODY = new TextEncoder().encode("Hello, world!");
const FIELDS = {
  "content-type": "text/plain",
  "cache-control": "public, max-age=3600",
};
const URL_ = "http://127.0.0.1:8080/hello";

const cache = new SharedCache({
  origin: () => new Response(BODY, { headers: FIELDS }),
});
await (await cache.fetch(new Request(URL_))).arrayBuffer();
const check = await cache.fetch(new Request(URL_));
await check.arrayBuffer();
if (check.headers.get("x-cache") !== "fresh") {
  throw new Error(
    `the bench URL is not a hit: ${check.headers.get("x-cache")}`,
  );
}

let sink = 0;
const cases: Record<string, () => void> = {
  // Made in both cases below, as a server makes one per request (natively,
  // and far cheaper than here on Deno): taken off both.
  request: () => {
    sink += new Request(URL_).method.length;
  },
  // What a bare server's handler does: read the URL, answer the bytes.
  bare: () => {
    const request = new Request(URL_);
    const path = new URL(request.url).pathname;
    sink += new Response(path === "/hello" ? BODY : null, { headers: FIELDS })
      .status;
  },
  cistern: () => {
    const answer = cache.fetch(new Request(URL_));
    if (answer instanceof Promise) throw new Error("a hit needs no promise");
    sink += answer.status;
  },
};

function nsPerCall(run: () => void, calls: number): number {
  const start = performance.now();
  for (let i = 0; i < calls; i++) run();
  return (performance.now() - start) * 1e6 / calls;
}

for (const run of Object.values(cases)) nsPerCall(run, CALLS / 10); // warm-up
const times: Record<string, number[]> = { request: [], bare: [], cistern: [] };
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order: what runs later runs on a warmer heap.
  const order = round % 2
    ? ["cistern", "bare", "request"]
    : ["request", "bare", "cistern"];
  for (const name of order) times[name].push(nsPerCall(cases[name], CALLS));
}
const runtime = runtimeName();
const request = median(times.request);
const bare = median(times.bare) - request;
const cistern = median(times.cistern) - request;
console.log(
  `${runtime}, ${ROUNDS} rounds of ${CALLS} calls; median ns per call beyond making the request (${
    request.toFixed(0)
  } ns):`,
);
console.log(`  bare handler   ${bare.toFixed(0).padStart(6)}`);
console.log(`  cistern hit    ${cistern.toFixed(0).padStart(6)}`);
console.log(`  cistern ÷ bare ${(cistern / bare).toFixed(2)}× the time`);
if (sink < 0) console.log(sink);
await cache.close();
