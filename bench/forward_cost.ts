/**
 * What the shared cache adds to a request it forwards: a request for a URL
 * whose answers may not be stored (the origin says `no-store`, so the cache
 * passes it on) through `SharedCache` in front of a loopback origin, against
 * the runtime's own `fetch` asking that origin directly, one request at a
 * time, alternating, in one process. With a browser's dozen request fields
 * and with none, as the cost of copying fields grows with their number.
 * Prints µs per request (medians over rounds) and the ratios.
 *
 *   deno run -A bench/forward_cost.ts [--rounds=7] [--requests=400]
 *   bun bench/forward_cost.ts
 *
 * @module
 */
import { numberFlag } from "./number_flag.ts";
import { serve, SharedCache } from "../mod.ts";
import { BROWSER_FIELDS } from "./browser_fields.ts";
import { median, runtimeName } from "./report.ts";

const ROUNDS = numberFlag("rounds", 7);
const REQUESTS = numberFlag("requests", 400);

const BODY = new TextEncoder().encode("Hello, world!");
const FIELD_SETS: Record<string, Record<string, string>> = {
  "no fields": {},
  "a browser's 12 fields": BROWSER_FIELDS,
};

const origin = serve(
  () =>
    new Response(BODY, {
      headers: { "content-type": "text/plain", "cache-control": "no-store" },
    }),
  { port: 0, hostname: "127.0.0.1" },
);
const cache = new SharedCache({ origin: origin.url });
const PAGE = "/page";
const check = await cache.fetch(new Request(`http://cache.test${PAGE}`));
await check.arrayBuffer();
if (!check.headers.get("x-cache")?.includes("miss")) {
  throw new Error(`the bench URL was stored: ${check.headers.get("x-cache")}`);
}

const ways = {
  bare: (fields: Record<string, string>) =>
    fetch(origin.url + PAGE, { headers: fields }),
  cistern: (fields: Record<string, string>) =>
    cache.fetch(new Request(`http://cache.test${PAGE}`, { headers: fields })),
};

async function usPerRequest(
  ask: (fields: Record<string, string>) => Promise<Response> | Response,
  fields: Record<string, string>,
  requests: number,
): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < requests; i++) {
    const response = await ask(fields);
    if (response.status !== 200) throw new Error(`status ${response.status}`);
    await response.arrayBuffer();
  }
  return (performance.now() - start) * 1000 / requests;
}

const runtime = runtimeName();
console.log(
  `${runtime}, ${ROUNDS} rounds of ${REQUESTS} requests one at a time; median µs per request:`,
);
// Warm-up, of every case before any is timed: code still cold would bill
// whichever case runs first.
for (const fields of Object.values(FIELD_SETS)) {
  for (const ask of Object.values(ways)) {
    await usPerRequest(ask, fields, REQUESTS);
  }
}
for (const [label, fields] of Object.entries(FIELD_SETS)) {
  const times = { bare: [] as number[], cistern: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order: what runs later runs on a warmer heap.
    const order = round % 2 ? ["cistern", "bare"] as const : [
      "bare",
      "cistern",
    ] as const;
    for (const name of order) {
      times[name].push(await usPerRequest(ways[name], fields, REQUESTS));
    }
  }
  const bare = median(times.bare);
  const cistern = median(times.cistern);
  console.log(
    `  ${label.padEnd(22)} runtime fetch ${bare.toFixed(0).padStart(5)}  ` +
      `through cistern ${cistern.toFixed(0).padStart(5)}  ` +
      `cistern ÷ fetch ${(cistern / bare).toFixed(2)}× the time`,
  );
}
await cache.close();
await origin.shutdown();
