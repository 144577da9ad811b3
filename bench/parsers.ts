/**
 * The HTTP field parsers on 100 KB hostile values (what a client or an
 * origin may send to make a parser run in quadratic time). Each value is
 * parsed whole and cut to half its length; a linear parser takes about twice
 * as long on the whole, a quadratic one four times. Beside it, the runtime
 * visiting every character of the value once (`charCodeAt` in a loop): the
 * least any parser does. Prints microseconds per parse (medians over
 * rounds), the growth from half to whole, and the parse over that loop.
 *
 *   deno run -A bench/parsers.ts [--rounds=9]
 *   bun bench/parsers.ts
 *
 * @module
 */
import { numberFlag } from "./number_flag.ts";
import {
  acceptedCoding,
  parseCacheControl,
  parseETagList,
  parseRange,
} from "../mod.ts";
import { parseDictionary } from "../lib/http/structured_fields.ts";
import { median, runtimeName } from "./report.ts";

const ROUNDS = numberFlag("rounds", 9);

/** `count` distinct field names, for `no-cache="…"` merges. */
const names = (count: number) =>
  Array.from({ length: count }, (_, i) => `f${i}`).join(",");

/** Hostile values about `n` characters long, made anew for each length. */
type Value = (n: number) => string;
const r = (text: string, n: number) => text.repeat(Math.round(n / text.length));

const CASES: [
  parser: string,
  run: (value: string) => unknown,
  values: Value[],
][] = [
  ["parseCacheControl", parseCacheControl, [
    (n) => "no-store " + r('"', n),
    (n) => `x="${r("\\a", n)}`,
    (n) => r("a", n),
    (n) => r("no-store junk, ", n),
    (n) => "max-age=" + r("9", n),
    (n) => 'private="' + r("set-cookie,", n) + '"',
    (n) => r("no-cache=a, ", n),
    (n) => "x=" + r("=", n),
    (n) => r(";", n),
    (n) => r(" ", n) + "no-store",
    (n) => r('a="b" ', n),
    (n) => `no-cache="${names(n / 8)}", no-cache="${r("z,", n / 2)}"`,
  ]],
  ["parseDictionary", parseDictionary, [
    (n) => "a=:" + r("A", n),
    (n) => 'a="' + r("x", n),
    (n) => "a=" + r("1", n),
    (n) => "a=(" + r("1 ", n),
    (n) => "a;" + r("b;", n),
    (n) => r("a, ", n) + "b",
    (n) => 'a=%"' + r("%20", n),
    (n) => "a" + r("b", n),
  ]],
  ["parseETagList", parseETagList, [
    (n) => r('"a"junk', n),
    (n) => r('"', n),
    (n) => r('W/"a", ', n),
    (n) => r('"a" ', n) + ",",
    (n) => r("W/", n),
    (n) => '"' + r("a", n) + '"',
  ]],
  ["parseRange", (value) => parseRange(value, 1000), [
    (n) => "bytes=" + r("0-1,", n),
    (n) => "bytes=" + r("0", n) + "-",
    (n) => "bytes=" + r(",", n),
    (n) => "bytes=" + r("-", n),
    (n) => r("=", n),
    (n) => r(" ", n) + "bytes=0-1",
  ]],
  ["acceptedCoding", (value) => acceptedCoding(value, ["br", "gzip"]), [
    (n) => r("gzip;q=1;", n),
    (n) => r(",", n),
    (n) => r(";", n),
    (n) => "gzip;q=" + r("0", n),
    (n) => r("a", n),
  ]],
];

let sink = 0;
function microseconds(run: (value: string) => unknown, value: string): number {
  const start = performance.now();
  const result = run(value);
  sink += result === undefined ? 0 : 1;
  return (performance.now() - start) * 1000;
}

/** The baseline: every character visited once. */
const visit = (value: string) => {
  let sum = 0;
  for (let i = 0; i < value.length; i++) sum += value.charCodeAt(i);
  return sum;
};
const show = (value: string) =>
  JSON.stringify(value.slice(0, 20)).padEnd(26) + ` ${value.length} chars`;

const runtime = runtimeName();
console.log(
  `${runtime}: µs per parse of the whole value, median of ${ROUNDS} rounds; ` +
    `growth = whole / half (linear ≈ 2×, quadratic ≈ 4×)`,
);
let worst = 0;
for (const [parser, run, values] of CASES) {
  console.log(`\n${parser}`);
  for (const make of values) {
    const value = make(100_000);
    const half = make(50_000);
    const times: Record<"whole" | "half" | "visit", number[]> = {
      whole: [],
      half: [],
      visit: [],
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order: what runs later runs on a warmer heap.
      const order = round % 2
        ? (["visit", "half", "whole"] as const)
        : (["whole", "half", "visit"] as const);
      for (const kind of order) {
        const input = kind === "half" ? half : value;
        times[kind].push(microseconds(kind === "visit" ? visit : run, input));
      }
    }
    const [whole, halfTime, visited] = [
      median(times.whole),
      median(times.half),
      median(times.visit),
    ];
    // Below ~20 µs a timer's resolution decides the ratio: not counted.
    const growth = whole / Math.max(halfTime, 1);
    if (whole >= 20) worst = Math.max(worst, growth);
    console.log(
      `  ${show(value).padEnd(40)} ${whole.toFixed(0).padStart(6)} µs, ` +
        `growth ${growth.toFixed(1)}×, ${
          (whole / Math.max(visited, 1)).toFixed(0)
        }× the visit`,
    );
  }
}
console.log(
  `\nlargest growth (parses of 20 µs or more): ${worst.toFixed(1)}× ` +
    `[${sink}]`,
);
