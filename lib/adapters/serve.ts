/**
 * `serve(handler)`: one way to start an HTTP server on Deno or Bun, with the
 * runtimes' streaming pitfalls handled (see `deno.ts` and `bun.ts`).
 *
 * @module
 */
import type { Handler } from "../types.ts";
import { currentRuntime } from "./runtime.ts";
import { bunServe } from "./bun.ts";
import { denoServe } from "./deno.ts";

/** Options for {@link serve}. */
export interface ServeOptions {
  /** Port to listen on; `0` picks a free one. Default `8000`. */
  port?: number;
  /** Interface to bind. Default `"127.0.0.1"`. */
  hostname?: string;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
  /** Called once listening. Default: nothing is printed. */
  onListen?: (address: { hostname: string; port: number }) => void;
}

/** A running server. */
export interface Server {
  /** The bound interface. */
  readonly hostname: string;
  /** The bound port (the real one when `0` was asked for). */
  readonly port: number;
  /** `http://hostname:port`, handy in tests and logs. */
  readonly url: string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting connections and resolves when the server has stopped. */
  shutdown(): Promise<void>;
}

/**
 * Serves `handler` with the current runtime's native server.
 *
 * @example
 * ```ts
 * import { serve } from "./serve.ts";
 * const server = serve(() => new Response("hi"), { port: 0 });
 * console.log(await (await fetch(server.url)).text()); // "hi"
 * await server.shutdown();
 * ```
 */
export function serve(handler: Handler, options: ServeOptions = {}): Server {
  switch (currentRuntime()) {
    case "deno":
      return denoServe(handler, options);
    case "bun":
      return bunServe(handler, options);
    default:
      throw new Error("serve() needs Deno or Bun; use your host's server");
  }
}
