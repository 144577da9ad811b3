/**
 * `nodeServe`: a handler behind `node:http`, on either runtime. Interim
 * answers from an origin reach the client through `proxyTo` and the shared
 * cache (RFC 9110 §15.2); requests and answers stream both ways, and a body
 * cut short is never taken for a whole one.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { nodeServe } from "../../lib/adapters/node_serve.ts";
import { serve } from "../../lib/adapters/serve.ts";
import { proxyTo } from "../../lib/proxy/proxy_to.ts";
import { SharedCache } from "../../lib/proxy/shared_cache.ts";
import { interimSinkOf } from "../../lib/http/interim.ts";
import { clientAddressOf } from "../../lib/adapters/client_address.ts";
import { bytes, collect, interimOrigin, rawExchange } from "../_util.ts";

const HINTS = "HTTP/1.1 103 Early Hints\r\n" +
  "Link: </app.css>; rel=preload; as=style\r\n" +
  "Connection: x-hop\r\nX-Hop: 1\r\n\r\n";

describe("nodeServe: interim answers (RFC 9110 §15.2)", () => {
  it("passes an origin's 103 Early Hints on before the final answer, through proxyTo", async () => {
    const origin = await interimOrigin(HINTS);
    const server = await nodeServe(proxyTo(origin.url), { port: 0 });
    try {
      const raw = await rawExchange(
        server.port,
        "GET /page HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n",
      );
      assert.match(raw, /^HTTP\/1\.1 103 Early Hints\r\n/);
      const [hints, rest] = raw.split(/\r\n\r\n(?=HTTP\/1\.1 200)/);
      assert.match(hints, /\r\nlink: <\/app\.css>; rel=preload; as=style/i);
      assert.doesNotMatch(hints, /x-hop/i, "no hop-by-hop field goes on");
      assert.match(rest, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(rest, /\r\n\r\nhello$/);
    } finally {
      await server.shutdown();
      await origin.close();
    }
  });

  it("passes them on through the shared cache on a miss, and a hit has none", async () => {
    const origin = await interimOrigin(
      "HTTP/1.1 102 Processing\r\n\r\n" + HINTS,
    );
    const cache = new SharedCache({ origin: origin.url });
    const server = await nodeServe(cache.fetch, { port: 0 });
    try {
      const request =
        "GET /page HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n";
      const miss = await rawExchange(server.port, request);
      assert.match(
        miss,
        /^HTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 103 Early Hints\r\n/,
      );
      assert.match(miss, /\r\nx-cache: miss, store\r\n/i);
      const hit = await rawExchange(server.port, request);
      assert.match(hit, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(hit, /\r\nx-cache: fresh\r\n/i);
      assert.equal(origin.requests.length, 1);
    } finally {
      await server.shutdown();
      await cache.close();
      await origin.close();
    }
  });

  it("sends none to an HTTP/1.0 client, and does not pass on a 100 Continue", async () => {
    const origin = await interimOrigin("HTTP/1.1 100 Continue\r\n\r\n" + HINTS);
    const server = await nodeServe(proxyTo(origin.url), { port: 0 });
    try {
      const old = await rawExchange(
        server.port,
        "GET /page HTTP/1.0\r\nHost: me\r\n\r\n",
      );
      assert.match(old, /^HTTP\/1\.[01] 200 OK\r\n/);
      assert.doesNotMatch(old, /\b10[03] /);
      const current = await rawExchange(
        server.port,
        "GET /page HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n",
      );
      assert.match(current, /^HTTP\/1\.1 103 Early Hints\r\n/);
      assert.doesNotMatch(current, /100 Continue/);
    } finally {
      await server.shutdown();
      await origin.close();
    }
  });

  it("gives the runtime's own server's requests no interim sink (their answers go without the 1xx)", async () => {
    const origin = await interimOrigin(HINTS);
    let sink: unknown = "unset";
    const forward = proxyTo(origin.url);
    const server = serve((request) => {
      sink = interimSinkOf(request);
      return forward(request);
    }, { port: 0 });
    try {
      const raw = await rawExchange(
        server.port,
        "GET /page HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n",
      );
      assert.equal(sink, undefined);
      assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      await server.shutdown();
      await origin.close();
    }
  });
});

describe("nodeServe: requests and answers", () => {
  it("streams a request body to the handler and an answer back, byte for byte", async () => {
    const server = await nodeServe(async (request) => {
      const got = await collect(request.body!);
      return new Response(got as Uint8Array<ArrayBuffer>, {
        status: 201,
        headers: { "x-method": request.method, "x-length": `${got.length}` },
      });
    }, { port: 0 });
    try {
      const sent = bytes(3 * 1024 * 1024);
      const response = await fetch(`${server.url}/up`, {
        method: "PUT",
        body: sent as Uint8Array<ArrayBuffer>,
      });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get("x-method"), "PUT");
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), sent);
    } finally {
      await server.shutdown();
    }
  });

  it("keeps each Set-Cookie apart and the reason phrase, tells the client's address, answers HEAD without a body", async () => {
    let url = "";
    let address: string | undefined;
    const server = await nodeServe((request) => {
      url = request.url;
      address = clientAddressOf(request);
      const headers = new Headers({ "content-type": "text/plain" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response("body", { headers, statusText: "Fine" });
    }, { port: 0 });
    try {
      const get = await fetch(`${server.url}/c?x=1`);
      assert.deepEqual(get.headers.getSetCookie(), ["a=1", "b=2"]);
      assert.equal(await get.text(), "body");
      assert.equal(url, `${server.url}/c?x=1`);
      assert.match(address ?? "", /127\.0\.0\.1/, "the client's address");
      const head = await rawExchange(
        server.port,
        "HEAD /c HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n",
      );
      assert.match(head, /^HTTP\/1\.1 200 Fine\r\n/, "its reason phrase");
      assert.match(head, /\r\n\r\n$/, "no body after the head");
    } finally {
      await server.shutdown();
    }
  });

  it("answers a Host that is not one with a 400, a request without one as itself, a TRACE with a 501", async () => {
    const server = await nodeServe(
      (request) => new Response(new URL(request.url).host),
      { port: 0 },
    );
    try {
      const bad = await rawExchange(
        server.port,
        "GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
      );
      assert.match(bad, /^HTTP\/1\.1 400 /);
      const none = await rawExchange(server.port, "GET / HTTP/1.0\r\n\r\n");
      assert.match(none, /^HTTP\/1\.[01] 200 /);
      assert.ok(none.endsWith(`127.0.0.1:${server.port}`), none);
      const trace = await rawExchange(
        server.port,
        "TRACE / HTTP/1.1\r\nHost: me\r\nConnection: close\r\n\r\n",
      );
      assert.match(trace, /^HTTP\/1\.1 501 /);
    } finally {
      await server.shutdown();
    }
  });

  it("errors a request body the client cut short, and aborts the request's signal", async () => {
    let outcome: Promise<string> = Promise.resolve("no request");
    let aborted: Promise<void> = Promise.resolve();
    const server = await nodeServe((request) => {
      aborted = new Promise((resolve) =>
        request.signal.addEventListener("abort", () => resolve())
      );
      outcome = collect(request.body!).then(
        (got) => `whole: ${got.length}`,
        () => "cut",
      );
      return new Promise<Response>(() => {}); // answers never
    }, { port: 0 });
    try {
      const socket = await new Promise<Socket>((resolve) => {
        const opened: Socket = connect(
          server.port,
          "127.0.0.1",
          () => resolve(opened),
        );
      });
      socket.write(
        "POST /up HTTP/1.1\r\nHost: me\r\nContent-Length: 100\r\n\r\n" +
          "x".repeat(40),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.destroy();
      assert.equal(await outcome, "cut");
      await aborted;
    } finally {
      await server.shutdown();
    }
  });

  it("cuts the connection when an answer's body fails, never ending it as whole", async () => {
    const server = await nodeServe(() => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 2) controller.enqueue(new TextEncoder().encode("part "));
          else controller.error(new Error("origin gone"));
        },
      });
      return new Response(body);
    }, { port: 0 });
    const logged = console.error;
    console.error = () => {};
    try {
      const raw = await rawExchange(
        server.port,
        "GET / HTTP/1.1\r\nHost: me\r\n\r\n",
      );
      assert.match(raw, /transfer-encoding: chunked/i);
      // (What was written before may or may not have gone: Deno's server
      // drops what it had not yet sent.)
      assert.doesNotMatch(raw, /\r\n0\r\n\r\n$/, "no last chunk");
    } finally {
      console.error = logged;
      await server.shutdown();
    }
  });

  it("says a port in use is in use", async () => {
    const first = await nodeServe(() => new Response("one"), { port: 0 });
    try {
      await assert.rejects(
        nodeServe(() => new Response("two"), { port: first.port }),
        (error: { code?: string }) => error.code === "EADDRINUSE",
      );
    } finally {
      await first.shutdown();
    }
  });
});
