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
  /**
   * Port to listen on; `0` picks a free one. Default `8000`.
   *
   * @example
   * ```ts
   * import { serve } from "./serve.ts";
   * const start = () => serve(() => new Response("hi"), { port: 8080 });
   * const startAnywhere = () => serve(() => new Response("hi"), { port: 0 }); // a free port
   * ```
   */
  port?: number;
  /**
   * Interface to bind. Default `"127.0.0.1"`.
   *
   * @example
   * ```ts
   * import { serve } from "./serve.ts";
   * // every interface, not only loopback
   * const start = () => serve(() => new Response("hi"), { hostname: "0.0.0.0", port: 8080 });
   * ```
   */
  hostname?: string;
  /**
   * Aborting it shuts the server down.
   *
   * @example
   * ```ts
   * import { serve } from "./serve.ts";
   * const stop = new AbortController();
   * const start = () => serve(() => new Response("hi"), { signal: stop.signal });
   * const stopServer = () => stop.abort(); // shuts the server down
   * ```
   */
  signal?: AbortSignal;
  /**
   * Called once listening. Default: nothing is printed.
   *
   * @example
   * ```ts
   * import { serve } from "./serve.ts";
   * const start = () =>
   *   serve(() => new Response("hi"), {
   *     onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
   *   });
   * ```
   */
  onListen?: (address: { hostname: string; port: number }) => void;
}

/** A running server. */
export interface Server {
  /**
   * The bound interface.
   *
   * @example
   * ```ts
   * import type { Server } from "./serve.ts";
   * const where = (server: Server) => server.hostname; // "127.0.0.1" by default
   * ```
   */
  readonly hostname: string;
  /**
   * The bound port (the real one when `0` was asked for).
   *
   * @example
   * ```ts
   * import type { Server } from "./serve.ts";
   * const port = (server: Server) => server.port; // the one bound, for { port: 0 } too
   * ```
   */
  readonly port: number;
  /**
   * `http://hostname:port`, handy in tests and logs.
   *
   * @example
   * ```ts
   * import type { Server } from "./serve.ts";
   * const announce = (server: Server) => console.log(`serving at ${server.url}`); // http://127.0.0.1:8000
   * ```
   */
  readonly url: string;
  /**
   * Resolves when the server has stopped.
   *
   * @example
   * ```ts
   * import type { Server } from "./serve.ts";
   * const watch = (server: Server) => server.finished.then(() => console.log("stopped"));
   * ```
   */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections and resolves when the server has stopped.
   *
   * @example
   * ```ts
   * import type { Server } from "./serve.ts";
   * const stop = (server: Server) => server.shutdown(); // answers in flight finish first
   * ```
   */
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
