/**
 * `nodeOriginFetch`: an HTTP client for proxies, which returns the origin's bytes
 * exactly as sent and sends only the fields it is given. `fetch` in Deno and
 * Bun decodes gzip and brotli bodies but keeps `Content-Encoding` and
 * `Content-Length`, so a proxy that forwards its result sends decoded bytes
 * labelled as compressed; Deno's cannot be told not to (denoland/deno#12291),
 * and Bun's adds request fields. `node:http` does neither, on both runtimes.
 *
 * Redirects are returned, not followed. Request bodies stream through.
 *
 * @module
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/**
 * Sends `request` with `node:http(s)`, streaming both bodies: the origin
 * client on every runtime. Bun's `fetch` could skip decoding
 * (`decompress: false`) and is faster on large bodies, but it adds
 * `User-Agent` and `Accept` fields the client never sent (empty values are
 * sent as empty, not left out), which a faithful intermediary must not do.
 *
 * @example
 * ```ts
 * import { nodeOriginFetch } from "./origin_fetch.ts";
 * const response = await nodeOriginFetch(new Request("http://127.0.0.1:8080/"));
 * ```
 */
export function nodeOriginFetch(request: Request): Promise<Response> {
  const url = new URL(request.url);
  // Headers already joins repeated fields with ", " (requests carry no Set-Cookie).
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = value;
  const https = url.protocol === "https:";
  return new Promise<Response>((resolve, reject) => {
    const outgoing = (https ? httpsRequest : httpRequest)(url, {
      method: request.method,
      headers,
      agent: https ? httpsAgent : httpAgent,
      signal: request.signal,
    }, (incoming) => {
      const responseHeaders = new Headers();
      const raw = incoming.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        responseHeaders.append(raw[i], raw[i + 1]);
      }
      const status = incoming.statusCode ?? 502;
      const noBody = NULL_BODY_STATUS.has(status) || request.method === "HEAD";
      if (noBody) incoming.resume();
      resolve(
        new Response(
          noBody
            ? null
            : Readable.toWeb(incoming) as ReadableStream<Uint8Array>,
          {
            status,
            statusText: incoming.statusMessage,
            headers: responseHeaders,
          },
        ),
      );
    });
    outgoing.once("error", reject);
    if (request.body) {
      Readable.fromWeb(request.body as import("node:stream/web").ReadableStream)
        .once("error", (error) => outgoing.destroy(error))
        .pipe(outgoing);
    } else {
      outgoing.end();
    }
  });
}
