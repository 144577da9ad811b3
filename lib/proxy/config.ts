/**
 * The policy language, after Rack::Cache's VCL-style configuration: handlers
 * for the events `receive`, `hit`, `miss`, `fetch`, `store`, `deliver`,
 * `pass` and `error`, each answering with a transition. Handlers for one event
 * run last-registered first until one returns a transition; returning nothing
 * hands over to the next. The default policy is registered first, so it runs
 * last and always answers.
 *
 * @module
 */
import type { CacheContext } from "./context.ts";
import type { FieldNormalizers } from "./vary.ts";
import { isToken } from "../http/field_tokens.ts";

/** The points in a request's life where policy decides. */
export type CacheEvent =
  | "receive"
  | "hit"
  | "miss"
  | "fetch"
  | "store"
  | "deliver"
  | "pass"
  | "error";

/** What a handler can decide. */
export type TransitionName =
  | "pass"
  | "lookup"
  | "fetch"
  | "store"
  | "deliver"
  | "finish"
  | "error";

/** A decision, made with the context's methods (`ctx.lookup()`, …). */
export interface Transition {
  /**
   * Which transition.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", () => ({ name: "pass" })); // what ctx.pass() returns
   * ```
   */
  readonly name: TransitionName;
  /**
   * For `error`: the status of the response to send.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", (ctx) => ctx.error(503)); // { name: "error", status: 503 }
   * ```
   */
  readonly status?: number;
  /**
   * For `error`: its headers.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", (ctx) => ctx.error(429, { "retry-after": "60" }));
   * ```
   */
  readonly headers?: HeadersInit;
  /**
   * For `error`: its body.
   *
   * @example
   * ```ts
   * import { SharedCache } from "./shared_cache.ts";
   * const cache = new SharedCache({ origin: () => new Response("hi") });
   * cache.on("receive", (ctx) => ctx.error(403, { "content-type": "text/plain" }, "forbidden\n"));
   * ```
   */
  readonly body?: BodyInit | null;
}

/** The legal transitions out of each event. */
export const LEGAL_TRANSITIONS: Readonly<
  Record<CacheEvent, readonly TransitionName[]>
> = {
  receive: ["pass", "lookup", "error"],
  hit: ["deliver", "pass", "error"],
  miss: ["fetch", "pass", "error"],
  fetch: ["store", "deliver", "error"],
  store: ["deliver", "error"],
  deliver: ["finish", "error"],
  pass: ["deliver", "error"],
  error: ["finish"],
};

/** A handler for one event: a transition, or nothing to hand over. */
export type EventHandler = (
  ctx: CacheContext,
) => Transition | void | Promise<Transition | void>;

/** Something handlers can be registered on. */
export interface PolicyTarget {
  /**
   * Registers `handler` for `event`; it runs before those registered earlier.
   *
   * @example
   * ```ts
   * import type { PolicyModule } from "./config.ts";
   * const noStoreErrors: PolicyModule = (cache) => {
   *   cache.on("fetch", (ctx) => (ctx.response?.status ?? 0) >= 500 ? ctx.deliver() : undefined);
   * };
   * ```
   */
  on(event: CacheEvent, handler: EventHandler): this;
  /**
   * Normalizes the request field `field` (see {@link Policy.normalize}).
   *
   * @example
   * ```ts
   * import { Policy } from "./config.ts";
   * new Policy().normalize("x-device", (value) => /mobile/i.test(value) ? "mobile" : "desktop");
   * ```
   */
  normalize(field: string, normalizer: (value: string) => string): this;
}

/**
 * A reusable policy: a function that registers handlers.
 *
 * @example
 * ```ts
 * import type { PolicyModule } from "./config.ts";
 * const noAdmin: PolicyModule = (cache) => {
 *   cache.on("receive", (ctx) => {
 *     if (new URL(ctx.request.url).pathname.startsWith("/admin")) return ctx.pass();
 *   });
 * };
 * ```
 */
export type PolicyModule = (cache: PolicyTarget) => void;

/**
 * Thrown when a handler answers an event with a transition it does not allow.
 *
 * @example
 * ```ts
 * import { IllegalTransitionError } from "./config.ts";
 * const error = new IllegalTransitionError("hit", "store");
 * error.message; // 'illegal transition "store" from event "hit" (allowed: deliver, pass, error)'
 * ```
 */
export class IllegalTransitionError extends Error {
  /** The event being handled. */
  readonly event: CacheEvent;
  /** The transition that was returned. */
  readonly transition: string;
  /**
   * Makes the error; `returned`: what a handler returned that is no
   * transition at all (a string, say), to name it.
   */
  constructor(event: CacheEvent, transition: string, returned?: unknown) {
    const allowed = LEGAL_TRANSITIONS[event];
    super(
      returned === undefined
        ? `illegal transition ${JSON.stringify(transition)} from event ${
          JSON.stringify(event)
        } (allowed: ${allowed.join(", ")})`
        : `a ${JSON.stringify(event)} handler returned ${
          typeof returned === "string"
            ? JSON.stringify(returned)
            : typeof returned
        }, which is no transition: return one of ${
          allowed.map((name) => `ctx.${name}()`).join(", ")
        }, or nothing`,
    );
    this.name = "IllegalTransitionError";
    this.event = event;
    this.transition = transition;
  }
}

/** The transition, if `event` allows it; else an {@link IllegalTransitionError}. */
function legal(event: CacheEvent, transition: Transition): Transition {
  const name = (transition as Partial<Transition>).name;
  if (typeof name !== "string") {
    throw new IllegalTransitionError(event, String(name), transition);
  }
  if (!LEGAL_TRANSITIONS[event].includes(name)) {
    throw new IllegalTransitionError(event, name);
  }
  return transition;
}

/**
 * Handlers by event, and request field normalizers; runs handlers in the policy language's order.
 *
 * @example
 * ```ts
 * import { Policy } from "./config.ts";
 * const policy = new Policy()
 *   .on("receive", (ctx) => ctx.lookup())
 *   .normalize("accept-language", (value) => value.slice(0, 2));
 * ```
 */
export class Policy implements PolicyTarget {
  readonly #handlers = new Map<CacheEvent, EventHandler[]>();
  readonly #normalizers = new Map<string, (value: string) => string>();

  /**
   * The request field normalizers, by lower-cased field name.
   *
   * @example
   * ```ts
   * import { Policy } from "./config.ts";
   * const policy = new Policy().normalize("X-Device", () => "desktop");
   * policy.normalizers.get("x-device")?.("iPhone"); // "desktop"
   * ```
   */
  get normalizers(): FieldNormalizers {
    return this.#normalizers;
  }

  /**
   * Has the cache compare (for `Vary`) and forward `normalizer(value)` in
   * place of a request's `field` value: what a `receive` handler replacing
   * the request would do, without building a request on every hit. One
   * registered later for the same field runs on the earlier one's output.
   *
   * @example
   * ```ts
   * import { Policy } from "./config.ts";
   * const policy = new Policy()
   *   .normalize("accept-language", (value) => value.slice(0, 2).toLowerCase());
   * policy.normalizers.get("accept-language")?.("en-GB,en;q=0.8"); // "en"
   * ```
   */
  normalize(field: string, normalizer: (value: string) => string): this {
    const name = field.toLowerCase();
    if (!isToken(name)) {
      throw new TypeError(`not a field name: ${JSON.stringify(field)}`);
    }
    const earlier = this.#normalizers.get(name);
    this.#normalizers.set(
      name,
      earlier ? (value) => normalizer(earlier(value)) : normalizer,
    );
    return this;
  }

  /**
   * Registers `handler` for `event`.
   *
   * @example
   * ```ts
   * import { Policy } from "./config.ts";
   * const policy = new Policy();
   * policy.on("receive", (ctx) => ctx.lookup());
   * policy.on("receive", (ctx) => ctx.request.method === "POST" ? ctx.pass() : undefined); // runs first
   * ```
   */
  on(event: CacheEvent, handler: EventHandler): this {
    if (!(event in LEGAL_TRANSITIONS)) {
      throw new TypeError(
        `unknown event ${JSON.stringify(event)} (events: ${
          Object.keys(LEGAL_TRANSITIONS).join(", ")
        })`,
      );
    }
    const list = this.#handlers.get(event) ?? [];
    list.push(handler);
    this.#handlers.set(event, list);
    return this;
  }

  /**
   * Runs `event`'s handlers, newest first, until one returns a legal
   * transition; synchronously while the handlers answer synchronously.
   *
   * @example
   * ```ts
   * import { Policy } from "./config.ts";
   * import { CacheContext } from "./context.ts";
   * import { heapMetaStore } from "./metastore.ts";
   * const policy = new Policy().on("receive", (ctx) => ctx.lookup());
   * const stores = { metastore: heapMetaStore(), entitystore: { cache: undefined } };
   * policy.run("receive", new CacheContext(new Request("http://localhost/"), stores, (r) => r.url, console.log)); // { name: "lookup" }
   * ```
   */
  run(event: CacheEvent, ctx: CacheContext): Transition | Promise<Transition> {
    const handlers = this.#handlers.get(event) ?? [];
    for (let i = handlers.length - 1; i >= 0; i--) {
      const answer = handlers[i](ctx);
      if (answer instanceof Promise) {
        return this.#runAsync(event, ctx, handlers, i, answer);
      }
      if (answer) return legal(event, answer);
    }
    throw new Error(`no handler answered event ${JSON.stringify(event)}`);
  }

  async #runAsync(
    event: CacheEvent,
    ctx: CacheContext,
    handlers: EventHandler[],
    from: number,
    pending: Promise<Transition | void>,
  ): Promise<Transition> {
    const first = await pending;
    if (first) return legal(event, first);
    for (let i = from - 1; i >= 0; i--) {
      const answer = await handlers[i](ctx);
      if (answer) return legal(event, answer);
    }
    throw new Error(`no handler answered event ${JSON.stringify(event)}`);
  }
}
