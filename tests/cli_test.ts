import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { serve } from "../lib/adapters/serve.ts";
import { freePort } from "../scripts/services.ts";
import { runtimeCommand, tempDir } from "./_util.ts";

const CLI = new URL("../lib/cli.ts", import.meta.url).pathname;

/** Runs the CLI to completion. */
function run(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, cmdArgs] = runtimeCommand(CLI, args);
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `cistern proxy` on a free port; resolves once it listens. */
async function startCli(
  args: string[],
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const [cmd, cmdArgs] = runtimeCommand(CLI, [
    "proxy",
    "--listen",
    `127.0.0.1:${port}`,
    ...args,
  ]);
  const child = spawn(cmd, cmdArgs, { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => String(d).includes("caching") && resolve());
    child.once("exit", (code) => reject(new Error(`exited ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

describe("cistern command", () => {
  it("explains every flag with --help", async () => {
    const { code, stdout } = await run(["--help"]);
    assert.equal(code, 0);
    for (
      const flag of [
        "--origin",
        "--listen",
        "--store",
        "--default-ttl",
        "--max-entry-size",
        "--trace-header",
        "--via",
      ]
    ) {
      assert.ok(stdout.includes(flag), flag);
    }
  });

  it("refuses a bad origin, a missing origin and an unknown command clearly", async () => {
    const bad = await run(["proxy", "--origin", "ftp://nowhere"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /origin must be an http\(s\) URL/);
    const missing = await run(["proxy"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /needs --origin/);
    const unknown = await run(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command/);
    const badStore = await run([
      "proxy",
      "--origin",
      "http://127.0.0.1:1",
      "--store",
      "s3:bucket",
    ]);
    assert.equal(badStore.code, 2);
    assert.match(badStore.stderr, /--store/);
  });

  it("says so when the port is in use", async () => {
    const busy = serve(() => new Response("busy"), { port: 0 });
    try {
      const result = await run([
        "proxy",
        "--origin",
        "http://127.0.0.1:1",
        "--listen",
        `127.0.0.1:${busy.port}`,
        "--store",
        "heap:",
      ]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /already in use/);
    } finally {
      await busy.shutdown();
    }
  });

  it("bounds the bodies it keeps with --max-bytes", async () => {
    const origin = serve(
      () =>
        new Response("x".repeat(500), {
          headers: { "cache-control": "max-age=60" },
        }),
      {
        port: 0,
      },
    );
    const cli = await startCli([
      "--origin",
      origin.url,
      "--store",
      "heap:",
      "--max-bytes",
      "100",
    ]);
    try {
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`${cli.url}/big`);
        assert.equal((await response.text()).length, 500);
        assert.equal(
          response.headers.get("x-cache"),
          "miss",
          "larger than the store: passed through",
        );
      }
    } finally {
      await cli.stop();
      await origin.shutdown();
    }
  });

  it("runs a caching reverse proxy on a file store", async () => {
    let hits = 0;
    const origin = serve(() => {
      hits++;
      return new Response("from origin", {
        headers: { "cache-control": "max-age=60" },
      });
    }, { port: 0 });
    const { dir, cleanup } = await tempDir();
    const cli = await startCli([
      "--origin",
      origin.url,
      "--store",
      `file:${dir}`,
    ]);
    try {
      const first = await fetch(`${cli.url}/a`);
      assert.equal(first.headers.get("x-cache"), "miss, store");
      assert.equal(await first.text(), "from origin");
      let trace = "";
      for (let i = 0; i < 50 && trace !== "fresh"; i++) {
        const again = await fetch(`${cli.url}/a`);
        trace = again.headers.get("x-cache") ?? "";
        await again.text();
      }
      assert.equal(trace, "fresh");
      assert.equal(hits, 1);
      await origin.shutdown();
      const down = await fetch(`${cli.url}/elsewhere`);
      assert.equal(down.status, 502, "an unreachable origin is a 502");
      assert.match(await down.text(), /Bad Gateway/);
    } finally {
      await cli.stop();
      await origin.shutdown().catch(() => {});
      await cleanup();
    }
  });
});
