/**
 * Serving files: a static file server over a directory, with ETags, 304s,
 * ranges (resumable downloads, video seeking), HEAD and path checks, all from
 * `sendFile`. Files are streamed from disk, never read whole.
 *
 * Run: `deno run -A examples/send_file.ts [directory]` (default: the current
 * directory), then try:
 *
 *     curl -i http://127.0.0.1:8000/README.md
 *     curl -i http://127.0.0.1:8000/README.md -H 'range: bytes=0-99'
 *     curl -i http://127.0.0.1:8000/README.md -H 'range: bytes=0-9,-10'
 *     curl -i 'http://127.0.0.1:8000/%2e%2e/etc/passwd'   # 403
 *
 * @module
 */
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { sendFile } from "../lib/http/mod.ts";

const root = process.argv[2] ?? ".";

const server = serve((request) => {
  const { pathname } = new URL(request.url);
  const path = pathname.endsWith("/") ? `${pathname}index.html` : pathname;
  // A download link: `?download` asks the browser to save instead of showing.
  const download = new URL(request.url).searchParams.has("download");
  return sendFile(request, path, {
    root,
    disposition: download ? "attachment" : undefined,
  });
}, {
  port: Number(process.env.PORT ?? 8000),
  onListen: ({ hostname, port }) =>
    console.log(`serving ${root} on http://${hostname}:${port}/`),
});

process.on("SIGINT", () => server.shutdown().then(() => process.exit(0)));
