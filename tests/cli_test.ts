import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { serve, type Server } from "../lib/adapters/serve.ts";
import { freePort } from "../scripts/services.ts";
import {
  interimOrigin,
  rawExchange,
  runtimeCommand,
  tempDir,
} from "./_util.ts";

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

/** A running `cistern proxy`, its standard error kept. */
interface RunningCli {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (128 + the signal's number if killed). */
  exited: Promise<number>;
  /** Resolves once standard error has shown `text`. */
  said(text: string): Promise<void>;
  /** SIGTERM, then resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts `cistern proxy` on a free port; resolves once it listens. */
async function startCli(args: string[]): Promise<RunningCli> {
  const port = await freePort();
  const [cmd, cmdArgs] = runtimeCommand(CLI, [
    "proxy",
    "--listen",
    `127.0.0.1:${port}`,
    ...args,
  ]);
  const child = spawn(cmd, cmdArgs, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve) =>
    child.once(
      "exit",
      (code, signal) => resolve(code ?? 128 + (signal === "SIGTERM" ? 15 : 2)),
    )
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => String(d).includes("caching") && resolve());
    exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    exited,
    said: (text) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!stderr.includes(text)) return;
          child.stderr!.off("data", check);
          resolve();
        };
        child.stderr!.on("data", check);
        check();
      }),
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * An origin body sent in `pieces` chunks of 1,000 bytes, 50 ms apart
 * (`Infinity`: until cancelled).
 */
function trickle(pieces: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === pieces) return controller.close();
      if (sent > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      sent++;
      controller.enqueue(new Uint8Array(1000).fill(sent & 0xff));
    },
  }, { highWaterMark: 0 });
}

/** `cistern proxy` on `heap:`, with `flags`, in front of an origin that answers with `handler`. */
async function behindCli(
  handler: (request: Request) => Response | Promise<Response>,
  flags: string[] = [],
): Promise<{ cli: RunningCli; origin: Server; stop(): Promise<void> }> {
  const origin = serve(handler, { port: 0 });
  const cli = await startCli([
    "--origin",
    origin.url,
    "--store",
    "heap:",
    ...flags,
  ]);
  return {
    cli,
    origin,
    async stop() {
      await cli.stop();
      await origin.shutdown();
    },
  };
}

/** `cistern proxy` on `heap:` in front of an origin that answers `trickle(pieces)`. */
function trickleBehindCli(
  pieces: number,
  headers: Record<string, string>,
): ReturnType<typeof behindCli> {
  return behindCli(() => new Response(trickle(pieces), { headers }));
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
        "--max-entries",
        "--trace-header",
        "--via",
        "--purge-token",
        "--cache-status",
        "--accept-encoding",
        "--origin-timeout",
        "--fault-tolerant",
        "SIGTERM",
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
    for (
      const flag of [
        ["--trace-header", "x cache"],
        ["--via", "a\u0001b"],
        ["--accept-encoding", "br,,gzip"],
        ["--max-entries", "0"],
        ["--max-entries", "1.5"],
        ["--store", "heap:?maxEntries=0"],
        ["--server", "apache"],
      ]
    ) {
      const bad = await run([
        "proxy",
        "--origin",
        "http://127.0.0.1:1",
        "--store",
        "heap:",
        ...flag,
      ]);
      assert.equal(bad.code, 2, flag.join(" "));
      assert.match(
        bad.stderr,
        /traceHeader|via|codings must be tokens|--max-entries must|maxEntries=0 would keep no bodies|--server must be native or node/,
      );
    }
    // A store folder that cannot be made (under a regular file).
    const { dir, cleanup } = await tempDir();
    try {
      await writeFile(`${dir}/plain`, "x");
      const unusable = await run([
        "proxy",
        "--origin",
        "http://127.0.0.1:1",
        "--listen",
        "127.0.0.1:0",
        "--store",
        `file:${dir}/plain/store`,
      ]);
      assert.equal(unusable.code, 2);
      assert.match(unusable.stderr, /store .* cannot be used/);
    } finally {
      await cleanup();
    }
  });

  it("says so when the port is in use, on either server", async () => {
    const busy = serve(() => new Response("busy"), { port: 0 });
    try {
      for (const server of ["native", "node"]) {
        const result = await run([
          "proxy",
          "--origin",
          "http://127.0.0.1:1",
          "--listen",
          `127.0.0.1:${busy.port}`,
          "--store",
          "heap:",
          "--server",
          server,
        ]);
        assert.equal(result.code, 2, server);
        assert.match(result.stderr, /already in use/, server);
      }
    } finally {
      await busy.shutdown();
    }
  });

  it("bounds the bodies it keeps with --max-bytes; one larger than that passes through and evicts nothing, on heap: and file:", async () => {
    for (const file of [false, true]) {
      const made = file ? await tempDir() : undefined;
      const { cli, stop } = await behindCli(
        (request) =>
          new Response(
            "x".repeat(request.url.endsWith("/big") ? 500 : 40),
            { headers: { "cache-control": "max-age=60" } },
          ),
        [
          "--max-bytes",
          "100",
          ...(made ? ["--store", `file:${made.dir}`] : []),
        ],
      );
      const trace = async (path: string) => {
        const response = await fetch(cli.url + path);
        await response.text();
        return response.headers.get("x-cache");
      };
      try {
        assert.equal(await trace("/small"), "miss, store");
        for (let i = 0; i < 2; i++) {
          const response = await fetch(`${cli.url}/big`);
          assert.equal((await response.text()).length, 500);
          assert.equal(
            response.headers.get("x-cache"),
            "miss",
            "larger than the store: passed through",
          );
        }
        assert.equal(await trace("/small"), "fresh", file ? "file:" : "heap:");
      } finally {
        await stop();
        await made?.cleanup();
      }
    }
  });

  it("keeps at most --max-entries (or the store's maxEntries) responses, the least recently read going first", async () => {
    for (
      const flags of [["--max-entries", "2"], ["--store", "heap:?maxEntries=2"]]
    ) {
      const { cli, stop } = await behindCli(
        () => new Response("a", { headers: { "cache-control": "max-age=60" } }),
        flags,
      );
      const trace = async (path: string) => {
        const response = await fetch(cli.url + path);
        await response.text();
        return response.headers.get("x-cache");
      };
      try {
        for (const path of ["/a", "/b", "/a", "/c"]) await trace(path);
        assert.equal(await trace("/a"), "fresh", "read lately: kept");
        assert.equal(await trace("/c"), "fresh");
        assert.equal(
          await trace("/b"),
          "miss, store",
          `least recently read (${flags.join(" ")})`,
        );
      } finally {
        await stop();
      }
    }
  });

  it("forgets a URL for a PURGE with the --purge-token, and refuses others; names itself in Cache-Status", async () => {
    const { cli, stop } = await behindCli(
      () => new Response("a", { headers: { "cache-control": "max-age=60" } }),
      [
        "--purge-token",
        "t0k",
        "--cache-status",
        "edge-1",
      ],
    );
    const trace = async (init?: RequestInit) => {
      const response = await fetch(`${cli.url}/a`, init);
      await response.body?.cancel();
      return `${response.status} ${response.headers.get("x-cache")}`;
    };
    const purge = (authorization?: string) =>
      trace({
        method: "PURGE",
        headers: authorization ? { authorization } : {},
      });
    try {
      const first = await fetch(`${cli.url}/a`);
      await first.text();
      assert.match(
        first.headers.get("cache-status")!,
        /^edge-1; fwd=uri-miss; fwd-status=200; stored; ttl=/,
      );
      assert.equal(await purge(), "403 purge, error");
      assert.equal(await purge("Bearer t0"), "403 purge, error");
      assert.equal(await trace(), "200 fresh");
      assert.equal(await purge("bearer  t0k"), "200 purge, synth", "any case");
      assert.equal(await trace(), "200 miss, store");
    } finally {
      await stop();
    }
  });

  it("answers 504 past --origin-timeout, and serves stale when the origin fails with --fault-tolerant", async () => {
    let failing = false;
    const { cli, origin, stop } = await behindCli(async (request) => {
      if (new URL(request.url).pathname === "/slow") {
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      return failing
        ? new Response("down", { status: 503 })
        : new Response("page", {
          headers: { "cache-control": "max-age=0", etag: '"p"' },
        });
    }, ["--origin-timeout", "0.2", "--fault-tolerant"]);
    const visit = async (path: string) => {
      const response = await fetch(`${cli.url}${path}`);
      return `${response.status} ${await response.text()}`;
    };
    try {
      assert.match(await visit("/slow"), /^504 .*did not answer in time/);
      assert.equal(await visit("/p"), "200 page");
      failing = true;
      assert.equal(await visit("/p"), "200 page", "stale, as the origin fails");
      const bad = await run([
        "proxy",
        "--origin",
        origin.url,
        "--origin-timeout",
        "0",
      ]);
      assert.equal(bad.code, 2);
      assert.match(
        bad.stderr,
        /--origin-timeout must be a number > 0, got "0"/,
      );
    } finally {
      await stop();
    }
  });

  it("stores one variant per coding with --accept-encoding", async () => {
    const { cli, stop } = await behindCli(
      (request) =>
        new Response(request.headers.get("accept-encoding"), {
          headers: { "cache-control": "max-age=60", vary: "accept-encoding" },
        }),
      [
        "--accept-encoding",
        "gzip,br",
      ],
    );
    const visit = async (codings: string) => {
      const response = await fetch(`${cli.url}/v`, {
        headers: { "accept-encoding": codings },
      });
      return `${await response.text()} ${response.headers.get("x-cache")}`;
    };
    try {
      assert.equal(await visit("gzip, deflate, br"), "gzip miss, store");
      assert.equal(await visit("br, gzip, zstd"), "gzip fresh");
      assert.equal(await visit("br, gzip;q=0.9"), "br miss, store");
      assert.equal(await visit("br"), "br fresh");
    } finally {
      await stop();
    }
  });

  it("finishes the answers in flight on SIGTERM, then exits", async () => {
    const { cli, stop } = await trickleBehindCli(10, {
      "cache-control": "max-age=60",
      "content-length": "10000",
    });
    try {
      const response = await fetch(`${cli.url}/slow`);
      assert.equal(response.status, 200);
      // process.kill, as below: Deno's child.kill() reports the child as
      // killed by its signal whatever the exit code, and sends no second one.
      process.kill(cli.child.pid!, "SIGTERM");
      await cli.said("finishing the answers in flight");
      const body = new Uint8Array(await response.arrayBuffer());
      assert.equal(body.byteLength, 10_000, "the answer in flight is whole");
      assert.equal(body[9_999], 10);
      await cli.said("cistern: stopped");
      assert.equal(await cli.exited, 0);
      await assert.rejects(fetch(`${cli.url}/slow`), "no longer listening");
    } finally {
      await stop();
    }
  });

  it("stops at once on a second signal, answers in flight or not", async () => {
    const { cli, stop } = await trickleBehindCli(Infinity, {
      "cache-control": "max-age=60",
    });
    try {
      const response = await fetch(`${cli.url}/endless`);
      const reader = response.body!.getReader();
      await reader.read();
      process.kill(cli.child.pid!, "SIGTERM");
      await cli.said("finishing the answers in flight");
      process.kill(cli.child.pid!, "SIGTERM");
      assert.equal(await cli.exited, 128 + 15);
      await assert.rejects(
        (async () => {
          for (;;) if ((await reader.read()).done) return;
        })(),
        "the cut answer ends in an error, not as if complete",
      );
    } finally {
      await stop();
    }
  });

  it("passes the origin's 103 Early Hints on with --server node, and stops on SIGTERM", async () => {
    const origin = await interimOrigin(
      "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n",
    );
    const cli = await startCli([
      "--origin",
      origin.url,
      "--store",
      "heap:",
      "--server",
      "node",
    ]);
    try {
      const port = Number(new URL(cli.url).port);
      const request =
        "GET /p HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n";
      const miss = await rawExchange(port, request);
      assert.match(miss, /^HTTP\/1\.1 103 Early Hints\r\nlink: <\/app\.css>/i);
      assert.match(
        miss,
        /\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*x-cache: miss, store/i,
      );
      assert.match(await rawExchange(port, request), /^HTTP\/1\.1 200 OK\r\n/);
      // process.kill: see "finishes the answers in flight on SIGTERM".
      process.kill(cli.child.pid!, "SIGTERM");
      await cli.said("cistern: stopped");
      assert.equal(await cli.exited, 0);
    } finally {
      await cli.stop();
      await origin.close();
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
