/**
 * The example origin that `npm start` puts the caching proxy in front of:
 * a few routes, each showing one caching behaviour.
 *
 * ```sh
 * deno run -A examples/origin.ts      # PORT=8081 by default
 * ```
 *
 * @module
 */
import { serve } from "../lib/adapters/serve.ts";
import type { Handler } from "../lib/types.ts";

const encoder = new TextEncoder();
const started = new Date();

/** The routes, with what each shows. */
export const ROUTES: Record<string, string> = {
  "/hello": "fresh for 60 s (max-age) with an ETag: one miss, then hits",
  "/time": "the time, public for 5 s: watch Age grow, then a new miss",
  "/revalidate":
    "no-cache with an ETag: every request revalidates (stale, valid)",
  "/private": "Cache-Control: private: never stored (miss, every time)",
  "/slow":
    "streams 5 lines over 2.5 s, cacheable: concurrent clients share one fetch",
  "/big?mb=64":
    "N MiB of bytes with Content-Length, cacheable: try Range requests",
  "/vary": "Vary: Accept-Language: one variant per language",
};

/**
 * The example origin as a fetch handler.
 *
 * @example
 * ```ts
 * import { origin } from "./origin.ts";
 * const response = await origin(new Request("http://x/hello"));
 * ```
 */
export const origin: Handler = (request) => {
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/":
      return new Response(
        Object.entries(ROUTES).map(([path, what]) =>
          `${path.padEnd(14)} ${what}`
        ).join("\n") + "\n",
        {
          headers: {
            "content-type": "text/plain; charset=utf-8",
            "cache-control": "max-age=60",
          },
        },
      );
    case "/hello":
      return new Response("hello from the origin\n", {
        headers: {
          "cache-control": "max-age=60",
          etag: '"hello-1"',
          "content-type": "text/plain",
        },
      });
    case "/time":
      return new Response(`${new Date().toISOString()}\n`, {
        headers: {
          "cache-control": "public, max-age=5",
          "content-type": "text/plain",
        },
      });
    case "/revalidate": {
      const etag = `"${started.getTime()}"`;
      if (request.headers.get("if-none-match") === etag) {
        return new Response(null, { status: 304, headers: { etag } });
      }
      return new Response("validated each time\n", {
        headers: {
          "cache-control": "no-cache",
          etag,
          "content-type": "text/plain",
        },
      });
    }
    case "/private":
      return new Response("for your eyes only\n", {
        headers: { "cache-control": "private" },
      });
    case "/slow": {
      let line = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          if (line === 5) return controller.close();
          controller.enqueue(
            encoder.encode(`line ${++line} at ${new Date().toISOString()}\n`),
          );
        },
      });
      return new Response(body, {
        headers: {
          "cache-control": "max-age=30",
          "content-type": "text/plain",
        },
      });
    }
    case "/big": {
      const mb = Math.min(
        Math.max(Number(url.searchParams.get("mb") ?? 64) || 0, 0),
        4096,
      );
      const total = mb << 20;
      const chunk = new Uint8Array(1 << 20).fill(0x61);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= total) return controller.close();
          const size = Math.min(chunk.byteLength, total - sent);
          sent += size;
          controller.enqueue(chunk.slice(0, size));
        },
      }, { highWaterMark: 0 });
      return new Response(body, {
        headers: {
          "cache-control": "max-age=300",
          "content-length": String(total),
          "content-type": "application/octet-stream",
          etag: `"big-${mb}"`,
        },
      });
    }
    case "/vary": {
      const language =
        request.headers.get("accept-language")?.split(",")[0]?.trim() || "en";
      return new Response(`greeting in ${language}\n`, {
        headers: {
          "cache-control": "max-age=60",
          vary: "Accept-Language",
          "content-language": language,
        },
      });
    }
    default:
      return new Response("not found\n", {
        status: 404,
        headers: { "cache-control": "max-age=10" },
      });
  }
};

if (import.meta.main) {
  const port = Number(process.env.PORT ?? 8081);
  const server = serve(origin, { port });
  console.log(`example origin at ${server.url}`);
}
