/**
 * Pull-based streamed responses: `stream(chunks)` turns an iterable or async
 * iterable into a response body that is produced only as fast as the client
 * reads it, and `streamChunks` / `isStreaming` help adapters on the other
 * side.
 *
 * @module
 */
import { bodyKindOf, markBodyKind } from "./body_kind.ts";

/** One piece of a streamed body. */
export type Chunk = string | Uint8Array | Blob;

/**
 * Thrown into a {@link stream} body when the iterable yields something else.
 *
 * @example
 * ```ts
 * import { InvalidChunkError, stream } from "./streaming.ts";
 * const response = stream([42 as unknown as string]);
 * await response.text().catch((error) => error instanceof InvalidChunkError); // true
 * ```
 */
export class InvalidChunkError extends TypeError {
  /** The value that was yielded. */
  readonly chunk: unknown;
  /** Describes what was yielded instead of a chunk. */
  constructor(chunk: unknown) {
    super(
      `stream(): chunks must be strings, Uint8Arrays or Blobs, got ${
        chunk === null ? "null" : typeof chunk
      }`,
    );
    this.name = "InvalidChunkError";
    this.chunk = chunk;
  }
}

/** Marks a response as streamed, for {@link isStreaming}. */
export function _markStreaming(response: Response): Response {
  return markBodyKind(response, "streaming");
}

const encoder = new TextEncoder();

/**
 * A `ReadableStream` over an iterable or async iterable of chunks. Strings
 * are UTF-8 encoded and Blobs streamed as they come. Nothing is taken from
 * the iterable before the consumer asks for it (no read-ahead), and
 * cancelling the stream calls the iterator's `return()`, so `finally`
 * blocks in generators run.
 *
 * @example
 * ```ts
 * import { iterableStream } from "./streaming.ts";
 * const body = iterableStream(["a", "b"]);
 * await new Response(body).text(); // "ab"
 * ```
 */
export function iterableStream(
  chunks: Iterable<Chunk> | AsyncIterable<Chunk>,
): ReadableStream<Uint8Array> {
  let iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;
  let blob: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const open = () =>
    iterator ??= Symbol.asyncIterator in chunks
      ? (chunks as AsyncIterable<Chunk>)[Symbol.asyncIterator]()
      : (chunks as Iterable<Chunk>)[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (blob) {
          let next: ReadableStreamReadResult<Uint8Array>;
          try {
            next = await blob.read();
          } catch (error) {
            // The generator's finally must still run, as on any other error.
            blob = undefined;
            await Promise.resolve(iterator?.return?.()).catch(() => {});
            throw error;
          }
          const { value, done } = next;
          if (!done) {
            if (value.byteLength === 0) continue;
            controller.enqueue(value);
            return;
          }
          blob = undefined;
        }
        const { value, done } = await open().next();
        if (done) {
          controller.close();
          return;
        }
        let bytes: Uint8Array;
        if (typeof value === "string") bytes = encoder.encode(value);
        else if (value instanceof Uint8Array) bytes = value;
        else if (value instanceof Blob) {
          blob = value.stream().getReader();
          continue;
        } else {
          const error = new InvalidChunkError(value);
          await iterator?.return?.();
          throw error;
        }
        // Empty chunks carry nothing and some runtimes treat them as the end.
        if (bytes.byteLength === 0) continue;
        controller.enqueue(bytes);
        return;
      }
    },
    async cancel(reason) {
      await blob?.cancel(reason);
      // Cancelled before the first read: the source is still told (a
      // ReadableStream is cancelled, a file handle's iterator closes it). A
      // source that already failed is no reason for the cancel to fail.
      await Promise.resolve(open().return?.()).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * A `Response` whose body streams `chunks` (see {@link iterableStream}).
 * `init` is passed to the `Response`; no Content-Type is set unless given.
 *
 * @example
 * ```ts
 * import { stream } from "./streaming.ts";
 * async function* rows() {
 *   yield "id,name\n";
 *   for (let i = 0; i < 3; i++) yield `${i},row ${i}\n`;
 * }
 * const response = stream(rows(), { headers: { "content-type": "text/csv" } });
 * ```
 */
export function stream(
  chunks: Iterable<Chunk> | AsyncIterable<Chunk>,
  init?: ResponseInit,
): Response {
  return _markStreaming(new Response(iterableStream(chunks), init));
}

/**
 * The chunks of a response's (or stream's) body as an async iterable.
 * Leaving the loop early cancels the body, so the producer stops.
 *
 * @example
 * ```ts
 * import { stream, streamChunks } from "./streaming.ts";
 * for await (const chunk of streamChunks(stream(["a", "b"]))) {
 *   console.log(chunk.byteLength); // 1, then 1
 * }
 * ```
 */
export async function* streamChunks(
  source: Response | ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  const body = source instanceof Response ? source.body : source;
  if (!body) return;
  const reader = body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * Whether a response streams a body of unknown length that adapters should
 * neither buffer nor time out: one made by {@link stream}, `liveStream` or
 * `serverSentEvents`, or any `text/event-stream` response. A response with
 * a `Content-Length` never counts.
 *
 * @example
 * ```ts
 * import { isStreaming, stream } from "./streaming.ts";
 * isStreaming(stream(["a"])); // true
 * isStreaming(new Response("a")); // false
 * ```
 */
export function isStreaming(response: Response): boolean {
  if (response.body === null || response.headers.has("content-length")) {
    return false;
  }
  if (bodyKindOf(response) === "streaming") return true;
  const type = response.headers.get("content-type") ?? "";
  return type.toLowerCase().startsWith("text/event-stream");
}
