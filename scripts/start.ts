/**
 * `npm start`: the example origin on 127.0.0.1:8081 and the caching proxy in
 * front of it on 127.0.0.1:8080, storing in ./.cistern. `PORT` and
 * `ORIGIN_PORT` move them. Ctrl-C stops both once the answers in flight are
 * done (twice: at once).
 *
 * @module
 */
import { serve } from "../lib/adapters/serve.ts";
import { startProxy, untilStopped, UsageError } from "../lib/cli.ts";
import { origin, ROUTES } from "../examples/origin.ts";

const port = process.env.PORT ?? "8080";
const originPort = Number(process.env.ORIGIN_PORT ?? 8081);
try {
  const upstream = serve(origin, { port: originPort });
  const proxy = await startProxy({
    origin: upstream.url,
    listen: port,
    store: "file:./.cistern",
    verbose: true,
  });
  const { server } = proxy;
  console.log(`example origin: ${upstream.url}`);
  console.log(`caching proxy:  ${server.url}  (stores in ./.cistern)\n`);
  console.log("try (watch the x-cache and age headers):");
  for (const [path, what] of Object.entries(ROUTES)) {
    console.log(`  curl -si ${server.url}${path}   # ${what}`);
  }
  console.log("");
  // Ctrl-C finishes the answers in flight, then stops both servers.
  untilStopped(proxy).then(() => upstream.shutdown());
} catch (error) {
  const text = error instanceof UsageError ? error.message : String(error);
  console.error(
    `npm start: ${
      /in use|AddrInUse/i.test(text) ? `${text} (set PORT / ORIGIN_PORT)` : text
    }`,
  );
  process.exit(1);
}
