/**
 * Server-sent events: a page that listens with `EventSource`, and an event
 * stream that sends a counter every second with ids (a reconnecting browser
 * resumes from `Last-Event-ID`), a `retry` hint and heartbeats. Closing the
 * tab stops the producer.
 *
 * Run: `deno run -A examples/server_sent_events.ts`, open the printed URL,
 * or try `curl -N http://127.0.0.1:8000/events`.
 *
 * @module
 */
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { serverSentEvents, StreamClosedError } from "../lib/http/mod.ts";

const page = `<!doctype html>
<meta charset="utf-8">
<title>cistern server-sent events</title>
<h1>Counter: <span id="n">…</span></h1>
<script>
  const source = new EventSource("/events");
  source.addEventListener("count", (e) => {
    document.getElementById("n").textContent = JSON.parse(e.data).n;
  });
</script>`;

const server = serve((request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/events") {
    return serverSentEvents(async (events) => {
      const last = Number(request.headers.get("last-event-id") ?? 0) || 0;
      try {
        for (let n = last + 1; !events.signal.aborted; n++) {
          await events.send({ event: "count", id: n, data: { n } });
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      } catch (error) {
        if (!(error instanceof StreamClosedError)) throw error;
      } finally {
        console.log("a listener left; its producer stopped");
      }
    }, { retry: 2000, heartbeat: 15_000 });
  }
  return new Response(page, {
    headers: { "content-type": "text/html; charset=utf-8" },
  });
}, {
  port: Number(process.env.PORT ?? 8000),
  onListen: ({ hostname, port }) =>
    console.log(`server-sent events example on http://${hostname}:${port}/`),
});

process.on("SIGINT", () => server.shutdown().then(() => process.exit(0)));
