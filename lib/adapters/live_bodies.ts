/**
 * The live bodies (server-sent events, `liveStream`) a server is sending,
 * so that a stopping server ends them instead of waiting for clients that
 * may never leave (an `EventSource` reconnects by itself).
 *
 * @module
 */
import { stopperOf } from "../http/body_kind.ts";

/** The live bodies one server is sending. */
export class LiveBodies {
  readonly #open = new Set<() => void>();

  /** Notes `response`'s body if it is live; returns the response. */
  track(response: Response): Response {
    const stopper = stopperOf(response);
    if (stopper) {
      this.#open.add(stopper.stop);
      stopper.closed.then(() => this.#open.delete(stopper.stop));
    }
    return response;
  }

  /** Ends every live body still open. */
  stopAll(): void {
    for (const stop of this.#open) stop();
    this.#open.clear();
  }
}
