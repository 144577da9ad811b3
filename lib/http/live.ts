/**
 * Push-based streamed responses: a producer writes when it has something
 * (a log tail, progress, chat tokens) and `await out.write()` holds it back
 * while the client is slow, so buffering stays bounded.
 *
 * A client that disconnects stops the producer: its next `write` rejects
 * with {@link StreamClosedError}, and `out.signal` aborts so a producer
 * waiting on something else can stop too. The disconnect is seen as the
 * cancellation of the response body, which both Deno and Bun report when
 * the connection goes away. `request.signal` is not used for it: Deno's server
 * fires the request's abort signal even after a successful response (older
 * behaviour, opt-out flag `--unstable-no-legacy-abort`), so it cannot tell a
 * finished response from a client that left.
 *
 * Bun closes connections that send nothing for about 10 s, even in the
 * middle of a streamed body; cistern's `serve` (lib/adapters/bun.ts) turns
 * that timeout off for every response with a body. Under Bun's server
 * used directly, call `server.timeout(request, 0)` yourself, or write
 * heartbeats more often than every 10 s.
 *
 * @module
 */
import { markStoppable } from "./body_kind.ts";
import { _markStreaming } from "./streaming.ts";

/**
 * Thrown by `out.write` once the stream cannot take more.
 *
 * @example
 * ```ts
 * import { liveBody, StreamClosedError } from "./live.ts";
 * const { out } = liveBody();
 * out.close();
 * await out.write("late").catch((error) => error instanceof StreamClosedError); // true
 * ```
 */
export class StreamClosedError extends Error {
  /** `true` when the client went away (the body was cancelled), `false` when the producer closed the stream. */
  readonly disconnected: boolean;
  /** The cancellation reason the runtime gave, when the client went away. */
  override readonly cause: unknown;
  /** Describes whether the client left or the stream was closed. */
  constructor(disconnected: boolean, cause?: unknown) {
    super(
      disconnected
        ? "the client disconnected (the response body was cancelled)"
        : "the stream is closed",
    );
    this.name = "StreamClosedError";
    this.disconnected = disconnected;
    this.cause = cause;
  }
}

/** What a {@link liveStream} producer writes to. */
export interface LiveWriter {
  /**
   * Sends a chunk (strings are UTF-8 encoded). Resolves when the stream has
   * room for more, which is at once while less than `highWaterMark` bytes
   * are queued; rejects with {@link StreamClosedError} once the client has
   * gone or the stream is closed.
   *
   * @example
   * ```ts
   * import { liveBody } from "./live.ts";
   * const { body, out } = liveBody();
   * out.write("a").then(() => out.write(new Uint8Array([98]))).then(() => out.close());
   * await new Response(body).text(); // "ab"
   * ```
   */
  write(chunk: string | Uint8Array): Promise<void>;
  /**
   * Ends the body. Further writes reject. Safe to call twice.
   *
   * @example
   * ```ts
   * import { liveBody } from "./live.ts";
   * const { body, out } = liveBody();
   * out.close();
   * await new Response(body).text(); // ""
   * ```
   */
  close(): void;
  /**
   * Aborted (with a {@link StreamClosedError}) when the client disconnects.
   *
   * @example
   * ```ts
   * import { liveStream } from "./live.ts";
   * const handler = () =>
   *   liveStream(async (out) => {
   *     out.signal.addEventListener("abort", () => console.log("client left"));
   *     await out.write("hello\n");
   *   });
   * ```
   */
  readonly signal: AbortSignal;
  /**
   * Resolves when the stream has ended for any reason; never rejects.
   *
   * @example
   * ```ts
   * import { liveBody } from "./live.ts";
   * const { out } = liveBody();
   * out.closed.then(() => console.log("ended"));
   * out.close(); // logs "ended"
   * ```
   */
  readonly closed: Promise<void>;
  /**
   * Bytes that can be written before `write` waits; `0` or less when the client is behind or the stream ended.
   *
   * @example
   * ```ts
   * import { liveBody } from "./live.ts";
   * const { out } = liveBody(1024);
   * out.write("x".repeat(100));
   * out.desiredSize; // 924: 100 bytes queued
   * ```
   */
  readonly desiredSize: number;
}

/** Options for {@link liveStream}: the response's init, plus buffering. */
export interface LiveStreamInit extends ResponseInit {
  /**
   * Bytes queued for the client before `write` starts waiting. Default
   * `65536` (64 KiB).
   *
   * @example
   * ```ts
   * import { liveStream } from "./live.ts";
   * const handler = () =>
   *   liveStream(async (out) => {
   *     for (let i = 0; i < 10; i++) await out.write(`line ${i}\n`); // waits past 16 KiB queued
   *   }, { highWaterMark: 16_384, headers: { "content-type": "text/plain" } });
   * ```
   */
  highWaterMark?: number;
}

const encoder = new TextEncoder();

/**
 * Creates a live stream and the writer that feeds it, without a response:
 * the building block of {@link liveStream} and `serverSentEvents`. `fail`
 * errors the body (the client sees a cut-off response) and stops writers.
 *
 * @example
 * ```ts
 * import { liveBody } from "./live.ts";
 * const { body, out } = liveBody();
 * out.write("hello").then(() => out.close());
 * await new Response(body).text(); // "hello"
 * ```
 */
export function liveBody(
  highWaterMark = 65536,
): {
  body: ReadableStream<Uint8Array>;
  out: LiveWriter;
  fail(error: unknown): void;
  stop(): void;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let state: "open" | "closed" | "cancelled" = "open";
  let waiting: { resolve(): void; reject(error: unknown): void }[] = [];
  const abort = new AbortController();
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const settle = (error?: unknown) => {
    const waiters = waiting;
    waiting = [];
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      settle(); // the consumer has room again
    },
    cancel(reason) {
      if (state !== "open") return;
      state = "cancelled";
      const error = new StreamClosedError(true, reason);
      abort.abort(error);
      settle(error);
      resolveClosed();
    },
  }, { highWaterMark, size: (chunk) => chunk.byteLength });

  const refusal = (): Promise<never> | undefined =>
    state === "cancelled"
      ? Promise.reject(abort.signal.reason)
      : state === "closed"
      ? Promise.reject(new StreamClosedError(false))
      : undefined;
  const out: LiveWriter = {
    write(chunk) {
      const refused = refusal();
      if (refused) return refused;
      const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
      if (bytes.byteLength === 0) return Promise.resolve();
      controller.enqueue(bytes);
      // Deno cancels the body synchronously inside enqueue when the connection
      // is already gone: look again before waiting for room that never comes.
      const cancelled = refusal();
      if (cancelled) return cancelled;
      if ((controller.desiredSize ?? 0) > 0) return Promise.resolve();
      return new Promise((resolve, reject) =>
        waiting.push({ resolve, reject })
      );
    },
    close() {
      if (state !== "open") return;
      state = "closed";
      controller.close();
      // Writes still waiting were queued before the close and will be read.
      settle();
      resolveClosed();
    },
    signal: abort.signal,
    closed,
    get desiredSize() {
      return state === "open" ? controller.desiredSize ?? 0 : 0;
    },
  };
  const fail = (error: unknown) => {
    if (state !== "open") return;
    state = "closed";
    controller.error(error);
    settle(new StreamClosedError(false, error));
    resolveClosed();
  };
  /** The server stops: the body ends cleanly and the producer is told. */
  const stop = () => {
    if (state !== "open") return;
    state = "closed";
    const error = new StreamClosedError(false, "the server is stopping");
    abort.abort(error);
    controller.close();
    settle(error);
    resolveClosed();
  };
  return { body, out, fail, stop };
}

/**
 * A `Response` whose body is written by `producer` as it goes. The producer
 * starts at once; when it returns the body ends, and when it throws the body
 * errors (the client sees a cut-off response). `init` is passed to the
 * `Response`.
 *
 * @example
 * ```ts
 * import { liveStream } from "./live.ts";
 * const handler = () =>
 *   liveStream(async (out) => {
 *     for (let i = 1; i <= 3 && !out.signal.aborted; i++) {
 *       await out.write(`tick ${i}\n`);
 *       await new Promise((r) => setTimeout(r, 1000));
 *     }
 *   }, { headers: { "content-type": "text/plain; charset=utf-8" } });
 * ```
 */
export function liveStream(
  producer: (out: LiveWriter) => void | Promise<void>,
  init: LiveStreamInit = {},
): Response {
  const { highWaterMark, ...responseInit } = init;
  const { body, out, fail, stop } = liveBody(highWaterMark);
  const run = async () => {
    await producer(out);
    out.close();
  };
  run().catch((error) => {
    // A producer stopped by a disconnect has nothing left to tell anyone.
    if (!(error instanceof StreamClosedError)) fail(error);
  });
  return markStoppable(
    _markStreaming(new Response(body, responseInit)),
    { stop, closed: out.closed },
  );
}
