/**
 * The body a server is handed, made ready for it:
 *
 * - **Lent views are returned** (`lent_views.ts`) once the server no longer
 *   reads them, so their buffers are freed at once rather than at the next
 *   collection. Both servers take a chunk off a body stream and hold its
 *   bytes natively before they ask for the next one: Deno's `Deno.serve`
 *   (2.9) hands it to its Rust side, and Bun's `Bun.serve` (1.4) copies it
 *   into its response sink (found by test: a client that stalls still gets
 *   every byte). A view is returned one chunk later still, a margin against
 *   either changing.
 * - **Chunks are cut to a size** (`maxChunk`), for a server that writes a
 *   whole chunk before it turns to its other connections (Deno's): those of
 *   bodies marked `"streaming"` or `"stored"`, and lent ones unless they
 *   are still arriving. A lent view cut in pieces is returned once the two
 *   pieces after its last are asked for.
 * - **Bytes without a type go as a stream** (`streamUntypedBytes`), for a
 *   server that labels a bytes body with no `Content-Type` itself (Bun's:
 *   `application/octet-stream`, oven-sh/bun#21193, which would turn a page
 *   whose origin sent no type into a download). Only bodies marked
 *   `"in-memory"` (cistern's hits, ranges, small origin answers) are known
 *   to be bytes: a string body, whose `text/plain` Bun adds when sending, is
 *   not. Such a stream loses its `Content-Length` on Bun past a few bytes.
 *
 * @module
 */
import { bodyKindOf } from "../http/body_kind.ts";
import { lentBodyOf, returnView } from "../stream/lent_views.ts";

/** What a server needs of the bodies it is handed. */
export interface OutgoingOptions {
  /** The largest chunk to hand it (default: any size). */
  maxChunk?: number;
  /** Whether bytes without `Content-Type` must go as a stream. */
  streamUntypedBytes?: boolean;
}

/**
 * `response`, with a body that returns each lent view it passes on once the
 * server has asked for the two chunks after it, and (given `maxChunk`) that
 * passes chunks on in pieces of at most `maxChunk` bytes. Only bodies known
 * to be streams are changed: lent ones, and with `maxChunk` those marked
 * `"streaming"` or `"stored"` (reading an unmarked response's body would
 * turn bytes into a stream); and, with `streamUntypedBytes`, bodies marked
 * `"in-memory"` that have no `Content-Type`. Any other response is returned
 * as is.
 *
 * @example
 * ```ts
 * import { outgoingBody } from "./outgoing_body.ts";
 * const response = outgoingBody(new Response("hi")); // the same response
 * ```
 */
export function outgoingBody(
  response: Response,
  { maxChunk = Infinity, streamUntypedBytes = false }: OutgoingOptions = {},
): Response {
  const lent = lentBodyOf(response);
  const kind = bodyKindOf(response);
  const cuts = maxChunk !== Infinity &&
    (kind === "streaming" || kind === "stored");
  const untyped = streamUntypedBytes && kind === "in-memory" &&
    !response.headers.has("content-type");
  const body = lent ?? (cuts || untyped ? response.body : null);
  if (!body) return response;
  // Lent views of a body still arriving go whole. Cut to 128 or 256 KiB, a
  // 1 GiB file: miss with ten clients on Deno grew by 42-59 MiB against
  // 17-22: its readers fell behind the live tail onto reads of their own
  // from disk. Cut to 512 KiB, a hit's first byte behind it came no sooner.
  const cut = lent && kind === "streaming" ? Infinity : maxChunk;
  const reader = body.getReader();
  /** The chunk being passed on, and what of it is still to go. */
  let current: Uint8Array | undefined;
  let rest: Uint8Array | undefined;
  /** The chunk whose last piece went at the last pull, and the one before. */
  let sent: Uint8Array | undefined;
  let before: Uint8Array | undefined;
  const outgoing = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (before) returnView(before);
      before = sent;
      sent = undefined;
      if (!rest) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          // The server logs what the body failed with, once per client: a
          // line, not a stack trace of cistern's internals per client.
          return controller.error(`cistern: answer cut short: ${error}`);
        }
        if (next.done) return controller.close();
        current = rest = next.value;
      }
      const piece = rest.byteLength > cut ? rest.subarray(0, cut) : rest;
      rest = piece === rest ? undefined : rest.subarray(cut);
      if (!rest) sent = current;
      controller.enqueue(piece);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return new Response(outgoing, response);
}
