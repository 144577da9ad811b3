/**
 * Answers whose bodies are views a storage lent (`lent_views.ts`), with the
 * views given back once the server no longer reads them, so their buffers
 * are freed at once rather than at the next collection.
 *
 * Both servers take a chunk off a body stream and hold its bytes natively
 * before they ask for the next one: Deno's `Deno.serve` (2.9) hands it to
 * its Rust side, and Bun's `Bun.serve` (1.4) copies it into its response
 * sink (found by test: a client that stalls still gets every byte). A view
 * is returned one chunk later still, a margin against either changing.
 *
 * @module
 */
import { lentBodyOf, returnView } from "../stream/lent_views.ts";

/**
 * `response`, with a body that returns each lent view it passes on once the
 * server has asked for the two chunks after it; any other response as is.
 *
 * @example
 * ```ts
 * import { returningViews } from "./returning_views.ts";
 * const response = returningViews(new Response("hi")); // the same response
 * ```
 */
export function returningViews(response: Response): Response {
  const body = lentBodyOf(response);
  if (!body) return response;
  const reader = body.getReader();
  let sent: Uint8Array | undefined;
  let before: Uint8Array | undefined;
  const returning = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (before) returnView(before);
      before = sent;
      const next = await reader.read();
      if (next.done) return controller.close();
      sent = next.value;
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return new Response(returning, response);
}
