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
 *
 * @module
 */
import { bodyKindOf } from "../http/body_kind.ts";
import { lentBodyOf, returnView } from "../stream/lent_views.ts";

/**
 * `response`, with a body that returns each lent view it passes on once the
 * server has asked for the two chunks after it, and (given `maxChunk`) that
 * passes chunks on in pieces of at most `maxChunk` bytes. Only bodies known
 * to be streams are changed: lent ones, and with `maxChunk` those marked
 * `"streaming"` or `"stored"` (reading an unmarked response's body would
 * turn bytes into a stream). Any other response is returned as is.
 *
 * @example
 * ```ts
 * import { outgoingBody } from "./outgoing_body.ts";
 * const response = outgoingBody(new Response("hi")); // the same response
 * ```
 */
export function outgoingBody(
  response: Response,
  maxChunk = Infinity,
): Response {
  const lent = lentBodyOf(response);
  const kind = maxChunk === Infinity ? undefined : bodyKindOf(response);
  const body = lent ??
    (kind === "streaming" || kind === "stored" ? response.body : null);
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
        const next = await reader.read();
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
