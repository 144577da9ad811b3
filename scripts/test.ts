/**
 * The project's whole test command (`npm test`): static checks, then the suite
 * under Deno and under Bun, then one summary line counted over both runtimes.
 *
 * Run with `deno run -A scripts/test.ts [--only deno|bun] [files...]`.
 * External services the suites need (Redis, Memcached) are started here on
 * free loopback ports and stopped afterwards; see `scripts/services.ts`.
 *
 * @module
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { type ChildProcess, spawn } from "node:child_process";
import { type Services, startServices } from "./services.ts";

const RESULTS = ".test-results";
const args = process.argv.slice(2);
const onlyIndex = args.indexOf("--only");
const only = onlyIndex >= 0 ? args.splice(onlyIndex, 2)[1] : undefined;
const files = args.length > 0 ? args : ["tests/"];
const bin = (name: string) => `node_modules/.bin/${name}`;
/** A run of one runtime's suite that takes longer has hung: it is stopped and fails. */
const SUITE_LIMIT_MS = 20 * 60_000;

/** The command running now, stopped if this script is. */
let current: ChildProcess | undefined;

/** Runs a command with inherited output; resolves with its exit code (1 if it ran past `limitMs`). */
function run(
  cmd: string,
  cmdArgs: string[],
  env: Record<string, string> = {},
  limitMs = SUITE_LIMIT_MS,
): Promise<number> {
  console.log(`\n$ ${cmd} ${cmdArgs.join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, {
      stdio: "inherit",
      env: { ...process.env, ...env },
    });
    current = child;
    const timer = setTimeout(() => {
      console.error(
        `\n${cmd}: still running after ${limitMs / 1000} s, stopped`,
      );
      child.kill("SIGKILL");
    }, limitMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      resolve(code ?? (signal ? 1 : 0));
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      console.error(error);
      resolve(1);
    });
  });
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Counts leaf test cases in a JUnit file (Deno lists `describe` blocks as
 * cases too). A block is left out as a container only when a case below it
 * failed too, so a failing case is never lost to a name another file shares.
 */
async function countJUnit(path: string): Promise<Counts | undefined> {
  let xml: string;
  try {
    xml = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  const cases: { name: string; failed: boolean; skipped: boolean }[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const name = /\bname="([^"]*)"/.exec(m[1])?.[1] ?? "";
    const body = m[3] ?? "";
    cases.push({
      name,
      failed: /<(failure|error)\b/.test(body),
      skipped: /<skipped\b/.test(body),
    });
  }
  const below = (parent: string) =>
    cases.filter((c) => c.name.startsWith(`${parent} &gt; `));
  const leaves = cases.filter((c) => {
    const children = below(c.name);
    return children.length === 0 ||
      (c.failed && !children.some((child) => child.failed));
  });
  return {
    passed: leaves.filter((c) => !c.failed && !c.skipped).length,
    failed: leaves.filter((c) => c.failed).length,
    skipped: leaves.filter((c) => c.skipped && !c.failed).length,
  };
}

await rm(RESULTS, { recursive: true, force: true });
await mkdir(RESULTS, { recursive: true });

let checksFailed = 0;
if (!only) {
  const deno = bin("deno");
  const checks: [string, string[]][] = [
    [deno, ["fmt", "--check"]],
    [deno, ["lint"]],
    [deno, [
      "check",
      "mod.ts",
      "lib/",
      "tests/",
      "bench/",
      "examples/",
      "scripts/",
    ]],
    // Every module JSR publishes, not only the main one.
    [deno, [
      "doc",
      "--lint",
      ...Object.values<string>(
        JSON.parse(await readFile("deno.json", "utf8")).exports,
      ),
    ]],
  ];
  // The examples in the doc comments type-check and run: ~50 s, so for the
  // whole suite only, not for the files of a change being worked on.
  if (args.length === 0) {
    checks.push([deno, ["test", "--doc", "-A", "mod.ts", "lib/"]]);
  }
  for (const [cmd, cmdArgs] of checks) {
    if (await run(cmd, cmdArgs) !== 0) checksFailed++;
  }
}

let services: Services | undefined;
// Stopped from outside (CI's time limit, a kill): the servers and the
// runtime under test go too, not left to the machine.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    current?.kill("SIGKILL");
    await services?.stop();
    console.log("tests: 0 passed, 1 failed");
    process.exit(1);
  });
}
try {
  services = await startServices();
} catch (error) {
  console.error(`services: ${(error as Error)?.message ?? error}`);
  console.log("tests: 0 passed, 1 failed");
  process.exit(1);
}
const total = { passed: 0, failed: 0 };
/** Cases each runtime ran, skipped ones included. */
const ran: Record<string, number> = {};
try {
  const suites: [string, string, string[]][] = [
    ["deno", bin("deno"), [
      "test",
      "-A",
      `--junit-path=${RESULTS}/deno.xml`,
      ...files,
    ]],
    ["bun", bin("bun"), [
      "test",
      // bunfig.toml's timeout is not read: slow tests on a busy machine.
      "--timeout=60000",
      "--reporter=junit",
      `--reporter-outfile=${RESULTS}/bun.xml`,
      ...files.map((
        f,
      ) => (f.startsWith(".") || f.startsWith("/") ? f : `./${f}`)),
    ]],
  ];
  for (const [runtime, cmd, cmdArgs] of suites) {
    if (only && only !== runtime) continue;
    const code = await run(cmd, cmdArgs, services.env);
    const counts = await countJUnit(`${RESULTS}/${runtime}.xml`) ??
      { passed: 0, failed: 0, skipped: 0 };
    const cases = counts.passed + counts.failed + counts.skipped;
    ran[runtime] = cases;
    // A runner that crashed, failed to load a file, or left early (a test's
    // process.exit) may report no failing case, or nothing at all.
    if ((code !== 0 || cases === 0) && counts.failed === 0) {
      console.log(`${runtime}: ${cases === 0 ? "no results" : `exit ${code}`}`);
      counts.failed = 1;
    }
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : "";
    console.log(
      `${runtime}: ${counts.passed} passed, ${counts.failed} failed${skipped}`,
    );
    total.passed += counts.passed;
    total.failed += counts.failed;
  }
} finally {
  await services.stop();
}

// Both runtimes run the same files: a different number of cases means one
// skipped some without saying (Deno ends a file quietly when its top level
// throws after a describe, and runs only `it.only` ones).
if (ran.deno !== undefined && ran.bun !== undefined && ran.deno !== ran.bun) {
  console.log(`cases: deno ran ${ran.deno}, bun ${ran.bun}: counted as failed`);
  total.failed++;
}
if (checksFailed > 0) console.log(`checks: ${checksFailed} failed`);
// Checks count as failures: the line CI reads must say so.
total.failed += checksFailed;
console.log(`tests: ${total.passed} passed, ${total.failed} failed`);
process.exit(total.failed > 0 ? 1 : 0);
