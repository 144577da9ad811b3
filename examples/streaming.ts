/**
 * Streamed responses, pull and push:
 *
 * - `/report.csv` streams a large CSV from a generator: rows are made only as
 *   fast as the client reads them, and a client that hangs up stops the
 *   generator (its `finally` runs).
 * - `/clock` is a live stream: the producer pushes a line every second until
 *   the client disconnects, then its `write` rejects and it stops.
 *
 * Run: `deno run -A examples/streaming.ts`, then try:
 *
 *     curl -N http://127.0.0.1:8000/report.csv | head -5
 *     curl -N http://127.0.0.1:8000/clock
 *
 * @module
 */
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { liveStream, stream, StreamClosedError } from "../lib/http/mod.ts";

async function* report(rows: number) {
  try {
    yield "id,name,score\n";
    for (let id = 1; id <= rows; id++) {
      yield `${id},user ${id},${(id * 7919) % 100}\n`;
    }
  } finally {
    console.log("report generator finished or cancelled");
  }
}

const server = serve((request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/report.csv") {
    return stream(report(1_000_000), {
      headers: { "content-type": "text/csv; charset=utf-8" },
    });
  }
  if (pathname === "/clock") {
    return liveStream(async (out) => {
      try {
        while (!out.signal.aborted) {
          await out.write(`${new Date().toISOString()}\n`);
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      } catch (error) {
        // write rejects with StreamClosedError once the client is gone
        if (!(error instanceof StreamClosedError)) throw error;
      } finally {
        console.log("clock stopped: the client disconnected");
      }
    }, { headers: { "content-type": "text/plain; charset=utf-8" } });
  }
  return new Response("try /report.csv or /clock\n");
}, {
  port: Number(process.env.PORT ?? 8000),
  onListen: ({ hostname, port }) =>
    console.log(`streaming example on http://${hostname}:${port}/`),
});

process.on("SIGINT", () => server.shutdown().then(() => process.exit(0)));
