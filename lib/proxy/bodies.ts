/**
 * Wrappers for the bodies the shared cache sends: release the stored body
 * when a response ends, hand a client over to the origin when a body is too
 * large to keep, and cancel bodies no one will read.
 *
 * @module
 */

/** The rest of an origin body, handed to the client that fetched it. */
export interface Handoff {
  /** The chunk that did not fit. */
  first: Uint8Array;
  /** The origin body from there on. */
  rest: ReadableStreamDefaultReader<Uint8Array>;
}

/** The handoff when storing stops after the origin's last byte: nothing more to read. */
export function nothingMore(): Handoff {
  return {
    first: new Uint8Array(0),
    rest: new ReadableStream<Uint8Array>({
      start: (controller) => controller.close(),
    }).getReader(),
  };
}

/**
 * `body` as it streams on, calling `progress` for each chunk read and once
 * more at its end: an upload that moves is not an origin that is late.
 */
export function watchedUpload(
  body: ReadableStream<Uint8Array>,
  progress: () => void,
): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        progress();
        controller.enqueue(chunk);
      },
      flush: progress,
    }),
  );
}

/**
 * The length in bytes of a body given whole (a string, bytes, a `Blob`, or
 * none), or undefined for a stream or form data.
 */
export function knownLength(body: BodyInit | null): number | undefined {
  if (body === null) return 0;
  if (typeof body === "string") return new TextEncoder().encode(body).length;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    return body.byteLength;
  }
  if (body instanceof Blob) return body.size;
  return undefined;
}

/** Statuses whose answers never have a body. */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/**
 * `response` as an answer to HEAD: no body bytes, and no length where the
 * GET's is unknown. Both servers give a null body `Content-Length: 0`, which
 * would say the GET's body is empty; an answer without `Content-Length`
 * gets one empty chunk instead, which Deno's server sends with no length and
 * Bun's as chunked, neither with a byte of body.
 */
export function headAnswer(response: Response): Response {
  const lengthUnknown = !NULL_BODY_STATUSES.has(response.status) &&
    !response.headers.has("content-length");
  if (!lengthUnknown && !response.body) return response;
  cancelBody(response);
  return new Response(
    lengthUnknown
      ? new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(0));
          controller.close();
        },
      })
      : null,
    response,
  );
}

/** Cancels a response body nobody will read (if nothing reads it already). */
export function cancelBody(response: Response | undefined): void {
  const body = response?.body;
  if (body && !body.locked) body.cancel().catch(() => {});
}

/** Cancels the body of `before` if a handler replaced it with `after`. */
export function cancelReplaced(
  before: Response | undefined,
  after: Response | undefined,
): void {
  // A replacement made around the same body (`new Response(body, before)`)
  // still reads it.
  if (before && before !== after && before.body !== after?.body) {
    cancelBody(before);
  }
}

/**
 * The same response, whose body calls `release` once it ends, fails or is
 * cancelled (at once when it has no body).
 */
export function releasing(response: Response, release: () => void): Response {
  if (!response.body) {
    release();
    return response;
  }
  const reader = response.body.getReader();
  let released = false;
  const done = () => {
    if (!released) {
      released = true;
      release();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) {
          done();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    async cancel(reason) {
      done();
      // A source that already failed is no reason for a leaving client's
      // cancel to fail.
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return new Response(body, response);
}

/**
 * A stored body that, if storing stops because the body is too large, goes on
 * with the rest straight from the origin: the entity stream ends in an error
 * exactly where storing stopped, and the handoff supplies what follows.
 */
export function withHandoff(
  stored: ReadableStream<Uint8Array>,
  handoff: Promise<Handoff | undefined>,
): ReadableStream<Uint8Array> {
  const reader = stored.getReader();
  let rest: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!rest) {
        try {
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
          return;
        } catch (error) {
          const handed = await handoff;
          if (!handed) throw error;
          rest = handed.rest;
          if (handed.first.byteLength > 0) {
            return controller.enqueue(handed.first);
          }
        }
      }
      const next = await rest.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      // An origin body handed over (now or later) is read by no one else.
      const handed = await handoff;
      await handed?.rest.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
