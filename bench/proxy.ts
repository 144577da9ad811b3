/**
 * The caching reverse proxy, side by side with the bare runtime server and
 * with nginx's `proxy_cache`, on Deno and on Bun, in one run.
 *
 * ```sh
 * deno run -A bench/proxy.ts                         # about 8 minutes
 * deno run -A bench/proxy.ts --runs=2 --duration=3   # quicker
 * deno run -A bench/proxy.ts --only=hits             # part 1 only
 * ```
 *
 * Options (flags, or the environment variables in brackets):
 * - `--duration=S` (`BENCH_DURATION`): seconds of each wrk run, default 5.
 * - `--runs=N` (`BENCH_RUNS`): measured rounds, best is kept; default 3.
 * - `--connections=N` (`BENCH_CONNECTIONS`): wrk connections, default 50.
 * - `--pin=yes|no` (`BENCH_PIN`): pin every server to CPU 0 and wrk to
 *   CPU 1 with `taskset`, so load generator and server do not share a core;
 *   default `yes` (on a machine with at least 2 cores).
 * - `--big-mib=N` (`BENCH_BIG_MIB`): size of the part 2 body, default 1024.
 * - `--clients=N` (`BENCH_CLIENTS`): part 2 clients, default 10.
 * - `--heap=yes|no` (`BENCH_HEAP`): also run part 2 with the `heap:` store
 *   (which holds the whole body in memory); default `yes`.
 * - `--busy-mib=N` (`BENCH_BUSY_MIB`): size of the part 3 body, default 256.
 * - `--only=hits|big|busy|forwarded` (`BENCH_ONLY`): run one part.
 * - `--deno-v8-flags=F` (`BENCH_DENO_V8_FLAGS`): V8 flags of the Deno
 *   proxies, default `--max-semi-space-size=1` (the README's).
 *
 * **Part 1, cache hits.** Servers, each its own process: an origin; per
 * runtime, the bare runtime server (`Deno.serve` / `Bun.serve`) returning the
 * origin's body from a `Uint8Array`, the runtime's ceiling (the same server
 * answering with clones of a ready response carrying a hit's fields: the
 * fastest it sends bytes from memory), its sockets without its HTTP server
 * (`Deno.listen` / `Bun.listen` writing a hit's ready bytes per request
 * head: what a server written for the cache could reach at most), a
 * `SharedCache` on those sockets (each head made a `Request`, the answer
 * written: the least such a server would do for a hit), and the
 * proxy (`startProxy` of
 * `lib/cli.ts`) in front of the origin twice, on `heap:` stores and on
 * `file:` stores (the command's default), under the runtime measured (Deno
 * with the V8 flags the README recommends, `DENO_PROXY_V8_FLAGS`). nginx (one worker, `proxy_cache`, config from
 * `bench/nginx/proxy_cache.conf.template`) is in front of the same origin.
 * Each body is fetched once through each cache (a miss that stores it) and
 * once more, which must say it is a hit (`x-cache: fresh` / `X-Cache: HIT`);
 * the origin's request count is checked again after the runs to prove every
 * measured request was a hit. Then `wrk -t1 -cN -dS` runs against every case
 * round-robin (one 1 s warm-up run each first), and the best rounds are
 * compared; so is each round's proxy against its baseline's in the same
 * round (median and range), which a machine whose speed drifts over a
 * minute skews less. Targets: proxy ≥ 0.8× bare for 13 B, ≥ 0.9× for 64 KiB, and
 * ≥ 1.0× nginx for both. The ceiling's rate over nginx's says whether the
 * last target is within the runtime's reach at all.
 *
 * **Part 2, a big miss.** A fast origin streams N MiB (1 MiB chunks, with
 * Content-Length); a fresh proxy (store `file:` in a temp dir, then `heap:`)
 * gets 10 `curl` clients for it at once, the tenth 100 ms after the others,
 * each reading the whole body as fast as it can into /dev/null. The proxy's
 * VmRSS is sampled every 50 ms; reported are its peak growth over the idle
 * process (target < 64 MiB for `file:`), every client's time to first byte
 * (target: the tenth within 2× of the first) and byte count (must be N MiB).
 * Deno's `file:` case runs once more with V8's default flags, for comparison.
 * Beside it, the floor: the same runtime reading the body once with the
 * proxy's origin client and dropping it (most of the proxy's growth is the
 * runtime's uncollected garbage from that client).
 *
 * **Part 3, a small hit behind big bodies.** Per cache (nginx, then each
 * runtime's proxy on `heap:` and on `file:` stores, unpinned): a 256 MiB body
 * and the 64 KiB one are stored and hit once; then, per round (`--runs`),
 * nine `curl` clients read the big body at once and, from 100 ms later, five
 * 64 KiB hits are asked for one after another, 50 ms apart. Then the same
 * with a new big URL each round: nine clients on a miss. Reported: those
 * hits' times to first byte (median and range, only of those asked for
 * while all nine were still reading), the median over nginx's, and the
 * slowest big client. A server that writes a whole big chunk before it turns
 * to its other connections shows here.
 *
 * **Part 4, requests the cache forwards.** The origin answers `/pass` (13 B)
 * with `Cache-Control: no-store`, so every request goes on to it: wrk runs
 * against nginx and each runtime's proxy (`heap:`, pinned as in part 1;
 * Deno's once more with V8's default flags), with wrk's own fields only and with a browser's dozen (`-H`), round-robin;
 * the origin's request count proves each measured request reached it.
 * Reported: requests/s (best round), the proxy's over nginx's, and server
 * CPU µs per request (nginx's worker; the proxy without its origin).
 *
 * Child processes and temporary directories are removed at the end; every
 * child also exits by itself after a deadline if this process dies first.
 *
 * @module
 */
import process from "node:process";
import { join } from "node:path";
import { BROWSER_FIELDS } from "./browser_fields.ts";
import { wrk } from "./wrk.ts";

// ---------------------------------------------------------------------------
// Shared by every role
// ---------------------------------------------------------------------------

interface BunServer {
  port: number;
  stop(closeActive?: boolean): void;
}

/** A socket of `Bun.listen`, with the state the socket role keeps on it. */
interface BunSocket {
  data: { heads: string; queued: Uint8Array[]; busy: boolean };
  write(bytes: Uint8Array): number;
}

interface BunLike {
  version: string;
  listen(options: {
    port: number;
    hostname: string;
    socket: {
      open(socket: BunSocket): void;
      data(socket: BunSocket, chunk: Uint8Array): void;
      drain(socket: BunSocket): void;
    };
  }): { port: number };
  serve(options: {
    port: number;
    hostname: string;
    fetch(request: Request): Response | Promise<Response>;
  }): BunServer;
}

const isBun = "Bun" in globalThis;
const bun = () => (globalThis as unknown as { Bun: BunLike }).Bun;
const HOST = "127.0.0.1";
const MiB = 1 << 20;
const SMALL = new TextEncoder().encode("Hello, world!");
const LARGE = new Uint8Array(64 * 1024).fill(0x61);
const BODY_HEADERS = {
  "content-type": "application/octet-stream",
  "cache-control": "public, max-age=3600",
};

function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.slice(2).find((arg) =>
    arg.startsWith(`--${name}=`)
  );
  return flag?.slice(name.length + 3) ?? process.env[env] ?? fallback;
}

/** Listens with the runtime's own server; the handler is called as is. */
function nativeServe(
  handler: (request: Request) => Response | Promise<Response>,
): number {
  if (isBun) {
    return bun().serve({ port: 0, hostname: HOST, fetch: handler }).port;
  }
  const server = Deno.serve(
    { port: 0, hostname: HOST, onListen: () => {} },
    handler,
  );
  return (server.addr as Deno.NetAddr).port;
}

/** Child processes exit by themselves after this many ms, whatever happens. */
function exitAfter(ms: number): void {
  setTimeout(() => process.exit(0), ms);
}

// ---------------------------------------------------------------------------
// Child roles
// ---------------------------------------------------------------------------

/** The bare server: the origin's small bodies straight from memory. */
function bareRole(): void {
  const port = nativeServe((request) => {
    const path = new URL(request.url).pathname;
    const body = path === "/13" ? SMALL : path === "/64k" ? LARGE : undefined;
    return body
      ? new Response(body, { headers: BODY_HEADERS })
      : new Response("not found", { status: 404 });
  });
  console.log(JSON.stringify({ port }));
}

/**
 * The runtime's ceiling for a hit: each answer a clone of a ready response
 * holding the body and the fields a proxy hit carries, which is how this
 * runtime's server sends bytes from memory fastest (docs/bench_proxy.md,
 * sessions 6 and 14). No cache can answer faster on this runtime; the proxy's
 * hits are such clones plus the cache's own work.
 */
function ceilingRole(): void {
  const ready = (body: Uint8Array<ArrayBuffer>) =>
    new Response(body, {
      headers: {
        ...BODY_HEADERS,
        "accept-ranges": "bytes",
        age: "1",
        "x-cache": "fresh",
      },
    });
  const small = ready(SMALL);
  const large = ready(LARGE);
  const port = nativeServe((request) => {
    const path = new URL(request.url).pathname;
    return path === "/13"
      ? small.clone()
      : path === "/64k"
      ? large.clone()
      : new Response("not found", { status: 404 });
  });
  console.log(JSON.stringify({ port }));
}

/** A whole HTTP/1.1 answer with `body` and a hit's fields, as bytes. */
function rawAnswer(status: string, body: Uint8Array): Uint8Array {
  const fields = { ...BODY_HEADERS, age: "1", "x-cache": "fresh" };
  const head = new TextEncoder().encode(
    `HTTP/1.1 ${status}\r\n${
      Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`)
        .join("")
    }content-length: ${body.byteLength}\r\n\r\n`,
  );
  return joined(head, body);
}

/** `head` then `body` in one buffer, for one write. */
function joined(head: Uint8Array, body: Uint8Array): Uint8Array {
  const whole = new Uint8Array(head.byteLength + body.byteLength);
  whole.set(head);
  whole.set(body, head.byteLength);
  return whole;
}

/** The bytes that answer one request head (without its blank line). */
type RawAnswerer = (head: string) => Uint8Array[] | Promise<Uint8Array[]>;

/**
 * Listens on the runtime's sockets without its HTTP server (`Deno.listen`,
 * `Bun.listen`), answering each connection's request heads in order; prints
 * the port. Bodies of requests are not read: wrk's GETs have none.
 */
function listenRaw(answerer: RawAnswerer): void {
  const decoder = new TextDecoder("latin1");
  /** Answers the whole heads at the start of `heads`; returns the rest. */
  const answerAll = async (
    heads: string,
    write: (bytes: Uint8Array) => void | Promise<void>,
  ) => {
    for (let end; (end = heads.indexOf("\r\n\r\n")) >= 0;) {
      const answer = answerer(heads.slice(0, end));
      heads = heads.slice(end + 4);
      for (const bytes of answer instanceof Promise ? await answer : answer) {
        // Ready answers to queued writes (Bun) take no turn of the loop.
        const written = write(bytes);
        if (written) await written;
      }
    }
    return heads;
  };
  if (isBun) {
    const flush = (socket: BunSocket) => {
      const queued = socket.data.queued;
      while (queued.length) {
        const written = Math.max(socket.write(queued[0]), 0);
        if (written < queued[0].byteLength) {
          queued[0] = queued[0].subarray(written); // the rest at drain
          return;
        }
        queued.shift();
      }
    };
    /** Answers the heads received, one after another (answers may wait). */
    const pump = async (socket: BunSocket) => {
      const state = socket.data;
      if (state.busy) return;
      state.busy = true;
      while (state.heads.includes("\r\n\r\n")) {
        const heads = state.heads;
        state.heads = "";
        const rest = await answerAll(heads, (bytes) => {
          state.queued.push(bytes);
          flush(socket);
        });
        state.heads = rest + state.heads;
      }
      state.busy = false;
    };
    const { port } = bun().listen({
      port: 0,
      hostname: HOST,
      socket: {
        open: (socket) =>
          void (socket.data = { heads: "", queued: [], busy: false }),
        data(socket, chunk) {
          socket.data.heads += decoder.decode(chunk);
          void pump(socket);
        },
        drain: flush,
      },
    });
    console.log(JSON.stringify({ port }));
    return;
  }
  const listener = Deno.listen({ port: 0, hostname: HOST });
  const serveConnection = async (connection: Deno.Conn) => {
    const buffer = new Uint8Array(16 * 1024);
    const write = async (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.byteLength;) {
        at += await connection.write(bytes.subarray(at));
      }
    };
    let heads = "";
    try {
      for (let n; (n = await connection.read(buffer)) !== null;) {
        heads = await answerAll(
          heads + decoder.decode(buffer.subarray(0, n)),
          write,
        );
      }
    } catch { /* the client went */ }
    try {
      connection.close();
    } catch { /* closed */ }
  };
  void (async () => {
    for await (const connection of listener) void serveConnection(connection);
  })();
  console.log(JSON.stringify({ port: (listener.addr as Deno.NetAddr).port }));
}

/**
 * The runtime's sockets without its HTTP server: each request head's path
 * read, and a hit's whole answer written from ready bytes. It parses no more
 * than wrk sends, so no server written on these sockets could answer faster:
 * how far one written for the cache could go past the runtime's own.
 */
function socketRole(): void {
  const answers = new Map([
    ["/13", [rawAnswer("200 OK", SMALL)]],
    ["/64k", [rawAnswer("200 OK", LARGE)]],
  ]);
  const notFound = [rawAnswer("404 Not Found", new Uint8Array())];
  listenRaw((head) => answers.get(head.split(" ", 2)[1]) ?? notFound);
}

/**
 * The least a server of the cache's own on those sockets would do for a hit:
 * each head made a `Request` (its fields unchecked, no signal, no body),
 * answered by a `SharedCache` on `heap:` stores in front of `--origin`, and
 * the answer's status, fields and body written with a `Content-Length`. What
 * it costs against the proxy on the runtime's server says whether writing
 * such a server (which would also send every 1xx) would pay.
 */
async function socketCacheRole(): Promise<void> {
  const { SharedCache } = await import("../mod.ts");
  const cache = new SharedCache({ origin: option("origin", "", "") });
  const encoder = new TextEncoder();
  listenRaw(async (head) => {
    const lines = head.split("\r\n");
    const [method, target] = lines[0].split(" ", 2);
    const headers = new Headers();
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(":");
      headers.append(
        lines[i].slice(0, colon),
        lines[i].slice(colon + 1).trim(),
      );
    }
    const request = new Request(`http://${headers.get("host")}${target}`, {
      method,
      headers,
    });
    const response = await cache.fetch(request);
    const body = new Uint8Array(await response.arrayBuffer());
    let text = `HTTP/1.1 ${response.status} ${response.statusText}\r\n`;
    response.headers.forEach((value, name) => {
      if (name !== "content-length" && name !== "transfer-encoding") {
        text += `${name}: ${value}\r\n`;
      }
    });
    const fields = encoder.encode(
      `${text}content-length: ${body.byteLength}\r\n\r\n`,
    );
    if (body.byteLength > 16 * 1024) return [fields, body];
    // A small answer in one write, as the runtimes' servers send it.
    return [joined(fields, body)];
  });
}

/** The origin: the small bodies, a big streamed one, and a request count. */
function originRole(): void {
  let requests = 0;
  const chunk = new Uint8Array(MiB).fill(0x62);
  const blobs = new Map<number, Blob>();
  const port = nativeServe((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/__requests") return new Response(String(requests));
    requests++;
    if (url.pathname === "/pass") {
      // Part 4: an answer no cache may store, so each request goes on.
      return new Response(SMALL, {
        headers: { ...BODY_HEADERS, "cache-control": "no-store" },
      });
    }
    if (url.pathname === "/13" || url.pathname === "/64k") {
      return new Response(url.pathname === "/13" ? SMALL : LARGE, {
        headers: BODY_HEADERS,
      });
    }
    if (url.pathname === "/big") {
      const mib = Number(url.searchParams.get("mib") ?? "1");
      const headers = { ...BODY_HEADERS, "content-length": String(mib * MiB) };
      if (isBun) {
        // Bun drops Content-Length for stream bodies (oven-sh/bun#10507); a
        // Blob keeps it, and is the fastest body Bun sends.
        let blob = blobs.get(mib);
        if (!blob) {
          blob = new Blob(Array.from({ length: mib }, () => chunk));
          blobs.set(mib, blob);
        }
        return new Response(blob, { headers });
      }
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === mib) return controller.close();
          sent++;
          // A fresh copy each time: a consumer may hold on to it.
          controller.enqueue(chunk.slice());
        },
      }, { highWaterMark: 0 });
      return new Response(body, { headers });
    }
    return new Response("not found", { status: 404 });
  });
  console.log(JSON.stringify({ port }));
}

/** The proxy, as the `cistern proxy` command starts it. */
async function proxyRole(): Promise<void> {
  const { startProxy } = await import("../lib/cli.ts");
  const { server } = await startProxy({
    origin: option("origin", "", ""),
    listen: `${HOST}:0`,
    store: option("store", "", "heap:"),
    // `--server=node` for a proxy on node:http (by hand; the parts use native).
    server: option("server", "", "native") === "node" ? "node" : "native",
  });
  console.log(JSON.stringify({ port: server.port }));
}

/**
 * The proxy's origin client alone (`Http1Client`, read through a
 * `BodyReader` into one reused buffer, as the proxy's pump reads it): one big
 * body read and dropped, printing this process's peak RSS growth. The floor
 * under the proxy's own growth on a miss.
 */
async function clientRole(): Promise<void> {
  const { Http1Client } = await import("../lib/adapters/http1_client.ts");
  const { BodyReader } = await import("../lib/proxy/body_reader.ts");
  const client = new Http1Client();
  const url = option("url", "", "");
  // Warm up as the proxy is warmed up: a few small requests first.
  const origin = new URL(url).origin;
  for (let i = 0; i < 20; i++) {
    await (await client.fetch(new Request(`${origin}/64k`))).arrayBuffer();
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const response = await client.fetch(new Request(url));
  const reader = new BodyReader(response.body!);
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    reader.reuse(next.value);
  }
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(JSON.stringify({ growthMiB: (peak - base) / MiB }));
  // The client's keep-alive connection would hold the process open.
  process.exit(0);
}

// ---------------------------------------------------------------------------
// The harness (Deno)
// ---------------------------------------------------------------------------

const DENO = "node_modules/.bin/deno";
const BUN = "node_modules/.bin/bun";
const SELF = "bench/proxy.ts";
const CHILD_DEADLINE_MS = 15 * 60_000;

type RuntimeName = "deno" | "bun";

interface Child {
  name: string;
  pid: number;
  port: number;
  process: Deno.ChildProcess;
}

const children = new Set<Child>();

/**
 * The V8 flags of Deno proxies: by default those the README recommends, and
 * `npm start` uses: a 1 MiB young generation, so the buffers a big body
 * passes through are collected sooner (parts 2 and 4 also run a Deno proxy
 * without them).
 */
const DENO_PROXY_V8_FLAGS = option(
  "deno-v8-flags",
  "BENCH_DENO_V8_FLAGS",
  "--max-semi-space-size=1",
);
/** Whether Deno proxies run with the README's flags. */
const README_FLAGS = DENO_PROXY_V8_FLAGS === "--max-semi-space-size=1";
/** A Deno proxy run without {@link DENO_PROXY_V8_FLAGS}, for comparison. */
const DENO_V8_DEFAULTS = "deno, V8 defaults";

function commandFor(
  runtime: RuntimeName,
  role: string,
  args: string[],
  v8Flags = role === "proxy" ? DENO_PROXY_V8_FLAGS : "",
): string[] {
  const roleArgs = [
    `--role=${role}`,
    `--deadline=${CHILD_DEADLINE_MS}`,
    ...args,
  ];
  const flags = v8Flags ? [`--v8-flags=${v8Flags}`] : [];
  // As `npm start` runs it, and the README recommends.
  if (role === "proxy") flags.push("--unstable-no-legacy-abort");
  return runtime === "deno"
    ? [DENO, "run", "-A", ...flags, SELF, ...roleArgs]
    : [BUN, SELF, ...roleArgs];
}

/** Starts a child that prints `{"port":N}` once listening. */
async function startChild(
  name: string,
  argv: string[],
  cpu: string | undefined,
): Promise<Child> {
  const full = cpu ? ["taskset", "-c", cpu, ...argv] : argv;
  const process = new Deno.Command(full[0], {
    args: full.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${name} exited before listening`);
    text += value;
    const match = /\{"port":(\d+)\}/.exec(text);
    if (match) port = Number(match[1]);
  }
  // Keep draining whatever else it prints.
  void (async () => {
    try {
      while (!(await lines.read()).done) { /* drop */ }
    } catch { /* closed */ }
  })();
  const child = { name, pid: process.pid, port, process };
  children.add(child);
  return child;
}

async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || !children.has(child)) return;
  children.delete(child);
  try {
    child.process.kill("SIGTERM");
  } catch { /* already gone */ }
  const timer = setTimeout(() => {
    try {
      child.process.kill("SIGKILL");
    } catch { /* gone */ }
  }, 3000);
  await child.process.status;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stopChild));
}

async function get(
  url: string,
): Promise<{ status: number; cache: string; bytes: number }> {
  const response = await fetch(url);
  const bytes = (await response.arrayBuffer()).byteLength;
  return {
    status: response.status,
    cache: response.headers.get("x-cache") ?? "",
    bytes,
  };
}

async function originRequests(origin: Child): Promise<number> {
  return Number(
    await (await fetch(`http://${HOST}:${origin.port}/__requests`)).text(),
  );
}

async function startNginx(
  dir: string,
  origin: Child,
  pin = pinning,
): Promise<Child> {
  const template = await Deno.readTextFile(
    new URL("./nginx/proxy_cache.conf.template", import.meta.url),
  );
  // A free port: bind one, let it go, hand it to nginx.
  const probe = Deno.listen({ hostname: HOST, port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    template.replaceAll("{{DIR}}", dir)
      .replaceAll("{{LISTEN}}", `${HOST}:${port}`)
      .replaceAll("{{ORIGIN}}", `${HOST}:${origin.port}`),
  );
  const argv = ["nginx", "-c", conf, "-p", dir, "-g", "daemon off;"];
  const full = pin ? ["taskset", "-c", "0", ...argv] : argv;
  const process = new Deno.Command(full[0], {
    args: full.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const child = { name: "nginx", pid: process.pid, port, process };
  children.add(child);
  for (let i = 0; i < 100; i++) {
    try {
      await get(`http://${HOST}:${port}/13`);
      return child;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nginx did not start; see ${dir}/error.log`);
}

let pinning = false;

// -- part 1 -----------------------------------------------------------------

interface HitCase {
  label: string;
  runtime: RuntimeName | "nginx";
  /** `proxy`: heap: stores; `file`: the proxy on file: stores (the command's default). */
  kind:
    | "bare"
    | "ceiling"
    | "socket"
    | "socket-cache"
    | "proxy"
    | "file"
    | "nginx";
  path: "/13" | "/64k";
  url: string;
  /** The server process (nginx: its master; the worker is its child). */
  pid: number;
  runs: number[];
  /** Server CPU time per request of each round, in µs. */
  cpu: number[];
  errors: string[];
}

/** Clock ticks per second of /proc's CPU times; asked once (harness only). */
let clockTicks: number | undefined;
function ticksPerSecond(): number {
  clockTicks ??= Number(
    new TextDecoder().decode(
      new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
        .outputSync().stdout,
    ).trim(),
  ) || 100;
  return clockTicks;
}

/** CPU seconds used so far by `pid` and its children (nginx's worker). */
async function cpuSeconds(pid: number): Promise<number> {
  let ticks = 0;
  const pids = [pid];
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      const children = await Deno.readTextFile(
        `/proc/${pid}/task/${entry.name}/children`,
      );
      pids.push(...children.trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch { /* gone, or no children file */ }
  for (const one of pids) {
    try {
      const stat = await Deno.readTextFile(`/proc/${one}/stat`);
      // Fields after the command name, which may hold spaces: utime, stime
      // are the 14th and 15th fields of the whole line.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return ticks / ticksPerSecond();
}

function fmtNumber(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(head),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.map(line),
  ].join("\n");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

function verdict(ratio: number, target: number): string {
  return `≥ ${target.toFixed(1)}× ${ratio >= target ? "met" : "MISSED"}`;
}

/** The wrk runs' settings (parts 1 and 4), and where servers and wrk run. */
function wrkSettings() {
  return {
    seconds: Number(option("duration", "BENCH_DURATION", "5")),
    runs: Number(option("runs", "BENCH_RUNS", "3")),
    connections: Number(option("connections", "BENCH_CONNECTIONS", "50")),
    serverCpu: pinning ? "0" : undefined,
    wrkCpu: pinning ? "1" : undefined,
  };
}

/** The origin, unpinned (parts 1 and 4). */
function startOrigin(): Promise<Child> {
  return startChild("origin", commandFor("deno", "origin", []), undefined);
}

async function hits(tmp: string): Promise<string> {
  const { seconds, runs, connections, serverCpu, wrkCpu } = wrkSettings();
  const origin = await startOrigin();
  const originUrl = `http://${HOST}:${origin.port}`;
  const cases: HitCase[] = [];
  const nginxDir = await Deno.makeTempDir({ dir: tmp, prefix: "nginx-" });
  const nginx = await startNginx(nginxDir, origin);
  const servers: Record<string, Child> = {};
  for (const runtime of ["deno", "bun"] as const) {
    servers[`${runtime} bare`] = await startChild(
      `${runtime} bare`,
      commandFor(runtime, "bare", []),
      serverCpu,
    );
    for (const role of ["ceiling", "socket"]) {
      servers[`${runtime} ${role}`] = await startChild(
        `${runtime} ${role}`,
        commandFor(runtime, role, []),
        serverCpu,
      );
    }
    servers[`${runtime} proxy`] = await startChild(
      `${runtime} proxy`,
      commandFor(runtime, "proxy", [`--origin=${originUrl}`, "--store=heap:"]),
      serverCpu,
    );
    servers[`${runtime} socket-cache`] = await startChild(
      `${runtime} socket-cache`,
      commandFor(
        runtime,
        "socket-cache",
        [`--origin=${originUrl}`],
        DENO_PROXY_V8_FLAGS,
      ),
      serverCpu,
    );
    const storeDir = await Deno.makeTempDir({ dir: tmp, prefix: "store-" });
    servers[`${runtime} file`] = await startChild(
      `${runtime} file`,
      commandFor(runtime, "proxy", [
        `--origin=${originUrl}`,
        `--store=file:${storeDir}`,
      ]),
      serverCpu,
    );
  }
  for (const path of ["/13", "/64k"] as const) {
    const size = path === "/13" ? SMALL.byteLength : LARGE.byteLength;
    cases.push({
      label: `nginx ${path}`,
      runtime: "nginx",
      kind: "nginx",
      path,
      url: `http://${HOST}:${nginx.port}${path}`,
      pid: nginx.pid,
      runs: [],
      cpu: [],
      errors: [],
    });
    for (const runtime of ["deno", "bun"] as const) {
      for (
        const kind of [
          "bare",
          "ceiling",
          "socket",
          "socket-cache",
          "proxy",
          "file",
        ] as const
      ) {
        const server = servers[`${runtime} ${kind}`];
        cases.push({
          label: `${runtime} ${kind} ${path}`,
          runtime,
          kind,
          path,
          url: `http://${HOST}:${server.port}${path}`,
          pid: server.pid,
          runs: [],
          cpu: [],
          errors: [],
        });
      }
    }
    // Store each body in each cache, then check the next answer is a hit.
    for (const c of cases.filter((c) => c.path === path)) {
      const first = await get(c.url);
      let second = await get(c.url);
      // A file: store finishes writing after the first answer.
      for (
        let i = 0;
        i < 50 && c.kind === "file" && second.cache !== "fresh";
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        second = await get(c.url);
      }
      if (first.status !== 200 || second.bytes !== size) {
        throw new Error(`${c.label}: ${first.status}, ${second.bytes} bytes`);
      }
      if (
        (c.kind === "proxy" || c.kind === "file" ||
          c.kind === "socket-cache") &&
        !/\bfresh\b/.test(second.cache)
      ) {
        throw new Error(`${c.label}: not a hit (x-cache: ${second.cache})`);
      }
      if (c.kind === "nginx" && second.cache !== "HIT") {
        throw new Error(`${c.label}: not a hit (X-Cache: ${second.cache})`);
      }
    }
  }
  const before = await originRequests(origin);
  console.error(
    `part 1: ${cases.length} cases, wrk -t1 -c${connections} -d${seconds}s, ` +
      `best of ${runs}${pinning ? ", servers on CPU 0, wrk on CPU 1" : ""}`,
  );
  for (const c of cases) await wrk(c.url, 1, connections, wrkCpu);
  for (let round = 0; round < runs; round++) {
    for (const c of cases) {
      const cpuBefore = await cpuSeconds(c.pid);
      const result = await wrk(c.url, seconds, connections, wrkCpu);
      const cpu = (await cpuSeconds(c.pid) - cpuBefore) * 1e6 /
        result.requests;
      c.runs.push(result.rps);
      c.cpu.push(cpu);
      if (result.errors) c.errors.push(result.errors);
      console.error(
        `  round ${round + 1} ${c.label.padEnd(22)} ${
          fmtNumber(result.rps).padStart(7)
        } req/s ${cpu.toFixed(1).padStart(5)} µs CPU/req ${result.errors}`,
      );
    }
  }
  const after = await originRequests(origin);
  await stopAll();

  const caseOf = (label: string) => cases.find((c) => c.label === label)!;
  const best = (label: string) => Math.max(...caseOf(label).runs);
  /**
   * Round by round, `label`'s rate over `baseline`'s, measured seconds
   * apart: their median and range. Best-of ratios pair rounds that may be a
   * minute apart, when the machine's speed may have changed.
   */
  const paired = (label: string, baseline: string) => {
    const base = caseOf(baseline).runs;
    const ratios = caseOf(label).runs.map((rps, i) => rps / base[i]);
    return `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${
      Math.max(...ratios).toFixed(2)
    })`;
  };
  const leastCpu = (label: string) => Math.min(...caseOf(label).cpu);
  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  for (const path of ["/13", "/64k"] as const) {
    const nginxRps = best(`nginx ${path}`);
    for (
      const [runtime, kind] of [
        ["deno", "proxy"],
        ["deno", "file"],
        ["bun", "proxy"],
        ["bun", "file"],
      ] as const
    ) {
      const bare = best(`${runtime} bare ${path}`);
      const proxy = best(`${runtime} ${kind} ${path}`);
      const target = path === "/13" ? 0.8 : 0.9;
      const store = kind === "file" ? "file:" : "heap:";
      rows.push([
        path === "/13" ? "13 B" : "64 KiB",
        `${runtime}, ${store}`,
        fmtNumber(bare),
        fmtNumber(proxy),
        `${(proxy / bare).toFixed(2)}×`,
        verdict(proxy / bare, target),
        paired(`${runtime} ${kind} ${path}`, `${runtime} bare ${path}`),
        fmtNumber(nginxRps),
        `${(proxy / nginxRps).toFixed(2)}×`,
        verdict(proxy / nginxRps, 1),
        paired(`${runtime} ${kind} ${path}`, `nginx ${path}`),
      ]);
      const bareCpu = leastCpu(`${runtime} bare ${path}`);
      const proxyCpu = leastCpu(`${runtime} ${kind} ${path}`);
      const nginxCpu = leastCpu(`nginx ${path}`);
      cpuRows.push([
        path === "/13" ? "13 B" : "64 KiB",
        `${runtime}, ${store}`,
        bareCpu.toFixed(1),
        proxyCpu.toFixed(1),
        `${(bareCpu / proxyCpu).toFixed(2)}×`,
        nginxCpu.toFixed(1),
        `${(nginxCpu / proxyCpu).toFixed(2)}×`,
      ]);
    }
  }
  const ceilingRows: string[][] = [];
  for (const path of ["/13", "/64k"] as const) {
    for (const runtime of ["deno", "bun"] as const) {
      const ceiling = `${runtime} ceiling ${path}`;
      const socket = `${runtime} socket ${path}`;
      const ceilingCpu = leastCpu(ceiling);
      ceilingRows.push([
        path === "/13" ? "13 B" : "64 KiB",
        runtime,
        fmtNumber(best(ceiling)),
        `${(best(ceiling) / best(`nginx ${path}`)).toFixed(2)}×`,
        `${(leastCpu(`nginx ${path}`) / ceilingCpu).toFixed(2)}×`,
        `${(best(socket) / best(`nginx ${path}`)).toFixed(2)}×`,
        `${(leastCpu(`nginx ${path}`) / leastCpu(socket)).toFixed(2)}×`,
        ...(["proxy", "file"] as const).map((kind) =>
          `${(ceilingCpu / leastCpu(`${runtime} ${kind} ${path}`)).toFixed(2)}×`
        ),
        `${
          (leastCpu(`${runtime} proxy ${path}`) /
            leastCpu(`${runtime} socket-cache ${path}`)).toFixed(2)
        }×`,
      ]);
    }
  }
  const allRuns = cases.map((c) =>
    `${c.label}: ${
      c.runs.map((rps, i) => `${fmtNumber(rps)} (${c.cpu[i].toFixed(1)} µs)`)
        .join(", ")
    }${c.errors.length ? ` (${c.errors.join(" ")})` : ""}`
  );
  return [
    `### Cache hits (requests/s, best of ${runs} × ${seconds} s, wrk -t1 -c${connections}${
      pinning ? "; servers pinned to CPU 0, wrk to CPU 1" : "; unpinned"
    }; Deno proxies with \`--v8-flags=${DENO_PROXY_V8_FLAGS}\`)`,
    "",
    table(
      [
        ..."body runtime bare proxy proxy/bare target".split(" "),
        "per round (median, range)",
        ..."nginx proxy/nginx target".split(" "),
        "per round (median, range)",
      ],
      rows,
    ),
    "",
    "Per round: the proxy's rate over its baseline's in the same round (run",
    "seconds apart), as the median and range over the rounds.",
    "",
    `Origin requests during the measured runs: ${
      after - before
    } (0 means every request was a hit).`,
    "",
    "Server CPU time per request (µs, least of the rounds; user + system,",
    "from /proc, so time lost to other guests does not count). The ratios",
    "are hits per CPU second against the proxy's: the steadier comparison on",
    "a busy machine.",
    "",
    table(
      "body runtime bare proxy bare/proxy nginx nginx/proxy".split(" "),
      cpuRows,
    ),
    "",
    "The runtime's ceiling: its server answering every request with a clone",
    "of a ready response holding the body and a hit's fields, the fastest",
    "way it sends bytes from memory. ceiling/nginx above 1.0× means the",
    "runtime can reach nginx's rate at all; the last two columns are the",
    "proxy's hits per CPU second against the ceiling's. The socket columns:",
    "the runtime's sockets without its HTTP server (ready bytes written per",
    "request head), the most a server written for the cache could reach;",
    "socket-cache: the least such a server would do for a hit (each head",
    "made a Request, answered by a heap: SharedCache, the answer written),",
    "its hits per CPU second against the proxy's on the runtime's server.",
    "",
    table(
      [
        "body",
        "runtime",
        "ceiling req/s",
        "ceiling/nginx",
        "ceiling/nginx by CPU",
        "socket/nginx",
        "socket/nginx by CPU",
        "proxy heap:/ceiling by CPU",
        "proxy file:/ceiling by CPU",
        "socket-cache/proxy by CPU",
      ],
      ceilingRows,
    ),
    "",
    "All rounds (req/s, with server CPU µs per request):",
    "",
    ...allRuns.map((line) => `- ${line}`),
  ].join("\n");
}

// -- part 2 -----------------------------------------------------------------

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

interface ClientResult {
  status: number;
  bytes: number;
  ttfb: number;
  total: number;
  cache: string;
}

async function curl(url: string): Promise<ClientResult> {
  const output = await new Deno.Command("curl", {
    args: [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download} %{time_starttransfer} %{time_total} %header{x-cache}",
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [status, bytes, ttfb, total, ...cache] = new TextDecoder()
    .decode(output.stdout).trim().split(" ");
  return {
    status: Number(status),
    bytes: Number(bytes),
    ttfb: Number(ttfb) * 1000,
    total: Number(total) * 1000,
    cache: cache.join(" "),
  };
}

interface BigResult {
  runtime: RuntimeName;
  store: string;
  /** Run without the recommended V8 flags (Deno). */
  defaultFlags: boolean;
  baseMiB: number;
  peakGrowthMiB: number;
  clients: ClientResult[];
  wallMs: number;
  originRequests: number;
}

/**
 * A proxy (unpinned) in front of `origin` on a `file:` store in a fresh
 * temporary directory, or a `heap:` store bounded to `heapMiB`.
 */
async function startStoreProxy(
  tmp: string,
  runtime: RuntimeName,
  store: "file" | "heap",
  origin: Child,
  heapMiB: number,
  v8Flags?: string,
): Promise<Child> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: `${runtime}-` });
  const storeUri = store === "file"
    ? `file:${dir}`
    : `heap:?maxBytes=${heapMiB * MiB}`;
  return await startChild(
    `${runtime} proxy (${store})`,
    commandFor(
      runtime,
      "proxy",
      [`--origin=http://${HOST}:${origin.port}`, `--store=${storeUri}`],
      v8Flags,
    ),
    undefined,
  );
}

async function bigMiss(
  tmp: string,
  runtime: RuntimeName,
  store: "file" | "heap",
  origin: Child,
  mib: number,
  clients: number,
  defaultFlags = false,
): Promise<BigResult> {
  const proxy = await startStoreProxy(
    tmp,
    runtime,
    store,
    origin,
    mib + 256,
    defaultFlags ? "" : undefined,
  );
  try {
    const base = `http://${HOST}:${proxy.port}`;
    // Warm the process a little (a small miss and hit), then let it settle.
    for (let i = 0; i < 20; i++) await get(`${base}/64k`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const baseKiB = await rssKiB(proxy.pid);
    let peakKiB = baseKiB;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          peakKiB = Math.max(peakKiB, await rssKiB(proxy.pid));
        } catch { /* exited */ }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const before = await originRequests(origin);
    const url = `${base}/big?mib=${mib}&case=${runtime}-${store}`;
    const started = performance.now();
    const running: Promise<ClientResult>[] = [];
    for (let i = 0; i < clients; i++) {
      if (i === clients - 1 && i > 0) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      running.push(curl(url));
    }
    const results = await Promise.all(running);
    const wallMs = performance.now() - started;
    sampling = false;
    await sampler;
    const after = await originRequests(origin);
    return {
      runtime,
      store,
      defaultFlags,
      baseMiB: baseKiB / 1024,
      peakGrowthMiB: (peakKiB - baseKiB) / 1024,
      clients: results,
      wallMs,
      originRequests: after - before,
    };
  } finally {
    await stopChild(proxy);
  }
}

async function big(tmp: string): Promise<string> {
  const mib = Number(option("big-mib", "BENCH_BIG_MIB", "1024"));
  const clients = Number(option("clients", "BENCH_CLIENTS", "10"));
  const heap = option("heap", "BENCH_HEAP", "yes") !== "no";
  const origin = await startChild(
    "origin",
    commandFor("bun", "origin", []),
    undefined,
  );
  console.error(
    `part 2: ${mib} MiB miss, ${clients} curl clients, stores file:${
      heap ? " and heap:" : ""
    }`,
  );
  // The origin alone, for reference: one client, straight (the first request
  // builds the origin's body).
  await curl(`http://${HOST}:${origin.port}/big?mib=${mib}`);
  const direct = await curl(`http://${HOST}:${origin.port}/big?mib=${mib}`);
  const results: BigResult[] = [];
  const clientAlone: Record<string, number> = {};
  try {
    for (const runtime of ["deno", "bun"] as const) {
      const [command, ...args] = commandFor(runtime, "client", [
        `--url=http://${HOST}:${origin.port}/big?mib=${mib}`,
      ]);
      const output = await new Deno.Command(command, { args }).output();
      clientAlone[runtime] = JSON.parse(
        new TextDecoder().decode(output.stdout),
      ).growthMiB;
      const cases: ["file" | "heap", boolean][] = [["file", false]];
      if (heap) cases.push(["heap", false]);
      if (runtime === "deno") cases.push(["file", true]);
      for (const [store, defaultFlags] of cases) {
        const result = await bigMiss(
          tmp,
          runtime,
          store,
          origin,
          mib,
          clients,
          defaultFlags,
        );
        results.push(result);
        console.error(
          `  ${runtime} ${store}${defaultFlags ? " (V8 defaults)" : ""}: ` +
            `+${result.peakGrowthMiB.toFixed(1)} MiB, ` +
            `ttfb ${result.clients.map((c) => c.ttfb.toFixed(1)).join(" ")} ms`,
        );
      }
    }
  } finally {
    await stopChild(origin);
  }
  const rows = results.map((r) => {
    const first = r.clients[0];
    const last = r.clients[r.clients.length - 1];
    const ttfbs = r.clients.map((c) => c.ttfb);
    const ok = r.clients.every((c) =>
      c.status === 200 && c.bytes === mib * MiB
    );
    const ratio = last.ttfb / first.ttfb;
    const slowest = Math.max(...r.clients.map((c) => c.total));
    return [
      r.runtime,
      `${r.store}:${r.defaultFlags ? " (V8 defaults)" : ""}`,
      `${r.baseMiB.toFixed(0)} MiB`,
      `+${r.peakGrowthMiB.toFixed(1)} MiB`,
      `+${clientAlone[r.runtime].toFixed(1)} MiB`,
      r.store === "file"
        ? (r.peakGrowthMiB < 64 ? "< 64 MiB met" : "< 64 MiB MISSED")
        : "(holds the body)",
      `${first.ttfb.toFixed(1)} ms`,
      `${last.ttfb.toFixed(1)} ms`,
      `${Math.min(...ttfbs).toFixed(1)}–${Math.max(...ttfbs).toFixed(1)} ms`,
      `${ratio.toFixed(2)}× ${ratio <= 2 ? "met" : "MISSED"}`,
      `${(slowest / 1000).toFixed(2)} s`,
      `${
        ((mib * MiB * r.clients.length) / (r.wallMs / 1000) / 1e9).toFixed(2)
      } GB/s`,
      `${ok ? "yes" : "NO"} (${r.originRequests} origin req)`,
    ];
  });
  return [
    `### ${mib} MiB miss, ${clients} concurrent clients (the last 100 ms late)`,
    "",
    table([
      "runtime",
      "store",
      "idle RSS",
      "peak RSS growth",
      "origin client alone",
      "target",
      "TTFB 1st",
      "TTFB last",
      "TTFB range",
      "last/1st (≤ 2×)",
      "slowest client",
      "aggregate",
      "all bytes",
    ], rows),
    "",
    `Origin alone (Bun, one curl client): TTFB ${direct.ttfb.toFixed(1)} ms, ` +
    `${(mib * MiB / (direct.total / 1000) / 1e9).toFixed(2)} GB/s. ` +
    "Unpinned: proxy, origin and the curl clients share both cores. " +
    `Deno proxies run with \`--v8-flags=${DENO_PROXY_V8_FLAGS}\` ` +
    `${README_FLAGS ? "(as the README recommends) " : ""}` +
    "except in the row marked V8 defaults. " +
    "Origin client alone: the same runtime reading the body once with the " +
    "proxy's origin client (`Http1Client` into a reused buffer) and dropping it; its growth " +
    "is garbage the runtime has not yet collected.",
    "",
    "Client x-cache values: " +
    [
      ...new Set(results.flatMap((r) => r.clients.map((c) => c.cache))),
    ].join(" | "),
  ].join("\n");
}

// -- part 3 -----------------------------------------------------------------

/** Small hits asked for while big clients read, in one scenario. */
interface BusyRun {
  /** Times to first byte (ms) of the small hits asked for while all big clients still read. */
  during: number[];
  /** Small hits asked for in all. */
  asked: number;
  slowestMs: number;
  /** Every answer whole, and every small one (and behind hits, every big one) a hit. */
  ok: boolean;
}

interface BusyResult {
  label: string;
  hits: BusyRun;
  miss: BusyRun;
}

const SMALL_HITS = 5;
const BIG_CLIENTS = 9;

/** Whether curl's x-cache value (proxy or nginx) says hit. */
function saysHit(cache: string): boolean {
  return cache === "fresh" || cache === "HIT";
}

/**
 * Per round, `BIG_CLIENTS` clients read `bigUrl(round)` while `SMALL_HITS`
 * hits of `${base}/64k` are asked for, 50 ms apart, from 100 ms later.
 */
async function busyRun(
  base: string,
  bigUrl: (round: number) => string,
  bigsHit: boolean,
  mib: number,
  runs: number,
): Promise<BusyRun> {
  const run: BusyRun = {
    during: [],
    asked: runs * SMALL_HITS,
    slowestMs: 0,
    ok: true,
  };
  for (let round = 0; round < runs; round++) {
    let firstEnd = Infinity;
    const url = bigUrl(round);
    const bigs = Array.from(
      { length: BIG_CLIENTS },
      () =>
        curl(url).then((result) => {
          firstEnd = Math.min(firstEnd, performance.now());
          return result;
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < SMALL_HITS; i++) {
      const asked = performance.now();
      const small = await curl(`${base}/64k`);
      run.ok &&= small.status === 200 && saysHit(small.cache);
      if (asked < firstEnd) run.during.push(small.ttfb);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const big of await Promise.all(bigs)) {
      run.ok &&= big.status === 200 && big.bytes === mib * MiB &&
        (!bigsHit || saysHit(big.cache));
      run.slowestMs = Math.max(run.slowestMs, big.total);
    }
  }
  return run;
}

async function busyCase(
  label: string,
  base: string,
  mib: number,
  runs: number,
): Promise<BusyResult> {
  const stored = `${base}/big?mib=${mib}&case=busy`;
  for (let i = 0; i < 20; i++) await get(`${base}/64k`);
  await curl(stored);
  const warm = [await curl(stored), await curl(`${base}/64k`)];
  const hits = await busyRun(base, () => stored, true, mib, runs);
  hits.ok &&= warm.every((c) => saysHit(c.cache));
  const miss = await busyRun(
    base,
    (round) => `${base}/big?mib=${mib}&case=busy-miss-${round}`,
    false,
    mib,
    runs,
  );
  return { label, hits, miss };
}

async function busy(tmp: string): Promise<string> {
  const mib = Number(option("busy-mib", "BENCH_BUSY_MIB", "256"));
  const runs = Number(option("runs", "BENCH_RUNS", "3"));
  const origin = await startChild(
    "origin",
    commandFor("bun", "origin", []),
    undefined,
  );
  console.error(
    `part 3: a 64 KiB hit behind ${BIG_CLIENTS} clients of a ${mib} MiB hit, then miss`,
  );
  const results: BusyResult[] = [];
  try {
    const nginxDir = await Deno.makeTempDir({ dir: tmp, prefix: "nginx-" });
    const nginx = await startNginx(nginxDir, origin, false);
    results.push(
      await busyCase("nginx", `http://${HOST}:${nginx.port}`, mib, runs),
    );
    await stopChild(nginx);
    for (const runtime of ["deno", "bun"] as const) {
      for (const store of ["heap", "file"] as const) {
        const proxy = await startStoreProxy(
          tmp,
          runtime,
          store,
          origin,
          2 * mib + 256,
        );
        try {
          results.push(
            await busyCase(
              `${runtime} ${store}:`,
              `http://${HOST}:${proxy.port}`,
              mib,
              runs,
            ),
          );
        } finally {
          await stopChild(proxy);
        }
      }
    }
  } finally {
    await stopChild(origin);
  }
  const [nginx] = results;
  const cells = (run: BusyRun, baseline: BusyRun) => {
    if (!run.during.length) return ["none", `0/${run.asked}`, "–"];
    const ttfb = median(run.during);
    return [
      `${ttfb.toFixed(1)} ms (${Math.min(...run.during).toFixed(1)}–${
        Math.max(...run.during).toFixed(1)
      })`,
      `${run.during.length}/${run.asked}`,
      `${(ttfb / median(baseline.during)).toFixed(2)}×`,
    ];
  };
  const rows = results.map((r) => [
    r.label,
    ...cells(r.hits, nginx.hits),
    ...cells(r.miss, nginx.miss),
    `${(r.hits.slowestMs / 1000).toFixed(2)} / ${
      (r.miss.slowestMs / 1000).toFixed(2)
    } s`,
    r.hits.ok && r.miss.ok ? "yes" : "NO",
  ]);
  return [
    `### A 64 KiB hit while ${BIG_CLIENTS} clients read a ${mib} MiB hit, then a ${mib} MiB miss`,
    "",
    table([
      "cache",
      "behind hits: TTFB median (range)",
      "counted",
      "/nginx",
      "behind a miss: TTFB median (range)",
      "counted",
      "/nginx",
      "slowest big client (hits / miss)",
      "all whole",
    ], rows),
    "",
    "Counted: small hits asked for while all big clients still read. " +
    "A miss is a new URL per round: the proxies' clients share one origin " +
    "request and read it as it arrives; nginx's wait for the first to finish " +
    "storing it (`proxy_cache_lock`). " +
    "Unpinned: servers, origin and curl share both cores. " +
    `Deno proxies run with \`--v8-flags=${DENO_PROXY_V8_FLAGS}\`.`,
  ].join("\n");
}

// -- part 4 -----------------------------------------------------------------

async function forwarded(tmp: string): Promise<string> {
  const { seconds, runs, connections, serverCpu, wrkCpu } = wrkSettings();
  const origin = await startOrigin();
  const originUrl = `http://${HOST}:${origin.port}`;
  const nginxDir = await Deno.makeTempDir({ dir: tmp, prefix: "nginx-" });
  const servers: Record<string, Child> = {
    nginx: await startNginx(nginxDir, origin),
  };
  const proxyArgs = [`--origin=${originUrl}`, "--store=heap:"];
  for (const runtime of ["deno", "bun"] as const) {
    servers[runtime] = await startChild(
      `${runtime} proxy`,
      commandFor(runtime, "proxy", proxyArgs),
      serverCpu,
    );
  }
  // The young generation's size is a trade: a small one bounds a big body's
  // memory, and copies what every request in flight holds more often.
  servers[DENO_V8_DEFAULTS] = await startChild(
    `${DENO_V8_DEFAULTS} proxy`,
    commandFor("deno", "proxy", proxyArgs, ""),
    serverCpu,
  );
  const fieldSets: Record<string, Record<string, string>> = {
    "wrk's own": {},
    "a browser's 12": BROWSER_FIELDS,
  };
  const results: Record<string, { rps: number[]; cpu: number[] }> = {};
  for (const [name, server] of Object.entries(servers)) {
    const url = `http://${HOST}:${server.port}/pass`;
    for (let i = 0; i < 2; i++) {
      const answer = await get(url);
      if (answer.status !== 200 || answer.bytes !== SMALL.byteLength) {
        throw new Error(`${name} /pass: ${answer.status}, ${answer.bytes} B`);
      }
      if (/fresh|HIT/.test(answer.cache)) {
        throw new Error(`${name} /pass was stored (${answer.cache})`);
      }
    }
    for (const fields of Object.values(fieldSets)) {
      await wrk(url, 1, connections, wrkCpu, fields);
    }
  }
  console.error(
    `part 4: /pass through ${Object.keys(servers).join(", ")}, ` +
      `wrk -t1 -c${connections} -d${seconds}s, best of ${runs}`,
  );
  const before = await originRequests(origin);
  let measured = 0;
  for (let round = 0; round < runs; round++) {
    for (const [label, fields] of Object.entries(fieldSets)) {
      for (const [name, server] of Object.entries(servers)) {
        const cpuBefore = await cpuSeconds(server.pid);
        const result = await wrk(
          `http://${HOST}:${server.port}/pass`,
          seconds,
          connections,
          wrkCpu,
          fields,
        );
        if (result.errors) throw new Error(`${name}: ${result.errors}`);
        const cpu = (await cpuSeconds(server.pid) - cpuBefore) * 1e6 /
          result.requests;
        measured += result.requests;
        const key = `${label} ${name}`;
        results[key] ??= { rps: [], cpu: [] };
        results[key].rps.push(result.rps);
        results[key].cpu.push(cpu);
        console.error(
          `  round ${round + 1} ${key.padEnd(22)} ${
            fmtNumber(result.rps).padStart(7)
          } req/s ${cpu.toFixed(1).padStart(5)} µs CPU/req`,
        );
      }
    }
  }
  const reached = await originRequests(origin) - before;
  await stopAll();
  const best = (key: string) => Math.max(...results[key].rps);
  const least = (key: string) => Math.min(...results[key].cpu);
  const rows = Object.keys(fieldSets).flatMap((label) =>
    ["deno", DENO_V8_DEFAULTS, "bun"].map((runtime) => {
      const nginx = `${label} nginx`;
      const proxy = `${label} ${runtime}`;
      const ratios = results[proxy].rps.map((rps, i) =>
        rps / results[nginx].rps[i]
      );
      return [
        label,
        runtime,
        fmtNumber(best(proxy)),
        fmtNumber(best(nginx)),
        `${(best(proxy) / best(nginx)).toFixed(2)}×`,
        `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${
          Math.max(...ratios).toFixed(2)
        })`,
        least(proxy).toFixed(1),
        least(nginx).toFixed(1),
      ];
    })
  );
  return [
    `### Requests the cache forwards (13 B, \`no-store\`; requests/s, best of ${runs} × ${seconds} s, wrk -t1 -c${connections}${
      pinning ? "; proxies and nginx pinned to CPU 0, wrk to CPU 1" : ""
    })`,
    "",
    table(
      [
        "request fields",
        "runtime",
        "proxy",
        "nginx",
        "proxy/nginx",
        "per round (median, range)",
        "proxy CPU µs/req",
        "nginx CPU µs/req",
      ],
      rows,
    ),
    "",
    `Origin requests during the measured runs: ${fmtNumber(reached)}, for ${
      fmtNumber(measured)
    } answers (every request went on). Deno proxies run with ` +
    `\`--v8-flags=${DENO_PROXY_V8_FLAGS}\` except in the rows marked V8 defaults.`,
  ].join("\n");
}

async function harness(): Promise<void> {
  const only = option("only", "BENCH_ONLY", "");
  pinning = option("pin", "BENCH_PIN", "yes") !== "no" &&
    navigator.hardwareConcurrency >= 2;
  const tmp = await Deno.makeTempDir({ prefix: "cistern-bench-proxy-" });
  const started = performance.now();
  const cleanup = async () => {
    await stopAll();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  Deno.addSignalListener("SIGINT", () => {
    void cleanup().then(() => Deno.exit(130));
  });
  const versions = await Promise.all([
    new Deno.Command(BUN, { args: ["--version"] }).output(),
    new Deno.Command("nginx", { args: ["-v"] }).output(),
  ]);
  const header = [
    `deno ${Deno.version.deno}, bun ${
      new TextDecoder().decode(versions[0].stdout).trim()
    }, ${
      new TextDecoder().decode(versions[1].stderr).trim()
    }, ${navigator.hardwareConcurrency} CPUs`,
  ];
  const sections: string[] = [];
  try {
    if (!only || only === "hits") sections.push(await hits(tmp));
    if (!only || only === "big") sections.push(await big(tmp));
    if (!only || only === "busy") sections.push(await busy(tmp));
    if (!only || only === "forwarded") sections.push(await forwarded(tmp));
  } finally {
    await cleanup();
  }
  console.log(
    [
      ...header,
      "",
      ...sections.flatMap((s) => [s, ""]),
      `Total time: ${((performance.now() - started) / 1000).toFixed(0)} s`,
    ].join("\n"),
  );
}

// ---------------------------------------------------------------------------

const role = option("role", "", "harness");
if (role !== "harness") {
  exitAfter(Number(option("deadline", "", String(CHILD_DEADLINE_MS))));
}
switch (role) {
  case "bare":
    bareRole();
    break;
  case "ceiling":
    ceilingRole();
    break;
  case "socket":
    socketRole();
    break;
  case "socket-cache":
    await socketCacheRole();
    break;
  case "origin":
    originRole();
    break;
  case "proxy":
    await proxyRole();
    break;
  case "client":
    await clientRole();
    break;
  default:
    if (isBun) throw new Error("run the harness with deno run -A");
    await harness();
}
