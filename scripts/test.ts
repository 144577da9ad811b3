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
import { spawn } from "node:child_process";
import { startServices } from "./services.ts";

const RESULTS = ".test-results";
const args = process.argv.slice(2);
const onlyIndex = args.indexOf("--only");
const only = onlyIndex >= 0 ? args.splice(onlyIndex, 2)[1] : undefined;
const files = args.length > 0 ? args : ["tests/"];
const bin = (name: string) => `node_modules/.bin/${name}`;

/** Runs a command with inherited output; resolves with its exit code. */
function run(
  cmd: string,
  cmdArgs: string[],
  env: Record<string, string> = {},
): Promise<number> {
  console.log(`\n$ ${cmd} ${cmdArgs.join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, {
      stdio: "inherit",
      env: { ...process.env, ...env },
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on("error", (error) => {
      console.error(error);
      resolve(1);
    });
  });
}

interface Counts {
  passed: number;
  failed: number;
}

/** Counts leaf test cases in a JUnit file (Deno lists `describe` blocks as cases too). */
async function countJUnit(path: string): Promise<Counts | undefined> {
  let xml: string;
  try {
    xml = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  const cases: { name: string; failed: boolean }[] = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const name = /\bname="([^"]*)"/.exec(m[1])?.[1] ?? "";
    const body = m[3] ?? "";
    if (/<skipped\b/.test(body)) continue;
    cases.push({ name, failed: /<(failure|error)\b/.test(body) });
  }
  const names = cases.map((c) => c.name);
  const leaves = cases.filter((c) =>
    !names.some((n) => n.startsWith(`${c.name} &gt; `))
  );
  return {
    passed: leaves.filter((c) => !c.failed).length,
    failed: leaves.filter((c) => c.failed).length,
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
    [deno, ["doc", "--lint", "mod.ts"]],
  ];
  for (const [cmd, cmdArgs] of checks) {
    if (await run(cmd, cmdArgs) !== 0) checksFailed++;
  }
}

const services = await startServices();
const total: Counts = { passed: 0, failed: 0 };
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
      { passed: 0, failed: 0 };
    // A runner that crashed or failed to load a file may report no failing case.
    if (code !== 0 && counts.failed === 0) counts.failed = 1;
    console.log(
      `${runtime}: ${counts.passed} passed, ${counts.failed} failed`,
    );
    total.passed += counts.passed;
    total.failed += counts.failed;
  }
} finally {
  await services.stop();
}

if (checksFailed > 0) console.log(`checks: ${checksFailed} failed`);
console.log(`tests: ${total.passed} passed, ${total.failed} failed`);
process.exit(total.failed > 0 || checksFailed > 0 ? 1 : 0);
