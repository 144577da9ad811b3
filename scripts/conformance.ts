/**
 * Runs the HTTP caching test suite behind cache-tests.fyi against
 * `cistern proxy`, on Deno and on Bun, and prints each runtime's totals and
 * every test that did not pass, as the suite grades them.
 *
 * ```sh
 * git clone https://github.com/http-tests/cache-tests && (cd cache-tests && npm install)
 * deno run -A scripts/conformance.ts ../cache-tests            # heap: stores
 * deno run -A scripts/conformance.ts ../cache-tests --store=file
 * ```
 *
 * The suite's origin (a Node server) and the proxies listen on free loopback
 * ports; the origin, which would listen on every interface, is made to bind
 * 127.0.0.1. Everything started is stopped at the end. Exit code 1 when a
 * required test fails.
 *
 * @module
 */
import process from "node:process";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./services.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = join(ROOT, "lib/cli.ts");
const bin = (name: string) => join(ROOT, "node_modules/.bin", name);
/**
 * Makes the suite's origin listen on loopback only, whatever it asks for:
 * its port comes from the environment, as a string.
 */
const LOOPBACK = `data:text/javascript,${
  encodeURIComponent(
    'import net from "node:net";' +
      "const listen = net.Server.prototype.listen;" +
      "net.Server.prototype.listen = function (port, ...rest) {" +
      'const number = typeof port === "string" && /^[0-9]+$/.test(port) ? Number(port) : port;' +
      'return typeof number === "number" ? listen.call(this, number, "127.0.0.1", ...rest.filter((a) => typeof a === "function")) : listen.call(this, port, ...rest); };',
  )
}`;

const [suiteArg, ...flags] = process.argv.slice(2);
if (!suiteArg) {
  console.error(
    "usage: deno run -A scripts/conformance.ts CACHE_TESTS_DIR [--store=heap|file]",
  );
  process.exit(2);
}
const suite = resolve(suiteArg);
const storeKind = flags.includes("--store=file") ? "file" : "heap";

/** Starts `command` and resolves once it prints `ready` on stdout or stderr. */
function start(
  command: string,
  args: string[],
  ready: RegExp,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  const child = spawn(command, args, {
    cwd: suite,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let seen = "";
    const look = (chunk: Buffer) => {
      seen += chunk;
      if (ready.test(seen)) resolve(child);
    };
    child.stdout!.on("data", look);
    child.stderr!.on("data", look);
    child.once(
      "exit",
      (code) =>
        reject(new Error(`${command} exited (${code}) before ready:\n${seen}`)),
    );
  });
}

/** Runs the suite's command-line client against `base`; resolves with its results. */
function runSuite(base: string): Promise<Record<string, unknown>> {
  const child = spawn("node", ["--no-warnings", "test-engine/cli.mjs"], {
    cwd: suite,
    env: {
      ...process.env,
      npm_config_base: base,
      npm_config_id: "",
      npm_package_config_id: "",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (chunk) => (out += chunk));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`the suite's client failed (${code}): ${out}`));
      }
    })
  );
}

const { default: tests } = await import(join(suite, "tests/index.mjs"));
const { determineTestResult, resultTypes } = await import(
  join(suite, "test-engine/lib/results.mjs")
);
const nameOf = new Map(
  Object.entries(resultTypes as Record<string, string[]>).map((
    [name, [symbol]],
  ) => [symbol, name]),
);

const running: ChildProcess[] = [];
const dir = await mkdtemp(join(tmpdir(), "cistern-conformance-"));
let requiredFailures = 0;
try {
  const originPort = await freePort();
  running.push(
    await start(
      "node",
      ["--import", LOOPBACK, "test-engine/server/server.mjs"],
      /Listening on/,
      {
        npm_config_protocol: "http",
        npm_config_port: String(originPort),
        npm_config_pidfile: join(dir, "origin.pid"),
      },
    ),
  );
  for (const runtime of ["deno", "bun"] as const) {
    const port = await freePort();
    const store = storeKind === "file" ? `file:${join(dir, runtime)}` : "heap:";
    const args = [
      CLI,
      "proxy",
      "--origin",
      `http://127.0.0.1:${originPort}`,
      "--listen",
      `127.0.0.1:${port}`,
      "--store",
      store,
    ];
    const proxy = await start(
      bin(runtime),
      runtime === "deno"
        ? ["run", "-A", "--unstable-no-legacy-abort", ...args]
        : args,
      /cistern: caching/,
    );
    running.push(proxy);
    const results = await runSuite(`http://127.0.0.1:${port}`);
    proxy.kill("SIGTERM");
    const counts = new Map<string, number>();
    const notPassed: string[] = [];
    for (const group of tests) {
      for (const test of group.tests) {
        if (!(test.id in results)) continue;
        const [symbol] = determineTestResult(tests, test.id, results, false);
        const result = nameOf.get(symbol) ?? String(symbol);
        counts.set(result, (counts.get(result) ?? 0) + 1);
        if (result === "pass" || result === "yes") continue;
        const kind = test.kind ?? "required";
        if (kind === "required" && result === "fail") requiredFailures++;
        notPassed.push(`  ${result} (${kind}) ${test.id}: ${test.name}`);
      }
    }
    console.log(
      `${runtime}, ${storeKind}: ${
        [...counts].map(([name, n]) => `${n} ${name}`).join(", ")
      }`,
    );
    console.log(notPassed.join("\n"));
  }
} finally {
  for (const child of running) child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
process.exit(requiredFailures > 0 ? 1 : 0);
