/**
 * Server-sent events (the WHATWG `text/event-stream` format): a live stream
 * of events with `event`, `id`, `retry`, multi-line `data`, comments, and
 * heartbeats that keep idle connections (and the proxies on the way) open.
 *
 * Backpressure and disconnects work as in {@link liveStream}: `send` waits
 * while the client is slow and rejects once it is gone.
 *
 * @module
 */
import { copyHeaders } from "../adapters/header_copies.ts";
import { liveBody, type LiveWriter } from "./live.ts";
import { markStoppable } from "./body_kind.ts";
import { _markStreaming } from "./streaming.ts";

/** One event. Only `data` is needed for a browser to dispatch it. */
export interface ServerSentEvent {
  /**
   * The payload: strings are sent as is (each line its own `data:` line), anything else as JSON.
   *
   * @example
   * ```ts
   * import { formatEvent } from "./sse.ts";
   * formatEvent({ data: "hi" }); // "data: hi\n\n"
   * formatEvent({ data: { n: 1 } }); // 'data: {"n":1}\n\n'
   * ```
   */
  data?: unknown;
  /**
   * The event type (`addEventListener(type)`); default `"message"`. No newlines.
   *
   * @example
   * ```ts
   * import { formatEvent } from "./sse.ts";
   * formatEvent({ event: "tick", data: "1" }); // "event: tick\ndata: 1\n\n"
   * ```
   */
  event?: string;
  /**
   * The event id, sent back by a reconnecting browser as `Last-Event-ID`. No newlines or NUL.
   *
   * @example
   * ```ts
   * import { formatEvent } from "./sse.ts";
   * formatEvent({ id: 42, data: "x" }); // "id: 42\ndata: x\n\n"
   * ```
   */
  id?: string | number;
  /**
   * Milliseconds the browser should wait before reconnecting.
   *
   * @example
   * ```ts
   * import { formatEvent } from "./sse.ts";
   * formatEvent({ retry: 5000 }); // "retry: 5000\n\n"
   * ```
   */
  retry?: number;
}

/**
 * Thrown by {@link formatEvent} for fields the format cannot carry.
 *
 * @example
 * ```ts
 * import { formatEvent, InvalidEventError } from "./sse.ts";
 * try {
 *   formatEvent({ event: "a\nb", data: "x" });
 * } catch (error) {
 *   if (error instanceof InvalidEventError) console.log(error.field); // "event"
 * }
 * ```
 */
export class InvalidEventError extends TypeError {
  /** The field at fault: `"event"`, `"id"`, `"retry"` or `"data"`. */
  readonly field: string;
  /** Describes which field could not be sent. */
  constructor(field: string, reason: string) {
    super(`server-sent event ${field}: ${reason}`);
    this.name = "InvalidEventError";
    this.field = field;
  }
}

const NEWLINE = /\r\n|\r|\n/;

/**
 * Formats one event in the `text/event-stream` format, ending with the
 * blank line that dispatches it. Multi-line data becomes one `data:` line
 * per line (CRLF, CR and LF all count as line breaks).
 *
 * @throws {InvalidEventError} for an `event` or `id` with a line break (or
 * NUL in `id`), a negative or fractional `retry`, or data JSON cannot encode.
 *
 * @example
 * ```ts
 * import { formatEvent } from "./sse.ts";
 * formatEvent({ event: "update", id: 7, data: "line 1\nline 2" });
 * // "event: update\nid: 7\ndata: line 1\ndata: line 2\n\n"
 * ```
 */
export function formatEvent(event: ServerSentEvent): string {
  let text = "";
  if (event.event !== undefined) {
    if (/[\r\n]/.test(event.event)) {
      throw new InvalidEventError("event", "must not contain a line break");
    }
    text += `event: ${event.event}\n`;
  }
  if (event.id !== undefined) {
    const id = String(event.id);
    if (/[\r\n\0]/.test(id)) {
      throw new InvalidEventError("id", "must not contain a line break or NUL");
    }
    text += `id: ${id}\n`;
  }
  if (event.retry !== undefined) {
    if (!Number.isInteger(event.retry) || event.retry < 0) {
      throw new InvalidEventError("retry", "must be a non-negative integer");
    }
    text += `retry: ${event.retry}\n`;
  }
  if (event.data !== undefined) {
    const data = typeof event.data === "string"
      ? event.data
      : JSON.stringify(event.data);
    if (data === undefined) {
      throw new InvalidEventError("data", "JSON cannot encode it");
    }
    for (const line of data.split(NEWLINE)) text += `data: ${line}\n`;
  }
  return text + "\n";
}

/**
 * Formats a comment (ignored by browsers; useful as a heartbeat or for
 * debugging). Each line of `text` becomes its own `:` line.
 *
 * @example
 * ```ts
 * import { formatComment } from "./sse.ts";
 * formatComment("ping"); // ": ping\n\n"
 * ```
 */
export function formatComment(text = ""): string {
  return text.split(NEWLINE).map((line) => `: ${line}\n`).join("") + "\n";
}

/** What a {@link serverSentEvents} producer writes to. */
export interface EventWriter extends LiveWriter {
  /**
   * Sends an event (a string is sent as `data`). Waits and rejects like `write`.
   *
   * @example
   * ```ts
   * import { serverSentEvents } from "./sse.ts";
   * const handler = () =>
   *   serverSentEvents(async (events) => {
   *     await events.send("hello"); // data: hello
   *     await events.send({ event: "price", id: 1, data: { usd: 101.5 } });
   *   });
   * ```
   */
  send(event: ServerSentEvent | string): Promise<void>;
  /**
   * Sends a comment.
   *
   * @example
   * ```ts
   * import { serverSentEvents } from "./sse.ts";
   * const handler = () =>
   *   serverSentEvents(async (events) => {
   *     await events.comment("connected"); // ": connected", ignored by browsers
   *   });
   * ```
   */
  comment(text?: string): Promise<void>;
}

/** Options for {@link serverSentEvents}. */
export interface ServerSentEventsInit extends ResponseInit {
  /**
   * Milliseconds between heartbeat comments while the stream is open, or
   * `false` for none. Heartbeats keep proxies and load balancers (many cut
   * connections idle for 30–60 s) from closing a quiet stream, and are
   * skipped while the client is not keeping up. Default `15000`.
   *
   * @example
   * ```ts
   * import { serverSentEvents } from "./sse.ts";
   * const handler = () =>
   *   serverSentEvents(async (events) => {
   *     await events.send("ready");
   *   }, { heartbeat: 30_000 }); // or false behind no proxy
   * ```
   */
  heartbeat?: number | false;
  /**
   * A `retry` (ms) sent first, telling browsers how long to wait before reconnecting. Default: none.
   *
   * @example
   * ```ts
   * import { serverSentEvents } from "./sse.ts";
   * const handler = () =>
   *   serverSentEvents(async (events) => {
   *     await events.send("ready");
   *   }, { retry: 10_000 }); // browsers reconnect after 10 s
   * ```
   */
  retry?: number;
  /**
   * Bytes queued for the client before `send` waits. Default `65536`.
   *
   * @example
   * ```ts
   * import { serverSentEvents } from "./sse.ts";
   * const handler = () =>
   *   serverSentEvents(async (events) => {
   *     for (let i = 0; i < 100; i++) await events.send({ data: i }); // waits past 4 KiB queued
   *   }, { highWaterMark: 4096 });
   * ```
   */
  highWaterMark?: number;
}

/**
 * A `text/event-stream` response fed by `producer`. Sets `Content-Type`,
 * `Cache-Control: no-store` (a stream must not be cached) and
 * `X-Accel-Buffering: no` (so nginx does not hold events back) unless `init`
 * sets them. The producer starts at once; the stream ends when it returns,
 * and errors (cutting the connection) when it throws.
 *
 * @example
 * ```ts
 * import { serverSentEvents } from "./sse.ts";
 * const handler = (request: Request) =>
 *   serverSentEvents(async (events) => {
 *     const last = Number(request.headers.get("last-event-id") ?? 0);
 *     for (let id = last + 1; !events.signal.aborted; id++) {
 *       await events.send({ event: "tick", id, data: { id } });
 *       await new Promise((r) => setTimeout(r, 1000));
 *     }
 *   }, { heartbeat: 15_000 });
 * ```
 */
export function serverSentEvents(
  producer: (events: EventWriter) => void | Promise<void>,
  init: ServerSentEventsInit = {},
): Response {
  const { heartbeat = 15_000, retry, highWaterMark, ...responseInit } = init;
  const { body, out, fail, stop } = liveBody(highWaterMark);
  const events: EventWriter = {
    write: out.write,
    close: out.close,
    signal: out.signal,
    closed: out.closed,
    get desiredSize() {
      return out.desiredSize;
    },
    send: (event) =>
      out.write(
        formatEvent(typeof event === "string" ? { data: event } : event),
      ),
    comment: (text) => out.write(formatComment(text)),
  };
  if (heartbeat !== false) {
    const timer = setInterval(() => {
      // Never queue a heartbeat behind data the client has not read yet.
      if (out.desiredSize > 0) events.comment().catch(() => {});
    }, heartbeat);
    out.closed.then(() => clearInterval(timer));
  }
  const run = async () => {
    if (retry !== undefined) await events.send({ retry });
    await producer(events);
    out.close();
  };
  run().catch((error) => fail(error));
  const headers = copyHeaders(responseInit.headers);
  if (!headers.has("content-type")) {
    headers.set("content-type", "text/event-stream; charset=utf-8");
  }
  if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
  if (!headers.has("x-accel-buffering")) headers.set("x-accel-buffering", "no");
  return markStoppable(
    _markStreaming(new Response(body, { ...responseInit, headers })),
    { stop, closed: out.closed },
  );
}
