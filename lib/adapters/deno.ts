/**
 * The Deno adapter: `Deno.serve` and fast file reads.
 *
 * Deno.serve fires a request's abort signal even after a successful response
 * (unless `--unstable-no-legacy-abort`), so nothing in cistern ties a cache
 * writer's life to `request.signal`; a client that goes away is seen as the
 * cancellation of its response body instead.
 *
 * @module
 */
import { open } from "node:fs/promises";
import type { Handler } from "../types.ts";
import { type FileHandle, readAt } from "./read_at.ts";
import type { ServeOptions, Server } from "./serve.ts";
import type { ByteConn } from "./http1_client.ts";

/** Size of each read (2 MiB). */
const READ_SIZE = 2 << 20;

/**
 * Reads bytes `[start, end)` of a file with 2 MiB positional reads, one
 * always in flight ahead of the consumer, so the next read runs on Deno's
 * thread pool while this chunk is handed over (about 2× the throughput of
 * one read at a time here, and 3-4× that of `FsFile.readable`, which reads
 * 64 KiB at a time). Every chunk is a fresh buffer the consumer may keep.
 *
 * @example
 * ```ts
 * import { denoReadRange } from "./deno.ts";
 * const first = await new Response(denoReadRange("deno.json", 0, 1)).text();
 * ```
 */
export function denoReadRange(
  path: string,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let file: FileHandle | undefined;
  /** Offset of the next read to start. */
  let next = start;
  /** The read in flight, for the next chunk. */
  let ahead: Promise<Uint8Array> | undefined;
  const readAhead = () => {
    ahead = undefined;
    if (!file || next >= end) return;
    const want = Math.min(READ_SIZE, end - next);
    ahead = readAt(path, file, new Uint8Array(want), next);
    // Its failure is reported when the chunk is pulled, or dropped on cancel.
    ahead.catch(() => {});
    next += want;
  };
  const release = async () => {
    const current = file;
    const pending = ahead;
    file = undefined;
    ahead = undefined;
    await pending?.catch(() => {});
    await current?.close().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!file) {
          file = await open(path, "r");
          readAhead();
        }
        const current = ahead;
        if (!current) {
          await release();
          controller.close();
          return;
        }
        readAhead();
        controller.enqueue(await current);
      } catch (error) {
        await release();
        controller.error(error);
      }
    },
    cancel: release,
  }, { highWaterMark: 0 });
}

/**
 * Serves `handler` with `Deno.serve`.
 *
 * @example
 * ```ts
 * import { denoServe } from "./deno.ts";
 * const server = denoServe(() => new Response("hi"), { port: 0 });
 * await server.shutdown();
 * ```
 */
export function denoServe(
  handler: Handler,
  options: ServeOptions = {},
): Server {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = Deno.serve({
    port: options.port ?? 8000,
    hostname,
    signal: options.signal,
    onListen: (address) => options.onListen?.(address),
  }, (request) => handler(request));
  const port = (server.addr as Deno.NetAddr).port;
  return {
    hostname,
    port,
    url: `http://${hostname}:${port}`,
    finished: server.finished,
    async shutdown() {
      await server.shutdown();
    },
  };
}

/**
 * A TCP (or TLS) connection with `Deno.connect`, for the HTTP/1.1 origin
 * client: reads land straight in the caller's buffer, with no copy and no
 * allocation.
 *
 * @example
 * ```ts
 * import { Http1Client } from "./http1_client.ts";
 * import { denoConnect } from "./deno.ts";
 * const client = new Http1Client({ connect: denoConnect });
 * ```
 */
export async function denoConnect(
  host: string,
  port: number,
  tls: boolean,
): Promise<ByteConn> {
  const conn = tls
    ? await Deno.connectTls({ hostname: host, port })
    : await Deno.connect({ hostname: host, port });
  if (!tls) (conn as Deno.TcpConn).setNoDelay(true);
  return {
    read: (into) => conn.read(into),
    async write(bytes) {
      let done = 0;
      while (done < bytes.byteLength) {
        done += await conn.write(bytes.subarray(done));
      }
    },
    close() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
    ref(active) {
      if (active) conn.ref();
      else conn.unref();
    },
  };
}
