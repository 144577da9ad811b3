/**
 * The Deno adapter: `Deno.serve` and `Deno.connect`.
 *
 * Deno.serve fires a request's abort signal even after a successful response
 * (unless `--unstable-no-legacy-abort`), so nothing in cistern ties a cache
 * writer's life to `request.signal`: a client that goes away is seen as the
 * cancellation of its response body, and as that signal only until the
 * origin answers a request made for it alone.
 *
 * @module
 */
import type { Handler } from "../types.ts";
import type { ServeOptions, Server } from "./serve.ts";
import type { ByteConn } from "./http1_client.ts";
import { noteClientSource } from "./client_address.ts";
import { LiveBodies } from "./live_bodies.ts";
import { outgoingBody } from "./outgoing_body.ts";

/**
 * The largest chunk of a streamed body handed to `Deno.serve` (128 KiB).
 * Deno's server writes a whole chunk out before it turns to its other
 * connections: while nine clients read a big body in 1 MiB chunks, a small
 * request waited 23–38 ms for its first byte (8 MiB chunks: up to 115 ms),
 * and 3–9 ms with the same chunks cut to 128 KiB, for 10–20% less
 * throughput of the big bodies (`docs/bench_proxy.md`, session 14).
 */
const MAX_CHUNK = 128 * 1024;

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
  const live = new LiveBodies();
  const answer = (response: Response) =>
    outgoingBody(live.track(response), { maxChunk: MAX_CHUNK });
  const server = Deno.serve({
    port: options.port ?? 8000,
    hostname,
    signal: options.signal,
    onListen: (address) => options.onListen?.(address),
  }, (request, info) => {
    noteClientSource(request, info);
    const result = handler(request);
    return result instanceof Promise ? result.then(answer) : answer(result);
  });
  options.signal?.addEventListener("abort", () => live.stopAll(), {
    once: true,
  });
  const port = (server.addr as Deno.NetAddr).port;
  return {
    hostname,
    port,
    // An IPv6 address is bracketed in a URL, as the Bun adapter does.
    url: `http://${
      hostname.includes(":") ? `[${hostname}]` : hostname
    }:${port}`,
    finished: server.finished,
    async shutdown() {
      // Live bodies end now: the server waits for every answer in flight.
      live.stopAll();
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
