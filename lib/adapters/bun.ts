/**
 * The Bun adapter: `Bun.serve` and fast file reads.
 *
 * Bun closes connections idle for about 10 s, even in the middle of a slow
 * streamed body; {@link bunServe} turns that timeout off for responses marked
 * as streaming (`stream`, `liveStream`, `serverSentEvents`, and the shared
 * cache's answers that follow an origin), so long-polling, server-sent events
 * and slow origins are not cut off. Every other connection keeps it, so idle
 * or abandoned keep-alive clients cannot hold sockets for ever. Handler
 * errors get a plain 500, never Bun's development error page (which shows
 * the error, the stack and source paths).
 *
 * @module
 */
import { bodyKindOf } from "../http/body_kind.ts";
import type { Handler } from "../types.ts";
import type { FixedFileReader } from "./file_io.ts";
import type { ServeOptions, Server } from "./serve.ts";
import { noteClientSource } from "./client_address.ts";
import { invalidHostAnswer } from "./host_field.ts";
import { internalErrorAnswer } from "./plain_answers.ts";
import { LiveBodies } from "./live_bodies.ts";
import { outgoingBody } from "./outgoing_body.ts";

/** The little of Bun's API this adapter uses, typed here so Deno can check it. */
interface BunLike {
  file(path: string): Blob;
  serve(options: {
    port: number;
    hostname: string;
    development: boolean;
    reusePort: boolean;
    maxRequestBodySize: number;
    error(error: unknown): Response;
    fetch(request: Request, server: BunNative): Response | Promise<Response>;
  }): { port: number; stop(closeActive?: boolean): Promise<void> | void };
}

const bun = () => (globalThis as unknown as { Bun: BunLike }).Bun;

/**
 * The first `size` bytes of a file as a lazy Blob: nothing is read until it
 * is sent, and Bun sends it with `Content-Length` (and sendfile without TLS),
 * which it does not do for streamed bodies (oven-sh/bun#10507).
 *
 * @example
 * ```ts
 * import { bunFileBlob } from "./bun.ts";
 * // under Bun: new Response(bunFileBlob("deno.json", 10))
 * ```
 */
export function bunFileBlob(path: string, size: number): Blob {
  return bun().file(path).slice(0, size);
}

/**
 * Reads bytes `[start, end)` of a file with `Bun.file().slice().stream()`.
 *
 * @example
 * ```ts
 * import { bunReadRange } from "./bun.ts";
 * // under Bun:
 * // const first = await new Response(bunReadRange("deno.json", 0, 1)).text();
 * ```
 */
export function bunReadRange(
  path: string,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  // Bun's file stream ends quietly at end of file; a short file is an error here.
  let seen = 0;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      if (seen !== end - start) {
        throw new RangeError(
          `${path} ends at ${start + seen}, expected ${end}`,
        );
      }
    },
  });
  try {
    return bun().file(path).slice(start, end).stream().pipeThrough(counted);
  } catch (error) {
    // Bun's piping opens the file at once and throws if it is missing;
    // callers expect a stream that errors.
    return new ReadableStream({
      start: (controller) => controller.error(error),
    });
  }
}

/**
 * Positional reads of a file that does not change while read, each a
 * `Bun.file` slice read into a fresh buffer (nothing is held open).
 *
 * @example
 * ```ts
 * import { bunFixedFileReader } from "./bun.ts";
 * // under Bun:
 * // const first = await bunFixedFileReader("deno.json").read(0, 1);
 * ```
 */
export function bunFixedFileReader(path: string): FixedFileReader {
  const file = bun().file(path);
  return {
    async read(start, end) {
      const bytes = await file.slice(start, end).bytes();
      if (bytes.byteLength !== end - start) {
        throw new RangeError(
          `${path} ends at ${start + bytes.byteLength}, expected ${end}`,
        );
      }
      return bytes;
    },
    close: () => Promise.resolve(),
  };
}

/** `outgoingBody`'s options for Bun, made once rather than on every answer. */
const UNTYPED_AS_STREAM = { streamUntypedBytes: true } as const;

/** What `Bun.serve` hands a handler beside the request. */
type BunNative = {
  timeout(request: Request, seconds: number): void;
  requestIP(request: Request): { address: string } | null;
};

/**
 * Answers marked as streaming may idle longer than Bun's idle timeout
 * allows, waiting on their source. The timeout then stays off for the
 * connection, so only those answers turn it off.
 */
function keepOpen(
  response: Response,
  request: Request,
  native: BunNative,
): Response {
  if (bodyKindOf(response) === "streaming") native.timeout(request, 0);
  return response;
}

/**
 * `request` with an absolute URL. Bun's server gives a request with no
 * usable Host only its path ("/r"): an HTTP/1.0 request with none (as
 * health checks send) or an empty one is addressed to this server, as
 * Deno's server does; a Host that is not a valid one gets a 400 (RFC 9112
 * §3.2).
 */
function addressed(request: Request, base: string): Request | Response {
  if (request.url.charCodeAt(0) !== 47 /* "/" */) return request;
  if (request.headers.get("host")) return invalidHostAnswer();
  return new Request(base + request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: request.signal,
    ...(request.body ? { duplex: "half" } : {}),
  } as RequestInit);
}

/**
 * Serves `handler` with `Bun.serve`: the idle timeout off for answers marked
 * as streaming, a plain 500 for a handler that throws.
 *
 * @example
 * ```ts
 * import { bunServe } from "./bun.ts";
 * // under Bun:
 * // const server = bunServe(() => new Response("hi"), { port: 0 });
 * // await server.shutdown();
 * ```
 */
export function bunServe(handler: Handler, options: ServeOptions = {}): Server {
  const hostname = options.hostname ?? "127.0.0.1";
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
  const live = new LiveBodies();
  const answer = (response: Response, request: Request, native: BunNative) =>
    outgoingBody(
      keepOpen(live.track(response), request, native),
      UNTYPED_AS_STREAM,
    );
  /** This server's own URL, set once it listens. */
  let base = "";
  const server = bun().serve({
    port: options.port ?? 8000,
    hostname,
    development: false,
    // Production mode would otherwise share the port with another process
    // already listening on it, instead of saying it is in use.
    reusePort: false,
    // Bodies stream through, so their size needs no bound here (Bun's own
    // default, 128 MiB, would refuse bigger uploads with a 413); as on Deno.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    error: (error) => {
      console.error(error);
      return internalErrorAnswer();
    },
    fetch(incoming, native) {
      // Bun's own methods want the request it made.
      const request = addressed(incoming, base);
      if (request instanceof Response) return request;
      noteClientSource(
        request,
        request === incoming
          ? native
          : { requestIP: () => native.requestIP(incoming) },
      );
      // A handler that answers at once is answered at once.
      const result = handler(request);
      return result instanceof Promise
        ? result.then((response) => answer(response, incoming, native))
        : answer(result, incoming, native);
    },
  });
  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    // Live bodies end now: the server waits for every answer in flight.
    live.stopAll();
    return stopping ??= Promise.resolve(server.stop(false)).then(
      resolveFinished,
    );
  };
  options.signal?.addEventListener("abort", () => void shutdown(), {
    once: true,
  });
  base = `http://${
    hostname.includes(":") ? `[${hostname}]` : hostname
  }:${server.port}`;
  options.onListen?.({ hostname, port: server.port });
  return {
    hostname,
    port: server.port,
    url: base,
    finished,
    shutdown,
  };
}
