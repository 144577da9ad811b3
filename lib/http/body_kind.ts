/**
 * What kind of body a response carries, when the code that made it knows
 * better than its headers say: one mark that server adapters read instead of
 * probing the response.
 *
 * - `"streaming"`: produced as the client reads, of unknown length, and
 *   may pause (`stream`, `liveStream`, `serverSentEvents`, the shared
 *   cache's answers that follow an origin); see `isStreaming`. Bun's adapter
 *   keeps such connections open past its idle timeout.
 * - `"in-memory"`: bytes in memory, sent at once (hits, small origin
 *   answers). The shared cache knows these need no care: they cannot pause,
 *   and their headers may be changed in place.
 * - `"stored"`: a stream read from a cache's storage (a hit on a complete
 *   body too big to be held as bytes): it cannot pause, but its chunks are
 *   as big as the storage's blocks (up to 8 MiB in memory). Deno's adapter
 *   cuts them, as it cuts streaming ones.
 *
 * A second mark, {@link markStoppable}, tells a stopping server how to end
 * a live body.
 *
 * Internal.
 *
 * @module
 */

/** The kinds of body a response can be marked with. */
export type BodyKind = "streaming" | "in-memory" | "stored";

// A property, not a WeakSet: setting it costs a tenth as much per response.
const BODY_KIND = Symbol("body kind");
type Marked = Response & { [BODY_KIND]?: BodyKind };

/**
 * Marks `response`'s body as `kind`; returns the response.
 *
 * @example
 * ```ts
 * import { markBodyKind } from "./body_kind.ts";
 * const response = markBodyKind(new Response(new Uint8Array(13)), "in-memory");
 * ```
 */
export function markBodyKind(response: Response, kind: BodyKind): Response {
  (response as Marked)[BODY_KIND] = kind;
  return response;
}

/**
 * The kind `response` was marked with; `undefined` says nothing either way.
 *
 * @example
 * ```ts
 * import { bodyKindOf, markBodyKind } from "./body_kind.ts";
 * bodyKindOf(markBodyKind(new Response("hi"), "in-memory")); // "in-memory"
 * ```
 */
export function bodyKindOf(response: Response): BodyKind | undefined {
  return (response as Marked)[BODY_KIND];
}

const STOPPER = Symbol("stopper");
type Stoppable = Response & { [STOPPER]?: LiveBodyStopper };

/** How a server ends a live body when it stops, and when the body is over. */
export interface LiveBodyStopper {
  /** Ends the body cleanly (what is queued still goes out) and tells its producer to stop. */
  stop(): void;
  /** Resolves when the body is over, however it ended. */
  closed: Promise<void>;
}

/**
 * Marks `response`'s endless body as one a stopping server ends with
 * `stopper.stop()`, instead of waiting for its client to leave; returns the
 * response.
 *
 * @example
 * ```ts
 * import { markStoppable } from "./body_kind.ts";
 * const response = markStoppable(new Response("…"), {
 *   stop() {},
 *   closed: Promise.resolve(),
 * });
 * ```
 */
export function markStoppable(
  response: Response,
  stopper: LiveBodyStopper,
): Response {
  (response as Stoppable)[STOPPER] = stopper;
  return response;
}

/**
 * The stopper `response` was marked with, if any.
 *
 * @example
 * ```ts
 * import { stopperOf } from "./body_kind.ts";
 * stopperOf(new Response("hi")); // undefined
 * ```
 */
export function stopperOf(response: Response): LiveBodyStopper | undefined {
  return (response as Stoppable)[STOPPER];
}
