/**
 * Views of storage buffers lent to readers, and their return.
 *
 * A disk entry's live tail and its shared reads hand readers views of
 * buffers that they drop soon after. Left to the garbage collector, a big
 * body streamed to many clients piles up tens of MiB of such buffers before
 * a collection frees them. A consumer that is done with a view (a server
 * adapter once its runtime holds the bytes natively) returns it; a buffer
 * whose storage has dropped it, and whose views lent have all come back, is
 * then detached, which frees its memory at once. A runtime still sending
 * the bytes keeps its own reference to them, so only JavaScript loses the
 * view.
 *
 * Views never returned (read by any other consumer) keep their buffer for
 * the collector, as before.
 *
 * @module
 */

const loans = new WeakMap<Uint8Array, Loan>();
const LENT_BODY = Symbol("lent body");

interface LentBodyHolder {
  [LENT_BODY]?: ReadableStream<Uint8Array>;
}

/**
 * The views lent of some buffers, and when those buffers may go: once the
 * storage has dropped them, no view lent is still out and no read that is
 * about to lend some is in flight.
 *
 * @example
 * ```ts
 * import { Loan, returnView } from "./lent_views.ts";
 * const block = new Uint8Array(1024);
 * const loan = new Loan();
 * loan.own([block]);
 * const view = loan.lend(block.subarray(0, 10));
 * loan.drop(); // the storage lets go: kept while the view is out
 * returnView(view); // back: the block is detached, its memory freed
 * ```
 */
export class Loan {
  #buffers: ArrayBuffer[] = [];
  #out = 0;
  #holds = 0;
  #dropped = false;

  /**
   * Adds the buffers of `views` that are wholly theirs (a view of part of a
   * larger buffer may share it with others, so it is never detached).
   */
  own(views: Iterable<Uint8Array>): void {
    for (const view of views) {
      const { buffer } = view;
      if (
        buffer instanceof ArrayBuffer && view.byteOffset === 0 &&
        view.byteLength === buffer.byteLength
      ) this.#buffers.push(buffer);
    }
    this.#settle();
  }

  /** Notes `view` lent to a reader; returns it. */
  lend(view: Uint8Array): Uint8Array {
    loans.set(view, this);
    this.#out++;
    return view;
  }

  /**
   * Keeps the buffers while the caller is about to lend views of them (a
   * read in flight); the function returned ends that.
   */
  hold(): () => void {
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holds--;
      this.#settle();
    };
  }

  /** The storage lets go of the buffers: they go once every view is back. */
  drop(): void {
    this.#dropped = true;
    this.#settle();
  }

  /** One lent view is back. */
  _returned(): void {
    this.#out--;
    this.#settle();
  }

  #settle(): void {
    if (!this.#dropped || this.#out > 0 || this.#holds > 0) return;
    for (const buffer of this.#buffers.splice(0)) {
      try {
        // A zero-length transfer detaches the buffer and frees its memory.
        buffer.transfer(0);
      } catch {
        // Not detachable (a runtime without transfer, memory of WebAssembly):
        // the collector frees it, as any other.
      }
    }
  }
}

/**
 * Returns `view`, lent by a storage, once its consumer no longer reads it;
 * any other view is ignored.
 *
 * @example
 * ```ts
 * import { returnView } from "./lent_views.ts";
 * returnView(new Uint8Array(1)); // not lent: nothing happens
 * ```
 */
export function returnView(view: Uint8Array): void {
  const loan = loans.get(view);
  if (!loan) return;
  loans.delete(view);
  loan._returned();
}

/**
 * Notes that `response`'s body is `stream`, whose chunks are lent views
 * passed on as they came; returns the response. A consumer that gets the
 * response with that very body (not a clone, not a wrapper) may return them.
 *
 * @example
 * ```ts
 * import { lentBodyOf, markLentBody } from "./lent_views.ts";
 * const stream = new ReadableStream<Uint8Array>();
 * const response = markLentBody(new Response(stream), stream);
 * lentBodyOf(response) === stream; // true
 * ```
 */
export function markLentBody(
  response: Response,
  stream: ReadableStream<Uint8Array>,
): Response {
  (response as LentBodyHolder)[LENT_BODY] = stream;
  return response;
}

/**
 * The body of `response` if it is still the stream {@link markLentBody}
 * noted, unread; `undefined` otherwise. Reads `response.body` only for a
 * marked response (on some runtimes, reading it turns a body of bytes into a
 * slower stream).
 *
 * @example
 * ```ts
 * import { lentBodyOf } from "./lent_views.ts";
 * lentBodyOf(new Response("hi")); // undefined
 * ```
 */
export function lentBodyOf(
  response: Response,
): ReadableStream<Uint8Array> | undefined {
  const stream = (response as LentBodyHolder)[LENT_BODY];
  return stream && response.body === stream && !stream.locked
    ? stream
    : undefined;
}
