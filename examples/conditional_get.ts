/**
 * Conditional GET: the server tags each article with an ETag and a
 * Last-Modified date; a client that sends them back gets `304 Not Modified`
 * and no body, and rendering is skipped entirely.
 *
 * Run: `deno run -A examples/conditional_get.ts` (or `bun examples/conditional_get.ts`),
 * then try:
 *
 *     curl -i http://127.0.0.1:8000/articles/1
 *     curl -i http://127.0.0.1:8000/articles/1 -H 'if-none-match: <the etag>'
 *     curl -i -X PUT http://127.0.0.1:8000/articles/1 -H 'if-match: "stale"' -d 'new title'
 *
 * @module
 */
import process from "node:process";
import { serve } from "../lib/adapters/serve.ts";
import { etagFor, expiresIn, freshWhen } from "../lib/http/mod.ts";

interface Article {
  id: number;
  title: string;
  updatedAt: number;
}

const articles = new Map<number, Article>([
  [1, { id: 1, title: "Streams all the way", updatedAt: Date.now() }],
  [2, { id: 2, title: "One fetch per miss", updatedAt: Date.now() }],
]);
let renders = 0;

const server = serve((request) => {
  const id = Number(new URL(request.url).pathname.split("/")[2]);
  const article = articles.get(id);
  if (!article) return new Response("Not Found", { status: 404 });
  const validators = {
    etag: etagFor(article, { weak: false }),
    lastModified: article.updatedAt,
    cacheControl: expiresIn(0, { mustRevalidate: true }),
  };
  if (request.method === "PUT") {
    // If-Match guards against lost updates: 412 when the client's copy is old.
    return freshWhen(request, validators, async () => {
      article.title = await request.text();
      article.updatedAt = Date.now();
      return Response.json(article);
    });
  }
  return freshWhen(request, validators, () => {
    renders++; // the expensive part a 304 skips
    return Response.json({ ...article, renders });
  });
}, {
  port: Number(process.env.PORT ?? 8000),
  onListen: ({ hostname, port }) =>
    console.log(
      `conditional GET example on http://${hostname}:${port}/articles/1`,
    ),
});

process.on("SIGINT", () => server.shutdown().then(() => process.exit(0)));
