/**
 * `Http1Client`: an HTTP/1.1 client for proxies. It sends the request's own
 * fields and nothing else, returns the origin's bytes exactly as sent (no
 * decoding), keeps connections alive per origin, and streams both bodies.
 *
 * Its response bodies are byte streams that read the socket straight into
 * the reader's buffer: a consumer with a BYOB reader and one reused buffer
 * (the shared cache's pump) makes no garbage per byte. With `node:http` on
 * Deno, a 1 GiB body left ~130 MiB of buffers for the collector to find.
 *
 * @module
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { denoConnect } from "./deno.ts";
import { currentRuntime } from "./runtime.ts";
import { systemClock } from "../clock.ts";
import { Deadlines } from "../deadlines.ts";
import { markBodyKind } from "../http/body_kind.ts";
import { fieldTokens, trimOws } from "../http/field_tokens.ts";

/**
 * A byte connection: reads into the caller's buffer, writes, closes.
 *
 * @example
 * ```ts
 * import { type ByteConn, Http1Client } from "./http1_client.ts";
 * const answer = new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
 * let sent = false;
 * const conn: ByteConn = {
 *   read: (into) => Promise.resolve(sent ? null : (sent = true, into.set(answer), answer.length)),
 *   write: () => Promise.resolve(),
 *   close: () => {},
 * };
 * const client = new Http1Client({ connect: () => Promise.resolve(conn) });
 * await (await client.fetch(new Request("http://origin.test/"))).text(); // "hi"
 * ```
 */
export interface ByteConn {
  /**
   * Reads into `into`; resolves to the bytes read, or `null` at the end.
   *
   * @example
   * ```ts
   * import type { ByteConn } from "./http1_client.ts";
   * const drain = async (conn: ByteConn) => {
   *   const buffer = new Uint8Array(16_384);
   *   for (let n; (n = await conn.read(buffer)) !== null;) console.log(`${n} bytes`);
   * };
   * ```
   */
  read(into: Uint8Array): Promise<number | null>;
  /**
   * Writes all of `bytes`.
   *
   * @example
   * ```ts
   * import type { ByteConn } from "./http1_client.ts";
   * const ask = (conn: ByteConn) =>
   *   conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: example.test\r\n\r\n"));
   * ```
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Closes the connection; pending reads end or fail.
   *
   * @example
   * ```ts
   * import type { ByteConn } from "./http1_client.ts";
   * const hangUp = (conn: ByteConn) => conn.close(); // a pending read ends or fails
   * ```
   */
  close(): void;
  /**
   * Whether the connection keeps the process alive (idle ones do not).
   *
   * @example
   * ```ts
   * import type { ByteConn } from "./http1_client.ts";
   * const idle = (conn: ByteConn) => conn.ref?.(false); // no longer keeps the process alive
   * ```
   */
  ref?(active: boolean): void;
}

/**
 * Opens a {@link ByteConn} to `host:port`, over TLS when `tls`.
 *
 * @example
 * ```ts
 * import type { Connect } from "./http1_client.ts";
 * import { nodeConnect } from "./http1_client.ts";
 * const logged: Connect = (host, port, tls) => {
 *   console.log(`connecting to ${host}:${port}${tls ? " over TLS" : ""}`);
 *   return nodeConnect(host, port, tls);
 * };
 * ```
 */
export type Connect = (
  host: string,
  port: number,
  tls: boolean,
) => Promise<ByteConn>;

/**
 * A response the client cannot take as HTTP/1.1: a malformed status line or
 * field, a head over the size limit, a bad `Content-Length` or chunk size.
 * The proxy answers `502` for it.
 *
 * @example
 * ```ts
 * import { Http1ProtocolError } from "./http1_client.ts";
 * const error = new Http1ProtocolError("malformed status line");
 * ```
 */
export class Http1ProtocolError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "Http1ProtocolError";
  }
}

/** Unread socket data above which a `node:net` socket is paused. */
const NODE_QUEUE_LIMIT = 256 * 1024;

/**
 * A `node:net` (or `node:tls`) connection as a {@link ByteConn}: works on
 * every runtime; socket data is queued (up to 256 KiB, then the socket is
 * paused) and copied into each read's buffer.
 *
 * @example
 * ```ts
 * import { Http1Client, nodeConnect } from "./http1_client.ts";
 * const client = new Http1Client({ connect: nodeConnect });
 * ```
 */
export function nodeConnect(
  host: string,
  port: number,
  tls: boolean,
): Promise<ByteConn> {
  return new Promise((resolve, reject) => {
    const socket: Socket = tls
      ? tlsConnect({ host, port, servername: host })
      : netConnect({ host, port });
    socket.setNoDelay(true);
    const queue: Uint8Array[] = [];
    let queued = 0;
    let ended = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const waiting = wake;
      wake = undefined;
      waiting?.();
    };
    socket.on("data", (data: Uint8Array) => {
      queue.push(data);
      queued += data.byteLength;
      if (queued > NODE_QUEUE_LIMIT) socket.pause();
      notify();
    });
    socket.on("end", () => {
      ended = true;
      notify();
    });
    socket.on("close", () => {
      ended = true;
      notify();
    });
    socket.on("error", (error) => {
      failure ??= error;
      notify();
      reject(error);
    });
    socket.once(tls ? "secureConnect" : "connect", () =>
      resolve({
        async read(into) {
          while (queue.length === 0) {
            if (failure) throw failure;
            if (ended) return null;
            await new Promise<void>((woken) => (wake = woken));
          }
          let done = 0;
          while (queue.length > 0 && done < into.byteLength) {
            const head = queue[0];
            const take = Math.min(head.byteLength, into.byteLength - done);
            into.set(head.subarray(0, take), done);
            done += take;
            if (take === head.byteLength) queue.shift();
            else queue[0] = head.subarray(take);
          }
          queued -= done;
          if (queued <= NODE_QUEUE_LIMIT && socket.isPaused()) socket.resume();
          return done;
        },
        write(bytes) {
          return new Promise<void>((done, fail) => {
            if (failure) return fail(failure);
            socket.write(bytes, (error) => (error ? fail(error) : done()));
          });
        },
        close() {
          socket.destroy();
        },
        ref(active) {
          if (active) socket.ref();
          else socket.unref();
        },
      }));
  });
}

/** The fastest {@link Connect} for this runtime: `Deno.connect` on Deno. */
function defaultConnect(): Connect {
  return currentRuntime() === "deno" ? denoConnect : nodeConnect;
}

/** Options of {@link Http1Client}. */
export interface Http1ClientOptions {
  /**
   * Opens connections. Default: `Deno.connect` on Deno (reads land straight
   * in the reader's buffer), `node:net` elsewhere.
   *
   * @example
   * ```ts
   * import { Http1Client, nodeConnect } from "./http1_client.ts";
   * const client = new Http1Client({ connect: nodeConnect }); // node:net, on Deno too
   * ```
   */
  connect?: Connect;
  /**
   * Idle connections kept per origin (each for `idleTimeout`). Default 256,
   * as Node's `http.Agent` keeps: past it, a connection freed when more are
   * idle is closed, and the next burst opens new ones (50 requests at a time
   * through a client keeping 32 opened a connection for about one in six).
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client({ maxIdlePerOrigin: 32 });
   * ```
   */
  maxIdlePerOrigin?: number;
  /**
   * How long an idle connection is kept, in ms. Default 4000, under the
   * 5 s keep-alive of common servers, so the client rarely reuses one the
   * server is closing.
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client({ idleTimeout: 2000 }); // for an origin keeping 3 s
   * ```
   */
  idleTimeout?: number;
  /**
   * The largest response head (status line and fields) taken. Default 64 KiB.
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client({ maxHeadBytes: 16 * 1024 }); // larger heads: 502
   * ```
   */
  maxHeadBytes?: number;
}

const CRLF = new Uint8Array([13, 10]);
const LAST_CHUNK = new Uint8Array([48, 13, 10, 13, 10]); // "0\r\n\r\n"
const NO_BODY_STATUS = new Set([204, 304]);
/** Methods whose request is sent again on a fresh connection when a pooled one was closed under it. */
const RETRYABLE = new Set(["GET", "HEAD", "OPTIONS", "DELETE", "PUT"]);
/** Request methods that mean to carry content, so an empty one says `Content-Length: 0`. */
const CONTENT_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** One connection with its read buffer, which outlives each exchange. */
class Connection {
  readonly conn: ByteConn;
  readonly origin: string;
  /** Bytes read but not yet used are `buffer[start, end)`. */
  buffer = new Uint8Array(16 * 1024);
  start = 0;
  end = 0;
  /** Response heads read on it: a failure before the next one may mean it was stale. */
  answers = 0;
  /** Ends its wait in the pool (it is closed when the wait runs out). */
  stopIdling: (() => void) | undefined;
  closed = false;
  /** A read started in the pool; the next read takes its bytes. */
  #pendingFill: Promise<boolean> | undefined;

  constructor(conn: ByteConn, origin: string) {
    this.conn = conn;
    this.origin = origin;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopIdling?.();
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /**
   * Reads while the connection waits in the pool, so that bytes (or the end)
   * arriving before the next request is sent are seen as what they are:
   * left over from the last answer, not the next one. `stray` runs if any
   * come while `idle()` is still true.
   */
  watchIdle(idle: () => boolean, stray: () => void): void {
    this.start = this.end = 0;
    const read = this.fill(0);
    this.#pendingFill = read;
    read.then(() => idle() && stray(), () => idle() && stray());
  }

  /** Reads more into the buffer; false at the end of the connection. */
  async fill(limit: number): Promise<boolean> {
    const pending = this.#pendingFill;
    if (pending) {
      this.#pendingFill = undefined;
      return await pending;
    }
    if (this.start > 0 && this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buffer.byteLength) {
      if (this.start > 0) {
        this.buffer.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else if (this.buffer.byteLength < limit) {
        const grown = new Uint8Array(
          Math.min(limit, this.buffer.byteLength * 2),
        );
        grown.set(this.buffer.subarray(0, this.end));
        this.buffer = grown;
      } else {
        throw new Http1ProtocolError(`response head over ${limit} bytes`);
      }
    }
    const read = await this.conn.read(this.buffer.subarray(this.end));
    if (read === null) return false;
    this.end += read;
    return true;
  }

  /**
   * Reads into `into`, at most `max` bytes: buffered bytes first, then
   * straight from the connection. 0 at the end of the connection.
   */
  async readInto(into: Uint8Array, max: number): Promise<number> {
    const want = Math.min(into.byteLength, max);
    if (this.start === this.end && this.#pendingFill && !(await this.fill(0))) {
      return 0;
    }
    if (this.start < this.end) {
      const take = Math.min(want, this.end - this.start);
      into.set(this.buffer.subarray(this.start, this.start + take));
      this.start += take;
      return take;
    }
    return (await this.conn.read(into.subarray(0, want))) ?? 0;
  }

  /**
   * The next line (without CR LF) if the buffer holds all of it, else `null`.
   * `from`: where to look for its end (bytes before it were scanned already).
   */
  #bufferedLine(limit: number, from = this.start): string | null {
    const at = this.buffer.subarray(from, this.end).indexOf(10);
    if (at < 0) {
      if (this.end - this.start >= limit) {
        throw new Http1ProtocolError(`line over ${limit} bytes`);
      }
      return null;
    }
    const lf = from + at;
    const text = latin1(
      this.buffer.subarray(
        this.start,
        lf > this.start && this.buffer[lf - 1] === 13 ? lf - 1 : lf,
      ),
    );
    this.start = lf + 1;
    return text;
  }

  /**
   * The next line (without CR LF), or `undefined` at the end of the
   * connection: at once when the buffer holds all of it (most lines of a
   * head come in one read), else once more has been read.
   */
  line(limit: number): string | Promise<string | undefined> {
    return this.#bufferedLine(limit) ?? this.#lineAfterReads(limit);
  }

  async #lineAfterReads(limit: number): Promise<string | undefined> {
    // Bytes already scanned are not scanned again after each read.
    let scanned = this.end;
    for (;;) {
      const offset = this.start;
      if (!(await this.fill(limit))) return undefined;
      scanned -= offset - this.start; // the buffer may have moved
      const line = this.#bufferedLine(limit, scanned);
      if (line !== null) return line;
      scanned = this.end;
    }
  }
}

/** Bytes as a string of the same char codes (field values are bytes). */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.byteLength; i += 8192) {
    // apply, not spread: six times faster on a typed array.
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(i, i + 8192) as unknown as number[],
    );
  }
  return text;
}

const ENCODER = new TextEncoder();

/** A string of char codes up to 255 as bytes. */
function bytesOf(text: string): Uint8Array {
  // deno-lint-ignore no-control-regex
  if (!/[^\x00-\x7f]/.test(text)) return ENCODER.encode(text);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
/** A reason phrase's characters (RFC 9112 §4): tab, space, visible, obs-text. */
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

interface Head {
  minor: number;
  status: number;
  statusText: string;
  headers: Headers;
}

/** Reads one response head; interim (1xx) ones go to `onInterim`. */
async function readHead(
  connection: Connection,
  limit: number,
  onInterim?: (status: number, headers: Headers) => void,
): Promise<Head | undefined> {
  for (;;) {
    let line = await connection.line(limit);
    // A stray empty line before the status line is tolerated (RFC 9112 §2.2).
    while (line === "") line = await connection.line(limit);
    if (line === undefined) return undefined;
    const status = STATUS_LINE.exec(line);
    if (!status) {
      throw new Http1ProtocolError(
        `malformed status line: ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    let size = line.length;
    let previous: [string, string] | undefined;
    const fields: [string, string][] = [];
    for (;;) {
      const field = await connection.line(limit);
      if (field === undefined) {
        throw new Http1ProtocolError("connection closed inside the head");
      }
      size += field.length + 2;
      if (size > limit) {
        throw new Http1ProtocolError(`response head over ${limit} bytes`);
      }
      if (field === "") break;
      if (field[0] === " " || field[0] === "\t") {
        // obs-fold: replaced by a space (RFC 9112 §5.2).
        if (!previous) throw new Http1ProtocolError("head starts with a fold");
        previous[1] += " " + trimOws(field);
        continue;
      }
      const colon = field.indexOf(":");
      const name = colon > 0 ? field.slice(0, colon) : "";
      if (!TOKEN.test(name)) {
        throw new Http1ProtocolError(
          `malformed field line: ${JSON.stringify(field.slice(0, 80))}`,
        );
      }
      previous = [name, trimOws(field.slice(colon + 1))];
      fields.push(previous);
    }
    const code = Number(status[2]);
    // What a Response cannot carry is the origin's error, not ours.
    if (code < 100 || code > 599) {
      throw new Http1ProtocolError(`status out of range: ${status[2]}`);
    }
    if (!REASON.test(status[3] ?? "")) {
      throw new Http1ProtocolError("control character in the reason phrase");
    }
    if (code === 101) {
      throw new Http1ProtocolError("101 Switching Protocols is not supported");
    }
    if (code < 200) {
      // Interim answers have no body: the final response follows.
      if (onInterim) passInterim(code, fields, onInterim);
      continue;
    }
    let headers: Headers;
    try {
      headers = new Headers(fields);
    } catch (error) {
      throw new Http1ProtocolError(`malformed field value: ${error}`);
    }
    return {
      minor: Number(status[1]),
      status: code,
      statusText: status[3] ?? "",
      headers,
    };
  }
}

/** Hands an interim answer on; a malformed one is dropped, as the final one may be fine. */
function passInterim(
  code: number,
  fields: [string, string][],
  onInterim: (status: number, headers: Headers) => void,
): void {
  let headers: Headers;
  try {
    headers = new Headers(fields);
  } catch {
    return;
  }
  onInterim(code, headers);
}

/** The body's framing (RFC 9112 §6.3). */
type Framing =
  | { kind: "length"; length: number }
  /** `last`: the message also had a Content-Length, so the connection ends with it. */
  | { kind: "chunked"; last: boolean }
  | { kind: "close" };

function framingOf(head: Head, method: string): Framing {
  if (method === "HEAD" || NO_BODY_STATUS.has(head.status)) {
    return { kind: "length", length: 0 };
  }
  const coding = head.headers.get("transfer-encoding");
  if (coding !== null) {
    // RFC 9112 §6.1: in HTTP/1.0 the framing is faulty.
    if (head.minor === 0) {
      throw new Http1ProtocolError("HTTP/1.0 response with Transfer-Encoding");
    }
    // It overrides Content-Length, which is dropped before forwarding; a
    // message with both may be an attack, so it is the connection's last
    // (RFC 9112 §6.3).
    const both = head.headers.has("content-length");
    head.headers.delete("content-length");
    const codings = fieldTokens(coding);
    // Transfer-Encoding is dropped before forwarding, so only bytes whose
    // codings are all undone here may go on: other codings (gzip, a second
    // chunked, RFC 9112 §7) would reach clients as if they were the content.
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw new Http1ProtocolError(
        `unsupported Transfer-Encoding: ${JSON.stringify(coding)}`,
      );
    }
    return { kind: "chunked", last: both };
  }
  const length = head.headers.get("content-length");
  if (length === null) return { kind: "close" };
  const values = new Set(fieldTokens(length));
  const [only] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only)) {
    throw new Http1ProtocolError(
      `bad Content-Length: ${JSON.stringify(length)}`,
    );
  }
  return { kind: "length", length: Number(only) };
}

/**
 * An HTTP/1.1 client that sends exactly the request's fields and returns the
 * origin's bytes exactly as sent (see the module doc). Redirects are
 * returned, not followed; 1xx answers go to the request's `onInterim`, if
 * it has one, else are skipped; a GET that fails on a
 * pooled connection the origin had closed is sent again on a fresh one.
 *
 * @example
 * ```ts
 * import { Http1Client } from "./http1_client.ts";
 * const client = new Http1Client();
 * const get = (path: string) => client.fetch(new Request(`http://127.0.0.1:8080${path}`));
 * // await get("/"): the origin's status, fields and bytes, exactly as sent
 * ```
 */
export class Http1Client {
  readonly #connect: Connect;
  readonly #maxIdle: number;
  /** Idle connections' waits in the pool, on one timer. */
  readonly #idleDeadlines: Deadlines;
  readonly #maxHead: number;
  readonly #idle = new Map<string, Connection[]>();

  /**
   * Makes a client; connections open on first use.
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client({ maxIdlePerOrigin: 64, idleTimeout: 4000 });
   * ```
   */
  constructor(options: Http1ClientOptions = {}) {
    this.#connect = options.connect ?? defaultConnect();
    this.#maxIdle = options.maxIdlePerOrigin ?? 256;
    this.#idleDeadlines = new Deadlines(
      systemClock,
      options.idleTimeout ?? 4000,
    );
    this.#maxHead = options.maxHeadBytes ?? 64 * 1024;
  }

  /**
   * Idle pooled connections, over all origins.
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * new Http1Client().idleConnections; // 0: none opened yet
   * ```
   */
  get idleConnections(): number {
    let count = 0;
    for (const list of this.#idle.values()) count += list.length;
    return count;
  }

  /**
   * Closes the idle connections; later requests open new ones.
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client();
   * client.close(); // idle connections closed; the client still works
   * ```
   */
  close(): void {
    for (const list of this.#idle.values()) {
      for (const connection of list) connection.close();
    }
    this.#idle.clear();
  }

  /**
   * Sends `request`; resolves once the response head arrives, with its body
   * streamed from the connection.
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client();
   * const get = (url: string) => client.fetch(new Request(url));
   * // await get("http://127.0.0.1:8080/"): resolves at the head, the body streams
   * ```
   */
  fetch(request: Request): Promise<Response> {
    return this.send(request.url, request);
  }

  /**
   * Sends a request to `target` made of `message`'s method, fields, body and
   * signal, as {@link fetch} sends a `Request` with them: for a proxy
   * forwarding a request it holds the parts of, whose method and fields a
   * `Request` already checked, without making another `Request` (on Deno,
   * ~9 µs, and ~8 more for the signal it makes to follow the given one).
   *
   * @example
   * ```ts
   * import { Http1Client } from "./http1_client.ts";
   * const client = new Http1Client();
   * const get = (url: string) =>
   *   client.send(url, {
   *     method: "GET",
   *     headers: new Headers({ accept: "text/html" }),
   *     body: null,
   *     signal: new AbortController().signal,
   *   }); // get("http://127.0.0.1:8080/")
   * ```
   */
  async send(target: string, request: OutgoingMessage): Promise<Response> {
    // What `new Request(target, request)` would refuse.
    if (request.body && (request.bodyUsed || request.body.locked)) {
      throw new TypeError("the request body was already read");
    }
    const url = new URL(target);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`unsupported protocol: ${url.protocol}`);
    }
    const signal = request.signal;
    signal.throwIfAborted();
    const tls = url.protocol === "https:";
    const port = Number(url.port || (tls ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const origin = `${url.protocol}//${host}:${port}`;
    const body = await requestBody(request);
    const head = this.#requestHead(request, url, body);
    // A body read to its end before sending and found empty can be sent
    // again (Deno's server gives a DELETE with none an empty stream).
    const retryable = RETRYABLE.has(request.method) &&
      (body === undefined ||
        (!body.chunked && body.length === undefined && !body.first?.length));
    for (;;) {
      const pooled = this.#take(origin);
      const connection = pooled ??
        new Connection(await this.#connect(host, port, tls), origin);
      const answers = connection.answers;
      const onAbort = () => connection.close();
      signal.addEventListener("abort", onAbort, { once: true });
      // An abort while connecting fired before anyone listened.
      if (signal.aborted) onAbort();
      try {
        const response = await this.#exchange(
          connection,
          request,
          head,
          body,
          () => signal.removeEventListener("abort", onAbort),
        );
        if (response) return response;
        // The connection ended before any answer.
        signal.removeEventListener("abort", onAbort);
        connection.close();
        if (!(pooled && retryable)) {
          throw new Http1ProtocolError("connection closed before a response");
        }
      } catch (error) {
        signal.removeEventListener("abort", onAbort);
        connection.close();
        if (signal.aborted) throw signal.reason;
        const stale = pooled && retryable && connection.answers === answers &&
          !(error instanceof Http1ProtocolError);
        if (!stale) throw error;
      }
    }
  }

  #requestHead(
    request: OutgoingMessage,
    url: URL,
    body: RequestBody | undefined,
  ): Uint8Array {
    let text = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\n`;
    const headers = request.headers;
    if (!headers.has("host")) text += `host: ${url.host}\r\n`;
    // forEach: linear on every runtime (see header_copies.ts).
    headers.forEach((value, name) => {
      // The client frames the body itself, from what it sends: a length
      // that disagreed with the bytes would desynchronise the connection.
      if (name !== "transfer-encoding" && name !== "content-length") {
        text += `${name}: ${value}\r\n`;
      }
    });
    if (body?.chunked) text += "transfer-encoding: chunked\r\n";
    else if (body?.length !== undefined) {
      text += `content-length: ${body.length}\r\n`;
    } else if (body || CONTENT_METHODS.has(request.method)) {
      text += `content-length: ${body?.first?.byteLength ?? 0}\r\n`;
    }
    return bytesOf(text + "\r\n");
  }

  /** One request and the head of its response; `undefined` if the connection ended first. */
  async #exchange(
    connection: Connection,
    request: OutgoingMessage,
    head: Uint8Array,
    body: RequestBody | undefined,
    settled: () => void,
  ): Promise<Response | undefined> {
    const conn = connection.conn;
    await conn.write(head);
    // The request body goes out while the response may already come back
    // (an early 413, say); the connection is reused only if both finished.
    let sending: Promise<void> | undefined;
    let sendFailure: unknown;
    if (body) {
      sending = (async () => {
        const write = async (chunk: Uint8Array) => {
          if (chunk.byteLength === 0) return;
          if (body.chunked) {
            await conn.write(bytesOf(`${chunk.byteLength.toString(16)}\r\n`));
            await conn.write(chunk);
            await conn.write(CRLF);
          } else await conn.write(chunk);
        };
        // A declared length is held to: never more bytes, nor fewer.
        let left = body.length ?? Infinity;
        const short = () =>
          new Http1ProtocolError(
            `request body does not match its content-length: ${body.length}`,
          );
        if (body.first) await write(body.first);
        if (body.pending) {
          for (let next = await body.pending; !next.done;) {
            left -= next.value.byteLength;
            if (left < 0) throw short();
            await write(next.value);
            next = await body.reader.read();
          }
        }
        if (left !== Infinity && left > 0) throw short();
        if (body.chunked) await conn.write(LAST_CHUNK);
      })();
      // Seen through the head read (the connection then fails) or below.
      sending.catch((error) => {
        sendFailure = error;
        connection.close();
      });
    }
    let answer: Head | undefined;
    try {
      answer = await readHead(connection, this.#maxHead, request.onInterim);
    } catch (error) {
      await Promise.resolve(); // lets a failed send record its error first
      throw sendFailure ?? error;
    }
    if (!answer) {
      await sending;
      return undefined;
    }
    connection.answers++;
    const framing = framingOf(answer, request.method);
    const options = fieldTokens(answer.headers.get("connection"));
    const keepAlive = framing.kind !== "close" &&
      !(framing.kind === "chunked" && framing.last) &&
      (answer.minor === 1
        ? !options.includes("close")
        : options.includes("keep-alive")) &&
      !fieldTokens(request.headers.get("connection")).includes("close");
    const finish = async (reusable: boolean) => {
      settled();
      if (reusable && keepAlive && connection.start === connection.end) {
        const sent = await (sending ?? Promise.resolve()).then(
          () => true,
          () => false,
        );
        if (sent) return this.#release(connection);
      }
      connection.close();
    };
    const init = {
      status: answer.status,
      statusText: answer.statusText,
      headers: answer.headers,
    };
    if (framing.kind === "length" && framing.length === 0) {
      void finish(true);
      return new Response(null, init);
    }
    if (answer.status === 205) {
      // No content (RFC 9110 §15.3.6), yet framed as any answer (RFC 9112
      // §6.3): the framing is read here, and content, which a 205 must not
      // have, ends the connection. A Response with 205 takes no body.
      // Framed by close, the connection can never be reused: it is closed
      // now, not held until an origin that keeps it open lets it go.
      if (framing.kind === "close") void finish(false);
      else void readEmpty(this.#body(connection, framing, finish));
      return new Response(null, init);
    }
    if (
      framing.kind === "length" &&
      framing.length <= connection.end - connection.start
    ) {
      // The whole body came with the head (at most the read buffer): answer
      // with its bytes, which servers send fastest, and free the connection
      // now instead of driving a stream to its end.
      const bytes = connection.buffer.slice(
        connection.start,
        connection.start + framing.length,
      );
      connection.start += framing.length;
      void finish(true);
      return markBodyKind(new Response(bytes, init), "in-memory");
    }
    return new Response(this.#body(connection, framing, finish), init);
  }

  #body(
    connection: Connection,
    framing: Framing,
    finish: (reusable: boolean) => Promise<void>,
  ): ReadableStream<Uint8Array> {
    // Bytes left in the whole body (length) or in the current chunk.
    let left = framing.kind === "length" ? framing.length : 0;
    let ended = false;
    const limit = this.#maxHead;
    /** The next chunk's size, past its line; 0 ends the body (after the trailers). */
    const nextChunk = async (first: boolean): Promise<number> => {
      if (!first && (await connection.line(limit)) !== "") {
        throw new Http1ProtocolError("chunk data not followed by CR LF");
      }
      const line = await connection.line(limit);
      if (line === undefined) throw truncated();
      const size = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/.exec(line);
      if (!size) {
        throw new Http1ProtocolError(
          `bad chunk size line: ${JSON.stringify(line.slice(0, 40))}`,
        );
      }
      const bytes = parseInt(size[1], 16);
      if (bytes === 0) {
        // Trailer fields are read and dropped.
        for (;;) {
          const trailer = await connection.line(limit);
          if (trailer === undefined) throw truncated();
          if (trailer === "") break;
        }
      }
      return bytes;
    };
    let firstChunk = true;
    const read = async (into: Uint8Array): Promise<number> => {
      if (framing.kind === "chunked" && left === 0) {
        left = await nextChunk(firstChunk);
        firstChunk = false;
        if (left === 0) return 0;
      }
      if (framing.kind !== "close" && left === 0) return 0;
      const max = framing.kind === "close" ? into.byteLength : left;
      const got = await connection.readInto(into, max);
      if (got === 0) {
        // Closed here (the request was aborted) is not the origin's end.
        if (framing.kind === "close" && !connection.closed) return 0;
        throw truncated();
      }
      left -= framing.kind === "close" ? 0 : got;
      return got;
    };
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 64 * 1024,
      async pull(controller) {
        const request = controller.byobRequest!;
        const view = request.view!;
        let got: number;
        try {
          got = await read(
            new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
          );
        } catch (error) {
          ended = true;
          await finish(false);
          throw error;
        }
        if (got > 0) {
          request.respond(got);
          if (framing.kind !== "length" || left > 0) return;
        }
        ended = true;
        await finish(framing.kind !== "close");
        controller.close();
        // A BYOB read already waiting is answered only by respond(0).
        controller.byobRequest?.respond(0);
      },
      async cancel() {
        if (!ended) {
          ended = true;
          await finish(false);
        }
      },
    });
  }

  #take(origin: string): Connection | undefined {
    const list = this.#idle.get(origin);
    const connection = list?.pop();
    if (list?.length === 0) this.#idle.delete(origin);
    if (connection) {
      connection.stopIdling?.();
      connection.stopIdling = undefined;
      connection.conn.ref?.(true);
    }
    return connection;
  }

  #release(connection: Connection): void {
    const list = this.#idle.get(connection.origin) ?? [];
    if (connection.closed || list.length >= this.#maxIdle) {
      connection.close();
      return;
    }
    list.push(connection);
    this.#idle.set(connection.origin, list);
    connection.conn.ref?.(false);
    const leave = () => {
      connection.stopIdling?.();
      connection.stopIdling = undefined;
      const at = list.indexOf(connection);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0 && this.#idle.get(connection.origin) === list) {
        this.#idle.delete(connection.origin);
      }
      connection.close();
    };
    connection.stopIdling = this.#idleDeadlines.add(leave);
    // Bytes or a close while idle: the origin sent more than its answer
    // said, or is going away. Either way the connection is not reused.
    connection.watchIdle(() => connection.stopIdling !== undefined, leave);
  }
}

/** What {@link Http1Client.send} sends: a `Request` has all of it. */
export interface OutgoingMessage {
  /**
   * The method, as a `Request` normalises it.
   *
   * @example
   * ```ts
   * import type { OutgoingMessage } from "./http1_client.ts";
   * const head: OutgoingMessage = {
   *   method: "HEAD", headers: new Headers(), body: null, signal: new AbortController().signal,
   * };
   * ```
   */
  readonly method: string;
  /**
   * The fields sent (less the framing ones, which the client sets).
   *
   * @example
   * ```ts
   * import type { OutgoingMessage } from "./http1_client.ts";
   * const message: OutgoingMessage = {
   *   method: "GET", headers: new Headers({ accept: "application/json" }), body: null,
   *   signal: AbortSignal.timeout(5000),
   * };
   * ```
   */
  readonly headers: Headers;
  /**
   * The body, streamed; none for `null`.
   *
   * @example
   * ```ts
   * import type { OutgoingMessage } from "./http1_client.ts";
   * const message: OutgoingMessage = {
   *   method: "POST", headers: new Headers({ "content-type": "text/plain" }),
   *   body: new Response("hello").body, signal: new AbortController().signal,
   * };
   * ```
   */
  readonly body: ReadableStream<Uint8Array> | null;
  /**
   * Whether the body was read already (a `Request`'s `bodyUsed`).
   *
   * @example
   * ```ts
   * import type { OutgoingMessage } from "./http1_client.ts";
   * const request = new Request("http://localhost/", { method: "PUT", body: "x" });
   * const message: OutgoingMessage = request; // its bodyUsed is checked: a read body throws
   * ```
   */
  readonly bodyUsed?: boolean;
  /**
   * Aborts the exchange (and closes its connection).
   *
   * @example
   * ```ts
   * import type { OutgoingMessage } from "./http1_client.ts";
   * const message: OutgoingMessage = {
   *   method: "GET", headers: new Headers(), body: null,
   *   signal: AbortSignal.timeout(10_000), // gives up, and closes the connection, after 10 s
   * };
   * ```
   */
  readonly signal: AbortSignal;
  /**
   * Hears of each interim (1xx) answer before the final one; without it
   * they are skipped.
   *
   * @example
   * ```ts
   * import type { OutgoingMessage } from "./http1_client.ts";
   * const message: OutgoingMessage = {
   *   method: "GET", headers: new Headers(), body: null, signal: new AbortController().signal,
   *   onInterim: (status, headers) => console.log(status, headers.get("link")), // 103 </app.css>; …
   * };
   * ```
   */
  readonly onInterim?: (status: number, headers: Headers) => void;
}

/** A request body about to be sent: a chunk read ahead, then the rest. */
interface RequestBody {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  /** A chunk read ahead, sent first. */
  first: Uint8Array | undefined;
  /** A read in flight whose chunk follows it; none when the body is read whole. */
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  /** Sent with `Transfer-Encoding: chunked`; else `first` is all of it. */
  chunked: boolean;
  /** The request's own `Content-Length`, when valid: exactly what is sent. */
  length?: number;
}

/**
 * Starts reading the request's body. One with no `Content-Length` that is
 * already whole (a string, bytes: one chunk, then the end at once) is sent
 * with its length, which every origin takes; one still arriving is chunked.
 */
async function requestBody(
  request: OutgoingMessage,
): Promise<RequestBody | undefined> {
  if (!request.body) return undefined;
  const reader = request.body.getReader();
  const declared = request.headers.get("content-length") ?? undefined;
  if (declared !== undefined && /^\d{1,15}$/.test(declared)) {
    return {
      reader,
      first: undefined,
      pending: reader.read(),
      chunked: false,
      length: Number(declared),
    };
  }
  const first = await reader.read();
  if (first.done) {
    return { reader, first: undefined, pending: undefined, chunked: false };
  }
  const pending = reader.read();
  const later = new Promise<"later">((resolve) =>
    setTimeout(resolve, 0, "later")
  );
  const next = await Promise.race([pending, later]);
  const whole = next !== "later" && next.done;
  return {
    reader,
    first: first.value,
    pending: whole ? undefined : pending,
    chunked: !whole,
  };
}

/** Reads `body` to its end; cancels it at its first byte of content. */
async function readEmpty(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value.byteLength > 0) return await reader.cancel();
    }
  } catch { /* the body failed, and the connection was closed with it */ }
}

function truncated(): Http1ProtocolError {
  return new Http1ProtocolError("connection closed inside the body");
}
