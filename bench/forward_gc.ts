/**
 * Where the garbage of a forwarded request goes, on Deno: the shared cache
 * forwarding a `no-store` URL, against `proxyTo` alone in front of the same
 * origin, and the cache in front of an in-process handler (the middleware).
 * Each runs as its own server with V8's `--trace-gc-nvp`, under wrk with a
 * browser's dozen fields; prints, per request, what V8 allocated, the time
 * its collections paused the server, and what the median young-generation
 * collection had to copy, with the cache's ratios to `proxyTo`'s.
 *
 *   deno run -A bench/forward_gc.ts [--rounds=2] [--duration=3]
 *
 * Bun's engine (JavaScriptCore) has no such trace, so this runs on Deno only.
 *
 * @module
 */
import process from "node:process";
import { numberFlag } from "./number_flag.ts";
import { spawn } from "node:child_process";
import { proxyTo, serve, SharedCache } from "../mod.ts";
import type { Handler } from "../lib/types.ts";
import { BROWSER_FIELDS } from "./browser_fields.ts";
import { wrk } from "./wrk.ts";
import { median } from "./report.ts";

const BODY = new TextEncoder().encode("Hello, world!");
/** The origin's answer: one no cache may store, so every request goes on. */
const answer = () =>
  new Response(BODY, {
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });

/** The servers compared: each a handler, given the origin's URL. */
const SERVERS: Record<string, (origin: string) => Handler> = {
  "proxyTo": (origin) => proxyTo(origin),
  "cache, URL origin": (origin) => new SharedCache({ origin }).fetch,
  "cache, handler origin": () => new SharedCache({ origin: answer }).fetch,
};

/** A child role: serves until killed and prints its port first. */
function role(name: string, origin: string): void {
  const handler = name === "origin" ? answer : SERVERS[name](origin);
  const server = serve(handler, { port: 0, hostname: "127.0.0.1" });
  console.log(`port ${server.port}`);
}

interface Child {
  port: number;
  lines: string[];
  stop(): void;
}

/** Starts this file in `name`'s role, with V8's flags, pinned to `cpu`. */
function start(name: string, origin: string, cpu: number): Promise<Child> {
  const child = spawn("taskset", [
    "-c",
    String(cpu),
    process.execPath,
    "run",
    "-A",
    "--unstable-no-legacy-abort",
    "--v8-flags=--trace-gc-nvp",
    import.meta.filename!,
    "--role",
    name,
    origin,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  let rest = "";
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text: string) => {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        const port = /^port (\d+)$/.exec(line);
        if (port) {
          resolve({ port: Number(port[1]), lines, stop: () => child.kill() });
        } else lines.push(line);
      }
    });
  });
}

interface Garbage {
  allocatedKiB: number;
  pauseUs: number;
  survivedKiB: number;
}

/** Per request: V8's allocation and pauses; the median scavenge's survivors. */
function garbageOf(lines: string[], requests: number): Garbage {
  let allocated = 0, pause = 0;
  const survived: number[] = [];
  for (const line of lines) {
    const json = /GC: (\{.*\})/.exec(line)?.[1];
    if (!json) continue;
    const gc = JSON.parse(json);
    allocated += gc.allocated ?? 0;
    pause += gc.pause ?? 0;
    if (gc.gc === "s") survived.push(gc.new_space_survived ?? 0);
  }
  survived.sort((a, b) => a - b);
  return {
    allocatedKiB: allocated / 1024 / requests,
    pauseUs: pause * 1000 / requests,
    survivedKiB: (survived[survived.length >> 1] ?? 0) / 1024,
  };
}

async function harness(): Promise<void> {
  const rounds = numberFlag("rounds", 2);
  const seconds = numberFlag("duration", 3);
  const origin = await start("origin", "", 1);
  const url = `http://127.0.0.1:${origin.port}`;
  const results: Record<string, Garbage[]> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      for (const name of Object.keys(SERVERS)) {
        const server = await start(name, url, 0);
        try {
          const pass = `http://127.0.0.1:${server.port}/pass`;
          await wrk(pass, 1, 50, "1", BROWSER_FIELDS);
          // Only what the measured run collects counts.
          server.lines.length = 0;
          const { requests } = await wrk(
            pass,
            seconds,
            50,
            "1",
            BROWSER_FIELDS,
          );
          (results[name] ??= []).push(garbageOf(server.lines, requests));
        } finally {
          server.stop();
        }
      }
    }
  } finally {
    origin.stop();
  }
  const summary = (name: string) => ({
    allocatedKiB: median(results[name].map((r) => r.allocatedKiB)),
    pauseUs: median(results[name].map((r) => r.pauseUs)),
    survivedKiB: median(results[name].map((r) => r.survivedKiB)),
  });
  const base = summary("proxyTo");
  console.log(
    `deno ${process.versions.deno}, ${rounds} rounds of ${seconds} s, wrk -c50 with a browser's fields; medians:`,
  );
  console.log(
    "server                 KiB allocated/req   GC pause µs/req   scavenge survivors KiB",
  );
  for (const name of Object.keys(SERVERS)) {
    const s = summary(name);
    const ratio = (a: number, b: number) =>
      name === "proxyTo" ? "" : ` (${(a / b).toFixed(1)}×)`;
    console.log(
      `${name.padEnd(22)} ${
        (s.allocatedKiB.toFixed(1) + ratio(s.allocatedKiB, base.allocatedKiB))
          .padEnd(19)
      } ${(s.pauseUs.toFixed(1) + ratio(s.pauseUs, base.pauseUs)).padEnd(17)} ${
        s.survivedKiB.toFixed(0) + ratio(s.survivedKiB, base.survivedKiB)
      }`,
    );
  }
}

const roleAt = process.argv.indexOf("--role");
if (roleAt >= 0) role(process.argv[roleAt + 1], process.argv[roleAt + 2]);
else await harness();
