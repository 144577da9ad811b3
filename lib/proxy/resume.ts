/**
 * Carrying clients on from the origin when storing the body they read stops
 * midway (it outgrew the entry limit, or the storage failed): each asks the
 * origin for the rest with `Range`, pinned by `If-Range` to the stored
 * response's strong validator (RFC 9110 §13.1.5), so what follows is the same
 * representation's bytes, never another version's spliced on. Anything else
 * from the origin (a 200 because it changed, a range that does not start
 * where the client is, a body that ends early) cuts the client's body, as an
 * origin failure does.
 *
 * @module
 */
import { isETag } from "../http/etag.ts";
import { parseHttpDate } from "../http/http_date.ts";
import { StorageFailedError } from "../stream/errors.ts";
import { StoringStoppedError } from "./errors.ts";

/**
 * Asks the origin for the rest of a body: `range` is the `Range` field to
 * send, with the stored response's strong validator as `If-Range`.
 */
export type AskOrigin = (range: string) => Promise<Response>;

/** Bytes `first-last/complete` of a `Content-Range` (RFC 9110 §14.4). */
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/**
 * The `If-Range` value that pins a range to the response with `headers`: its
 * ETag if strong, else its Last-Modified if at least a second older than its
 * Date (RFC 9110 §8.8.2.2); undefined when it has neither, so no range is
 * asked for.
 *
 * @example
 * ```ts
 * import { strongValidator } from "./resume.ts";
 * strongValidator(new Headers({ etag: '"v1"' })); // '"v1"'
 * strongValidator(new Headers({ etag: 'W/"v1"' })); // undefined
 * ```
 */
export function strongValidator(headers: Headers): string | undefined {
  const etag = headers.get("etag");
  if (etag !== null && isETag(etag) && !etag.startsWith("W/")) return etag;
  const lastModified = headers.get("last-modified");
  const modified = parseHttpDate(lastModified);
  const date = parseHttpDate(headers.get("date"));
  return modified !== undefined && date !== undefined &&
      modified + 1000 <= date
    ? lastModified!
    : undefined;
}

/**
 * Body bytes `[start, end)` read from an entry still being stored (`end`
 * undefined: to the body's end, size unknown). If storing stops midway, the
 * rest comes from the origin through `ask`, and must have the stored
 * `encoding` (its `Content-Encoding`, or ""); any other error ends the
 * stream as it is.
 *
 * @example
 * ```ts ignore
 * import { resuming } from "./resume.ts";
 * const body = resuming(reader.stream(0, size), 0, size, "", ask);
 * ```
 */
export function resuming(
  stored: ReadableStream<Uint8Array>,
  start: number,
  end: number | undefined,
  encoding: string,
  ask: AskOrigin,
): ReadableStream<Uint8Array> {
  let reader = stored.getReader();
  let position = start;
  let resumed = false;
  /** The rest being read came as `N-M/*`: its end need not be the body's. */
  let open = false;
  let cancelled = false;
  /** Reads on from the origin, from `position`. */
  const askRest = async () => {
    const range = `bytes=${position}-${end === undefined ? "" : end - 1}`;
    const rest = restOf(await ask(range), position, end, encoding);
    // The client may have left while the origin was asked.
    if (cancelled) return void rest.body.cancel().catch(() => {});
    reader = rest.body.getReader();
    open = rest.open;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // A pull that enqueues nothing is not called again: read until a chunk
      // or the end.
      for (;;) {
        try {
          const next = await reader.read();
          if (next.done) {
            if (!open) return controller.close();
            // The origin did not say this was all: ask on until it does.
            await askRest();
            if (cancelled) return;
            continue;
          }
          position += next.value.byteLength;
          return controller.enqueue(next.value);
        } catch (error) {
          if (resumed || !storingStopped(error)) throw error;
          resumed = true;
          // Storing failed at the very end (its commit): nothing is missing.
          if (end !== undefined && position >= end) return controller.close();
          await askRest();
          if (cancelled) return;
        }
      }
    },
    async cancel(reason) {
      cancelled = true;
      // The stored stream may have errored (storing stopped): a client that
      // leaves then is no error.
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * Whether a reader's error says storing stopped while the origin still sent
 * the body (the proxy gave up on it, or the storage failed), not that the
 * origin failed.
 */
function storingStopped(error: unknown): boolean {
  return error instanceof StoringStoppedError ||
    error instanceof StorageFailedError;
}

/**
 * The body of the origin's answer to a range for bytes `[from, end)` of the
 * stored response (to its end when `end` is undefined), exactly those bytes;
 * throws, cancelling it, if the answer is not that range of the same
 * representation. `open`: the answer did not give the complete length
 * (`N-M/*`, RFC 9110 §14.4), so more may follow it.
 */
function restOf(
  response: Response,
  from: number,
  end: number | undefined,
  encoding: string,
): { body: ReadableStream<Uint8Array>; open: boolean } {
  // A body of unknown length that was all there: nothing follows `from`.
  if (
    response.status === 416 && end === undefined &&
    response.headers.get("content-range") === `bytes */${from}`
  ) {
    response.body?.cancel().catch(() => {});
    return {
      body: new ReadableStream({ start: (controller) => controller.close() }),
      open: false,
    };
  }
  const [, first, last, complete] =
    CONTENT_RANGE.exec(response.headers.get("content-range") ?? "") ?? [];
  const through = Number(last) + 1;
  const fits = response.status === 206 && response.body !== null &&
    Number(first) === from &&
    // A range whose last byte is before its first is invalid (RFC 9110
    // §14.4): taken, it would bring nothing and be asked for again forever.
    Number(last) >= from &&
    (end === undefined
      ? complete === "*" || Number(complete) === through
      : through >= end) &&
    (response.headers.get("content-encoding") ?? "") === encoding;
  if (!fits) {
    response.body?.cancel().catch(() => {});
    throw new Error(
      `origin did not send the rest from byte ${from} (status ${response.status}, content-range ${
        response.headers.get("content-range")
      })`,
    );
  }
  return {
    body: exactly(response.body!, (end ?? through) - from),
    open: end === undefined && complete === "*",
  };
}

/** The first `count` bytes of `body`; an error if it ends before them. */
function exactly(
  body: ReadableStream<Uint8Array>,
  count: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let left = count;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left === 0) {
        await reader.cancel().catch(() => {});
        return controller.close();
      }
      const next = await reader.read();
      if (next.done) {
        throw new Error(`origin's rest ended ${left} bytes early`);
      }
      const chunk = next.value.byteLength > left
        ? next.value.subarray(0, left)
        : next.value;
      left -= chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel: (reason) => reader.cancel(reason).catch(() => {}),
  }, { highWaterMark: 0 });
}
