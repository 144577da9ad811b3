/**
 * A server on `node:http`, for the one thing neither `Deno.serve` nor
 * `Bun.serve` can do: send interim (1xx) answers before the final one. A
 * handler's requests carry an {@link InterimSink}, so the origin's `103
 * Early Hints` (and `102 Processing`) reach the client as RFC 9110 §15.2
 * asks of a proxy. Both runtimes (and Node) have `node:http`; it costs more
 * CPU per request than their own servers (README, Measured), so the native
 * ones stay the default.
 *
 * @module
 */
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { Handler } from "../types.ts";
import type { ServeOptions, Server } from "./serve.ts";
import { bodyKindOf } from "../http/body_kind.ts";
import { noteInterimSink } from "../http/interim.ts";
import { noteClientSource } from "./client_address.ts";
import { invalidHostAnswer, isValidHost } from "./host_field.ts";
import { LiveBodies } from "./live_bodies.ts";
import { internalErrorAnswer, refusalAnswer } from "./plain_answers.ts";

/** A request body no bigger than this waits in the stream before the socket pauses. */
const BODY_HIGH_WATER = 64 * 1024;

const BAD_REQUEST_TEXT = "400 Bad Request\n";

/** Methods a `Request` refuses (Fetch's forbidden methods). */
const UNSUPPORTED = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * Serves `handler` with `node:http`, forwarding interim answers; resolves
 * once listening (a port in use rejects with `EADDRINUSE`).
 *
 * @example
 * ```ts
 * import { nodeServe } from "./node_serve.ts";
 * const server = await nodeServe(() => new Response("hi"), { port: 0 });
 * await server.shutdown();
 * ```
 */
export async function nodeServe(
  handler: Handler,
  options: ServeOptions = {},
): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const live = new LiveBodies();
  let base = "";
  const server = createServer((incoming, outgoing) => {
    answer(handler, incoming, outgoing, base, live).catch((error) => {
      // Never an unhandled rejection: the process serves others.
      console.error(error);
      outgoing.destroy();
    });
  });
  // Bodies stream through, so a long upload or download is not cut at
  // Node's default of 300 s.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8000, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => console.error(error));
  const port = (server.address() as { port: number }).port;
  base = `http://${host}:${port}`;
  const finished = new Promise<void>((resolve) =>
    server.once("close", () => resolve())
  );
  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    if (stopping) return stopping;
    // Live bodies end now: the server waits for every answer in flight.
    live.stopAll();
    server.close();
    server.closeIdleConnections?.();
    return stopping = finished;
  };
  options.signal?.addEventListener("abort", () => void shutdown(), {
    once: true,
  });
  options.onListen?.({ hostname, port });
  return { hostname, port, url: base, finished, shutdown };
}

/** Answers one request: builds the `Request`, runs `handler`, sends its answer. */
async function answer(
  handler: Handler,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  base: string,
  live: LiveBodies,
): Promise<void> {
  const request = requestOf(incoming, outgoing, base);
  if (request instanceof Response) return send(request, incoming, outgoing);
  let response: Response;
  try {
    response = await handler(request);
  } catch (error) {
    console.error(error);
    response = internalErrorAnswer();
  }
  await send(live.track(response), incoming, outgoing);
}

/**
 * The `Request` for `incoming`, or the answer to one that cannot be made
 * into one: a `Host` that is not one (400, RFC 9112 §3.2), a method a
 * `Request` refuses (501), a field a `Headers` refuses (400).
 */
function requestOf(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  base: string,
): Request | Response {
  const target = incoming.url ?? "/";
  const method = incoming.method ?? "GET";
  if (UNSUPPORTED.has(method)) {
    return refusalAnswer(501, "501 Not Implemented\n");
  }
  let url: string;
  if (target.startsWith("/")) {
    // An HTTP/1.0 request without Host (as health checks send) is
    // addressed to this server, as Deno's server does.
    const host = incoming.headers.host;
    if (host && !isValidHost(host)) return invalidHostAnswer();
    url = host ? `http://${host}${target}` : base + target;
  } else if (/^https?:\/\//i.test(target)) {
    url = target; // absolute form: its host wins over Host (RFC 9112 §3.2.2)
  } else return refusalAnswer(400, BAD_REQUEST_TEXT);
  const headers = new Headers();
  const body = hasBody(incoming) ? bodyOf(incoming) : null;
  // Whatever else came is read and dropped, so the connection goes on.
  if (!body) incoming.resume();
  const abort = new AbortController();
  // Aborted when the client leaves before its answer is sent, not after.
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) abort.abort();
  });
  let request: Request;
  try {
    const raw = incoming.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
    request = new Request(url, {
      method,
      headers,
      body,
      signal: abort.signal,
      ...(body ? { duplex: "half" } : {}),
    } as RequestInit);
  } catch {
    void body?.cancel();
    return refusalAnswer(400, BAD_REQUEST_TEXT);
  }
  noteClientSource(request, {
    remoteAddr: { hostname: incoming.socket.remoteAddress },
  });
  // No interim answer to an HTTP/1.0 client (RFC 9110 §15.2).
  const old = incoming.httpVersionMajor < 1 ||
    (incoming.httpVersionMajor === 1 && incoming.httpVersionMinor === 0);
  if (!old) {
    noteInterimSink(
      request,
      (status, fields) => interim(outgoing, status, fields),
    );
  }
  return request;
}

/** Sends an interim answer, if the final one has not begun and the server can send this status. */
function interim(
  outgoing: ServerResponse,
  status: number,
  fields: Headers,
): boolean {
  if (outgoing.headersSent || outgoing.destroyed) return false;
  try {
    if (status === 103) {
      // Early hints without a Link hint nothing (and Node refuses them).
      if (!fields.has("link")) return false;
      outgoing.writeEarlyHints(Object.fromEntries(fields));
      return true;
    }
    if (status === 102) {
      outgoing.writeProcessing();
      return true;
    }
  } catch {
    // A Link value the server refuses: the final answer still goes.
  }
  return false;
}

/** Whether a request comes with a body: a length above 0, or chunked. */
function hasBody(incoming: IncomingMessage): boolean {
  const method = incoming.method;
  // A Request takes none for these.
  if (method === "GET" || method === "HEAD") return false;
  const length = incoming.headers["content-length"];
  return incoming.headers["transfer-encoding"] !== undefined ||
    (length !== undefined && length !== "0");
}

/**
 * `incoming`'s body as a stream that pauses the socket while its reader
 * falls behind. A body the client cut short errors: it is never taken for
 * a whole one.
 */
function bodyOf(incoming: IncomingMessage): ReadableStream<Uint8Array> {
  let ended = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = (error: unknown) => {
        if (ended) return;
        ended = true;
        controller.error(error);
      };
      incoming.on("data", (chunk: Uint8Array) => {
        if (ended) return; // cancelled: read and dropped
        // A plain view: a Buffer's slice() does not copy.
        controller.enqueue(
          new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
        );
        if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
      });
      incoming.once("end", () => {
        if (ended) return;
        ended = true;
        controller.close();
      });
      incoming.once("error", fail);
      incoming.once("close", () => {
        // Closed before the whole message came: never a whole body.
        if (!incoming.complete) {
          fail(new Error("the client's request body was cut short"));
        }
      });
    },
    pull() {
      incoming.resume();
    },
    cancel() {
      ended = true;
      incoming.resume(); // read and dropped, so the connection can go on
    },
  }, { highWaterMark: BODY_HIGH_WATER, size: (chunk) => chunk.byteLength });
}

/**
 * Writes `response` to `outgoing`, its body as it comes, waiting whenever
 * the socket's buffer is full. A body that fails destroys the connection,
 * so the client sees it cut short, never complete.
 */
async function send(
  response: Response,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  outgoing.statusCode = response.status;
  if (response.statusText) outgoing.statusMessage = response.statusText;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") outgoing.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) outgoing.setHeader("set-cookie", cookies);
  const body = response.body;
  if (!body || incoming.method === "HEAD") {
    void body?.cancel();
    outgoing.end();
    return;
  }
  const kind = bodyKindOf(response);
  if (kind === "in-memory") {
    // Bytes already in memory go with the head, in one write.
    try {
      outgoing.end(new Uint8Array(await response.arrayBuffer()));
    } catch (error) {
      console.error(`cistern: answer cut short: ${error}`);
      outgoing.destroy();
    }
    return;
  }
  // An answer that follows its source (a miss, a live stream) sends its
  // head at once rather than with its first bytes.
  if (kind !== "stored") outgoing.flushHeaders();
  const reader = body.getReader();
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      if (outgoing.destroyed) {
        void reader.cancel();
        return;
      }
      if (!outgoing.write(next.value)) await drained(outgoing);
    }
    outgoing.end();
  } catch (error) {
    // One line, as the other adapters log a body cut short.
    console.error(`cistern: answer cut short: ${error}`);
    outgoing.destroy();
  }
}

/** Resolves when `outgoing` can take more, or has closed. */
function drained(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off("drain", done);
      outgoing.off("close", done);
      resolve();
    };
    outgoing.on("drain", done);
    outgoing.on("close", done);
  });
}
