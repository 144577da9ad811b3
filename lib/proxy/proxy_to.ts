/**
 * `proxyTo(base)`: a reverse proxy, a handler that forwards each request to
 * another server and answers as a gateway when it cannot.
 *
 * @module
 */
import { copyHeaders } from "../adapters/header_copies.ts";
import { clientAddressOf } from "../adapters/client_address.ts";
import { invalidHostAnswer, isValidHost } from "../adapters/host_field.ts";
import { Http1Client, type OutgoingMessage } from "../adapters/http1_client.ts";
import type { Handler } from "../types.ts";
import {
  forwardsInterim,
  type InterimSink,
  interimSinkOf,
} from "../http/interim.ts";
import { badGatewayText, CLIENT_CLOSED_TEXT } from "./errors.ts";
import { withoutHopByHop } from "./headers.ts";

/** Request fields that, forged, would shape an answer the cache keeps for all; dropped in `"replace"` mode. */
const FORGEABLE = [
  "forwarded",
  "x-forwarded-prefix",
  "x-forwarded-server",
  "x-forwarded-ssl",
  "x-forwarded-scheme",
  "x-forwarded-uri",
  "x-real-ip",
  "x-original-url",
  "x-rewrite-url",
  "x-original-host",
  "x-host",
  "x-forwarded-path",
  "x-forwarded-pathbase",
  "x-original-uri",
  "x-forwarded-protocol",
  "x-forwarded-hostname",
  "x-url-scheme",
  "front-end-https",
  "x-envoy-original-path",
];

/** Fields that make a GET act as another method: on GET and HEAD, whose answers are stored, they go too. */
const METHOD_OVERRIDES = [
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
];

/** Connections to origins, kept alive across requests and proxies. */
const sharedClient = new Http1Client();

/** Options of {@link proxyTo}. */
export interface ProxyToOptions {
  /**
   * The HTTP/1.1 client requests go through. Default: one shared by every
   * `proxyTo` handler.
   *
   * @example
   * ```ts
   * import { Http1Client } from "../adapters/http1_client.ts";
   * import { proxyTo } from "./proxy_to.ts";
   * const forward = proxyTo("http://127.0.0.1:8081", {
   *   client: new Http1Client({ maxIdlePerOrigin: 8 }),
   * });
   * ```
   */
  client?: Http1Client;
  /**
   * What the origin learns of the address the client used, which it needs
   * to build absolute links (the `Host` it gets is its own):
   * - `"replace"` (default): `X-Forwarded-Host`, `X-Forwarded-Proto` and
   *   `X-Forwarded-Port` are set to the request's own host, scheme and port,
   *   and `X-Forwarded-For` to the client's address when the server that took
   *   the request is cistern's `serve()` (else it is dropped); `Forwarded`
   *   and the other fields frameworks build links or routes from
   *   (`X-Forwarded-Prefix`, `-Server`, `-Ssl`, `-Scheme`, `-Uri`,
   *   `X-Real-IP`, `X-Original-URL`, `X-Rewrite-URL`, `X-Original-Host`,
   *   `X-Host`), and on GET and HEAD the method overrides
   *   (`X-HTTP-Method-Override`…), are dropped. Values a client sent are
   *   never passed on: the cache does not key on them, so one client's forged
   *   host, port or path would be stored for all.
   * - `"keep"`: the fields pass as they came, for a proxy in front that sets
   *   them itself (a TLS terminator's `X-Forwarded-Proto: https`); that
   *   proxy's address is appended to `X-Forwarded-For`.
   *
   * @example
   * ```ts
   * import { proxyTo } from "./proxy_to.ts";
   * const forward = proxyTo("http://127.0.0.1:8081", { forwarded: "keep" });
   * ```
   */
  forwarded?: "replace" | "keep";
  /**
   * Told why the origin could not answer a request (the client still here
   * gets a `502`). Default: one line on `console.error`.
   *
   * @example
   * ```ts
   * import { proxyTo } from "./proxy_to.ts";
   * const failures: string[] = [];
   * const forward = proxyTo("http://127.0.0.1:8081", {
   *   onError: (error, request) => failures.push(`${request.url}: ${error}`),
   * });
   * ```
   */
  onError?: (error: unknown, request: Request) => void;
}

/**
 * A handler that forwards requests to the origin at `base` (path and query
 * appended to its path), bodies streamed both ways and never decoded, the
 * request's abort signal passed on, over keep-alive HTTP/1.1 connections
 * (`Http1Client`). Throws a `TypeError` for a base that is not an http(s)
 * URL.
 *
 * It answers as a gateway when the origin cannot: a `502` when it cannot be
 * reached or its answer is not HTTP/1.1 (`onError` is told why), and a
 * quiet `499` when the client left first. A `SharedCache` in front of a
 * server takes its URL as `origin` instead, and decides itself what to
 * answer for an origin that fails (a stale copy, a `502`, a `504`).
 *
 * @example
 * ```ts
 * import { proxyTo } from "./proxy_to.ts";
 * const forward = proxyTo("http://127.0.0.1:8081/api");
 * // forward(new Request("http://me/users?id=1")) asks http://127.0.0.1:8081/api/users?id=1
 * ```
 */
export function proxyTo(
  base: string,
  options: ProxyToOptions = {},
): Handler {
  const forward = proxyOrigin(base, options);
  const onError = options.onError ?? logFailure;
  return async (request) => {
    try {
      return await forward(request);
    } catch (error) {
      return gatewayAnswer(request, error, onError);
    }
  };
}

/**
 * What {@link proxyTo} does, but a request the origin cannot answer is a
 * rejection: the origin of a shared cache that must know it failed
 * (`cistern proxy --trust-forwarded`). Internal.
 *
 * @example
 * ```ts
 * import { proxyOrigin } from "./proxy_to.ts";
 * const origin = proxyOrigin("http://127.0.0.1:8081", { forwarded: "keep" });
 * ```
 */
export function proxyOrigin(
  base: string,
  options: ProxyToOptions = {},
): Handler {
  const send = proxySender(base, options);
  return (request) => send(partsOf(request));
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

/** The answer for a request the origin could not answer, as a gateway gives it. */
function gatewayAnswer(
  request: Request,
  error: unknown,
  onError: (error: unknown, request: Request) => void,
): Response {
  // Nobody reads it, and a client leaving is nothing to report; the status
  // is nginx's "client closed request".
  if (request.signal.aborted) {
    return new Response(CLIENT_CLOSED_TEXT, { status: 499, headers: TEXT });
  }
  onError(error, request);
  return new Response(badGatewayText(error), { status: 502, headers: TEXT });
}

/** `proxyTo`'s default `onError`: one line, not a stack per request. */
function logFailure(error: unknown, request: Request): void {
  console.error(
    `proxyTo: ${request.method} ${request.url}: the origin failed: ${error}`,
  );
}

/**
 * `request` as {@link ForwardParts}, its fields a copy.
 *
 * @example
 * ```ts
 * import { partsOf } from "./proxy_to.ts";
 * partsOf(new Request("http://me/users")).method; // "GET"
 * ```
 */
export function partsOf(request: Request): ForwardParts {
  return {
    url: request.url,
    method: request.method,
    headers: copyHeaders(request.headers),
    body: request.body,
    bodyUsed: request.bodyUsed,
    signal: request.signal,
    from: request,
  };
}

/**
 * A request for {@link proxySender}, as parts: what a `Request` would carry,
 * its fields a copy the sender may change, and the request whose client
 * address the origin is told (`X-Forwarded-For`).
 */
export interface ForwardParts extends OutgoingMessage {
  /** The request's absolute URL: its host, scheme and port are forwarded. */
  readonly url: string;
  /** The fields to send: a copy of the sender's own, changed in place. */
  readonly headers: Headers;
  /** The request whose client address is passed on. */
  readonly from: Request;
}

/**
 * What {@link proxyTo} does, for a caller that holds a request's parts
 * (the shared cache): its fields, method, body and signal were checked when
 * the request they come from was made, and making a `Request` of them only
 * for this to take them apart again costs up to ~15 µs (docs/bench_proxy.md,
 * session 18). Internal.
 *
 * @example
 * ```ts
 * import { proxySender } from "./proxy_to.ts";
 * const send = proxySender("http://127.0.0.1:8081");
 * const from = new Request("http://me/users");
 * // send({ url: from.url, method: "GET", headers: new Headers(from.headers),
 * //   body: null, signal: from.signal, from });
 * ```
 */
export function proxySender(
  base: string,
  options: ProxyToOptions = {},
): (parts: ForwardParts) => Promise<Response> | Response {
  const client = options.client ?? sharedClient;
  const replaceForwarded = (options.forwarded ?? "replace") === "replace";
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new TypeError(
      `origin must be an http(s) URL, got ${JSON.stringify(base)}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `origin must be an http(s) URL, got ${JSON.stringify(base)}`,
    );
  }
  // They would be dropped unseen (the request's own query replaces the
  // base's), and credentials would be printed wherever the origin is.
  if (url.username || url.password || url.search || url.hash) {
    throw new TypeError(
      `origin must be an http(s) URL without credentials, query or fragment, got ${
        JSON.stringify(`${url.protocol}//${url.host}${url.pathname}`)
      }…`,
    );
  }
  // The origin's scheme, host and path prefix; the request's path and query
  // follow. Joined as strings: setting URL parts re-parses the URL each time.
  const prefix = `${url.protocol}//${url.host}${
    url.pathname.replace(/\/$/, "")
  }`;
  return (forward) => {
    const parts = urlParts(forward.url);
    // Servers build the URL from the client's Host, unchecked: a host that
    // is not one gets the 400 RFC 9112 §3.2 asks for, never a 502 or a
    // forwarded X-Forwarded-Host of junk.
    if (!isValidHost(parts.host)) return invalidHostAnswer();
    const target = prefix + parts.target;
    // The origin is addressed by its own name; the client's Host named the proxy.
    const headers = forward.headers;
    headers.delete("host");
    const address = clientAddressOf(forward.from);
    if (replaceForwarded) {
      headers.set("x-forwarded-host", parts.host);
      headers.set("x-forwarded-proto", parts.scheme);
      headers.set("x-forwarded-port", parts.port);
      for (const name of FORGEABLE) headers.delete(name);
      if (address === undefined) headers.delete("x-forwarded-for");
      else headers.set("x-forwarded-for", address);
      if (forward.method === "GET" || forward.method === "HEAD") {
        for (const name of METHOD_OVERRIDES) headers.delete(name);
      }
    } else if (address !== undefined) {
      // The proxy in front is this hop's client: its address joins the list.
      headers.append("x-forwarded-for", address);
    }
    // The parts as they are, not a new Request: the request's method and
    // fields were checked when it was made, and its signal is followed as is.
    const sink = interimSinkOf(forward.from);
    return client.send(
      target,
      sink ? { ...forward, onInterim: passInterim(sink) } : forward,
    );
  };
}

/**
 * What hears of a forwarded request's interim answers: those a proxy passes
 * on (RFC 9110 §15.2) go to the client's server without their hop-by-hop
 * fields.
 */
function passInterim(
  sink: InterimSink,
): (status: number, headers: Headers) => void {
  return (status, headers) => {
    if (forwardsInterim(status)) sink(status, withoutHopByHop(headers));
  };
}

/**
 * An absolute URL's scheme, host (with port), port (the scheme's default
 * when none is written) and target (path and query, as a `Request`
 * serializes it: no fragment), taken apart as a string: parsing it again
 * costs more.
 */
function urlParts(
  absolute: string,
): { scheme: string; host: string; port: string; target: string } {
  const hash = absolute.indexOf("#");
  const url = hash < 0 ? absolute : absolute.slice(0, hash);
  const hostStart = url.indexOf("//") + 2;
  const slash = url.indexOf("/", hostStart);
  const scheme = url.slice(0, url.indexOf(":"));
  const host = url.slice(hostStart, slash < 0 ? undefined : slash);
  // After the last colon, unless that is inside an IPv6 literal's brackets.
  const colon = host.lastIndexOf(":");
  const port = colon > host.lastIndexOf("]")
    ? host.slice(colon + 1)
    : scheme === "https"
    ? "443"
    : "80";
  return {
    scheme,
    host,
    port,
    target: slash < 0 ? "/" : url.slice(slash),
  };
}
