/**
 * Small helpers shared by the suites.
 *
 * @module
 */
import { after } from "node:test";
import {
  connect,
  createServer as createNetServer,
  type Socket,
} from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** `n` deterministic pseudo-random bytes (same seed, same bytes). */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Reads a whole stream into one array. */
export async function collect(
  stream: ReadableStream<Uint8Array>,
): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Reads a stream and checks it equals `expected`, chunk by chunk, without
 * keeping it (so a thousand readers of megabytes stay small).
 */
export async function assertStreamEquals(
  stream: ReadableStream<Uint8Array>,
  expected: Uint8Array,
): Promise<void> {
  let offset = 0;
  for await (const chunk of stream) {
    const want = expected.subarray(offset, offset + chunk.byteLength);
    if (
      chunk.byteLength > want.byteLength || Buffer.compare(chunk, want) !== 0
    ) {
      throw new Error(
        `bytes differ in ${offset}..${offset + chunk.byteLength}`,
      );
    }
    offset += chunk.byteLength;
  }
  if (offset !== expected.byteLength) {
    throw new Error(`got ${offset} bytes, expected ${expected.byteLength}`);
  }
}

/**
 * A maker of fresh temporary folders, each deleted once the tests of the file
 * that called this are done. Call it at a file's top level.
 */
export function tempDirsRemovedAfter(): () => Promise<string> {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await Promise.all(cleanups.map((cleanup) => cleanup()));
  });
  return async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    return dir;
  };
}

/** A fresh temporary folder and a function that deletes it. */
export async function tempDir(): Promise<
  { dir: string; cleanup(): Promise<void> }
> {
  const dir = await mkdtemp(join(tmpdir(), "cistern-test-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Lets pending promise callbacks and I/O run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The command that runs a TypeScript file with the current runtime. */
export function runtimeCommand(
  script: string,
  args: string[] = [],
): [string, string[]] {
  return "Deno" in globalThis
    ? [process.execPath, ["run", "-A", script, ...args]]
    : [process.execPath, [script, ...args]];
}

/**
 * Sends `request` as raw bytes to a server on loopback `port` and returns
 * everything it sent back, once it closes the connection: for what `fetch`
 * cannot send (no Host, a malformed one) or would hide.
 */
export function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    let answer = "";
    socket.on("data", (data) => answer += data);
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
  });
}

/**
 * An origin on raw sockets that answers every request with `interim` (raw
 * 1xx heads) and then a small 200, and counts what it got.
 */
export async function interimOrigin(interim: string): Promise<{
  url: string;
  requests: string[];
  close(): Promise<void>;
}> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let head = "";
    socket.on("data", (data) => {
      head += data;
      while (head.includes("\r\n\r\n")) {
        const end = head.indexOf("\r\n\r\n") + 4;
        requests.push(head.slice(0, end));
        head = head.slice(end);
        socket.write(interim);
        // The final answer a moment later, as an origin that hints first.
        setTimeout(() =>
          socket.write(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncache-control: max-age=60\r\ncontent-length: 5\r\n\r\nhello",
          ), 20);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
